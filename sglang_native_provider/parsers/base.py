"""Result types and the two parser interfaces every model family implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = ["ParsedReasoning", "ParsedToolCalls", "ReasoningParser", "ToolCall", "ToolCallParser"]


@dataclass(frozen=True)
class ToolCall:
    """One call the model made; ``arguments`` is a JSON object encoded as a string."""

    name: str
    arguments: str


@dataclass(frozen=True)
class ParsedToolCalls:
    """The model's text split into plain content and well-formed tool calls."""

    content: str
    calls: list[ToolCall] = field(default_factory=list)


@dataclass(frozen=True)
class ParsedReasoning:
    reasoning: str | None
    content: str


class ToolCallParser(ABC):
    """Finds one family's tool-call markup in completed model output."""

    names: ClassVar[tuple[str, ...]]
    """SGLang's ``--tool-call-parser`` names this parser answers to."""

    @abstractmethod
    def parse(self, text: str, tools: Sequence[dict[str, Any]] | None) -> ParsedToolCalls:
        """Split ``text``; malformed markup stays in the content, never raises."""


class ReasoningParser(ABC):
    """Separates one family's reasoning block from the answer."""

    names: ClassVar[tuple[str, ...]]
    """SGLang's ``--reasoning-parser`` names this parser answers to."""

    @abstractmethod
    def parse(self, text: str) -> ParsedReasoning:
        """Split ``text`` into reasoning and content; never raises."""
