"""gpt-oss "harmony" output (``gpt-oss``): messages on channels.

Format (gpt-oss chat template; the prompt ends with ``<|start|>assistant``)::

    <|channel|>analysis<|message|>Need the weather.<|end|>
    <|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{"city": "Paris"}<|call|>

or, answering, ``...<|start|>assistant<|channel|>final<|message|>It is sunny.`` A message addressed
``to=functions.NAME`` (in the role header or after the channel, on any channel) is a tool call; one addressed
to a built-in tool (``to=python``, ``to=browser.search``) is neither content nor a function call and is
reported as ``builtin_tool_messages``; otherwise ``analysis`` is reasoning and ``final`` or ``commentary`` is
the answer. The reasoning parser alone turns harmony into reasoning and content, passing calls on as written
for the tool-call parser. A call's JSON arguments are scanned as JSON, so marker text inside a string does not
end the call. A header cut off or a stray marker is reported as unparsed markup, not content. The markers are
special tokens of gpt-oss's tokenizer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .base import ParsedReasoning, ParsedToolCalls, ToolCall, marker_prefix_length
from .json_calls import arguments_text, json_end
from .reasoning import SplitReasoningParser
from .split import Found, SplitToolCallParser, Tools

__all__ = ["BUILTIN_TOOL_MESSAGES", "GptOssReasoningParser", "GptOssToolCallParser"]

BUILTIN_TOOL_MESSAGES = "builtin_tool_messages"
"""Metadata key: messages to built-in tools, as ``{"recipient", "channel", "content"}``."""

_START, _CHANNEL, _MESSAGE = "<|start|>", "<|channel|>", "<|message|>"
_ENDS = ("<|end|>", "<|call|>", "<|return|>")
_MARKERS = (_START, _CHANNEL, _MESSAGE, "<|constrain|>", *_ENDS)
_MARK = re.compile(r"<\|(start|channel|message|constrain|end|call|return)\|>")
_BODY_END = re.compile(r"<\|(end|call|return|start)\|>")
_RECIPIENT = re.compile(r"\bto=([^\s<]+)")
_CHANNEL_NAME = re.compile(r"<\|channel\|>\s*(\w+)")
# What the first message's header may hold before "<|channel|>": the prompt wrote "<|start|>assistant".
_FIRST_HEADER = re.compile(r"\s*(?:to=[^\s<]+\s*)?")
_FIRST_HEADER_SO_FAR = re.compile(r"\s*(?:t|to|to=[^\s<]*\s*)?")
_SPACE = re.compile(r"\s*")
_NOT_BUILTIN = ("all", "user", "assistant")
_SIGNS = (("gpt-oss", _CHANNEL),)


@dataclass(frozen=True)
class _Message:
    raw: str
    """The message's text as written, header included (held-back ends excluded)."""
    channel: str
    recipient: str | None
    body: str
    complete: bool

    @property
    def call(self) -> bool:
        return self.recipient is not None and self.recipient.startswith("functions.")

    @property
    def builtin(self) -> bool:
        return self.recipient is not None and not self.call and self.recipient not in _NOT_BUILTIN

    def builtin_entry(self) -> dict[str, Any]:
        return {"recipient": self.recipient, "channel": self.channel, "content": self.body}


@dataclass(frozen=True)
class _Markup:
    raw: str
    """A header cut off or a stray marker: not content."""


def _partial(text: str) -> int:
    return max(marker_prefix_length(text, marker) for marker in _MARKERS)


def _body_end(text: str, start: int, call: bool) -> tuple[int, int] | None:
    """(end of the body, end of the message) of the body starting at ``start``, None while unfinished."""
    brace = _SPACE.match(text, start).end()
    search = start
    if call and text.startswith("{", brace):
        scanned = json_end(text, brace, (*_ENDS, _START))
        if scanned is None:
            return None
        search = scanned[0]
    end = _BODY_END.search(text, search)
    if end is None:
        return None
    return end.start(), end.start() if end.group(1) == "start" else end.end()


def _tail(text: str, position: int, *, final: bool) -> list[str | _Markup]:
    """The pieces of the text from ``position`` on, where no marker follows."""
    outside = text[position:]
    decided = outside if final else outside[: len(outside) - _partial(outside)]
    if position == 0 and not final and _FIRST_HEADER_SO_FAR.fullmatch(decided):
        return []  # may still become the first message's header
    if position == 0 and final and outside.strip() and _FIRST_HEADER.fullmatch(outside):
        return [_Markup(outside)]  # a first header cut off before its channel
    return [decided]


def _header_end(text: str, cursor: int) -> tuple[int | None, int]:
    """(where the header ends, after ``<|message|>``; where the text goes on) for a header whose opening
    marker ends at ``cursor``; the end is None for a header that never finishes: then the text goes on at the
    next message or after the end marker that cut it off, or at -1 when the text ends first."""
    while (inner := _MARK.search(text, cursor)) is not None:
        if inner.group(1) == "message":
            return inner.end(), inner.end()
        if inner.group(1) not in ("channel", "constrain"):  # a new message or an end before the header finished
            return None, inner.start() if inner.group(1) == "start" else inner.end()
        cursor = inner.end()
    return None, -1


