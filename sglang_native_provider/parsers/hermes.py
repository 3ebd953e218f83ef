"""Hermes-style tool calls (``hermes``, ``qwen25``, ``qwen``), used by Qwen2.5, Qwen3, QwQ and Hermes.

Format (Qwen3 chat template)::

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>
"""

from __future__ import annotations

from .base import ToolCall
from .json_calls import json_call
from .split import BlockToolCallParser, Tools

__all__ = ["HermesToolCallParser"]


class HermesToolCallParser(BlockToolCallParser):
    names = ("hermes", "qwen25", "qwen")
    open, close = "<tool_call>", "</tool_call>"

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        call = json_call(payload.strip())
        return None if call is None else [call]
