"""dots tool calls (``dots``, rednote dots.llm): XML invokes inside ``<dots_function_call>`` blocks.

Format (dots chat template)::

    <dots_function_call>
    <invoke name="get_weather">
    <parameter name="city">Paris</parameter>
    </invoke>
    </dots_function_call>

One block may hold several invokes; a JSON object ``{"name": ..., "arguments": {...}}`` in the block is
accepted too. Parameter values are stripped text, typed with the tool's schema.
"""

from __future__ import annotations

import re

from .base import ToolCall
from .json_blocks import JsonPayloadEnd
from .json_calls import back_to_back, json_call
from .mentions import CallStart
from .split import BlockToolCallParser, Tools
from .typed import typed_arguments

__all__ = ["DotsToolCallParser"]

_INVOKE = re.compile(r"\s*<invoke\s+name\s*=\s*([^>]+)>(.*?)</invoke>\s*", re.DOTALL)
_PARAMETER = re.compile(r"\s*<parameter\s+name\s*=\s*([^>]+)>(.*?)</parameter>\s*", re.DOTALL)


def _name(attribute: str) -> str:
    value = attribute.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


class DotsToolCallParser(CallStart, JsonPayloadEnd, BlockToolCallParser):
    open, close = "<dots_function_call>", "</dots_function_call>"
    extra_markers = ("<invoke", "</invoke>", "<parameter", "</parameter>")
    json_start = re.compile(r"\{")
    call_starts = ("<invoke", "{")

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        if not payload.lstrip().startswith("<invoke"):
            call = json_call(payload.strip())
            return None if call is None else [call]
        invokes = back_to_back(_INVOKE, payload)
        if not invokes:
            return None
        calls = []
        for invoke in invokes:
            name = _name(invoke.group(1))
            parameters = back_to_back(_PARAMETER, invoke.group(2))
            if not name or parameters is None:
                return None
            pairs = [(_name(match.group(1)), match.group(2).strip()) for match in parameters]
            calls.append(ToolCall(name=name, arguments=typed_arguments(name, pairs, tools)))
        return calls
