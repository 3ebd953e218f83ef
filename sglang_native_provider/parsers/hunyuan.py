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
"""

from __future__ import annotations

import re

from .base import ToolCall
from .mentions import CallStart
from .split import BlockToolCallParser, Tools
from .typed import typed_arguments

__all__ = ["HunyuanToolCallParser"]

_CALL = re.compile(r"\s*<tool_call>(.*?)</tool_call>\s*", re.DOTALL)
_PAIR = re.compile(r"\s*<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>\s*", re.DOTALL)


def _call(body: str, tools: Tools) -> ToolCall | None:
    name, separator, rest = body.partition("<tool_sep>")
    if not separator:
        name, separator, rest = body.partition("<arg_key>")
        rest = separator + rest
    name = name.strip()
    if not name or "<" in name or "\n" in name:
        return None
    pairs, position = [], 0
    for match in _PAIR.finditer(rest):
        if match.start() != position:
            return None
        pairs.append((match.group(1).strip(), match.group(2)))
        position = match.end()
    if rest[position:].strip():
        return None
    return ToolCall(name=name, arguments=typed_arguments(name, pairs, tools))


class HunyuanToolCallParser(CallStart, BlockToolCallParser):
    names = ("hunyuan",)
    open, close = "<tool_calls>", "</tool_calls>"
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
        calls, position = [], 0
        for match in _CALL.finditer(payload):
            call = _call(match.group(1), tools) if match.start() == position else None
            if call is None:
                return None
            calls.append(call)
            position = match.end()
        return calls if calls and not payload[position:].strip() else None
