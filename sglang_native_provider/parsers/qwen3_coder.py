"""Qwen3-Coder tool calls (``qwen3_coder``): XML functions and parameters inside ``<tool_call>``.

Format (Qwen3-Coder chat template)::

    <tool_call>
    <function=get_weather>
    <parameter=city>
    Paris
    </parameter>
    </function>
    </tool_call>

Parameter values are text; they are typed with the tool's JSON schema (numbers, booleans, objects...). A value
ends at the ``</parameter>`` followed by the next parameter or the end of the function, so code in a value
may contain ``</parameter>`` or ``</tool_call>``. A value whose end tag is missing or drifted (``</parameter1>``)
ends where the next ``<parameter=`` or the function's ``</function>`` starts a line (the drifted tag stays in the
value, as SGLang keeps it); so a value's text never starts a line with ``<parameter=``. ``<tool_call>`` not
followed by ``<function=`` is a mention. A block cut off (``</tool_call>`` never written) still holds its call
when the function is complete: each value closed by ``</parameter>``, then ``</function>`` (or the output cut
inside it).
"""

from __future__ import annotations

import functools
import re

from .base import ToolCall
from .json_calls import back_to_back
from .split import BlockToolCallParser, Part, Tools
from .typed import typed_arguments

__all__ = ["Qwen3CoderToolCallParser"]

_FUNCTION_OPEN, _PARAMETER_OPEN = "<function=", "<parameter="
_SPACE = re.compile(r"\s*")
_FUNCTION = re.compile(r"\s*<function=([^>\n]+)>(.*)</function>\s*", re.DOTALL)
_PARAMETER = re.compile(
    r"\s*<parameter=([^>\n]+)>\n?(.*?)"
    r"(?:\n?</parameter>(?=\s*(?:<parameter=|\Z))|\n(?=<parameter=)|\n\Z)",  # closed, or a line starts the next tag
    re.DOTALL,
)


_FUNCTION_HEAD = re.compile(r"\s*<function=([^>\n]+)>")
_PARAMETER_HEAD = re.compile(r"\s*<parameter=([^>\n]+)>\n?")
_FUNCTION_END, _PARAMETER_END = "</function>", "</parameter>"


def _ended(text: str, position: int) -> bool:
    """Whether the function's end tag stands at ``position``, or the output ended inside it (``</`` at least,
    which no parameter begins with)."""
    rest = text[position : position + len(_FUNCTION_END)]
    cut = len(rest) >= 2 and position + len(rest) == len(text)
    return rest == _FUNCTION_END or (cut and _FUNCTION_END.startswith(rest))


def _value_close(text: str, start: int) -> int:
    """The ``</parameter>`` closing the value from ``start``: followed by the next parameter or the function's end;
    -1 when there is none."""
    close = text.find(_PARAMETER_END, start)
    while close != -1:
        after = _SPACE.match(text, close + len(_PARAMETER_END)).end()
        if text.startswith(_PARAMETER_OPEN, after) or _ended(text, after):
            return close
        close = text.find(_PARAMETER_END, close + 1)
    return -1


def _complete_function(payload: str, tools: Tools) -> tuple[ToolCall, int] | None:
    """The function of a cut-off block and where it ends, when it is complete: each value closed by its
    ``</parameter>``, then the function's end tag (or the output cut inside it)."""
    head = _FUNCTION_HEAD.match(payload)
    if head is None:
        return None
    pairs, position = [], head.end()
    while not _ended(payload, position := _SPACE.match(payload, position).end()):
        parameter = _PARAMETER_HEAD.match(payload, position)
        close = -1 if parameter is None else _value_close(payload, parameter.end())
        if parameter is None or close == -1:
            return None
        pairs.append((parameter.group(1).strip(), payload[parameter.end() : close].removesuffix("\n")))
        position = close + len(_PARAMETER_END)
    name = head.group(1).strip()
    return ToolCall(name=name, arguments=typed_arguments(name, pairs, tools)), position + len(_FUNCTION_END)


@functools.lru_cache(maxsize=8)
def _value_end(close: str) -> re.Pattern[str]:
    """What ends a value: a ``</parameter>`` followed by the next parameter, the function's end or the block's;
    else the line break before the next ``<parameter=`` or before the ``</function>`` that ends the block."""
    closed = rf"</parameter>(?=\s*(?:<parameter=|</function>|{re.escape(close)}))"
    next_line = rf"\n(?=<parameter=|</function>\s*{re.escape(close)})"
    return re.compile(f"{closed}|{next_line}")


class Qwen3CoderToolCallParser(BlockToolCallParser):
    """Also ``nanbeige`` and ``step3p5``, which SGLang maps to its Qwen3-Coder detector."""

    open, close = "<tool_call>", "</tool_call>"
    extra_markers = ("<function=", "</function>", "<parameter=", "</parameter>")
    value_open = "<parameter="
    structural_tag_name = "qwen_3_coder"
    template_signs = (("qwen3_coder", "<function="),)

    def starts_call(self, text: str, start: int) -> bool | None:
        first = _SPACE.match(text, start).end()
        if text.startswith(_FUNCTION_OPEN, first):
            return True
        return None if _FUNCTION_OPEN.startswith(text[first : first + len(_FUNCTION_OPEN)]) else False

    def value_end(self) -> re.Pattern[str]:
        return _value_end(self.close)

    def block_parts(self, payload: str, tools: Tools, closed: bool) -> list[Part] | None:
        if closed:
            return self.block_calls(payload, tools)
        complete = _complete_function(payload, tools)
        return None if complete is None else [complete[0], payload[complete[1] :]]

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        match = _FUNCTION.fullmatch(payload)
        parameters = None if match is None else back_to_back(_PARAMETER, match.group(2))
        if parameters is None:
            return None  # not a function, or text outside parameters: not this format
        name = match.group(1).strip()
        pairs = [(parameter.group(1).strip(), parameter.group(2)) for parameter in parameters]
        return [ToolCall(name=name, arguments=typed_arguments(name, pairs, tools))]
