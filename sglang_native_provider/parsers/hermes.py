"""Hermes-style tool calls (``hermes``, ``qwen25``, ``qwen``), used by Qwen2.5, Qwen3, QwQ and Hermes.

Format (Qwen3 chat template)::

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

``<tool_call>`` followed by anything but a JSON object is a mention in prose. The block ends at the
``</tool_call>`` after the object, found by scanning the JSON, so the tags inside a string value are text.
"""

from __future__ import annotations

from .base import CallFrame, ToolCall
from .json_blocks import JsonPayloadEnd
from .json_calls import json_call
from .mentions import CallStart
from .split import BlockToolCallParser, Tools

__all__ = ["HermesToolCallParser", "Qwen25ToolCallParser"]


class HermesToolCallParser(CallStart, JsonPayloadEnd, BlockToolCallParser):
    open, close = "<tool_call>", "</tool_call>"
    call_starts = ("{",)
    call_frame = CallFrame('<tool_call>{"name":"{name}", "arguments":', "}</tool_call>", "<tool_call>")

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        call = json_call(payload.strip())
        return None if call is None else [call]


class Qwen25ToolCallParser(HermesToolCallParser):
    """Qwen2.5 and Qwen3 (``qwen25``, ``qwen``): Hermes' calls; SGLang frames a forced one on its own lines."""

    call_frame = CallFrame('<tool_call>\n{"name":"{name}", "arguments":', "}\n</tool_call>", "<tool_call>")
    template_signs = (("qwen25", "<tool_call>"),)
