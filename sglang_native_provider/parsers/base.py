"""Result types and the parser interfaces every model family implements.

Each parser answers on completed output (``parse``) and incrementally (``stream()`` returns an object fed
text deltas). Streams hold back anything still undecided (a marker half-written, an unclosed call) so that
the deltas they emit always add up to what ``parse`` returns for the whole text.

The interfaces also carry what a family's class declares besides parsing: its SGLang names (given by the
registry), how SGLang forces a call in its markup (:class:`CallFrame`, or an xgrammar model name) and the
chat-template markup that implies it (:data:`TemplateSign`).
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "UNPARSED_TOOL_MARKUP",
    "CallFrame",
    "ParsedReasoning",
    "ParsedToolCalls",
    "ReasoningParser",
    "ReasoningStream",
    "Resplitting",
    "TemplateSign",
    "ToolCall",
    "ToolCallParser",
    "ToolCallStream",
    "marker_prefix_length",
    "merge_metadata",
    "without_partial",
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


def without_partial(text: str, markers: Iterable[str]) -> str:
    """``text`` less the end that could still become one of ``markers`` (held back while output streams)."""
    return text[: len(text) - max((marker_prefix_length(text, marker) for marker in markers), default=0)]


TemplateSign = tuple[str, ...]
"""A parser name, then markup: a chat template holding all of that markup implies the named parser."""


@dataclass(frozen=True)
class CallFrame:
    """SGLang's legacy frame of one forced call (its detector's ``structure_info``): ``begin`` (with ``{name}``),
    the JSON arguments, ``end``; ``trigger`` (which may name the function too) starts it."""

    begin: str
    end: str
    trigger: str

    def structure(self, tool: Mapping[str, Any]) -> dict[str, Any]:
        function = tool["function"]
        # As SGLang (and OpenAI): the arguments follow the schema only for strict functions.
        schema = function.get("parameters") if function.get("strict") is True else None
        return {"begin": self.begin.replace("{name}", function["name"]), "schema": schema or {}, "end": self.end}

    def trigger_for(self, tool: Mapping[str, Any]) -> str:
        return self.trigger.replace("{name}", tool["function"]["name"])


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


class Resplitting:
    """Mixin for a stream that re-reads the whole text so far after each delta (:meth:`_emit`) and returns what
    that adds to what it returned before."""

    _text: str = ""

    @abstractmethod
    def _emit(self, final: bool) -> Any:
        """What the text so far adds; ``final``: the output has ended."""

    @staticmethod
    def _added(emitted: str, now: str) -> str:
        """What ``now`` adds to the ``emitted`` text (nothing while it does not extend it)."""
        return now[len(emitted) :] if now.startswith(emitted) else ""

    def feed(self, delta: str) -> Any:
        self._text += delta
        return self._emit(final=False)

    def finish(self) -> Any:
        return self._emit(final=True)


_DECLARATIONS = frozenset(
    {"__module__", "__qualname__", "__doc__", "__firstlineno__", "__static_attributes__", "__abstractmethods__"}
    | {"_abc_impl", "markers", "names", "call_frame", "structural_tag_name", "template_signs"}
)
"""What a parser class may define and still read output as its base does (``markers`` is derived from the
markup attributes, which a class reading differently defines itself)."""


class ToolCallParser(ABC):
    """Finds one family's tool-call markup in model output.

    Besides parsing, a family's class declares what else is known of it: how SGLang forces a call in its markup
    (``call_frame`` or ``structural_tag_name``) and the chat-template markup that implies it (``template_signs``).
    """

    names: ClassVar[tuple[str, ...]] = ()
    """SGLang's ``--tool-call-parser`` names this parser answers to (set by the registry, :mod:`.registry`)."""
    call_frame: ClassVar[CallFrame | None] = None
    """SGLang's legacy frame for a forced call (``tool_choice``), where its detector has one."""
    structural_tag_name: ClassVar[str | None] = None
    """The xgrammar model whose native structural tag SGLang sends for a forced call instead of a frame (its
    detector's ``get_structural_tag_name()``; the tag itself is built by ``structural_tags``)."""
    template_signs: ClassVar[tuple[TemplateSign, ...]] = ()
    """Chat-template markup implying one of this parser's names (see :func:`.registry.detect_tool_call_parser`)."""

    @classmethod
    def reads_as(cls) -> type[ToolCallParser]:
        """The class whose parsing this one's is: itself, or the nearest ancestor when this class only declares
        how a call is forced and detected (Qwen2.5's parser is Hermes' with its own forced-call frame)."""
        declared = set(vars(cls)) - _DECLARATIONS
        if declared or cls.__base__ is None or not issubclass(cls.__base__, ToolCallParser):
            return cls
        return cls.__base__.reads_as()

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

    names: ClassVar[tuple[str, ...]] = ()
    """SGLang's ``--reasoning-parser`` names this parser answers to (set by the registry, :mod:`.registry`)."""
    template_signs: ClassVar[tuple[TemplateSign, ...]] = ()
    """Chat-template markup implying one of this parser's names (see :func:`.registry.detect_reasoning_parser`)."""

    @abstractmethod
    def parse(self, text: str, *, opened: bool = False) -> ParsedReasoning:
        """Split ``text`` into reasoning and content; ``opened``: the prompt already opened the block."""

    @abstractmethod
    def stream(self, *, opened: bool = False) -> ReasoningStream:
        """A fresh incremental parser whose deltas add up to :meth:`parse` of the whole text."""
