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
from .json_calls import back_to_back, every_call
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


def _call(match: re.Match[str], tools: Tools) -> ToolCall | None:
    parameters = back_to_back(_PARAMETER, match.group(2))
    if parameters is None:
        return None
    name = match.group(1).strip()
    pairs = [(parameter.group(1).strip(), parameter.group(2).strip()) for parameter in parameters]
    return ToolCall(name=name, arguments=typed_arguments(name, pairs, tools))


class Step3ToolCallParser(BlockToolCallParser):
    open, close = "<｜tool_calls_begin｜>", "<｜tool_calls_end｜>"
    extra_markers = ("<｜tool_call_begin｜>", "<｜tool_sep｜>", "<｜tool_call_end｜>")
    template_signs = (("step3", "<steptml:invoke"),)

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        return every_call([_call(match, tools) for match in back_to_back(_CALL, payload) or []])


class StepReasoningParser(ThinkReasoningParser):
    """``<think>…</think>``, which the Step templates always open in the prompt; a call also ends it."""

    tool_markers = ("<tool_call>", Step3ToolCallParser.open)
