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

import json
import re

from .base import (
    UNPARSED_TOOL_MARKUP,
    ParsedReasoning,
    ParsedToolCalls,
    ReasoningParser,
    ReasoningStream,
    SplitReasoningStream,
    ToolCall,
    marker_prefix_length,
)
from .split import SplitToolCallParser, Tools

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


def _reject_constant(value: str) -> float:
    raise ValueError(f"{value} is not JSON")  # NaN and Infinity: Python's json would accept them


def _json_call(body: str) -> ToolCall | None:
    try:
        payload = json.loads(body.strip(), parse_constant=_reject_constant)
    except ValueError:
        return None
    name = payload.get("name") if isinstance(payload, dict) else None
    arguments = payload.get("args") if isinstance(payload, dict) else None
    if not isinstance(name, str) or not name or not isinstance(arguments, dict):
        return None
    return ToolCall(name=name, arguments=json.dumps(arguments, ensure_ascii=False))


class InklingToolCallParser(SplitToolCallParser):
    names = ("inkling",)
    markers = CONTROL_TOKENS

    def split(self, text: str, tools: Tools, *, final: bool) -> ParsedToolCalls:
        parts: list[str] = []
        calls: list[ToolCall] = []
        unparsed: list[str] = []
        position = 0
        while (marker := text.find(INVOKE_JSON, position)) != -1:
            start = _header_start(text, position, marker)
            body = marker + len(INVOKE_JSON)
            end = text.find(END_MESSAGE, body)
            if end == -1 and not final:
                parts.append(text[position:start])
                return ParsedToolCalls(_clean("".join(parts)), calls)
            stop = len(text) if end == -1 else end + len(END_MESSAGE)
            call = None if end == -1 else _json_call(text[body:end])
            parts.append(text[position:start])
            if call is None:
                unparsed.append(text[start:stop])
            else:
                calls.append(call)
            position = stop
        tail = text[position:]
        if not final:
            header = _header_start(tail, 0, len(tail))
            tail = tail[:header] if header < len(tail) else tail[: len(tail) - _held(tail, final)]
        content = _clean("".join(parts) + tail)
        return ParsedToolCalls(content, calls, {UNPARSED_TOOL_MARKUP: unparsed} if unparsed else {})


_KINDS = {THINKING: "reasoning", TEXT: "content"}
_ENDS = (END_MESSAGE, END_SAMPLING)


class InklingReasoningParser(ReasoningParser):
    names = ("inkling",)
    open_tag, close_tag = THINKING, END_MESSAGE
    markers = CONTROL_TOKENS

    def split(self, text: str, *, final: bool) -> tuple[str | None, str]:
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

    def parse(self, text: str, *, opened: bool = False) -> ParsedReasoning:
        reasoning, content = self.split(text, final=True)
        return ParsedReasoning(reasoning=reasoning, content=content)

    def stream(self, *, opened: bool = False) -> ReasoningStream:
        return SplitReasoningStream(lambda text, final: self.split(text, final=final))
