"""Mistral tool calls (``mistral``) after ``[TOOL_CALLS]``, in both of Mistral's forms.

Nemo and older (Mistral-Nemo chat template)::

    [TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}]

Small 3.2 and newer (Mistral-Small-3.2 chat template), one marker per call, the id optional::

    [TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{"city": "Paris"}

The arguments are read as one JSON value, so marker text inside a string is text. Reasoning (Magistral) is
``[THINK]…[/THINK]``, also ended by a call.
"""

from __future__ import annotations

import json
import re
import uuid

from .base import CallFrame, ToolCall
from .json_calls import arguments_text, call_from_object
from .split import Tools, TrailingToolCallParser
from .think import ThinkReasoningParser

__all__ = ["MistralReasoningParser", "MistralToolCallParser"]

TOOL_CALLS = "[TOOL_CALLS]"
_ARGS, _CALL_ID = "[ARGS]", "[CALL_ID]"
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"\s*")


class MistralToolCallParser(TrailingToolCallParser):
    start_marker = TOOL_CALLS
    call_frame = CallFrame(TOOL_CALLS + ' [{"name":"{name}", "arguments":', "}]", TOOL_CALLS)
    template_signs = (("mistral", TOOL_CALLS),)

    def new_call_id(self) -> str:
        """Mistral's templates accept only 9 alphanumeric characters."""
        return uuid.uuid4().hex[:9]

    def trailing_calls(self, calls_text: str, tools: Tools) -> list[ToolCall] | None:
        if calls_text.startswith("["):
            try:
                items = json.loads(calls_text)
            except json.JSONDecodeError:
                return None
            if not isinstance(items, list):
                return None
            calls = [call_from_object(item) for item in items]
            if not calls or None in calls:
                return None
            return [
                ToolCall(call.name, call.arguments, item.get("id") if isinstance(item.get("id"), str) else None)
                for call, item in zip(calls, items, strict=True)
            ]
        calls, position = [], 0
        while True:  # name[CALL_ID]id[ARGS]{json}, the next call after its own marker
            arguments = calls_text.find(_ARGS, position)
            if arguments == -1:
                return None
            name, _, call_id = calls_text[position:arguments].partition(_CALL_ID)
            value = _SPACE.match(calls_text, arguments + len(_ARGS)).end()
            try:
                _, end = _DECODER.raw_decode(calls_text, value)
            except json.JSONDecodeError:
                return None
            text = arguments_text(calls_text[value:end])
            if not name.strip() or text is None:
                return None
            calls.append(ToolCall(name=name.strip(), arguments=text, id=call_id.strip() or None))
            position = _SPACE.match(calls_text, end).end()
            if position == len(calls_text):
                return calls
            if not calls_text.startswith(self.start_marker, position):
                return None
            position += len(self.start_marker)


class MistralReasoningParser(ThinkReasoningParser):
    """Mistral: ``[THINK]…[/THINK]``, ended early by ``[TOOL_CALLS]``."""

    template_signs = (("mistral", "[/THINK]"),)
    open_tag, close_tag = "[THINK]", "[/THINK]"
    tool_markers = (TOOL_CALLS,)
    tool_markers_at_line_start = False
