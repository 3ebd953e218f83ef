"""gpt-oss "harmony" output (``gpt-oss``): messages on channels.

Format (gpt-oss chat template; the prompt ends with ``<|start|>assistant``)::

    <|channel|>analysis<|message|>Need the weather.<|end|>
    <|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{"city": "Paris"}<|call|>

or, answering, ``...<|start|>assistant<|channel|>final<|message|>It is sunny.`` The ``analysis`` channel is
reasoning, a ``commentary`` message addressed ``to=functions.NAME`` is a tool call, and ``final`` (or
commentary without a recipient) is the answer. The markers are special tokens of gpt-oss's tokenizer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .base import (
    ParsedReasoning,
    ReasoningParser,
    ReasoningStream,
    SplitReasoningStream,
    ToolCall,
    marker_prefix_length,
)
from .json_calls import arguments_text
from .split import SplitToolCallParser, Tools

__all__ = ["GptOssReasoningParser", "GptOssToolCallParser"]

_START, _CHANNEL, _MESSAGE = "<|start|>", "<|channel|>", "<|message|>"
_ENDS = ("<|end|>", "<|call|>", "<|return|>")
_MARKERS = (_START, _CHANNEL, _MESSAGE, "<|constrain|>", *_ENDS)
# A header: the role and recipient (the first message's come right after the prompt's "<|start|>assistant"),
# the channel with an optional recipient and content type, then "<|message|>".
_HEADER = re.compile(r"(?:<\|start\|>)?[^<]*<\|channel\|>[^<]*(?:<\|constrain\|>[^<]*)?<\|message\|>")
_RECIPIENT = re.compile(r"\bto=([^\s<]+)")
_CHANNEL_NAME = re.compile(r"<\|channel\|>(\w+)")


@dataclass(frozen=True)
class _Message:
    raw: str
    """The message's text as written, header included (held-back ends excluded)."""
    channel: str
    recipient: str | None
    body: str
    complete: bool


def _messages(text: str, *, final: bool) -> tuple[list[tuple[str, _Message | None]], int]:
    """The text as (outside text, message) pieces, and how much of it is decided.

    Before the end, an unfinished header and a half-written end marker are not decided yet.
    """
    pieces: list[tuple[str, _Message | None]] = []
    position = 0
    for header in _HEADER.finditer(text):
        if header.start() < position:
            continue
        pieces.append((text[position : header.start()], None))
        body_start = header.end()
        ends = [(text.find(end, body_start), end) for end in _ENDS]
        found = [(index, end) for index, end in ends if index != -1]
        if found:
            end_index, end = min(found)
            body, stop, complete = text[body_start:end_index], end_index + len(end), True
        else:
            body = text[body_start:]
            if not final:
                body = body[: len(body) - max(marker_prefix_length(body, end) for end in _ENDS)]
            stop, complete = body_start + len(body), final
        recipient = _RECIPIENT.search(header.group(0))
        channel = _CHANNEL_NAME.search(header.group(0))
        message = _Message(
            raw=text[header.start() : stop],
            channel=channel.group(1) if channel else "",
            recipient=recipient.group(1) if recipient else None,
            body=body,
            complete=complete,
        )
        pieces.append(("", message))
        position = stop
        if not complete:
            return pieces, position
    tail = text[position:]
    if not final:
        opening = min((i for i in (tail.find(_START), tail.find(_CHANNEL)) if i != -1), default=-1)
        if opening != -1:
            tail = tail[:opening]
        else:
            tail = tail[: len(tail) - max(marker_prefix_length(tail, m) for m in (_START, _CHANNEL))]
    pieces.append((tail, None))
    return pieces, position + len(tail)


class GptOssReasoningParser(ReasoningParser):
    """Reasoning is the ``analysis`` channel; everything else goes on, as written, to the tool parser."""

    names = ("gpt-oss",)
    markers = _MARKERS

    def split(self, text: str, *, final: bool) -> tuple[str, str]:
        pieces, _ = _messages(text, final=final)
        reasoning = "\n".join(m.body for _, m in pieces if m is not None and m.channel == "analysis")
        content = "".join(outside if m is None else ("" if m.channel == "analysis" else m.raw) for outside, m in pieces)
        return reasoning, content

    def parse(self, text: str, *, opened: bool = False) -> ParsedReasoning:
        reasoning, content = self.split(text, final=True)
        return ParsedReasoning(reasoning=reasoning or None, content=content)

    def stream(self, *, opened: bool = False) -> ReasoningStream:
        return SplitReasoningStream(lambda text, final: self.split(text, final=final))


class GptOssToolCallParser(SplitToolCallParser):
    """``commentary`` messages to ``functions.NAME`` are calls; ``final`` messages are the content."""

    names = ("gpt-oss",)
    markers = _MARKERS

    def split(self, text: str, tools: Tools, *, final: bool) -> tuple[str, list[ToolCall]]:
        pieces, _ = _messages(text, final=final)
        content: list[str] = []
        calls: list[ToolCall] = []
        for outside, message in pieces:
            content.append(outside)
            if message is None:
                continue
            if message.recipient and message.recipient.startswith("functions."):
                if not message.complete:
                    continue  # a call is emitted whole
                arguments = arguments_text(message.body.strip())
                if arguments is not None:
                    calls.append(ToolCall(name=message.recipient.removeprefix("functions."), arguments=arguments))
                else:
                    content.append(message.raw)
            elif message.channel in ("final", "commentary"):
                content.append(message.body)
            else:
                content.append(message.raw)
        joined = "".join(content)
        return (joined.rstrip() if calls or not final else joined), calls
