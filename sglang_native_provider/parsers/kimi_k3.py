"""Kimi K3 (``kimi_k3``): XTML channels made of special tokens, for reasoning, the reply and tool calls.

Format (Kimi K3 reference encoder, as llama.cpp's Jinja port renders it)::

    <|open|>think<|sep|>reasoning<|close|>think<|sep|>
    <|open|>response<|sep|>reply<|close|>response<|sep|>
    <|open|>tools<|sep|><|open|>call tool="get_weather" index="1"<|sep|>
    <|open|>argument key="city" type="string"<|sep|>Paris<|close|>argument<|sep|>
    <|open|>argument key="days" type="number"<|sep|>3<|close|>argument<|sep|>
    <|close|>call<|sep|><|close|>tools<|sep|><|close|>message<|sep|>

(on one line). With thinking on, the prompt opens the think channel; with it off, the response channel.
``type="string"`` values are raw text, others JSON (kept as text when they are not); a call whose arguments
were a JSON string renders them as one ``<|open|>json type="object"<|sep|>{…}<|close|>json<|sep|>`` block.
Attribute values reverse the template's ``&amp;``/``&quot;`` escaping.

The reasoning parser also unwraps the reply from its response channel and drops the message's closing tag,
so it is the content with or without tools; the tools channel is passed on, raw, to the tool-call parser.
"""

from __future__ import annotations

import json
import re

from .base import ToolCall, without_partial
from .json_calls import back_to_back, every_call, json_value, named_call
from .reasoning import SplitReasoningParser
from .split import BlockToolCallParser, Tools

__all__ = ["KimiK3ReasoningParser", "KimiK3ToolCallParser"]

THINK_OPEN, THINK_CLOSE = "<|open|>think<|sep|>", "<|close|>think<|sep|>"
RESPONSE_OPEN, RESPONSE_CLOSE = "<|open|>response<|sep|>", "<|close|>response<|sep|>"
TOOLS_OPEN, TOOLS_CLOSE = "<|open|>tools<|sep|>", "<|close|>tools<|sep|>"
MESSAGE_CLOSE = "<|close|>message<|sep|>"
_WRAPPERS = (RESPONSE_OPEN, RESPONSE_CLOSE, MESSAGE_CLOSE)

_CALL = re.compile(r"\s*<\|open\|>call((?: \w+=\"[^\"]*\")*)<\|sep\|>(.*?)<\|close\|>call<\|sep\|>", re.DOTALL)
_ARGUMENT = re.compile(r"<\|open\|>argument((?: \w+=\"[^\"]*\")*)<\|sep\|>(.*?)<\|close\|>argument<\|sep\|>", re.DOTALL)
_JSON_BLOCK = re.compile(r"<\|open\|>json(?: \w+=\"[^\"]*\")*<\|sep\|>(.*?)<\|close\|>json<\|sep\|>", re.DOTALL)
_ATTRIBUTE = re.compile(r' (\w+)="([^"]*)"')


def _attributes(text: str) -> dict[str, str]:
    return {key: value.replace("&quot;", '"').replace("&amp;", "&") for key, value in _ATTRIBUTE.findall(text)}


def _arguments(body: str) -> dict | None:
    """The arguments of one call's body, or None when the body is not argument tags (or one JSON block)."""
    block = _JSON_BLOCK.fullmatch(body)
    if block is not None:
        arguments = json_value(block.group(1))
        return arguments if isinstance(arguments, dict) else None
    if _ARGUMENT.sub("", body):
        return None
    arguments = {}
    for attributes, value in _ARGUMENT.findall(body):
        fields = _attributes(attributes)
        if "key" not in fields:
            return None
        if fields.get("type", "string") == "string":
            arguments[fields["key"]] = value
            continue
        try:
            arguments[fields["key"]] = json.loads(value)
        except json.JSONDecodeError:
            arguments[fields["key"]] = value  # the model's text, as written
    return arguments


def _call(call: re.Match[str]) -> ToolCall | None:
    """One ``<|open|>call tool="NAME" …`` element: the named tool with its arguments."""
    return named_call(_attributes(call.group(1)).get("tool"), _arguments(call.group(2)))


class KimiK3ToolCallParser(BlockToolCallParser):
    open, close = TOOLS_OPEN, TOOLS_CLOSE
    extra_markers = ("<|open|>call", "<|close|>call<|sep|>", "<|open|>argument", "<|close|>argument<|sep|>")
    template_signs = (("kimi_k3", "<|open|>"),)

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        return every_call([_call(call) for call in back_to_back(_CALL, payload) or []])


def _unwrapped(text: str, final: bool) -> str:
    """Content with the reply's channel markers removed; the tools channel kept raw for the tool-call parser."""
    tools = text.find(TOOLS_OPEN)
    head, tail = (text, "") if tools == -1 else (text[:tools], text[tools:])
    if tail:
        closing = tail.find(TOOLS_CLOSE)
        if closing != -1:
            cut = closing + len(TOOLS_CLOSE)
            return _unwrapped(head, True) + tail[:cut] + _unwrapped(tail[cut:], final)
        return _unwrapped(head, True) + tail
    if not final:
        head = without_partial(head, (*_WRAPPERS, TOOLS_OPEN))
    for marker in _WRAPPERS:
        head = head.replace(marker, "")
    return head


class KimiK3ReasoningParser(SplitReasoningParser):
    """The think channel (ended by its closing tag, or by the model going straight to the reply or tools)."""

    template_signs = (("kimi_k3", "<|open|>"),)
    open_tag, close_tag = THINK_OPEN, THINK_CLOSE
    markers = (THINK_OPEN, THINK_CLOSE, RESPONSE_OPEN, RESPONSE_CLOSE, TOOLS_OPEN, TOOLS_CLOSE, MESSAGE_CLOSE)

    def split(self, text: str, *, opened: bool, final: bool) -> tuple[str | None, str]:
        """(reasoning, content) so far; before the end, undecided text is held back from both."""
        body = text
        if not opened:
            stripped = text.lstrip()
            if not final and THINK_OPEN.startswith(stripped):
                return "", ""
            if not stripped.startswith(THINK_OPEN):
                return None, _unwrapped(text, final)
            body = stripped[len(THINK_OPEN) :]
        ends = [(body.find(marker), marker) for marker in (THINK_CLOSE, RESPONSE_OPEN, TOOLS_OPEN)]
        found = [(index, marker) for index, marker in ends if index != -1]
        if not found:
            return (body if final else without_partial(body, (THINK_CLOSE, RESPONSE_OPEN, TOOLS_OPEN))), ""
        index, marker = min(found)
        rest = body[index + len(marker) :] if marker == THINK_CLOSE else body[index:]
        return body[:index], _unwrapped(rest, final)
