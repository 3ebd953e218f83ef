"""Kimi K2 tool calls (``kimi_k2``): a section of calls, each with an id ``functions.NAME:INDEX``.

Format (Kimi-K2 chat template)::

    <|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>
    {"city": "Paris"}<|tool_call_end|><|tool_calls_section_end|>

The function's name is read from the id. Kimi K2.5/K2.6 sometimes write a bare counter (``0``) instead: the
call is then the one tool whose schema its arguments fit (every key declared, every required key present);
with no such tool, or several, the section does not parse (never a function named ``0``). An empty section is
markup with no calls. Arguments are scanned as
JSON, so marker text inside a string is text. The markers are special tokens of Kimi's tokenizer, so SGLang
must be asked to keep special tokens.

Reasoning (``kimi_k2``: K2-Thinking, K2.5, K2.6) is a ``<think>`` block, usually opened by the prompt, that the
tool-calls section also ends.
"""

from __future__ import annotations

import json
import re

from .base import ToolCall
from .json_calls import arguments_text, frame_end, framed_parts, json_end
from .split import BlockToolCallParser, Part, Tools
from .think import ThinkReasoningParser

__all__ = ["KimiK2ReasoningParser", "KimiK2ToolCallParser"]

SECTION_BEGIN, SECTION_END = "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"

_CALL_BEGIN, _ARGUMENTS, _CALL_END = "<|tool_call_begin|>", "<|tool_call_argument_begin|>", "<|tool_call_end|>"
_ID = re.compile(r"(?:functions\.)?([^\s:<>]+?)(?::\d+)?")
_SPACE = re.compile(r"\s*")


def _fitting_tool(arguments: str, tools: Tools) -> str | None:
    """The name of the only tool whose parameters ``arguments`` fit, if exactly one does."""
    keys = set(json.loads(arguments))
    names = []
    for tool in tools or ():
        function = tool.get("function") or {}
        parameters = function.get("parameters") if isinstance(function.get("parameters"), dict) else {}
        properties = parameters.get("properties") if isinstance(parameters.get("properties"), dict) else {}
        required = parameters.get("required") if isinstance(parameters.get("required"), list) else []
        if keys <= set(properties) and set(required) <= keys and isinstance(function.get("name"), str):
            names.append(function["name"])
    return names[0] if len(names) == 1 else None


def _name(call_id: str, arguments: str, tools: Tools) -> str | None:
    match = _ID.fullmatch(call_id.strip())
    if match is None:
        return None
    return _fitting_tool(arguments, tools) if match.group(1).isdigit() else match.group(1)


def _call_stop(text: str, start: int) -> int:
    """Where the call whose id starts at ``start`` stops: its arguments are scanned as JSON (marker text in a
    string is text), then its end marker follows."""
    first = frame_end(text, start, _CALL_BEGIN, _CALL_END)
    arguments = text.find(_ARGUMENTS, start)
    if arguments == -1 or (first != -1 and first <= arguments):
        return first
    value = _SPACE.match(text, arguments + len(_ARGUMENTS)).end()
    if not text.startswith("{", value):
        return frame_end(text, value, _CALL_BEGIN, _CALL_END)
    scanned = json_end(text, value, (_CALL_END, _CALL_BEGIN))
    if scanned is None:
        return -1
    end, closed = scanned
    if closed or text.startswith(_CALL_END, end):
        return frame_end(text, end, _CALL_BEGIN, _CALL_END)
    return end  # the next call begins inside this one's arguments


def _call(frame: str, tools: Tools) -> ToolCall | None:
    """One call, ``<|tool_call_begin|>ID<|tool_call_argument_begin|>{...}<|tool_call_end|>``, or None."""
    arguments = frame.find(_ARGUMENTS)
    value = _SPACE.match(frame, arguments + len(_ARGUMENTS)).end()
    scanned = json_end(frame, value, (_CALL_END,)) if arguments != -1 and frame.startswith("{", value) else None
    if scanned is None or not scanned[1]:
        return None
    text = arguments_text(frame[value : scanned[0]])
    if frame[scanned[0] :].strip() != _CALL_END or text is None:
        return None
    name = _name(frame[len(_CALL_BEGIN) : arguments], text, tools)
    return None if name is None else ToolCall(name=name, arguments=text)


class KimiK2ToolCallParser(BlockToolCallParser):
    open, close = SECTION_BEGIN, SECTION_END
    extra_markers = (_CALL_BEGIN, _ARGUMENTS, _CALL_END)
    # SGLang's Kimi detector has a legacy frame too, but a forced call takes the native tag
    structural_tag_name = "kimi"
    template_signs = (("kimi_k2", SECTION_BEGIN),)

    def block_end(self, text: str, start: int) -> int:
        position = start
        while True:
            close = text.find(self.close, position)
            arguments = text.find(_ARGUMENTS, position)
            if arguments == -1 or (close != -1 and close < arguments):
                return close
            value = _SPACE.match(text, arguments + len(_ARGUMENTS)).end()
            if value == len(text):
                return -1
            if text[value] != "{":
                position = value
                continue
            scanned = json_end(text, value, (_CALL_END, self.close))
            if scanned is None:
                return -1
            position = scanned[0]

    def block_parts(self, payload: str, tools: Tools, closed: bool) -> list[Part]:
        return framed_parts(payload, _CALL_BEGIN, lambda frame: _call(frame, tools), _call_stop)


class KimiK2ReasoningParser(ThinkReasoningParser):
    """Kimi K2-Thinking, K2.5, K2.6: ``<think>`` (usually opened by the prompt), ended early by the tool-calls
    section."""

    template_signs = (("kimi_k2", SECTION_BEGIN),)
    tool_markers = (SECTION_BEGIN,)
    tool_markers_at_line_start = False
