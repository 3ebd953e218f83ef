"""Cohere Command A / Command 4 (``cohere_command4``): tool calls and reasoning.

The template opens ``<|START_THINKING|>`` for the model (or writes an empty thinking block when reasoning is
off), so the output reads::

    thinking…<|END_THINKING|><|START_TEXT|>The answer.<|END_TEXT|>
    thinking…<|END_THINKING|><|START_ACTION|>[
        {"tool_call_id": "0", "tool_name": "get_weather", "parameters": {"city": "Paris"}}
    ]<|END_ACTION|>

Reasoning runs to ``<|END_THINKING|>`` (or to the text or action block when the model skips it). The text
block's markers are dropped from the content; an action block stays in it for the tool-call parser.
Unlike SGLang, text outside both blocks is kept as content rather than dropped.
"""

from __future__ import annotations

import json

from .base import (
    ParsedReasoning,
    ReasoningParser,
    ReasoningStream,
    SplitReasoningStream,
    ToolCall,
    marker_prefix_length,
)
from .json_blocks import JsonPayloadEnd
from .mentions import CallStart
from .split import BlockToolCallParser, Tools

__all__ = ["CohereReasoningParser", "CohereToolCallParser"]

THINK_OPEN, THINK_CLOSE = "<|START_THINKING|>", "<|END_THINKING|>"
TEXT_OPEN, TEXT_CLOSE = "<|START_TEXT|>", "<|END_TEXT|>"
ACTION_OPEN, ACTION_CLOSE = "<|START_ACTION|>", "<|END_ACTION|>"


class CohereToolCallParser(CallStart, JsonPayloadEnd, BlockToolCallParser):
    names = ("cohere_command4",)
    open, close = ACTION_OPEN, ACTION_CLOSE
    call_starts = ("[", "{")

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        try:
            items = json.loads(payload)
        except json.JSONDecodeError:
            return None
        items = [items] if isinstance(items, dict) else items
        if not isinstance(items, list) or not items:
            return None
        calls = []
        for item in items:
            name = item.get("tool_name", item.get("name")) if isinstance(item, dict) else None
            arguments = item.get("parameters", item.get("arguments", {})) if isinstance(item, dict) else None
            if not isinstance(name, str) or not name or not isinstance(arguments, dict):
                return None
            calls.append(ToolCall(name=name, arguments=json.dumps(arguments, ensure_ascii=False)))
        return calls


def _first(text: str, markers: tuple[str, ...]) -> tuple[int, str] | None:
    found = [(index, marker) for marker in markers if (index := text.find(marker)) != -1]
    return min(found) if found else None


class CohereReasoningParser(ReasoningParser):
    names = ("cohere_command4",)
    open_tag, close_tag = THINK_OPEN, THINK_CLOSE
    markers = (THINK_OPEN, THINK_CLOSE, TEXT_OPEN, TEXT_CLOSE)
    _ENDS = (THINK_CLOSE, TEXT_OPEN, ACTION_OPEN)

    def split(self, text: str, *, final: bool) -> tuple[str | None, str]:
        """(reasoning, content); the output always starts inside the thinking block."""
        body = text
        if not final and THINK_OPEN.startswith(body.lstrip()) and body.strip():
            return "", ""
        if body.lstrip().startswith(THINK_OPEN):
            body = body.lstrip()[len(THINK_OPEN) :]
        end = _first(body, self._ENDS)
        if end is None:
            if not final:
                body = body[: len(body) - max(marker_prefix_length(body, marker) for marker in self._ENDS)]
            return body or None, ""
        index, marker = end
        reasoning = body[:index]
        rest = body[index + len(THINK_CLOSE) :] if marker == THINK_CLOSE else body[index:]
        if not final:
            rest = rest[: len(rest) - max(marker_prefix_length(rest, marker) for marker in (TEXT_OPEN, TEXT_CLOSE))]
        return reasoning or None, rest.replace(TEXT_OPEN, "").replace(TEXT_CLOSE, "")

    def parse(self, text: str, *, opened: bool = False) -> ParsedReasoning:
        reasoning, content = self.split(text, final=True)
        return ParsedReasoning(reasoning=reasoning, content=content)

    def stream(self, *, opened: bool = False) -> ReasoningStream:
        return SplitReasoningStream(lambda text, final: self.split(text, final=final))
