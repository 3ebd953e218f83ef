"""DeepSeek V4 and V4.1 tool calls (``deepseekv4``, ``deepseekv41``): V3.2's DSML markup with other tag names;
and DeepSeek's ``<think>`` reasoning (``deepseek-v3`` for V3.1/V3.2, ``deepseek-v4``, ``deepseek-v41``).

V4 (``encoding/encoding_dsv4.py``) names the block ``tool_calls``::

    <｜DSML｜tool_calls>
    <｜DSML｜invoke name="get_weather">
    <｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>
    </｜DSML｜invoke>
    </｜DSML｜tool_calls>

V4.1 writes a space before each tag name: ``<｜DSML｜ calls>``, ``<｜DSML｜ invoke name=…>``,
``<｜DSML｜ parameter name=… string=…>``.

Reasoning is a ``<think>`` block that the prompt opens in thinking mode (``<｜Assistant｜><think>``) and closes
in chat mode (``<｜Assistant｜></think>``). A calls block also ends it: a model going straight from thinking to
a call without ``</think>`` still calls (the block stays in the content for the tool-call parser).
"""

from __future__ import annotations

from typing import ClassVar

from .base import marker_prefix_length
from .deepseek_v32 import DeepSeekV32ToolCallParser, DsmlToolCallParser
from .think import ThinkReasoningParser

__all__ = ["DeepSeekReasoningParser", "DeepSeekV4ToolCallParser", "DeepSeekV41ToolCallParser"]


class DeepSeekV4ToolCallParser(DsmlToolCallParser):
    names = ("deepseekv4",)
    block_tag, invoke_tag, parameter_tag = "tool_calls", "invoke", "parameter"


class DeepSeekV41ToolCallParser(DsmlToolCallParser):
    names = ("deepseekv41",)
    block_tag, invoke_tag, parameter_tag = " calls", " invoke", " parameter"


class DeepSeekReasoningParser(ThinkReasoningParser):
    """``<think>`` reasoning ended by ``</think>`` or by the start of any DeepSeek calls block."""

    names = ("deepseek-v3", "deepseek-v4", "deepseek-v41")
    call_starts: ClassVar[tuple[str, ...]] = (
        "<｜tool▁calls▁begin｜>",  # V3.1
        DeepSeekV32ToolCallParser.open,
        DeepSeekV4ToolCallParser.open,
        DeepSeekV41ToolCallParser.open,
    )

    @property
    def markers(self) -> tuple[str, ...]:
        return (self.open_tag, self.close_tag, *self.call_starts)

    def _call_start(self, text: str, opened: bool) -> int | None:
        """Where a calls block starts inside the reasoning block, if it does."""
        start = 0
        if not opened:
            stripped = text.lstrip()
            if not stripped.startswith(self.open_tag):
                return None
            start = len(text) - len(stripped) + len(self.open_tag)
        close = text.find(self.close_tag, start)
        end = len(text) if close == -1 else close
        found = [index for marker in self.call_starts if (index := text.find(marker, start, end)) != -1]
        return min(found) if found else None

    def split(self, text: str, *, opened: bool, final: bool) -> tuple[str | None, str]:
        cut = self._call_start(text, opened)
        if cut is not None:
            reasoning, _ = super().split(text[:cut], opened=opened, final=True)
            return reasoning, text[cut:]
        reasoning, content = super().split(text, opened=opened, final=final)
        if not final and reasoning and not content:
            held = max(marker_prefix_length(reasoning, marker) for marker in self.call_starts)
            reasoning = reasoning[: len(reasoning) - held].rstrip("\n")
        return reasoning, content
