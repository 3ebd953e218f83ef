"""K2 Horizon tool calls (``k2_horizon``, K2-v3 "IFM" tokens): blocks of XML key/value or JSON calls.

Format (K2 Horizon chat template; the group wrapper is optional)::

    <ifm|tool_calls><ifm|tool_call>get_weather
    <ifm|arg_key>city</ifm|arg_key><ifm|arg_value>Paris</ifm|arg_value>
    <ifm|arg_key>days</ifm|arg_key><ifm|arg_type>integer</ifm|arg_type><ifm|arg_value>3</ifm|arg_value>
    </ifm|tool_call><ifm|tool_call>{"name": "get_time", "arguments": {"zone": "CET"}}</ifm|tool_call></ifm|tool_calls>

A block whose payload starts with ``{`` or ``[`` is JSON (one call, a list of calls, or OpenAI's
``{"function": {...}}`` shape); otherwise it is the name and key/value tags, typed by the tool's schema, else by
the written ``arg_type``, else read as JSON when it parses. A group's calls are taken out with its tags.

Reasoning (``k2_horizon``): the template opens ``<ifm|think>`` (or its ``_fast``/``_faster`` effort forms); the
output reasons up to the matching close tag.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from .base import ParsedToolCalls, ToolCall, marker_prefix_length, without_partial
from .json_calls import back_to_back, every_call, json_value, named_call
from .split import Found, SplitToolCallParser, Tools
from .think_variants import OpenedThinkReasoningParser

__all__ = ["K2HorizonReasoningParser", "K2HorizonToolCallParser"]

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


def _json_call(item: Any) -> ToolCall | None:
    """One call: ``{"name", "arguments" | "parameters"}`` or OpenAI's ``{"function": {...}}``; arguments given as
    a JSON string are decoded (a blank one is no arguments)."""
    function = item.get("function", item) if isinstance(item, dict) else None
    if not isinstance(function, dict):
        return None
    arguments = function.get("arguments", function.get("parameters", {}))
    if isinstance(arguments, str) and not arguments.strip():
        arguments = {}
    return named_call(function.get("name"), arguments, decode=True)


def _json_calls(payload: str) -> list[ToolCall] | None:
    data = json_value(payload)
    return every_call([_json_call(item) for item in (data if isinstance(data, list) else [data])])


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
    read = [_block_calls(block.group(1), tools) for block in back_to_back(_BLOCK, payload) or []]
    return None if not read or None in read else [call for calls in read for call in calls]


class K2HorizonToolCallParser(SplitToolCallParser):
    markers = (GROUP_OPEN, GROUP_CLOSE, CALL_OPEN, CALL_CLOSE, "<ifm|arg_key>", "<ifm|arg_value>", "<ifm|arg_type>")

    def split(self, text: str, tools: Tools, *, final: bool) -> ParsedToolCalls:
        """Groups and lone blocks in the order written; one that does not parse (a whole group, if any of its
        blocks does not) or is never closed is reported as unparsed markup, tags included."""
        found = Found()
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
            found.content.append(text[position:opening])
            found.add(None if end == -1 else read(text[opening + len(tag) : end], tools), text[opening:stop])
            position, taken = stop, True
        tail = text[position:] if held is None else text[position:held]
        if not final and held is None:
            tail = without_partial(tail, (GROUP_OPEN, CALL_OPEN))
        content = "".join(found.content) + tail
        return found.parsed(content.rstrip() if taken or not final else content)


class K2HorizonReasoningParser(OpenedThinkReasoningParser):
    """K2 Horizon (K2-v3): the template opens ``<ifm|think>`` (or its ``_fast``/``_faster`` effort forms), the
    output reasons up to the matching close tag; a tool call (``<ifm|tool_call``…) beginning a line also ends
    it (K2 Horizon mentions calls inside its reasoning)."""

    open_tag, close_tag = "<ifm|think>", "</ifm|think>"
    open_tags: ClassVar[tuple[str, ...]] = ("<ifm|think>", "<ifm|think_fast>", "<ifm|think_faster>")
    close_tags: ClassVar[tuple[str, ...]] = ("</ifm|think>", "</ifm|think_fast>", "</ifm|think_faster>")
    tool_markers = ("<ifm|tool_call",)
    tool_markers_at_line_start = True

    @property
    def markers(self) -> tuple[str, ...]:
        return (*self.open_tags, *self.close_tags, *self.tool_markers)

    def _close(self, body: str) -> tuple[int, int] | None:
        best = None
        for tag in self.close_tags:
            index = body.find(tag)
            if index != -1 and (best is None or index < best[0]):
                best = (index, index + len(tag))
        return best

    def _held(self, body: str) -> int:
        return max(super()._held(body), *(marker_prefix_length(body, tag) for tag in self.close_tags))

    def split(self, text: str, *, opened: bool, final: bool) -> tuple[str | None, str]:
        stripped = text.lstrip()
        echoed = next((tag for tag in self.open_tags if stripped.startswith(tag)), None)
        if echoed is not None:
            text = stripped[len(echoed) :]
        elif not final and stripped and any(tag.startswith(stripped) for tag in self.open_tags):
            return "", ""  # may still be an opening tag written again
        return super().split(text, opened=True, final=final)
