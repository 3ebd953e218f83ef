"""What the DeepSeek renderers share: the special tokens, DSML tool calls, tool schemas, the thinking switch."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "ASSISTANT",
    "BOS",
    "DSML",
    "EOS",
    "THINK_END",
    "THINK_START",
    "USER",
    "dsml_calls",
    "thinking_enabled",
    "tool_schemas",
]

BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
USER, ASSISTANT = "<｜User｜>", "<｜Assistant｜>"
THINK_START, THINK_END = "<think>", "</think>"
DSML = "｜DSML｜"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def thinking_enabled(kwargs: Mapping[str, Any]) -> bool:
    """Thinking mode: the ``thinking`` kwarg (DeepSeek's name), else ``enable_thinking``; off by default."""
    return bool(kwargs.get("thinking", kwargs.get("enable_thinking", False)))


def tool_schemas(tools: Sequence[Mapping[str, Any]]) -> str:
    """One JSON line per tool: its ``function`` object."""
    return "\n".join(_json(tool["function"]) for tool in tools)


def _arguments(arguments: Any) -> Mapping[str, Any]:
    if isinstance(arguments, Mapping):
        return arguments
    # Text that is not a JSON object travels whole as one parameter, as DeepSeek's V4 encoder does.
    return {"arguments": arguments}


def dsml_calls(tool_calls: Sequence[Mapping[str, Any]], *, block: str, invoke: str, parameter: str) -> str:
    """An assistant turn's calls as a DSML block (with the blank line before it); a string argument is written
    as is (``string="true"``), any other as JSON."""
    invokes = []
    for call in tool_calls:
        function = call["function"]
        parameters = "\n".join(
            f'<{DSML}{parameter} name="{key}" string="{"true" if isinstance(value, str) else "false"}">'
            f"{value if isinstance(value, str) else _json(value)}</{DSML}{parameter}>"
            for key, value in _arguments(function.get("arguments")).items()
        )
        invokes.append(f'<{DSML}{invoke} name="{function["name"]}">\n{parameters}\n</{DSML}{invoke}>')
    return f"\n\n<{DSML}{block}>\n" + "\n".join(invokes) + f"\n</{DSML}{block}>"
