"""Muse Glimmer (``muse``): messages addressed to recipients, tool calls as ATEM blocks, and reasoning.

Format (the prompt ends with ``<|start|>assistant``, so the first header has no ``<|start|>``)::

     to=self<|message|>Need the weather.<|eom|>
    <|start|>assistant to=get_weather<|message|><atem:function_calls>
    <atem:invoke name="get_weather">
    <atem:parameter name="city">Paris</atem:parameter>
    </atem:invoke>
    </atem:function_calls><|eom|><|start|>assistant to=user<|message|>It is sunny.<|eot|>

A message to ``self`` is reasoning; to ``user`` or ``commentary`` (or with no header at all) it is the answer;
to any other recipient it is a tool call, its parameters JSON when they parse, else text. A message body ends
at ``<|eom|>`` or ``<|eot|>`` only, so markup quoted inside an answer or in reasoning is text, never a call.

The reasoning parser unwraps answer messages and keeps each tool message framed in the content, preceded by
the previous message's end marker, for the tool-call parser; that parser reads the same framing, so a header
quoted inside an answer (no end marker before it) stays text there too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from .base import ParsedToolCalls, ToolCall, without_partial
from .json_calls import back_to_back, every_call, named_call
from .reasoning import SplitReasoningParser
from .split import Found, SplitToolCallParser, Tools

__all__ = ["MuseReasoningParser", "MuseToolCallParser"]

START, MESSAGE = "<|start|>", "<|message|>"
ENDS = ("<|eom|>", "<|eot|>")
_FIRST_HEADER = re.compile(r"\s*to=([^\s<]+)<\|message\|>")
_HEADER = re.compile(r"\s*<\|start\|>([^<]*)<\|message\|>")
_RECIPIENT = re.compile(r"\bto=([^\s<]+)")
_NOT_TOOLS = frozenset({None, "self", "user", "commentary"})
_INVOKE = re.compile(r'\s*<atem:invoke\b[^>]*?\bname="([^"]+)"[^>]*>(.*?)</atem:invoke>\s*', re.DOTALL)
_PARAMETER = re.compile(r'\s*<atem:parameter\b[^>]*?\bname="([^"]+)"[^>]*>(.*?)</atem:parameter>\s*', re.DOTALL)


@dataclass(frozen=True)
class _Message:
    recipient: str | None
    """None: text with no header."""
    header: str
    body: str
    end: str
    """The end marker as written ("" when the output ended, or is undecided, inside the body)."""
    before: str
    """The previous message's end marker ("" for the first message)."""


def _header_may_follow(text: str, first: bool) -> bool:
    """Whether ``text`` (not yet a whole header) may still become one."""
    stripped = text.lstrip()
    opening = "to=" if first else START
    if len(stripped) < len(opening):
        return opening.startswith(stripped)
    if not stripped.startswith(opening):
        return False
    head, angle, tail = stripped[len(opening) :].partition("<")
    if first and any(character.isspace() for character in head):
        return False
    return not angle or MESSAGE.startswith("<" + tail)


def _messages(text: str, *, final: bool) -> Iterator[_Message]:
    """The messages of ``text`` in order; before the end, an undecided header or end marker is left out."""
    position, before = 0, ""
    while position < len(text) or position == 0:
        header = (_FIRST_HEADER if position == 0 else _HEADER).match(text, position)
        if header is None and not final and _header_may_follow(text[position:], position == 0):
            return
        if header is None:
            recipient, header_text, body_start = None, "", position
        else:
            found = _RECIPIENT.search(header.group(0)) if position else header
            recipient = found.group(1) if found else "user"
            header_text, body_start = header.group(0), header.end()
        ends = [(index, end) for end in ENDS if (index := text.find(end, body_start)) != -1]
        if ends:
            index, end = min(ends)
            yield _Message(recipient, header_text, text[body_start:index], end, before)
            position, before = index + len(end), end
            if position == len(text):
                return
            continue
        body = text[body_start:] if final else without_partial(text[body_start:], ENDS)
        yield _Message(recipient, header_text, body, "", before)
        return


def _parameter_value(raw: str) -> object:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _registered_name(name: str, tools: Tools) -> str:
    """The invoke's name as the tool is declared: Muse's template doubles the namespace (``f.f``)."""
    registered = {(tool.get("function") or {}).get("name") for tool in tools or ()}
    if not registered or name in registered or "." not in name:
        return name
    head, _, tail = name.partition(".")
    if head == tail and head in registered:
        return head
    leaf = name.rsplit(".", 1)[-1]
    matches = [known for known in registered if isinstance(known, str) and known.rsplit(".", 1)[-1] == leaf]
    return matches[0] if len(matches) == 1 else name


def _atem_call(invoke: re.Match[str], tools: Tools) -> ToolCall | None:
    parameters = back_to_back(_PARAMETER, invoke.group(2))
    if parameters is None:
        return None
    arguments = {parameter.group(1): _parameter_value(parameter.group(2)) for parameter in parameters}
    return named_call(_registered_name(invoke.group(1), tools), arguments)


def _atem_calls(body: str, tools: Tools) -> list[ToolCall] | None:
    inner = body.strip()
    if inner.startswith("<atem:function_calls>") and inner.endswith("</atem:function_calls>"):
        inner = inner[len("<atem:function_calls>") : -len("</atem:function_calls>")]
    return every_call([_atem_call(invoke, tools) for invoke in back_to_back(_INVOKE, inner) or []])


class MuseToolCallParser(SplitToolCallParser):
    markers = (START, MESSAGE, *ENDS)

    def split(self, text: str, tools: Tools, *, final: bool) -> ParsedToolCalls:
        found = Found()
        for message in _messages(text, final=final):
            if message.recipient in _NOT_TOOLS:
                found.content.append(message.body)
                continue
            if not message.end and not final:
                break  # a tool message still being written
            found.add(_atem_calls(message.body, tools), message.header + message.body + message.end)
        return found.parsed()


class MuseReasoningParser(SplitReasoningParser):
    open_tag, close_tag = " to=self" + MESSAGE, ENDS[0]
    markers = (START, MESSAGE, *ENDS)

    def split(self, text: str, *, opened: bool, final: bool) -> tuple[str | None, str]:
        """(reasoning, content): ``self`` messages are reasoning, answers unwrapped, tool messages kept framed."""
        reasoning: list[str] | None = None
        content: list[str] = []
        for message in _messages(text, final=final):
            if message.recipient == "self":
                reasoning = [*(reasoning or []), message.body]
            elif message.recipient in _NOT_TOOLS:
                content.append(message.body)
            else:
                content.append(message.before + message.header + message.body + message.end)
        return (None if reasoning is None else "".join(reasoning)), "".join(content)
