"""GLM-4.5/4.6 tool calls (``glm45``, ``glm``): the name, then key/value tags inside ``<tool_call>``.

Format (GLM-4.6 chat template)::

    <tool_call>get_weather
    <arg_key>city</arg_key>
    <arg_value>Paris</arg_value>
    </tool_call>

Values are written as text (non-strings as JSON); they are typed with the tool's JSON schema.
"""

from __future__ import annotations

import re

from .base import ToolCall
from .split import BlockToolCallParser, Tools
from .typed import typed_arguments

__all__ = ["Glm45ToolCallParser"]

_PAIR = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>", re.DOTALL)


class Glm45ToolCallParser(BlockToolCallParser):
    names = ("glm45", "glm", "glm47")
    open, close = "<tool_call>", "</tool_call>"

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        name, _, rest = payload.partition("<arg_key>")
        name = name.strip()
        if not name or "\n" in name or "<" in name:
            return None
        rest = "<arg_key>" + rest if rest else ""
        pairs = [(key.strip(), value) for key, value in _PAIR.findall(rest)]
        if _PAIR.sub("", rest).strip():
            return None
        return [ToolCall(name=name, arguments=typed_arguments(name, pairs, tools))]
