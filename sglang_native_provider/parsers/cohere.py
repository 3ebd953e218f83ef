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

from .base import ToolCall, without_partial
from .json_blocks import JsonPayloadEnd
from .json_calls import every_call, json_value, named_call
from .mentions import CallStart
from .reasoning import SplitReasoningParser
from .split import BlockToolCallParser, Tools

__all__ = ["CohereReasoningParser", "CohereToolCallParser"]

THINK_OPEN, THINK_CLOSE = "<|START_THINKING|>", "<|END_THINKING|>"
TEXT_OPEN, TEXT_CLOSE = "<|START_TEXT|>", "<|END_TEXT|>"
ACTION_OPEN, ACTION_CLOSE = "<|START_ACTION|>", "<|END_ACTION|>"


def _call(item: dict) -> ToolCall | None:
    """One action: ``tool_name`` (or ``name``) and ``parameters`` (or ``arguments``)."""
    return named_call(item.get("tool_name", item.get("name")), item.get("parameters", item.get("arguments", {})))


class CohereToolCallParser(CallStart, JsonPayloadEnd, BlockToolCallParser):
    open, close = ACTION_OPEN, ACTION_CLOSE
    call_starts = ("[", "{")

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        items = json_value(payload)
        items = [items] if isinstance(items, dict) else items
        if not isinstance(items, list):
            return None
        return every_call([_call(item) if isinstance(item, dict) else None for item in items])


def _first(text: str, markers: tuple[str, ...]) -> tuple[int, str] | None:
    found = [(index, marker) for marker in markers if (index := text.find(marker)) != -1]
    return min(found) if found else None


class CohereReasoningParser(SplitReasoningParser):
    open_tag, close_tag = THINK_OPEN, THINK_CLOSE
    markers = (THINK_OPEN, THINK_CLOSE, TEXT_OPEN, TEXT_CLOSE)
    _ENDS = (THINK_CLOSE, TEXT_OPEN, ACTION_OPEN)

    def split(self, text: str, *, opened: bool, final: bool) -> tuple[str | None, str]:
        """(reasoning, content); the output always starts inside the thinking block (``opened`` or not)."""
        body = text
        if not final and THINK_OPEN.startswith(body.lstrip()) and body.strip():
            return "", ""
        if body.lstrip().startswith(THINK_OPEN):
            body = body.lstrip()[len(THINK_OPEN) :]
        end = _first(body, self._ENDS)
        if end is None:
            return (body if final else without_partial(body, self._ENDS)) or None, ""
        index, marker = end
        reasoning = body[:index]
        rest = body[index + len(THINK_CLOSE) :] if marker == THINK_CLOSE else body[index:]
        if not final:
            rest = without_partial(rest, (TEXT_OPEN, TEXT_CLOSE))
        return reasoning or None, rest.replace(TEXT_OPEN, "").replace(TEXT_CLOSE, "")
