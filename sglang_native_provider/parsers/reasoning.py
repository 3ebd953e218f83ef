"""Shared shape of the reasoning parsers: each family defines how output splits into reasoning and content.

A parser implements ``split(text, opened=..., final=...)``, the reasoning parsers' counterpart of
:mod:`.split`. Called with ``final=False`` on a prefix of the output, it must hold back anything undecided (a
marker half-written), so that reasoning and content only grow; the generic stream re-splits the text so far
after every delta and emits what is new, which makes streamed deltas add up to :meth:`parse` by construction.
"""

from __future__ import annotations

from abc import abstractmethod

from .base import ParsedReasoning, ReasoningParser, ReasoningStream, Resplitting

__all__ = ["SplitReasoningParser", "SplitReasoningStream"]

Split = tuple[str | None, str] | ParsedReasoning


class SplitReasoningStream(Resplitting, ReasoningStream):
    """Re-splits the text so far after each delta with the parser's ``split`` and emits what is new."""

    def __init__(self, parser: SplitReasoningParser, opened: bool) -> None:
        self._parser, self._opened = parser, opened
        self._reasoning = self._content = ""

    def _emit(self, final: bool) -> tuple[str, str]:
        result = self._parser.split(self._text, opened=self._opened, final=final)
        reasoning, content = (result.reasoning, result.content) if isinstance(result, ParsedReasoning) else result
        reasoning_delta = self._added(self._reasoning, reasoning or "")
        content_delta = self._added(self._content, content)
        self._reasoning += reasoning_delta
        self._content += content_delta
        return reasoning_delta, content_delta


class SplitReasoningParser(ReasoningParser):
    """A reasoning parser defined by one ``split``; ``parse`` and ``stream`` follow from it."""

    @abstractmethod
    def split(self, text: str, *, opened: bool, final: bool) -> Split:
        """(reasoning, content) of ``text`` (reasoning None when there is no block), or a
        :class:`ParsedReasoning` when the split has metadata; ``opened``: the prompt already opened the block;
        with ``final=False`` undecided text is held back from both."""

    def parse(self, text: str, *, opened: bool = False) -> ParsedReasoning:
        result = self.split(text, opened=opened, final=True)
        return result if isinstance(result, ParsedReasoning) else ParsedReasoning(*result)

    def stream(self, *, opened: bool = False) -> ReasoningStream:
        return SplitReasoningStream(self, opened)
