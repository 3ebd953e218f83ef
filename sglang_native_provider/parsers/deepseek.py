"""DeepSeek tool calls: V3/R1 (``deepseekv3``) and V3.1 (``deepseekv31``); R1's reasoning (``deepseek-r1``).

V3.1 (DeepSeek-V3.1 chat template)::

    <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Paris"}<｜tool▁call▁end｜>
    <｜tool▁calls▁end｜>   (all on one line)

V3 and R1 wrap the arguments in a fenced JSON block after ``function<｜tool▁sep｜>NAME``. The markers are
special tokens of DeepSeek's tokenizer, so SGLang must be asked to keep special tokens. R1's ``<think>`` block
also ends where the calls section begins.
"""

from __future__ import annotations

import re
from typing import ClassVar

from .base import CallFrame, ToolCall
from .json_calls import arguments_text, frame_end, framed_parts
from .split import BlockToolCallParser, Part, Tools
from .think import ThinkReasoningParser

__all__ = ["DeepSeekR1ReasoningParser", "DeepSeekV3ToolCallParser", "DeepSeekV31ToolCallParser"]

CALLS_BEGIN, CALLS_END = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
_CALL_BEGIN, _SEP, _CALL_END = "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>"


def _call_stop(text: str, start: int) -> int:
    """Where the call going on at ``start`` stops: after its end marker (see :func:`.json_calls.frame_end`)."""
    return frame_end(text, start, _CALL_BEGIN, _CALL_END)


class _DeepSeekToolCallParser(BlockToolCallParser):
    """A calls section of calls each framed by its own markers and matching ``call_pattern`` (group 1 the name,
    group 2 the JSON arguments); a call that does not match costs no other its place."""

    open, close = CALLS_BEGIN, CALLS_END
    extra_markers = (_CALL_BEGIN, _SEP, _CALL_END)
    call_pattern: ClassVar[re.Pattern[str]]

    def _call(self, frame: str) -> ToolCall | None:
        """One framed call, or None when it does not match the format or its arguments are not an object."""
        match = self.call_pattern.fullmatch(frame)
        arguments = None if match is None else arguments_text(match.group(2).strip())
        return None if arguments is None else ToolCall(name=match.group(1).strip(), arguments=arguments)

    def block_parts(self, payload: str, tools: Tools, closed: bool) -> list[Part] | None:
        return framed_parts(payload, _CALL_BEGIN, self._call, _call_stop) or None  # an empty section: markup


class DeepSeekV31ToolCallParser(_DeepSeekToolCallParser):
    call_pattern = re.compile(rf"\s*{_CALL_BEGIN}([^<]+?){_SEP}(.*?){_CALL_END}\s*", re.DOTALL)
    # SGLang frames a V3.1 call without the calls section around it, which its own parser does not read.
    call_frame = CallFrame(f"{CALLS_BEGIN}{_CALL_BEGIN}{{name}}{_SEP}", f"{_CALL_END}{CALLS_END}", CALLS_BEGIN)
    template_signs = (("deepseekv31", CALLS_BEGIN),)


class DeepSeekV3ToolCallParser(_DeepSeekToolCallParser):
    call_pattern = re.compile(rf"\s*{_CALL_BEGIN}function{_SEP}([^\n<]+)\n```json\n(.*?)\n```{_CALL_END}\s*", re.DOTALL)
    call_frame = CallFrame(
        f"{CALLS_BEGIN}{_CALL_BEGIN}function{_SEP}{{name}}\n```json\n", f"\n```{_CALL_END}{CALLS_END}", CALLS_BEGIN
    )
    template_signs = (("deepseekv3", "```json", CALLS_BEGIN),)


class DeepSeekR1ReasoningParser(ThinkReasoningParser):
    """DeepSeek-R1: ``<think>`` ended early by the tool-call section (a special token)."""

    tool_markers = (CALLS_BEGIN,)
    tool_markers_at_line_start = False
