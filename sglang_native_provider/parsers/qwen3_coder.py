"""Qwen3-Coder tool calls (``qwen3_coder``): XML functions and parameters inside ``<tool_call>``.

Format (Qwen3-Coder chat template)::

    <tool_call>
    <function=get_weather>
    <parameter=city>
    Paris
    </parameter>
    </function>
    </tool_call>

Parameter values are text; they are typed with the tool's JSON schema (numbers, booleans, objects...).
"""

from __future__ import annotations

import re

from .base import ToolCall
from .split import BlockToolCallParser, Tools
from .typed import typed_arguments

__all__ = ["Qwen3CoderToolCallParser"]

_FUNCTION = re.compile(r"\s*<function=([^>\n]+)>(.*?)</function>\s*", re.DOTALL)
_PARAMETER = re.compile(r"<parameter=([^>\n]+)>\n?(.*?)\n?</parameter>", re.DOTALL)


class Qwen3CoderToolCallParser(BlockToolCallParser):
    names = ("qwen3_coder",)
    open, close = "<tool_call>", "</tool_call>"

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        match = _FUNCTION.fullmatch(payload)
        if match is None:
            return None
        name = match.group(1).strip()
        pairs = [(key.strip(), value) for key, value in _PARAMETER.findall(match.group(2))]
        if _PARAMETER.sub("", match.group(2)).strip():
            return None  # text outside parameters: not this format
        return [ToolCall(name=name, arguments=typed_arguments(name, pairs, tools))]
