"""Hermes-style tool calls, used by Qwen2.5, Qwen3, QwQ and Hermes models.

Format (Qwen3 chat template)::

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

Several blocks may follow each other; text around them is content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from .base import ParsedToolCalls, ToolCall, ToolCallParser

__all__ = ["HermesToolCallParser"]

_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)


def _call(payload: str) -> ToolCall | None:
    try:
        data = json.loads(payload)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None
    arguments = data.get("arguments", data.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return None
    if not isinstance(arguments, dict):
        return None
    return ToolCall(name=data["name"], arguments=json.dumps(arguments, ensure_ascii=False))


class HermesToolCallParser(ToolCallParser):
    names = ("hermes", "qwen25", "qwen")

    def parse(self, text: str, tools: Sequence[dict[str, Any]] | None) -> ParsedToolCalls:
        calls: list[ToolCall] = []
        content: list[str] = []
        position = 0
        for match in _BLOCK.finditer(text):
            call = _call(match.group(1))
            if call is None:
                continue  # a malformed block stays in the content
            content.append(text[position : match.start()])
            calls.append(call)
            position = match.end()
        content.append(text[position:])
        return ParsedToolCalls(content="".join(content).strip() if calls else text, calls=calls)
