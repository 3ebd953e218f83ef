"""Hunyuan tool calls (``hunyuan``, Hunyuan-A13B / HY3): key/value calls inside a ``<tool_calls>`` section.

Format (Hunyuan chat template)::

    <tool_calls>
    <tool_call>get_weather<tool_sep>
    <arg_key>city</arg_key>
    <arg_value>Paris</arg_value>
    </tool_call>
    </tool_calls>

HY4 drops ``<tool_sep>`` (the name is followed by the first ``<arg_key>``). Values are text, typed with the
tool's schema. The shipping tokenizers may spell the tags with a suffix (``<tool_calls:opensource>``): SGLang
reads those from the vocabulary at run time; this parser reads the bare tags.

Reasoning is ``<think>…</think>``, also ended by the ``<tool_calls>`` section (a special token).
"""

from __future__ import annotations

import re

from .base import ToolCall
from .json_calls import back_to_back, every_call
from .mentions import CallStart
from .split import BlockToolCallParser, Tools
from .think import ThinkReasoningParser
from .typed import typed_arguments

__all__ = ["HunyuanReasoningParser", "HunyuanToolCallParser"]

SECTION_OPEN, SECTION_CLOSE = "<tool_calls>", "</tool_calls>"

_CALL = re.compile(r"\s*<tool_call>(.*?)</tool_call>\s*", re.DOTALL)
_PAIR = re.compile(r"\s*<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>\s*", re.DOTALL)


def _call(match: re.Match[str], tools: Tools) -> ToolCall | None:
    name, separator, rest = match.group(1).partition("<tool_sep>")
    if not separator:
        name, separator, rest = match.group(1).partition("<arg_key>")
        rest = separator + rest
    name = name.strip()
    if not name or "<" in name or "\n" in name:
        return None
    pairs = back_to_back(_PAIR, rest)
    if pairs is None:
        return None
    arguments = [(pair.group(1).strip(), pair.group(2)) for pair in pairs]
    return ToolCall(name=name, arguments=typed_arguments(name, arguments, tools))


class HunyuanToolCallParser(CallStart, BlockToolCallParser):
    open, close = SECTION_OPEN, SECTION_CLOSE
    call_starts = ("<tool_call>",)
    extra_markers = (
        "<tool_call>",
        "</tool_call>",
        "<tool_sep>",
        "<arg_key>",
        "</arg_key>",
        "<arg_value>",
        "</arg_value>",
    )

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        return every_call([_call(match, tools) for match in back_to_back(_CALL, payload) or []])


class HunyuanReasoningParser(ThinkReasoningParser):
    """Hunyuan: ``<think>…</think>``, ended early by the ``<tool_calls>`` section (a special token)."""

    tool_markers = (SECTION_OPEN,)
    tool_markers_at_line_start = False
