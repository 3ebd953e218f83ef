"""LFM2 tool calls (``lfm2``, Liquid Foundation Models): a list of calls between LFM2's markers.

Format (LFM2 chat template), Pythonic or JSON::

    <|tool_call_start|>[get_weather(city="Paris"), get_time(zone="CET")]<|tool_call_end|>
    <|tool_call_start|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]<|tool_call_end|>

Pythonic calls are read with ``ast`` literals only (as the ``pythonic`` parser does); nothing is evaluated.
"""

from __future__ import annotations

import re

from .base import ToolCall
from .json_blocks import JsonPayloadEnd
from .json_calls import call_from_object, every_call, json_value
from .mentions import CallStart
from .pythonic import PythonicToolCallParser
from .split import BlockToolCallParser, Tools

__all__ = ["Lfm2ToolCallParser"]

_PYTHONIC = PythonicToolCallParser()


def _json_calls(payload: str) -> list[ToolCall] | None:
    data = json_value(payload)
    return every_call([call_from_object(item) for item in (data if isinstance(data, list) else [data])])


class Lfm2ToolCallParser(CallStart, JsonPayloadEnd, BlockToolCallParser):
    open, close = "<|tool_call_start|>", "<|tool_call_end|>"
    call_starts = ("[", "{")
    json_start = re.compile(r"\{|\[\s*\{")  # a Pythonic list (either quote) ends at the marker

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        payload = payload.strip()
        if payload.startswith("{") or (payload.startswith("[") and payload[1:].lstrip().startswith("{")):
            return _json_calls(payload)
        return _PYTHONIC.trailing_calls(payload, tools)
