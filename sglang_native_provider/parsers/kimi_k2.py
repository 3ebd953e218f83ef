"""Kimi K2 tool calls (``kimi_k2``): a section of calls, each with an id ``functions.NAME:INDEX``.

Format (Kimi-K2 chat template)::

    <|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>
    {"city": "Paris"}<|tool_call_end|><|tool_calls_section_end|>

The markers are special tokens of Kimi's tokenizer, so SGLang must be asked to keep special tokens.
"""

from __future__ import annotations

import re

from .base import ToolCall
from .json_calls import consecutive_calls
from .split import BlockToolCallParser, Tools

__all__ = ["KimiK2ToolCallParser"]

_CALL = re.compile(
    r"\s*<\|tool_call_begin\|>\s*(?:functions\.)?([^\s:<]+)(?::\d+)?\s*<\|tool_call_argument_begin\|>(.*?)"
    r"<\|tool_call_end\|>\s*",
    re.DOTALL,
)


class KimiK2ToolCallParser(BlockToolCallParser):
    names = ("kimi_k2",)
    open, close = "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"
    extra_markers = ("<|tool_call_begin|>", "<|tool_call_argument_begin|>", "<|tool_call_end|>")

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        return consecutive_calls(_CALL, payload)
