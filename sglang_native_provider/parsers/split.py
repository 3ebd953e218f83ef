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
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .base import (
    UNPARSED_TOOL_MARKUP,
    ParsedToolCalls,
    Resplitting,
    ToolCall,
    ToolCallParser,
    ToolCallStream,
    marker_prefix_length,
)
from .json_calls import json_end

__all__ = [
    "BlockToolCallParser",
    "Found",
    "Part",
    "SplitToolCallParser",
    "TrailingToolCallParser",
    "close_outside_values",
]

Tools = Sequence[dict[str, Any]] | None
Part = ToolCall | str
"""One call of a block: the call read, or (a string) the raw text of one that did not parse."""


class _SplitStream(Resplitting, ToolCallStream):
    def __init__(self, parser: SplitToolCallParser, tools: Tools) -> None:
        self._parser, self._tools = parser, tools
        self._content, self._calls = "", 0

    def _emit(self, final: bool) -> tuple[str, list[ToolCall]]:
        content, calls = self._parser.split(self._text, self._tools, final=final)
        delta = self._added(self._content, content)
        self._content += delta
        new_calls = calls[self._calls :]
        self._calls = len(calls)
        return delta, new_calls


class SplitToolCallParser(ToolCallParser):
    markers: ClassVar[tuple[str, ...]]
    """The family's markup; when any is a special token of the tokenizer, SGLang must keep special tokens."""

    @abstractmethod
    def split(self, text: str, tools: Tools, *, final: bool) -> ParsedToolCalls | tuple[str, list[ToolCall]]:
        """(content, calls) of ``text``, with metadata as a :class:`ParsedToolCalls`; with ``final=False``
        undecided text is held back from both."""

    def parse(self, text: str, tools: Tools) -> ParsedToolCalls:
        result = self.split(text, tools, final=True)
        return result if isinstance(result, ParsedToolCalls) else ParsedToolCalls(*result)

    def stream(self, tools: Tools) -> ToolCallStream:
        return _SplitStream(self, tools)


@dataclass
class Found:
    """What a split has read so far: pieces of content, calls, and the raw text of markup that did not parse."""

    content: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)

    def add(self, calls: list[ToolCall] | None, raw: str) -> None:
        """A block's calls, or (None: it did not parse) its raw text as unparsed markup."""
        if calls is None:
            self.unparsed.append(raw)
        else:
            self.calls.extend(calls)

    def add_parts(self, parts: Sequence[Part] | None, raw: str, cut_marker: str | None = None) -> None:
        """A block read call by call: its calls, and the raw text of those that did not parse as unparsed markup
        (blank text, or the beginning of the ``cut_marker`` that closes a block cut off, is nothing); with no call
        read, the block's ``raw`` text is the unparsed markup (unless it is closed and empty)."""
        calls = [part for part in parts or () if isinstance(part, ToolCall)]
        if not calls and (parts is None or parts or cut_marker is not None):
            self.unparsed.append(raw)
            return
        self.calls.extend(calls)
        for part in parts or ():
            if isinstance(part, str) and part.strip() and not (cut_marker or "").startswith(part.strip()):
                self.unparsed.append(part)

    def parsed(self, content: str | None = None, **metadata: list[Any]) -> ParsedToolCalls:
        """The result: ``content`` (by default the pieces joined), the calls, the unparsed markup and any further
        non-empty ``metadata`` lists."""
        found = {UNPARSED_TOOL_MARKUP: self.unparsed, **metadata}
        content = "".join(self.content) if content is None else content
        return ParsedToolCalls(content, self.calls, {key: values for key, values in found.items() if values})


def _at_line_start(text: str, index: int) -> bool:
    line = text.rfind("\n", 0, index) + 1
    return not text[line:index].strip()


