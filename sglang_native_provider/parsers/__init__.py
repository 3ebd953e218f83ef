"""Tool-call and reasoning parsers, registered under SGLang's parser names.

A new family is one module with a parser class (usually a :class:`BlockToolCallParser` or
:class:`TrailingToolCallParser` that says how one block or tail reads), added to the tuples below, plus a
line in :func:`detect_tool_call_parser` if its chat template can be recognised.
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
from .deepseek import DeepSeekV3ToolCallParser, DeepSeekV31ToolCallParser
from .glm45 import Glm45ToolCallParser
from .gpt_oss import GptOssReasoningParser, GptOssToolCallParser
from .hermes import HermesToolCallParser
from .kimi_k2 import KimiK2ToolCallParser
from .llama3 import Llama3ToolCallParser
from .mistral import MistralToolCallParser
from .pythonic import PythonicToolCallParser
from .qwen3_coder import Qwen3CoderToolCallParser
from .split import BlockToolCallParser, SplitToolCallParser, TrailingToolCallParser
from .think import KimiReasoningParser, MistralReasoningParser, ThinkReasoningParser

__all__ = [
    "REASONING_PARSERS",
    "TOOL_CALL_PARSERS",
    "BlockToolCallParser",
    "ParsedReasoning",
    "ParsedToolCalls",
    "ReasoningParser",
    "ReasoningStream",
    "SplitToolCallParser",
    "ToolCall",
    "ToolCallParser",
    "ToolCallStream",
    "TrailingToolCallParser",
    "detect_reasoning_parser",
    "detect_tool_call_parser",
]

_TOOL_CALL_PARSER_CLASSES: tuple[type[SplitToolCallParser], ...] = (
    HermesToolCallParser,
    Qwen3CoderToolCallParser,
    Glm45ToolCallParser,
    KimiK2ToolCallParser,
    DeepSeekV3ToolCallParser,
    DeepSeekV31ToolCallParser,
    Llama3ToolCallParser,
    MistralToolCallParser,
    PythonicToolCallParser,
    GptOssToolCallParser,
)
TOOL_CALL_PARSERS: dict[str, type[SplitToolCallParser]] = {
    name: parser for parser in _TOOL_CALL_PARSER_CLASSES for name in parser.names
}
REASONING_PARSERS: dict[str, type[ReasoningParser]] = {
    name: parser
    for parser in (ThinkReasoningParser, KimiReasoningParser, MistralReasoningParser, GptOssReasoningParser)
    for name in parser.names
}

# (a marker the chat template contains, the parser it implies), most specific first.
_TOOL_CALL_SIGNS = (
    ("<|channel|>", "gpt-oss"),
    ("<|tool_calls_section_begin|>", "kimi_k2"),
    ("```json", "deepseekv3"),  # checked only together with DeepSeek's marker, below
    ("<｜tool▁calls▁begin｜>", "deepseekv31"),
    ("<function=", "qwen3_coder"),
    ("<arg_key>", "glm45"),
    ("[TOOL_CALLS]", "mistral"),
    ("<|python_tag|>", "llama3"),
    ("<tool_call>", "qwen25"),
)
_REASONING_SIGNS = (("<|channel|>", "gpt-oss"), ("◁/think▷", "kimi"), ("[/THINK]", "mistral"), ("</think>", "qwen3"))


def detect_tool_call_parser(chat_template: str) -> str | None:
    """The tool-call parser a chat template's markup implies, if any."""
    deepseek = "<｜tool▁calls▁begin｜>" in chat_template
    for sign, name in _TOOL_CALL_SIGNS:
        if sign in chat_template and (name != "deepseekv3" or deepseek):
            return name
    return None


def detect_reasoning_parser(chat_template: str) -> str | None:
    """The reasoning parser a chat template's thinking markup implies, if any."""
    return next((name for sign, name in _REASONING_SIGNS if sign in chat_template), None)
