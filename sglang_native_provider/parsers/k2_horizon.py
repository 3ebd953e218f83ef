"""K2 Horizon tool calls (``k2_horizon``, K2-v3 "IFM" tokens): blocks of XML key/value or JSON calls.

Format (K2 Horizon chat template; the group wrapper is optional)::

    <ifm|tool_calls><ifm|tool_call>get_weather
    <ifm|arg_key>city</ifm|arg_key><ifm|arg_value>Paris</ifm|arg_value>
    <ifm|arg_key>days</ifm|arg_key><ifm|arg_type>integer</ifm|arg_type><ifm|arg_value>3</ifm|arg_value>
    </ifm|tool_call><ifm|tool_call>{"name": "get_time", "arguments": {"zone": "CET"}}</ifm|tool_call></ifm|tool_calls>

A block whose payload starts with ``{`` or ``[`` is JSON (one call, a list of calls, or OpenAI's
``{"function": {...}}`` shape); otherwise it is the name and key/value tags, typed by the tool's schema, else by
the written ``arg_type``, else read as JSON when it parses. The group tags are dropped from the content.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .base import ParsedToolCalls, ToolCall, marker_prefix_length
from .split import BlockToolCallParser, Tools

__all__ = ["K2HorizonToolCallParser"]

_GROUP = ("<ifm|tool_calls>", "</ifm|tool_calls>")
_ARGUMENT = re.compile(
    r"\s*<ifm\|arg_key>(.*?)</ifm\|arg_key>\s*(?:<ifm\|arg_type>(.*?)</ifm\|arg_type>\s*)?"
    r"<ifm\|arg_value>(.*?)</ifm\|arg_value>\s*",
    re.DOTALL,
)


def _schema_type(name: str, key: str, tools: Tools) -> Any:
    for tool in tools or ():
        function = tool.get("function") or {}
        if function.get("name") == name:
            schema = ((function.get("parameters") or {}).get("properties") or {}).get(key)
            return schema.get("type") if isinstance(schema, dict) else None
    return None


def _typed(value: str, kind: Any) -> Any:
    if kind == "string" or kind == "any":
        return value
    try:
        return json.loads(value.strip())
    except json.JSONDecodeError:
        return value


def _json_calls(payload: str) -> list[ToolCall] | None:
    try:
        data = json.loads(payload)
    except json.JSONDecodeError:
        return None
    calls = []
    for item in data if isinstance(data, list) else [data]:
        function = item.get("function", item) if isinstance(item, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        arguments = function.get("arguments", function.get("parameters", {})) if isinstance(function, dict) else None
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError:
                return None
        if not isinstance(name, str) or not name or not isinstance(arguments, dict):
            return None
        calls.append(ToolCall(name=name, arguments=json.dumps(arguments, ensure_ascii=False)))
    return calls or None


def _xml_call(payload: str, tools: Tools) -> ToolCall | None:
    name, marker, rest = payload.partition("<ifm|arg_key>")
    name = name.strip()
    if not name or "<" in name or "\n" in name:
        return None
    rest = marker + rest
    arguments, position = {}, 0
    for match in _ARGUMENT.finditer(rest):
        key = match.group(1).strip()
        if match.start() != position or not key:
            return None
        written_type = match.group(2).strip() if match.group(2) else None
        arguments[key] = _typed(match.group(3), _schema_type(name, key, tools) or written_type)
        position = match.end()
    if rest[position:].strip():
        return None
    return ToolCall(name=name, arguments=json.dumps(arguments, ensure_ascii=False))


class K2HorizonToolCallParser(BlockToolCallParser):
    names = ("k2_horizon",)
    open, close = "<ifm|tool_call>", "</ifm|tool_call>"
    extra_markers = (*_GROUP, "<ifm|arg_key>", "<ifm|arg_value>", "<ifm|arg_type>")

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        stripped = payload.strip()
        if stripped.startswith(("{", "[")):
            return _json_calls(stripped)
        call = _xml_call(payload, tools)
        return None if call is None else [call]

    def split(self, text: str, tools: Tools, *, final: bool) -> ParsedToolCalls:
        if not final:  # a group tag half-written must not reach the content before it is dropped
            text = text[: len(text) - max(marker_prefix_length(text, tag) for tag in _GROUP)]
        for tag in _GROUP:
            text = text.replace(tag, "")
        return super().split(text, tools, final=final)