def close_outside_values(text: str, start: int, close: str, opener: str, value_end: re.Pattern[str]) -> int:
    """Where ``close`` first stands in ``text`` from ``start`` outside the values that ``opener`` starts and
    ``value_end`` ends (XML-like calls whose values may mention the closing tag); -1 when not found, or when
    the text ends inside a value."""
    position = start
    while True:
        closing = text.find(close, position)
        value = text.find(opener, position)
        if value == -1 or (closing != -1 and closing < value):
            return closing
        end = value_end.search(text, value + len(opener))
        if end is None:
            return -1  # inside a value: a closing tag here may be the value's text
        position = end.end()


class BlockToolCallParser(SplitToolCallParser):
    """Calls inside blocks between an opening and a closing marker; text around them is content.

    An opening marker followed by what begins a call (:meth:`starts_call`) opens a block; one followed by
    anything else is a mention in prose and stays content. A block ends at its closing marker, found by the
    payload's structure (:meth:`block_end`) so that marker text inside a value does not end it. A block is read
    call by call where its format allows (:meth:`block_parts`): a complete call is returned even when a sibling
    is malformed or the block was cut off after it. Markup that does not parse is not content: its raw text is
    reported as unparsed markup. Whitespace before a call is the template's separator, so content is
    right-stripped when blocks were taken out.
    """

    open: ClassVar[str]
    close: ClassVar[str]
    extra_markers: ClassVar[tuple[str, ...]] = ()
    """Markup inside blocks, listed for the special-token check."""
    value_open: ClassVar[str | None] = None
    """For calls whose values may hold the closing marker (XML-like calls): what starts a value. The block then
    ends at the closing marker outside values, each ending where :meth:`value_end` says."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if hasattr(cls, "open"):
            cls.markers = (cls.open, cls.close, *cls.extra_markers)

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        """The calls written in one block's payload, or None when it is malformed (a family defines this or
        :meth:`block_parts`)."""
        raise NotImplementedError

    def block_parts(self, payload: str, tools: Tools, closed: bool) -> Sequence[Part] | None:
        """One block's calls in order, each read or the raw text of one that did not parse (so that a malformed
        call does not cost its siblings theirs); None when the block does not read at all. ``closed=False``: the
        output ended before the closing marker, and only calls complete in it are read (never a half-written
        one). By default a closed block is read whole (:meth:`block_calls`) and a cut-off one not at all."""
        return self.block_calls(payload, tools) if closed else None

    def starts_call(self, text: str, start: int) -> bool | None:
        """Whether the text from ``start`` (right after an opening marker) begins a call in this format; None
        while too little is written to tell. The default, for markers that are special tokens: always."""
        return True

    def value_end(self) -> re.Pattern[str]:
        """What ends a value that ``value_open`` started (only asked when it is set)."""
        raise NotImplementedError

    def block_end(self, text: str, start: int) -> int:
        """Where the closing marker of the block whose payload begins at ``start`` starts, or -1 while it is
        not closed; an index once returned must not change as the text grows."""
        if self.value_open is not None:
            return close_outside_values(text, start, self.close, self.value_open, self.value_end())
        return text.find(self.close, start)

    def split(self, text: str, tools: Tools, *, final: bool) -> ParsedToolCalls:
        found = Found()
        position = search = 0
        taken = False
        held: int | None = None
        while (opening := text.find(self.open, search)) != -1:
            start = opening + len(self.open)
            begins = self.starts_call(text, start)
            cut_off = begins is None
            if cut_off:
                if not final:
                    held = opening  # undecided: held back from the marker on
                    break
                # cut off right after the marker or inside the start of a call: markup, unless nothing
                # follows a marker written mid-sentence
                begins = bool(text[start:].strip()) or opening == position or _at_line_start(text, opening)
            if not begins:
                search = start  # a mention: stays content
                continue
            end = -1 if cut_off else self.block_end(text, start)
            if end == -1 and not final:
                held = opening
                break
            found.content.append(text[position:opening])
            stop = len(text) if end == -1 else end + len(self.close)
            parts = None if cut_off else self.block_parts(text[start : stop if end == -1 else end], tools, end != -1)
            found.add_parts(parts, text[opening:stop], self.close if end == -1 else None)
            position, search, taken = stop, stop, True
            if end == -1:
                break
        tail = text[position:] if held is None else text[position:held]
        if not final and held is None:
            tail = tail[: len(tail) - marker_prefix_length(tail, self.open)]
        found.content.append(tail)
        content = "".join(found.content)
        return found.parsed(content.rstrip() if taken or not final else content)


class TrailingToolCallParser(SplitToolCallParser):
    """Calls that run from a start marker (or the very start of the output) to its end, or to an end marker.

    Text before the start is content, and so is text after an end marker. If the calls do not parse, the text
    from a start marker on (to the end marker, if any) is unparsed markup (not content); output that merely
    begins like calls, with no marker, is content. Calls written with no marker are a value (``bare_start``)
    scanned by its brackets and strings, so marker text inside one of its strings is text.
    """

    start_marker: ClassVar[str | None] = None
    end_marker: ClassVar[str | None] = None
    """What ends calls a start marker began (Llama 4's ``<|python_end|>``); the text after it is content."""
    bare_start: ClassVar[str | None] = None
    """A first character that begins calls written with no marker (``{`` for JSON, ``[`` for lists)."""
    quotes: ClassVar[str] = '"'
    """What delimits strings in the calls (``'`` too for Python literals)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.markers = tuple(marker for marker in (cls.start_marker, cls.end_marker) if marker)

    @abstractmethod
    def trailing_calls(self, calls_text: str, tools: Tools) -> list[ToolCall] | None:
        """The calls in the text after the start, or None when it does not parse."""

    def _value_end(self, text: str, start: int) -> int | None:
        """Where the value opening at ``start`` ends (by its brackets outside strings); None while unfinished."""
        scanned = json_end(text, start, (), self.quotes)
        return None if scanned is None else scanned[0]

    def _start(self, text: str) -> int | None:
        stripped = text.lstrip()
        bare = len(text) - len(stripped) if self.bare_start and stripped.startswith(self.bare_start) else None
        if self.start_marker is not None:
            search = 0 if bare is None else self._value_end(text, bare)  # a marker inside the value is its text
            index = -1 if search is None else text.find(self.start_marker, search)
            if index != -1:
                return index
        return bare

    def _calls_end(self, text: str, start: int) -> tuple[int, int] | None:
        """Where the end marker after the calls from ``start`` stands (start and end), if it was written."""
        if self.end_marker is None:
            return None
        first = len(text) - len(text[start:].lstrip())
        search = self._value_end(text, first) if self.bare_start and text.startswith(self.bare_start, first) else start
        index = -1 if search is None else text.find(self.end_marker, search)
        return None if index == -1 else (index, index + len(self.end_marker))

    def split(self, text: str, tools: Tools, *, final: bool) -> ParsedToolCalls:
        start = self._start(text)
        if start is None:
            held = marker_prefix_length(text, self.start_marker) if self.start_marker and not final else 0
            return ParsedToolCalls(text[: len(text) - held].rstrip() if not final else text)
        marked = self.start_marker is not None and text.startswith(self.start_marker, start)
        body = start + len(self.start_marker) if marked else start
        ended = self._calls_end(text, body) if marked else None
        stop, after = (len(text), "") if ended is None else (ended[0], text[ended[1] :])
        content = (text[:start] + after).rstrip()
        if not final:
            return ParsedToolCalls(content)
        calls = self.trailing_calls(text[body:stop].strip(), tools)
        if calls:
            return ParsedToolCalls(content, calls)
        if marked:
            return ParsedToolCalls(content, [], {UNPARSED_TOOL_MARKUP: [text[start : len(text) - len(after)]]})
        return ParsedToolCalls(text)