def _message(text: str, header_start: int, header_end: int, *, final: bool) -> _Message:
    """The message whose header is ``text[header_start:header_end]``; before the end, an unfinished body
    holds back a half-written marker."""
    header = text[header_start:header_end]
    recipient = _RECIPIENT.search(header)
    channel = _CHANNEL_NAME.search(header)
    recipient_name = recipient.group(1) if recipient else None
    ends = _body_end(text, header_end, bool(recipient_name and recipient_name.startswith("functions.")))
    if ends is None:
        body = text[header_end:]
        if not final:
            body = body[: len(body) - _partial(body)]
        stop, complete = header_end + len(body), False
    else:
        body, stop, complete = text[header_end : ends[0]], ends[1], True
    return _Message(text[header_start:stop], channel.group(1) if channel else "", recipient_name, body, complete)


def _pieces(text: str, *, final: bool) -> list[str | _Message | _Markup]:
    """The text as outside text (str), messages and unparsed markup; before the end, undecided text is left
    out (a header not finished, a half-written marker, what may still become the first header)."""
    pieces: list[str | _Message | _Markup] = []
    position = 0
    while position < len(text):
        mark = _MARK.search(text, position)
        if mark is None:
            return pieces + _tail(text, position, final=final)
        header_start, outside = mark.start(), text[position : mark.start()]
        if mark.group(1) == "channel" and position == 0 and _FIRST_HEADER.fullmatch(outside):
            header_start, outside = 0, ""
        if outside:
            pieces.append(outside)
        if mark.group(1) not in ("start", "channel"):
            pieces.append(_Markup(mark.group(0)))  # a stray marker outside any message
            position = mark.end()
            continue
        header_end, position = _header_end(text, mark.end())
        if header_end is None:
            if position == -1:
                return [*pieces, _Markup(text[header_start:])] if final else pieces
            pieces.append(_Markup(text[header_start:position]))
            continue
        message = _message(text, header_start, header_end, final=final)
        pieces.append(message)
        if not message.complete:
            break
        position = header_start + len(message.raw)
    return pieces


def _read(text: str, found: Found, on_message: Callable[[_Message], None], *, final: bool) -> list[dict[str, Any]]:
    """Sorts the pieces of ``text`` into ``found``: outside text is content, stray markup unparsed, messages to
    built-in tools are returned, and every other message goes to ``on_message``."""
    builtin: list[dict[str, Any]] = []
    for piece in _pieces(text, final=final):
        if isinstance(piece, str):
            found.content.append(piece)
        elif isinstance(piece, _Markup):
            found.unparsed.append(piece.raw)
        elif piece.builtin:
            builtin.append(piece.builtin_entry())
        else:
            on_message(piece)
    return builtin


class GptOssReasoningParser(SplitReasoningParser):
    """Reasoning is the ``analysis`` channel, content the answer's messages; calls pass on as written."""

    markers = _MARKERS
    template_signs = _SIGNS

    def split(self, text: str, *, opened: bool, final: bool) -> ParsedReasoning:
        found, reasoning = Found(), []

        def message(piece: _Message) -> None:
            if piece.call:
                found.content.append(piece.raw)  # for the tool-call parser
            elif piece.channel == "analysis":
                reasoning.append(piece.body)
            else:
                found.content.append(piece.body)

        builtin = _read(text, found, message, final=final)
        metadata = found.parsed(**{BUILTIN_TOOL_MESSAGES: builtin}).metadata
        return ParsedReasoning("\n".join(reasoning) or None, "".join(found.content), metadata)


class GptOssToolCallParser(SplitToolCallParser):
    """Messages to ``functions.NAME`` are calls; ``final`` and ``commentary`` messages are the content."""

    markers = _MARKERS
    structural_tag_name = "harmony"
    template_signs = _SIGNS

    def split(self, text: str, tools: Tools, *, final: bool) -> ParsedToolCalls:
        found = Found()

        def message(piece: _Message) -> None:
            if piece.call:
                arguments = arguments_text(piece.body.strip()) if piece.complete else None
                if arguments is not None:
                    found.calls.append(ToolCall(name=piece.recipient.removeprefix("functions."), arguments=arguments))
                elif final:
                    found.unparsed.append(piece.raw)
            elif piece.channel in ("final", "commentary", ""):
                found.content.append(piece.body)
            else:
                found.content.append(piece.raw)  # reasoning, for a reasoning parser

        builtin = _read(text, found, message, final=final)
        content = "".join(found.content)
        taken = found.calls or found.unparsed or builtin
        return found.parsed(content.rstrip() if taken or not final else content, **{BUILTIN_TOOL_MESSAGES: builtin})
