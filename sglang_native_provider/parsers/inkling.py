"""Inkling (``inkling``): typed content blocks framed by control tokens, tool calls and reasoning.

Format (Inkling's renderer)::

    <|message_model|><|content_thinking|>Need the weather.<|end_message|>
    <|message_model|>get_weather<|content_invoke_tool_json|>{"name": "get_weather", "args": {"city": "Paris"}}
    <|end_message|>
    <|message_model|><|content_text|>It is sunny.<|end_message|><|content_model_end_sampling|>

(the tool block written on one line). Reasoning is a ``content_thinking`` block, the answer a ``content_text``
block; a tool block (header, marker, JSON payload and end) is kept whole in the content for the tool-call
parser, which takes the call out and drops the remaining control tokens. Output with no control token at all
is plain content. A raw-text invocation (``<|content_invoke_tool_text|>``) carries no function name: SGLang
reports it as a nameless call; here it stays content.
"""

from __future__ import annotations

import re

from .base import CallFrame, ParsedToolCalls, ToolCall, marker_prefix_length
from .json_calls import json_value, named_call
from .reasoning import SplitReasoningParser
from .split import Found, SplitToolCallParser, Tools

__all__ = ["InklingReasoningParser", "InklingToolCallParser"]

MESSAGE_MODEL = "<|message_model|>"
THINKING, TEXT = "<|content_thinking|>", "<|content_text|>"
INVOKE_JSON, INVOKE_TEXT = "<|content_invoke_tool_json|>", "<|content_invoke_tool_text|>"
END_MESSAGE, END_SAMPLING = "<|end_message|>", "<|content_model_end_sampling|>"
CONTROL_TOKENS = (
    "<|endoftext|>",
    "<|message_user|>",
    MESSAGE_MODEL,
    "<|message_system|>",
    "<|message_tool|>",
    TEXT,
    "<|content_image|>",
    END_SAMPLING,
    THINKING,
    END_MESSAGE,
    "<|content_audio_input|>",
    "<|content_tool_error|>",
    "<|content_xml|>",
    "<|audio_end|>",
    INVOKE_JSON,
    INVOKE_TEXT,
    "<|content_invoke_tool|>",
    "<|model_trigger_generation|>",
)
_CONTROL = re.compile("|".join(re.escape(token) for token in sorted(CONTROL_TOKENS, key=len, reverse=True)))


def _held(text: str, final: bool) -> int:
    return 0 if final else max(marker_prefix_length(text, token) for token in CONTROL_TOKENS)


def _header_start(text: str, start: int, end: int) -> int:
    """Where the ``<|message_model|>NAME`` header right before ``end`` starts (``end`` when there is none)."""
    header = text.rfind(MESSAGE_MODEL, start, end)
    if header == -1 or _CONTROL.search(text, header + len(MESSAGE_MODEL), end):
        return end
    return header


def _clean(text: str) -> str:
    return _CONTROL.sub("", text)


def _json_calls(body: str) -> list[ToolCall] | None:
    """The one call a JSON invocation holds (``{"name": …, "args": {…}}``), as a list; None when malformed."""
    payload = json_value(body.strip(), constants=False)
    call = named_call(payload.get("name"), payload.get("args")) if isinstance(payload, dict) else None
    return None if call is None else [call]


class InklingToolCallParser(SplitToolCallParser):
    markers = CONTROL_TOKENS
    # The trigger is the whole block header, function name included: one trigger per tool.
    call_frame = CallFrame(
        MESSAGE_MODEL + "{name}" + INVOKE_JSON + '{"name":"{name}","args":',
        "}" + END_MESSAGE,
        MESSAGE_MODEL + "{name}" + INVOKE_JSON,
    )

    def split(self, text: str, tools: Tools, *, final: bool) -> ParsedToolCalls:
        found = Found()
        position = 0
        while (marker := text.find(INVOKE_JSON, position)) != -1:
            start = _header_start(text, position, marker)
            body = marker + len(INVOKE_JSON)
            end = text.find(END_MESSAGE, body)
            found.content.append(text[position:start])
            if end == -1 and not final:
                return ParsedToolCalls(_clean("".join(found.content)), found.calls)
            stop = len(text) if end == -1 else end + len(END_MESSAGE)
            found.add(None if end == -1 else _json_calls(text[body:end]), text[start:stop])
            position = stop
        tail = text[position:]
        if not final:
            header = _header_start(tail, 0, len(tail))
            tail = tail[:header] if header < len(tail) else tail[: len(tail) - _held(tail, final)]
        found.content.append(tail)
        return found.parsed(_clean("".join(found.content)))


_KINDS = {THINKING: "reasoning", TEXT: "content"}
_ENDS = (END_MESSAGE, END_SAMPLING)


class InklingReasoningParser(SplitReasoningParser):
    open_tag, close_tag = THINKING, END_MESSAGE
    markers = CONTROL_TOKENS

    def split(self, text: str, *, opened: bool, final: bool) -> tuple[str | None, str]:
        """(reasoning, content): each block's text goes where its kind says; a header is hidden unless a tool
        block follows it, and tool blocks stay whole in the content."""
        held = _held(text, final)
        text = text[: len(text) - held]
        reasoning: list[str] = []
        content: list[str] = []
        kind: str | None = None
        header_at: int | None = None
        position, seen_control = 0, False
        for match in _CONTROL.finditer(text):
            token, between = match.group(0), text[position : match.start()]
            seen_control = True
            if kind == "reasoning":
                reasoning.append(between)
            elif kind in ("content", "tool", None) and header_at is None:
                content.append(between)
            position = match.end()
            if kind == "tool":
                content.append(token)
                kind = None if token in _ENDS else kind
            elif token == MESSAGE_MODEL and kind is None:
                header_at = match.start()
            elif token in (INVOKE_JSON, INVOKE_TEXT):
                content.append(text[header_at : match.end()] if header_at is not None else token)
                kind, header_at = "tool", None
            elif token in _KINDS:
                kind, header_at = _KINDS[token], None
            elif token in _ENDS:
                kind, header_at = None, None
        if not seen_control:
            return None, text
        tail = text[position:]
        if kind == "reasoning":
            reasoning.append(tail)
        elif header_at is None:
            content.append(tail)
        return ("".join(reasoning) if reasoning else None), "".join(content)
