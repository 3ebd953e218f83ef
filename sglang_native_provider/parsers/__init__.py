"""Tool-call and reasoning parsers, registered under SGLang's parser names.

A new family is one module with a :class:`ToolCallParser` or :class:`ReasoningParser` subclass, added to
the tuples below.
"""

from __future__ import annotations

from .base import (
    ParsedReasoning,
    ParsedToolCalls,
    ReasoningParser,
    ReasoningStream,
    ToolCall,
    ToolCallParser,
    ToolCallStream,
)
from .hermes import HermesToolCallParser
from .think import ThinkReasoningParser

__all__ = [
    "REASONING_PARSERS",
    "TOOL_CALL_PARSERS",
    "ParsedReasoning",
    "ParsedToolCalls",
    "ReasoningParser",
    "ReasoningStream",
    "ToolCall",
    "ToolCallParser",
    "ToolCallStream",
    "detect_reasoning_parser",
    "detect_tool_call_parser",
]

TOOL_CALL_PARSERS: dict[str, type[ToolCallParser]] = {
    name: parser for parser in (HermesToolCallParser,) for name in parser.names
}
REASONING_PARSERS: dict[str, type[ReasoningParser]] = {
    name: parser for parser in (ThinkReasoningParser,) for name in parser.names
}


def detect_tool_call_parser(chat_template: str) -> str | None:
    """The parser name a chat template's tool-call markup implies, if any."""
    return "qwen25" if "<tool_call>" in chat_template else None


def detect_reasoning_parser(chat_template: str) -> str | None:
    """The reasoning parser a chat template's thinking markup implies, if any."""
    return "qwen3" if "</think>" in chat_template else None
