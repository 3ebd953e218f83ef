"""Result types and the parser interfaces every model family implements.

Each parser answers on completed output (``parse``) and incrementally (``stream()`` returns an object fed
text deltas). Streams hold back anything still undecided (a marker half-written, an unclosed call) so that
the deltas they emit always add up to what ``parse`` returns for the whole text.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "UNPARSED_TOOL_MARKUP",
    "ParsedReasoning",
    "ParsedToolCalls",
    "ReasoningParser",
    "ReasoningStream",
    "SplitReasoningStream",
    "ToolCall",
    "ToolCallParser",
    "ToolCallStream",
    "marker_prefix_length",
    "merge_metadata",
]

UNPARSED_TOOL_MARKUP = "unparsed_tool_markup"
"""Metadata key: raw text of tool-call markup that did not parse (malformed or cut off), left out of content."""


@dataclass(frozen=True)
class ToolCall:
    """One call the model made; ``arguments`` is a JSON object encoded as a string; ``id`` is the call id
    when the model wrote one (Mistral), so that it renders back as written."""

    name: str
    arguments: str
    id: str | None = None


@dataclass(frozen=True)
class ParsedToolCalls:
    """The model's text split into plain content and well-formed tool calls.

    ``metadata`` holds what the parse found besides them, for the choice's ``provider_specific_fields``:
    ``unparsed_tool_markup`` (the raw text of markup that did not parse, which is not content) and, for
    gpt-oss, ``builtin_tool_messages``. It unpacks as ``(content, calls)``, the shape ``split`` returns.
    """

    content: str
    calls: list[ToolCall] = field(default_factory=list)
    metadata: dict[str, list[Any]] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.content, self.calls))


@dataclass(frozen=True)
class ParsedReasoning:
    reasoning: str | None
    content: str
    metadata: dict[str, list[Any]] = field(default_factory=dict)
    """As :attr:`ParsedToolCalls.metadata`."""


def merge_metadata(*parts: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Metadata of several parses, lists under the same key joined in order."""
    merged: dict[str, list[Any]] = {}
    for part in parts:
        for key, values in part.items():
            if values:
                merged.setdefault(key, []).extend(values)
    return merged


def marker_prefix_length(text: str, marker: str) -> int:
    """How many trailing characters of ``text`` could be the start of ``marker``."""
    for length in range(min(len(marker) - 1, len(text)), 0, -1):
        if text.endswith(marker[:length]):
            return length
    return 0


class ToolCallStream(ABC):
    """Incremental tool-call parsing: content deltas and each call once it is complete."""

    @abstractmethod
    def feed(self, delta: str) -> tuple[str, list[ToolCall]]:
        """More model text; returns (content delta, calls completed by it)."""

    @abstractmethod
    def finish(self) -> tuple[str, list[ToolCall]]:
        """End of output: the rest (an unclosed call is not content: it is reported by :meth:`parse`)."""


class ReasoningStream(ABC):
    @abstractmethod
    def feed(self, delta: str) -> tuple[str, str]:
        """More model text; returns (reasoning delta, content delta)."""

    @abstractmethod
    def finish(self) -> tuple[str, str]:
        """End of output: whatever was held back."""


class SplitReasoningStream(ReasoningStream):
    """Re-splits the text so far after each delta with ``split(text, final)`` -> (reasoning, content), which
    holds back undecided text before the end, and emits what is new."""

    def __init__(self, split: Callable[[str, bool], tuple[str | None, str]]) -> None:
        self._split = split
        self._text = ""
        self._reasoning = ""
        self._content = ""

    def _emit(self, final: bool) -> tuple[str, str]:
        reasoning, content = self._split(self._text, final)
        reasoning = reasoning or ""
        reasoning_delta = reasoning[len(self._reasoning) :] if reasoning.startswith(self._reasoning) else ""
        content_delta = content[len(self._content) :] if content.startswith(self._content) else ""
        self._reasoning += reasoning_delta
        self._content += content_delta
        return reasoning_delta, content_delta

    def feed(self, delta: str) -> tuple[str, str]:
        self._text += delta
        return self._emit(final=False)

    def finish(self) -> tuple[str, str]:
        return self._emit(final=True)


class ToolCallParser(ABC):
    """Finds one family's tool-call markup in model output."""

    names: ClassVar[tuple[str, ...]]
    """SGLang's ``--tool-call-parser`` names this parser answers to."""

    @abstractmethod
    def parse(self, text: str, tools: Sequence[dict[str, Any]] | None) -> ParsedToolCalls:
        """Split ``text``; never raises. Markup that does not parse is left out of the content and reported
        in ``metadata["unparsed_tool_markup"]``; a marker merely mentioned in prose stays content."""

    def new_call_id(self) -> str:
        """An id for a parsed call, in the form the family's chat template accepts back."""
        return f"call_{uuid.uuid4().hex[:24]}"

    @abstractmethod
    def stream(self, tools: Sequence[dict[str, Any]] | None) -> ToolCallStream:
        """A fresh incremental parser whose deltas add up to :meth:`parse` of the whole text."""


class ReasoningParser(ABC):
    """Separates one family's reasoning block from the answer."""

    names: ClassVar[tuple[str, ...]]
    """SGLang's ``--reasoning-parser`` names this parser answers to."""

    @abstractmethod
    def parse(self, text: str, *, opened: bool = False) -> ParsedReasoning:
        """Split ``text`` into reasoning and content; ``opened``: the prompt already opened the block."""

    @abstractmethod
    def stream(self, *, opened: bool = False) -> ReasoningStream:
        """A fresh incremental parser whose deltas add up to :meth:`parse` of the whole text."""
