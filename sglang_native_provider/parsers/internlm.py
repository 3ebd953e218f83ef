"""InternLM2 / Intern-S1 tool calls (``interns1``): one JSON object per action block.

Format (Intern-S1 chat template)::

    Let me check.<|action_start|> <|plugin|>
    {"name": "get_weather", "parameters": {"city": "Paris"}}<|action_end|>

The object names the function and carries ``parameters`` (or ``arguments``); several blocks may follow each
other.
"""

from __future__ import annotations

from .base import CallFrame, ToolCall
from .json_blocks import JsonPayloadEnd
from .json_calls import json_call
from .mentions import CallStart
from .split import BlockToolCallParser, Tools

__all__ = ["InternLMToolCallParser"]

OPEN, CLOSE = "<|action_start|> <|plugin|>", "<|action_end|>"


class InternLMToolCallParser(CallStart, JsonPayloadEnd, BlockToolCallParser):
    open, close = OPEN, CLOSE
    extra_markers = ("<|action_start|>", "<|plugin|>")
    call_starts = ("{",)
    call_frame = CallFrame(OPEN + '\n{"name": "{name}", "parameters": ', "}" + CLOSE, OPEN)

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        call = json_call(payload.strip())
        return None if call is None else [call]
