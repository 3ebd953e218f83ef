"""Hermes-style tool calls (``hermes``, ``qwen25``, ``qwen``), used by Qwen2.5, Qwen3, QwQ and Hermes.

Format (Qwen3 chat template)::

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

``<tool_call>`` followed by anything but a JSON object is a mention in prose. The block ends at the
``</tool_call>`` after the object, found by scanning the JSON, so the tags inside a string value are text.
"""

from __future__ import annotations

import re

from .base import ToolCall
from .json_calls import json_call, json_end
from .split import BlockToolCallParser, Tools

__all__ = ["HermesToolCallParser"]

_SPACE = re.compile(r"\s*")


class HermesToolCallParser(BlockToolCallParser):
    names = ("hermes", "qwen25", "qwen")
    open, close = "<tool_call>", "</tool_call>"

    def starts_call(self, text: str, start: int) -> bool | None:
        first = _SPACE.match(text, start).end()
        return text.startswith("{", first) if first < len(text) else None

    def block_end(self, text: str, start: int) -> int:
        brace = text.index("{", start)
        scanned = json_end(text, brace, (self.close,))
        if scanned is None:
            return -1
        end, closed = scanned
        return text.find(self.close, end) if closed else end

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        call = json_call(payload.strip())
        return None if call is None else [call]
