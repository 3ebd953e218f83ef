"""K2 Horizon tool calls (``k2_horizon``, K2-v3 "IFM" tokens): blocks of XML key/value or JSON calls.

Format (K2 Horizon chat template; the group wrapper is optional)::

    <ifm|tool_calls><ifm|tool_call>get_weather
    <ifm|arg_key>city</ifm|arg_key><ifm|arg_value>Paris</ifm|arg_value>
    <ifm|arg_key>days</ifm|arg_key><ifm|arg_type>integer</ifm|arg_type><ifm|arg_value>3</ifm|arg_value>
    </ifm|tool_call><ifm|tool_call>{"name": "get_time", "arguments": {"zone": "CET"}}</ifm|tool_call></ifm|tool_calls>

A block whose payload starts with ``{`` or ``[`` is JSON (one call, a list of calls, or OpenAI's
``{"function": {...}}`` shape); otherwise it is the name and key/value tags, typed by the tool's schema, else by
the written ``arg_type``, else read as JSON when it parses. A group's calls are taken out with its tags.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .base import UNPARSED_TOOL_MARKUP, ParsedToolCalls, ToolCall, marker_prefix_length
from .split import SplitToolCallParser, Tools

__all__ = ["K2HorizonToolCallParser"]

GROUP_OPEN, GROUP_CLOSE = "<ifm|tool_calls>", "</ifm|tool_calls>"
CALL_OPEN, CALL_CLOSE = "<ifm|tool_call>", "</ifm|tool_call>"
_BLOCK = re.compile(r"\s*<ifm\|tool_call>(.*?)</ifm\|tool_call>\s*", re.DOTALL)
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


def _block_calls(payload: str, tools: Tools) -> list[ToolCall] | None:
    stripped = payload.strip()
    if stripped.startswith(("{", "[")):
        return _json_calls(stripped)
    call = _xml_call(payload, tools)
    return None if call is None else [call]


def _group_calls(payload: str, tools: Tools) -> list[ToolCall] | None:
    """The calls of a group: blocks one after the other, each well formed."""
    calls, position = [], 0
    for block in _BLOCK.finditer(payload):
        block_calls = _block_calls(block.group(1), tools) if block.start() == position else None
        if block_calls is None:
            return None
        calls.extend(block_calls)
        position = block.end()
    return calls if calls and position == len(payload) else None


class K2HorizonToolCallParser(SplitToolCallParser):
    names = ("k2_horizon",)
    markers = (GROUP_OPEN, GROUP_CLOSE, CALL_OPEN, CALL_CLOSE, "<ifm|arg_key>", "<ifm|arg_value>", "<ifm|arg_type>")

    def split(self, text: str, tools: Tools, *, final: bool) -> ParsedToolCalls:
        """Groups and lone blocks in the order written; one that does not parse (a whole group, if any of its
        blocks does not) or is never closed is reported as unparsed markup, tags included."""
        parts: list[str] = []
        calls: list[ToolCall] = []
        unparsed: list[str] = []
        position, taken, held = 0, False, None
        while openings := [
            (index, tag) for tag in (GROUP_OPEN, CALL_OPEN) if (index := text.find(tag, position)) != -1
        ]:
            opening, tag = min(openings)
            close, read = (GROUP_CLOSE, _group_calls) if tag == GROUP_OPEN else (CALL_CLOSE, _block_calls)
            end = text.find(close, opening + len(tag))
            if end == -1 and not final:
                held = opening
                break
            stop = len(text) if end == -1 else end + len(close)
            block_calls = None if end == -1 else read(text[opening + len(tag) : end], tools)
            parts.append(text[position:opening])
            if block_calls is None:
                unparsed.append(text[opening:stop])
            else:
                calls.extend(block_calls)
            position, taken = stop, True
        tail = text[position:] if held is None else text[position:held]
        if not final and held is None:
            tail = tail[: len(tail) - max(marker_prefix_length(tail, tag) for tag in (GROUP_OPEN, CALL_OPEN))]
        content = "".join(parts) + tail
        return ParsedToolCalls(
            content.rstrip() if taken or not final else content,
            calls,
            {UNPARSED_TOOL_MARKUP: unparsed} if unparsed else {},
        )
