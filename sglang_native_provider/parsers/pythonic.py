"""Pythonic tool calls (``pythonic``): a Python list of calls with literal keyword arguments.

Format::

    [get_weather(city="Paris"), get_time(zone="CET")]

Llama 4 may wrap the list in ``<|python_start|>…<|python_end|>`` (special tokens); text after the end marker is
content again.

Parsed with ``ast`` (literals only): nothing the model writes is evaluated.
"""

from __future__ import annotations

import ast
import json

from .base import ToolCall
from .json_calls import every_call
from .split import Tools, TrailingToolCallParser

__all__ = ["PythonicToolCallParser"]


def _call(node: ast.expr) -> ToolCall | None:
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.args:
        return None
    arguments = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            return None
        try:
            arguments[keyword.arg] = ast.literal_eval(keyword.value)
        except (ValueError, SyntaxError, TypeError):
            return None
    try:
        return ToolCall(name=node.func.id, arguments=json.dumps(arguments, ensure_ascii=False))
    except (TypeError, ValueError):  # a literal JSON cannot hold (bytes, sets, complex numbers)
        return None


class PythonicToolCallParser(TrailingToolCallParser):
    start_marker, end_marker = "<|python_start|>", "<|python_end|>"
    bare_start = "["
    quotes = "\"'"

    def trailing_calls(self, calls_text: str, tools: Tools) -> list[ToolCall] | None:
        try:
            tree = ast.parse(calls_text, mode="eval")
        except (SyntaxError, ValueError, RecursionError):
            return None
        if not isinstance(tree.body, ast.List):
            return None
        return every_call([_call(node) for node in tree.body.elts])
