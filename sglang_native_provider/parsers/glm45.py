"""GLM-4.5/4.6 tool calls (``glm45``, ``glm``; also ``poolside_v1`` and ``spark25``): the name, then key/value
tags inside ``<tool_call>``.

Format (GLM-4.6 chat template)::

    <tool_call>get_weather
    <arg_key>city</arg_key>
    <arg_value>Paris</arg_value>
    </tool_call>

Values are written as text (non-strings as JSON, sometimes JSON-escaped); they are typed with the tool's JSON
schema. Separators may also be a literal ``\\n`` (backslash, n). A value ends at the ``</arg_value>`` followed
by the next key or the end of the call, so a value may contain the closing tags; ``<tool_call>`` not followed
by a name is a mention.

Reasoning (``glm45``) is a ``<think>`` block that a call also ends when the model goes straight to it without
``</think>``: ``<tool_call>`` at the start of a line, or anywhere when a GLM call follows it
(``…the weather.<tool_call>get_weather<arg_key>``), but not a mention in prose.
"""

from __future__ import annotations

import functools
import re

from .base import ToolCall
from .json_calls import back_to_back
from .split import BlockToolCallParser, Tools
from .think import ThinkReasoningParser
from .typed import typed_arguments

__all__ = ["Glm45ReasoningParser", "Glm45ToolCallParser"]

_GAP = r"(?:\s|\\n)*"
_NAME_START = re.compile(r"\n?[^\s<>\\]*")
_NAME = re.compile(rf"\s*([^\s<>\\]+){_GAP}")
_PAIR = re.compile(
    rf"<arg_key>(.*?)</arg_key>{_GAP}<arg_value>(.*?)</arg_value>(?={_GAP}(?:<arg_key>|\Z)){_GAP}", re.DOTALL
)


@functools.lru_cache(maxsize=8)
def _value_end(close: str) -> re.Pattern[str]:
    """The ``</arg_value>`` that ends a value: followed by the next key or the block's closing tag."""
    return re.compile(rf"</arg_value>(?={_GAP}(?:<arg_key>|{re.escape(close)}))")


class Glm45ToolCallParser(BlockToolCallParser):
    open, close = "<tool_call>", "</tool_call>"
    extra_markers = ("<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>")
    value_open = "<arg_value>"
    template_signs = (("glm45", "<arg_key>"),)

    def starts_call(self, text: str, start: int) -> bool | None:
        name = _NAME_START.match(text, start)
        if name.end() == len(text):
            return None
        return name.end() > start + (text[start] == "\n") and text[name.end()] in "\n<\\"

    def value_end(self) -> re.Pattern[str]:
        return _value_end(self.close)

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        name = _NAME.match(payload)
        pairs = None if name is None else back_to_back(_PAIR, payload, name.end())
        if pairs is None:
            return None  # no name, or text outside the pairs: not this format
        arguments = [(pair.group(1).strip(), pair.group(2)) for pair in pairs]
        return [ToolCall(name=name.group(1), arguments=typed_arguments(name.group(1), arguments, tools))]


class Glm45ReasoningParser(ThinkReasoningParser):
    """``<think>`` ended early by a GLM call: at a line start as Qwen3's, or mid-line when a call follows."""

    def marker_ends(self, body: str, index: int, marker: str) -> bool | None:
        return super().marker_ends(body, index, marker) or _READER.starts_call(body, index + len(marker))


_READER = Glm45ToolCallParser()
