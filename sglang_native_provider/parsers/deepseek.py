"""DeepSeek tool calls: V3/R1 (``deepseekv3``) and V3.1 (``deepseekv31``).

V3.1 (DeepSeek-V3.1 chat template)::

    <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Paris"}<｜tool▁call▁end｜>
    <｜tool▁calls▁end｜>   (all on one line)

V3 and R1 wrap the arguments in a fenced JSON block after ``function<｜tool▁sep｜>NAME``. The markers are
special tokens of DeepSeek's tokenizer, so SGLang must be asked to keep special tokens.
"""

from __future__ import annotations

import re

from .base import ToolCall
from .json_calls import consecutive_calls
from .split import BlockToolCallParser, Tools

__all__ = ["DeepSeekV3ToolCallParser", "DeepSeekV31ToolCallParser"]

_CALL_BEGIN, _SEP, _CALL_END = "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>"
_V31_CALL = re.compile(rf"\s*{_CALL_BEGIN}([^<]+?){_SEP}(.*?){_CALL_END}\s*", re.DOTALL)
_V3_CALL = re.compile(rf"\s*{_CALL_BEGIN}function{_SEP}([^\n<]+)\n```json\n(.*?)\n```{_CALL_END}\s*", re.DOTALL)


class DeepSeekV31ToolCallParser(BlockToolCallParser):
    names = ("deepseekv31",)
    open, close = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
    extra_markers = (_CALL_BEGIN, _SEP, _CALL_END)

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        return consecutive_calls(_V31_CALL, payload)


class DeepSeekV3ToolCallParser(BlockToolCallParser):
    names = ("deepseekv3",)
    open, close = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
    extra_markers = (_CALL_BEGIN, _SEP, _CALL_END)

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        return consecutive_calls(_V3_CALL, payload)
