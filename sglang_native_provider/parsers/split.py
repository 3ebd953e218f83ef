"""Shared shape of the tool-call parsers: each family defines how output splits into content and calls.

A parser implements ``split(text, tools, final=...)``. Called with ``final=False`` on a prefix of the output,
it must hold back anything undecided (a marker half-written, a call not yet closed, trailing whitespace), so
that content only grows; the generic stream re-splits the text so far after every delta and emits what is
new. That makes streamed deltas add up to the one-shot :meth:`parse` by construction.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from .base import ParsedToolCalls, ToolCall, ToolCallParser, ToolCallStream, marker_prefix_length

__all__ = ["BlockToolCallParser", "SplitToolCallParser", "TrailingToolCallParser"]

Tools = Sequence[dict[str, Any]] | None


class _SplitStream(ToolCallStream):
    def __init__(self, parser: SplitToolCallParser, tools: Tools) -> None:
        self._parser = parser
        self._tools = tools
        self._text = ""
        self._content = ""
        self._calls = 0

    def _emit(self, final: bool) -> tuple[str, list[ToolCall]]:
        content, calls = self._parser.split(self._text, self._tools, final=final)
        delta = content[len(self._content) :] if content.startswith(self._content) else ""
        self._content += delta
        new_calls = calls[self._calls :]
        self._calls = len(calls)
        return delta, new_calls

    def feed(self, delta: str) -> tuple[str, list[ToolCall]]:
        self._text += delta
        return self._emit(final=False)

    def finish(self) -> tuple[str, list[ToolCall]]:
        return self._emit(final=True)


class SplitToolCallParser(ToolCallParser):
    markers: ClassVar[tuple[str, ...]]
    """The family's markup; when any is a special token of the tokenizer, SGLang must keep special tokens."""

    @abstractmethod
    def split(self, text: str, tools: Tools, *, final: bool) -> tuple[str, list[ToolCall]]:
        """(content, calls) of ``text``; with ``final=False`` undecided text is held back from both."""

    def parse(self, text: str, tools: Tools) -> ParsedToolCalls:
        content, calls = self.split(text, tools, final=True)
        return ParsedToolCalls(content=content, calls=calls)

    def stream(self, tools: Tools) -> ToolCallStream:
        return _SplitStream(self, tools)


class BlockToolCallParser(SplitToolCallParser):
    """Calls inside blocks between an opening and a closing marker; text around them is content.

    A block that does not parse stays in the content; an unclosed block is content at the end. Whitespace
    before a call is the template's separator, so content is right-stripped when there are calls.
    """

    open: ClassVar[str]
    close: ClassVar[str]
    extra_markers: ClassVar[tuple[str, ...]] = ()
    """Markup inside blocks, listed for the special-token check."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if hasattr(cls, "open"):
            cls._block = re.compile(re.escape(cls.open) + r"(.*?)" + re.escape(cls.close), re.DOTALL)
            cls.markers = (cls.open, cls.close, *cls.extra_markers)

    @abstractmethod
    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        """The calls written in one block's payload, or None when it is malformed."""

    def split(self, text: str, tools: Tools, *, final: bool) -> tuple[str, list[ToolCall]]:
        parts: list[str] = []
        calls: list[ToolCall] = []
        position = 0
        for match in self._block.finditer(text):
            block_calls = self.block_calls(match.group(1), tools)
            if block_calls is None:
                continue
            parts.append(text[position : match.start()])
            calls.extend(block_calls)
            position = match.end()
        tail = text[position:]
        if not final:
            opening = tail.find(self.open)
            tail = tail[:opening] if opening != -1 else tail[: len(tail) - marker_prefix_length(tail, self.open)]
        parts.append(tail)
        content = "".join(parts)
        return (content.rstrip() if calls or not final else content), calls


class TrailingToolCallParser(SplitToolCallParser):
    """Calls that run from a start marker (or the very start of the output) to its end.

    Text before the start is content; if what follows does not parse, the whole output is content.
    """

    start_marker: ClassVar[str | None] = None
    bare_start: ClassVar[str | None] = None
    """A first character that begins calls written with no marker (``{`` for JSON, ``[`` for lists)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.markers = (cls.start_marker,) if cls.start_marker else ()

    @abstractmethod
    def trailing_calls(self, calls_text: str, tools: Tools) -> list[ToolCall] | None:
        """The calls in the text after the start, or None when it does not parse."""

    def _start(self, text: str) -> int | None:
        if self.start_marker is not None:
            index = text.find(self.start_marker)
            if index != -1:
                return index
        stripped = text.lstrip()
        if self.bare_start is not None and stripped.startswith(self.bare_start):
            return len(text) - len(stripped)
        return None

    def split(self, text: str, tools: Tools, *, final: bool) -> tuple[str, list[ToolCall]]:
        start = self._start(text)
        if not final:
            if start is None:
                held = marker_prefix_length(text, self.start_marker) if self.start_marker else 0
                return text[: len(text) - held].rstrip(), []
            return text[:start].rstrip(), []
        if start is None:
            return text, []
        body = text[start:]
        if self.start_marker is not None and body.startswith(self.start_marker):
            body = body[len(self.start_marker) :]
        calls = self.trailing_calls(body.strip(), tools)
        if not calls:
            return text, []
        return text[:start].rstrip(), calls
