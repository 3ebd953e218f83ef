"""GLM-4.7/GLM-5 tool calls (``glm47``): the name, then key/value tags, all on one line inside ``<tool_call>``.

Format (GLM-4.7-Flash chat template)::

    <tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value><arg_key>days</arg_key><arg_value>3</arg_value></tool_call>

Unlike GLM-4.5/4.6 there is no newline after the name or between pairs; a call without arguments is
``<tool_call>name</tool_call>``. Values are text (non-strings as JSON) typed with the tool's JSON schema; a
structured value the model wrote JSON-escaped (``[{\\"id\\": 1}]``) is unescaped when the schema wants
structure. Reasoning is ``<think>`` (``glm45``), usually opened by the prompt.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .base import ToolCall
from .split import BlockToolCallParser, Tools
from .typed import typed_arguments

__all__ = ["Glm47ToolCallParser"]

_PAIR = re.compile(r"<arg_key>(.*?)</arg_key>(?:\s|\\n)*<arg_value>(.*?)</arg_value>", re.DOTALL)
_BETWEEN_PAIRS = re.compile(r"(?:\s|\\n)*")


def _declared_type(name: str, key: str, tools: Tools) -> Any:
    for tool in tools or ():
        function = tool.get("function") or {}
        if function.get("name") == name:
            schema = ((function.get("parameters") or {}).get("properties") or {}).get(key)
            return schema.get("type") if isinstance(schema, dict) else None
    return None


def _unescaped(value: str) -> str:
    """``value`` with one level of JSON string escaping removed when that makes it a JSON object or array."""
    try:
        json.loads(value)
        return value
    except json.JSONDecodeError:
        pass
    try:
        inner = json.loads(f'"{value}"')
        return inner if isinstance(json.loads(inner), (list, dict)) else value
    except json.JSONDecodeError:
        return value


class Glm47ToolCallParser(BlockToolCallParser):
    names = ("glm47",)
    open, close = "<tool_call>", "</tool_call>"
    extra_markers = ("<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>")

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        name, _, rest = payload.partition("<arg_key>")
        name = name.strip()
        if not name or any(character.isspace() or character in "<>" for character in name):
            return None
        rest = "<arg_key>" + rest if rest else ""
        if not _BETWEEN_PAIRS.fullmatch(_PAIR.sub("", rest)):
            return None  # text outside the pairs: not this format
        pairs = []
        for key, value in _PAIR.findall(rest):
            key = key.strip()
            structured = _declared_type(name, key, tools) not in (None, "string")
            pairs.append((key, _unescaped(value) if structured else value))
        return [ToolCall(name=name, arguments=typed_arguments(name, pairs, tools))]
