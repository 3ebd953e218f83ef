"""Llama 3.x JSON tool calls (``llama3``): ``{"name": ..., "parameters": {...}}``, optionally after
``<|python_tag|>``, several separated by ``;`` or each after its own ``<|python_tag|>``.

Format (Llama-3.1 chat template)::

    {"name": "get_weather", "parameters": {"city": "Paris"}}
"""

from __future__ import annotations

import json
import re

from .base import CallFrame, ToolCall
from .json_calls import call_from_object
from .split import Tools, TrailingToolCallParser

__all__ = ["Llama3ToolCallParser"]

_DECODER = json.JSONDecoder()
_SEPARATOR = re.compile(r"(?:\s|;|<\|python_tag\|>)*")


class Llama3ToolCallParser(TrailingToolCallParser):
    start_marker = "<|python_tag|>"
    bare_start = "{"
    call_frame = CallFrame('<|python_tag|>{"name":"{name}", "arguments":', "}", "<|python_tag|>")
    template_signs = (("llama3", "<|python_tag|>"),)

    def trailing_calls(self, calls_text: str, tools: Tools) -> list[ToolCall] | None:
        calls, position = [], 0
        while position < len(calls_text):
            try:
                value, end = _DECODER.raw_decode(calls_text, position)
            except json.JSONDecodeError:
                return None
            call = call_from_object(value, calls_text[position:end])
            if call is None:
                return None
            calls.append(call)
            position = _SEPARATOR.match(calls_text, end).end()
        return calls or None
