"""Tool-call and reasoning parsers, registered under SGLang's parser names.

One module per model family holds all that is known of it, on its parser classes:

- how its output reads: a tool-call parser on a shared base of :mod:`.split` (:class:`BlockToolCallParser`
  when calls sit between an opening and a closing marker, :class:`TrailingToolCallParser` when they run from
  a marker to the end, else :class:`SplitToolCallParser` with a ``split`` of its own), reading payloads with
  :mod:`.json_calls` and :mod:`.typed`; a reasoning parser on :class:`ThinkReasoningParser` (a tag block, with
  the tool-call markers that end it) or :class:`SplitReasoningParser` (a ``split`` of its own);
- ``markers``: its markup, for the special-token check;
- ``call_frame`` (SGLang's legacy frame of a forced call) or ``structural_tag_name`` (the xgrammar model whose
  native tag SGLang sends instead, built in ``structural_tags``), when SGLang can force a call in its markup;
- ``template_signs``: the chat-template markup that implies one of its parser names, for detection.

A new family is that module plus one line per SGLang name in :mod:`.registry` (before the families whose
markup its template also holds, if it has template signs).
"""

from __future__ import annotations

from .base import (
    CallFrame,
    ParsedReasoning,
    ParsedToolCalls,
    ReasoningParser,
    ReasoningStream,
    ToolCall,
    ToolCallParser,
    ToolCallStream,
)
from .reasoning import SplitReasoningParser
from .registry import REASONING_PARSERS, TOOL_CALL_PARSERS, detect_reasoning_parser, detect_tool_call_parser
from .split import BlockToolCallParser, SplitToolCallParser, TrailingToolCallParser
from .think import ThinkReasoningParser

__all__ = [
    "REASONING_PARSERS",
    "TOOL_CALL_PARSERS",
    "BlockToolCallParser",
    "CallFrame",
    "ParsedReasoning",
    "ParsedToolCalls",
    "ReasoningParser",
    "ReasoningStream",
    "SplitReasoningParser",
    "SplitToolCallParser",
    "ThinkReasoningParser",
    "ToolCall",
    "ToolCallParser",
    "ToolCallStream",
    "TrailingToolCallParser",
    "detect_reasoning_parser",
    "detect_tool_call_parser",
]
