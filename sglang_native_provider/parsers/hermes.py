"""Hermes-style tool calls, used by Qwen2.5, Qwen3, QwQ and Hermes models.

Format (Qwen3 chat template)::

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

Several blocks may follow each other; text around them is content (trailing whitespace before a call is
the template's separator, not content). A call's ``arguments`` keep the model's exact JSON text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from .base import ParsedToolCalls, ToolCall, ToolCallParser, ToolCallStream, marker_prefix_length

__all__ = ["HermesToolCallParser"]

_OPEN, _CLOSE = "<tool_call>", "</tool_call>"
_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
_ARGUMENTS_KEY = re.compile(r'"(?:arguments|parameters)"\s*:\s*')
_DECODER = json.JSONDecoder()


def _raw_arguments(payload: str, arguments: Any) -> str | None:
    """The arguments object as the model wrote it (or, given as a JSON string, the string's content)."""
    if isinstance(arguments, str):
        try:
            decoded = json.loads(arguments)
        except json.JSONDecodeError:
            return None
        return arguments if isinstance(decoded, dict) else None
    if not isinstance(arguments, dict):
        return None
    for key in _ARGUMENTS_KEY.finditer(payload):
        try:
            value, end = _DECODER.raw_decode(payload, key.end())
        except json.JSONDecodeError:
            continue
        if value == arguments:
            return payload[key.end() : end]
    return json.dumps(arguments, ensure_ascii=False)


def _call(payload: str) -> ToolCall | None:
    try:
        data = json.loads(payload)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None
    arguments = data.get("arguments", data.get("parameters", {}))
    raw = _raw_arguments(payload, arguments) if arguments != {} else "{}"
    return None if raw is None else ToolCall(name=data["name"], arguments=raw)


def _split(text: str, *, final: bool) -> tuple[str, list[ToolCall]]:
    """(content, calls) so far; before the end an unclosed block and trailing whitespace are held back."""
    parts: list[str] = []
    calls: list[ToolCall] = []
    position = 0
    for match in _BLOCK.finditer(text):
        call = _call(match.group(1))
        if call is None:
            continue  # a malformed block stays in the content
        parts.append(text[position : match.start()])
        calls.append(call)
        position = match.end()
    tail = text[position:]
    if not final:
        opening = tail.find(_OPEN)
        tail = tail[:opening] if opening != -1 else tail[: len(tail) - marker_prefix_length(tail, _OPEN)]
    parts.append(tail)
    content = "".join(parts)
    if calls or not final:
        content = content.rstrip()
    return content, calls


class _HermesStream(ToolCallStream):
    def __init__(self) -> None:
        self._text = ""
        self._content = ""
        self._calls = 0

    def _emit(self, final: bool) -> tuple[str, list[ToolCall]]:
        content, calls = _split(self._text, final=final)
        delta = content[len(self._content) :] if content.startswith(self._content) else ""
        self._content += delta
        new_calls = calls[self._calls :]
        self._calls = len(calls)
        return delta, new_calls

    def feed(self, delta: str) -> tuple[str, list[ToolCall]]:
        self._text += delta
        return self._emit(final=False)

    def finish(self) -> tuple[str, list[ToolCall]]:
        return self._emit(final=True)


class HermesToolCallParser(ToolCallParser):
    names = ("hermes", "qwen25", "qwen")

    def parse(self, text: str, tools: Sequence[dict[str, Any]] | None) -> ParsedToolCalls:
        content, calls = _split(text, final=True)
        return ParsedToolCalls(content=content, calls=calls)

    def stream(self, tools: Sequence[dict[str, Any]] | None) -> ToolCallStream:
        return _HermesStream()
