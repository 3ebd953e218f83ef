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
from dataclasses import dataclass
from typing import Any

from .base import (
    UNPARSED_TOOL_MARKUP,
    ParsedReasoning,
    ParsedToolCalls,
    ReasoningParser,
    ReasoningStream,
    SplitReasoningStream,
    ToolCall,
    marker_prefix_length,
)
from .json_calls import arguments_text, json_end
from .split import SplitToolCallParser, Tools

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


def _pieces(text: str, *, final: bool) -> list[str | _Message | _Markup]:
    """The text as outside text (str), messages and unparsed markup; before the end, undecided text is left
    out (a header not finished, a half-written marker, what may still become the first header)."""
    pieces: list[str | _Message | _Markup] = []
    position = 0
    while position < len(text):
        mark = _MARK.search(text, position)
        outside = text[position : mark.start() if mark else len(text)]
        if mark is None:
            decided = outside if final else outside[: len(outside) - _partial(outside)]
            if position == 0 and not final and _FIRST_HEADER_SO_FAR.fullmatch(decided):
                break  # may still become the first message's header
            if position == 0 and final and outside.strip() and _FIRST_HEADER.fullmatch(outside):
                pieces.append(_Markup(outside))  # a first header cut off before its channel
                break
            pieces.append(decided)
            break
        header_start = mark.start()
        if mark.group(1) == "channel" and position == 0 and _FIRST_HEADER.fullmatch(outside):
            header_start, outside = 0, ""
        if outside:
            pieces.append(outside)
        if mark.group(1) not in ("start", "channel"):
            pieces.append(_Markup(mark.group(0)))  # a stray marker outside any message
            position = mark.end()
            continue
        cursor, header_end = mark.end(), None
        while header_end is None:
            inner = _MARK.search(text, cursor)
            if inner is None:
                if final:
                    pieces.append(_Markup(text[header_start:]))
                return pieces
            if inner.group(1) in ("channel", "constrain"):
                cursor = inner.end()
            elif inner.group(1) == "message":
                header_end = inner.end()
            else:  # a new message or an end before this header finished
                cursor = inner.start() if inner.group(1) == "start" else inner.end()
                pieces.append(_Markup(text[header_start:cursor]))
                break
        if header_end is None:
            position = cursor
            continue
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
        pieces.append(
            _Message(text[header_start:stop], channel.group(1) if channel else "", recipient_name, body, complete)
        )
        if ends is None:
            break
        position = stop
    return pieces


def _metadata(unparsed: list[str], builtin: list[dict[str, Any]]) -> dict[str, list[Any]]:
    metadata: dict[str, list[Any]] = {}
    if unparsed:
        metadata[UNPARSED_TOOL_MARKUP] = unparsed
    if builtin:
        metadata[BUILTIN_TOOL_MESSAGES] = builtin
    return metadata


class GptOssReasoningParser(ReasoningParser):
    """Reasoning is the ``analysis`` channel, content the answer's messages; calls pass on as written."""

    names = ("gpt-oss",)
    markers = _MARKERS

    def _split(self, text: str, *, final: bool) -> ParsedReasoning:
        reasoning: list[str] = []
        content: list[str] = []
        unparsed: list[str] = []
        builtin: list[dict[str, Any]] = []
        for piece in _pieces(text, final=final):
            if isinstance(piece, str):
                content.append(piece)
            elif isinstance(piece, _Markup):
                unparsed.append(piece.raw)
            elif piece.call:
                content.append(piece.raw)  # for the tool-call parser
            elif piece.builtin:
                builtin.append(piece.builtin_entry())
            elif piece.channel == "analysis":
                reasoning.append(piece.body)
            else:
                content.append(piece.body)
        return ParsedReasoning("\n".join(reasoning) or None, "".join(content), _metadata(unparsed, builtin))

    def split(self, text: str, *, final: bool) -> tuple[str, str]:
        parsed = self._split(text, final=final)
        return parsed.reasoning or "", parsed.content

    def parse(self, text: str, *, opened: bool = False) -> ParsedReasoning:
        return self._split(text, final=True)

    def stream(self, *, opened: bool = False) -> ReasoningStream:
        return SplitReasoningStream(lambda text, final: self.split(text, final=final))


class GptOssToolCallParser(SplitToolCallParser):
    """Messages to ``functions.NAME`` are calls; ``final`` and ``commentary`` messages are the content."""

    names = ("gpt-oss",)
    markers = _MARKERS

    def split(self, text: str, tools: Tools, *, final: bool) -> ParsedToolCalls:
        content: list[str] = []
        calls: list[ToolCall] = []
        unparsed: list[str] = []
        builtin: list[dict[str, Any]] = []
        for piece in _pieces(text, final=final):
            if isinstance(piece, str):
                content.append(piece)
            elif isinstance(piece, _Markup):
                unparsed.append(piece.raw)
            elif piece.call:
                arguments = arguments_text(piece.body.strip()) if piece.complete else None
                if arguments is not None:
                    calls.append(ToolCall(name=piece.recipient.removeprefix("functions."), arguments=arguments))
                elif final:
                    unparsed.append(piece.raw)
            elif piece.builtin:
                builtin.append(piece.builtin_entry())
            elif piece.channel in ("final", "commentary", ""):
                content.append(piece.body)
            else:
                content.append(piece.raw)  # reasoning, for a reasoning parser
        joined = "".join(content)
        taken = calls or unparsed or builtin
        return ParsedToolCalls(joined.rstrip() if taken or not final else joined, calls, _metadata(unparsed, builtin))
