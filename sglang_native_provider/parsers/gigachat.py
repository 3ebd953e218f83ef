"""GigaChat tool calls: ``gigachat3`` (one JSON call after a function-call header) and ``gigachat35`` (GCML).

GigaChat 3 writes the answer, the end of the message, then one call::

    Checking.<|message_sep|>function call<|role_sep|>
    {"name": "get_weather", "arguments": {"city": "Paris"}}

(``<|function_call|>`` is the other spelling of the header.) GigaChat 3.5 writes GCML markup::

    <｜GCML｜tool_calls><｜GCML｜invoke name="get_weather">
    <｜GCML｜parameter name="city" string="true">Paris</｜GCML｜parameter>
    <｜GCML｜parameter name="days" string="false">3</｜GCML｜parameter>
    </｜GCML｜invoke></｜GCML｜tool_calls>

``string="true"`` values are kept as written; the others are JSON (kept as text when they do not parse).
"""

from __future__ import annotations

import json
import re

from .base import UNPARSED_TOOL_MARKUP, ParsedToolCalls, ToolCall, without_partial
from .json_calls import back_to_back, every_call, named_call
from .mentions import CallStart
from .split import BlockToolCallParser, Tools, TrailingToolCallParser

__all__ = ["GigaChat3ToolCallParser", "GigaChat35ToolCallParser"]

_HEADERS = ("function call<|role_sep|>\n", "<|function_call|>")
_MESSAGE_END = "<|message_sep|>"
_END_OF_TEXT = "</s>"


def _gigachat3_call(body: str) -> ToolCall | None:
    body = body.strip()
    body = body.removesuffix(_END_OF_TEXT).rstrip()
    try:
        data = json.loads(body, strict=False)
    except json.JSONDecodeError:
        return None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("name"), str)
        or not isinstance(data.get("arguments"), dict)
    ):
        return None
    return ToolCall(name=data["name"], arguments=json.dumps(data["arguments"], ensure_ascii=False))


class GigaChat3ToolCallParser(TrailingToolCallParser):
    start_marker = _HEADERS[1]

    def _start(self, text: str) -> int | None:
        starts = [index for header in _HEADERS if (index := text.find(header)) != -1]
        return min(starts) if starts else None

    def trailing_calls(self, calls_text: str, tools: Tools) -> list[ToolCall] | None:
        call = _gigachat3_call(calls_text.removeprefix(_HEADERS[0].strip()))
        return None if call is None else [call]

    def split(self, text: str, tools: Tools, *, final: bool) -> ParsedToolCalls:
        """As the trailing form, with the answer ending at ``<|message_sep|>``: held back from it until the
        end, and dropped from the content when a call follows (a header whose call does not parse is reported
        as unparsed markup)."""
        if not final:
            end = text.find(_MESSAGE_END)
            if end != -1:
                return super().split(text[:end], tools, final=False)
            return super().split(without_partial(text, (*_HEADERS, _MESSAGE_END)), tools, final=False)
        start = self._start(text)
        if start is None:
            return ParsedToolCalls(text)
        calls = super().split(text, tools, final=True).calls
        if not calls:
            return ParsedToolCalls(text[:start].rstrip(), [], {UNPARSED_TOOL_MARKUP: [text[start:]]})
        return ParsedToolCalls(text[:start].rstrip().removesuffix(_MESSAGE_END).rstrip(), calls)


GigaChat3ToolCallParser.markers = (*_HEADERS, "<|role_sep|>", _MESSAGE_END)  # the base class lists only one


_INVOKE = re.compile(r'\s*<｜GCML｜invoke\s+name="([^"]*)"\s*>(.*?)</｜GCML｜invoke>\s*', re.DOTALL)
_PARAMETER = re.compile(
    r'\s*<｜GCML｜parameter\s+name="([^"]*)"\s+string="(true|false)"\s*>(.*?)</｜GCML｜parameter>\s*', re.DOTALL
)


def _gcml_value(raw: str, is_string: bool) -> object:
    if is_string:
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _gcml_call(invoke: re.Match[str]) -> ToolCall | None:
    parameters = back_to_back(_PARAMETER, invoke.group(2))
    if parameters is None:
        return None
    arguments = {match.group(1): _gcml_value(match.group(3), match.group(2) == "true") for match in parameters}
    return named_call(invoke.group(1), arguments)


class GigaChat35ToolCallParser(CallStart, BlockToolCallParser):
    open, close = "<｜GCML｜tool_calls>", "</｜GCML｜tool_calls>"
    call_starts = ("<｜GCML｜invoke",)
    extra_markers = ("<｜GCML｜invoke", "</｜GCML｜invoke>", "<｜GCML｜parameter", "</｜GCML｜parameter>")

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        return every_call([_gcml_call(invoke) for invoke in back_to_back(_INVOKE, payload) or []])
