"""StepFun Step 3 (``step3``): steptml invocations inside DeepSeek-style special tokens; ``<think>`` reasoning.

Format (SGLang's Step3 detector)::

    <｜tool_calls_begin｜><｜tool_call_begin｜>function<｜tool_sep｜><steptml:invoke name="get_weather">
    <steptml:parameter name="city">Paris</steptml:parameter>
    </steptml:invoke><｜tool_call_end｜><｜tool_calls_end｜>

Values are text, typed with the tool's JSON schema. Step 3.5 writes Qwen3-Coder's XML instead (``step3p5`` is
a name of :class:`~.qwen3_coder.Qwen3CoderToolCallParser`). Both templates open ``<think>`` in the prompt.
"""

from __future__ import annotations

import re

from .base import ToolCall
from .split import BlockToolCallParser, Tools
from .think import ThinkReasoningParser
from .typed import typed_arguments

__all__ = ["Step3ToolCallParser", "StepReasoningParser"]

_CALL = re.compile(
    r'\s*<｜tool_call_begin｜>function<｜tool_sep｜><steptml:invoke name="([^"<>\n]+)">(.*?)</steptml:invoke>'
    r"\s*<｜tool_call_end｜>\s*",
    re.DOTALL,
)
_PARAMETER = re.compile(r'\s*<steptml:parameter name="([^"<>\n]+)">(.*?)</steptml:parameter>\s*', re.DOTALL)


def _pairs(body: str) -> list[tuple[str, str]] | None:
    pairs = []
    position = 0
    for match in _PARAMETER.finditer(body):
        if match.start() != position:
            return None
        pairs.append((match.group(1).strip(), match.group(2).strip()))
        position = match.end()
    return None if body[position:].strip() else pairs


class Step3ToolCallParser(BlockToolCallParser):
    names = ("step3",)
    open, close = "<｜tool_calls_begin｜>", "<｜tool_calls_end｜>"
    extra_markers = ("<｜tool_call_begin｜>", "<｜tool_sep｜>", "<｜tool_call_end｜>")

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        calls = []
        position = 0
        for match in _CALL.finditer(payload):
            pairs = _pairs(match.group(2)) if match.start() == position else None
            if pairs is None:
                return None
            name = match.group(1).strip()
            calls.append(ToolCall(name=name, arguments=typed_arguments(name, pairs, tools)))
            position = match.end()
        if payload[position:].strip() or not calls:
            return None
        return calls


class StepReasoningParser(ThinkReasoningParser):
    """``<think>…</think>``, which the Step templates always open in the prompt; a call also ends it."""

    names = ("step3", "step3p5")
    tool_markers = ("<tool_call>", Step3ToolCallParser.open)
