"""Reading calls written as JSON objects, keeping the model's own text of the arguments."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from typing import Any

from .base import ToolCall

__all__ = ["arguments_text", "call_from_object", "consecutive_calls", "json_call", "json_end"]

_ARGUMENTS_KEY = re.compile(r'"(?:arguments|parameters)"\s*:\s*')
_DECODER = json.JSONDecoder()


@functools.lru_cache(maxsize=64)
def _json_tokens(stops: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = [re.escape(stop) for stop in stops] + [r'"(?:[^"\\]+|\\.)*(")?', r"[{}\[\]]"]
    return re.compile("|".join(alternatives), re.DOTALL)


def json_end(text: str, start: int, stops: Sequence[str] = ()) -> tuple[int, bool] | None:
    """Where the JSON object or array opening at ``text[start]`` ends, found by its brackets outside strings
    (so that marker text inside a string value is never taken for markup).

    Returns ``(end, True)`` when the brackets close (the value is ``text[start:end]``), ``(index, False)`` when
    one of ``stops`` appears outside a string first (the value is malformed; the marker starts at ``index``),
    and None when the text ends first (the value is unfinished). The answer for a prefix of a text never
    changes as the text grows, except from None.
    """
    depth = 0
    for token in _json_tokens(tuple(stops)).finditer(text, start):
        value = token.group(0)
        if value[0] == '"' and value not in stops:
            if token.group(1) is None:
                return None  # an unterminated string runs to the end
        elif value in "{[":
            depth += 1
        elif value in "}]":
            depth -= 1
            if depth <= 0:
                return token.end(), True
        else:
            return token.start(), False
    return None


def arguments_text(arguments: Any, source: str | None = None) -> str | None:
    """Arguments as the JSON-object string a tool call carries, or None if they are not an object.

    A dict found in ``source`` keeps the model's exact text; a JSON string holding an object is taken as is.
    """
    if isinstance(arguments, str):
        try:
            decoded = json.loads(arguments)
        except json.JSONDecodeError:
            return None
        return arguments if isinstance(decoded, dict) else None
    if not isinstance(arguments, dict):
        return None
    if source is not None:
        for key in _ARGUMENTS_KEY.finditer(source):
            try:
                value, end = _DECODER.raw_decode(source, key.end())
            except json.JSONDecodeError:
                continue
            if value == arguments:
                return source[key.end() : end]
    return json.dumps(arguments, ensure_ascii=False)


def consecutive_calls(pattern: re.Pattern[str], payload: str) -> list[ToolCall] | None:
    """Calls written back to back in ``payload``, each a match of ``pattern`` (group 1 the name, group 2
    the JSON arguments); None unless the matches cover the whole payload and every call parses."""
    calls, position = [], 0
    for match in pattern.finditer(payload):
        if match.start() != position:
            return None
        arguments = arguments_text(match.group(2).strip())
        if arguments is None:
            return None
        calls.append(ToolCall(name=match.group(1).strip(), arguments=arguments))
        position = match.end()
    return calls if calls and position == len(payload) else None


def json_call(payload: str) -> ToolCall | None:
    """``{"name": ..., "arguments" | "parameters": {...}}`` as a call, or None when malformed."""
    try:
        data = json.loads(payload)
    except json.JSONDecodeError:
        return None
    return call_from_object(data, payload)


def call_from_object(data: Any, source: str | None = None) -> ToolCall | None:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None
    arguments = data.get("arguments", data.get("parameters", {}))
    text = arguments_text(arguments, source)
    return None if text is None else ToolCall(name=data["name"], arguments=text)
