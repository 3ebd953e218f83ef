"""Reading calls: JSON objects (keeping the model's own text of the arguments), a name with an arguments
object, and calls written back to back."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from .base import ToolCall

__all__ = [
    "arguments_text",
    "back_to_back",
    "call_from_object",
    "every_call",
    "frame_end",
    "framed_parts",
    "json_call",
    "json_end",
    "json_value",
    "named_call",
]

_ARGUMENTS_KEY = re.compile(r'"(?:arguments|parameters)"\s*:\s*')
_DECODER = json.JSONDecoder()


@functools.lru_cache(maxsize=64)
def _json_tokens(stops: tuple[str, ...], quotes: str) -> re.Pattern[str]:
    strings = [rf"{quote}(?:[^{quote}\\]+|\\.)*({quote})?" for quote in quotes]
    alternatives = [re.escape(stop) for stop in stops] + strings + [r"[{}\[\]]"]
    return re.compile("|".join(alternatives), re.DOTALL)


def json_end(text: str, start: int, stops: Sequence[str] = (), quotes: str = '"') -> tuple[int, bool] | None:
    """Where the JSON object or array opening at ``text[start]`` ends, found by its brackets outside strings
    (so that marker text inside a string value is never taken for markup); ``quotes``: the characters that
    delimit strings (``"'"`` too for a Python literal).

    Returns ``(end, True)`` when the brackets close (the value is ``text[start:end]``), ``(index, False)`` when
    one of ``stops`` appears outside a string first (the value is malformed; the marker starts at ``index``),
    and None when the text ends first (the value is unfinished). The answer for a prefix of a text never
    changes as the text grows, except from None.
    """
    depth = 0
    for token in _json_tokens(tuple(stops), quotes).finditer(text, start):
        value = token.group(0)
        if value[0] in quotes and value not in stops:
            if token.lastindex is None:
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


def back_to_back(pattern: re.Pattern[str], text: str, start: int = 0) -> list[re.Match[str]] | None:
    """The matches of ``pattern`` written one right after another from ``start`` on (the pattern takes in the
    whitespace between them), or None when anything but whitespace stands before, between or after them."""
    matches, position = [], start
    for match in pattern.finditer(text, start):
        if match.start() != position:
            return None
        matches.append(match)
        position = match.end()
    return None if text[position:].strip() else matches


def every_call(calls: Sequence[ToolCall | None]) -> list[ToolCall] | None:
    """``calls`` when there are some and each was read (none is None), else None."""
    read = [call for call in calls if call is not None]
    return read if read and len(read) == len(calls) else None


def frame_end(text: str, start: int, begin: str, end: str) -> int:
    """Where the call framed by ``begin`` … ``end`` whose text goes on at ``start`` stops: after its ``end``
    marker, or (malformed) where the next ``begin`` starts first; -1 when neither follows (cut off)."""
    stop, again = text.find(end, start), text.find(begin, start)
    if again != -1 and (stop == -1 or again < stop):
        return again
    return -1 if stop == -1 else stop + len(end)


def framed_parts(
    payload: str, begin: str, read: Callable[[str], ToolCall | None], stop: Callable[[str, int], int]
) -> list[ToolCall | str]:
    """The calls of ``payload``, each framed from a ``begin`` marker to where ``stop`` (given the text after the
    marker) says it stops, read by ``read`` from its frame: a call, or the frame's raw text when it does not read
    (None). Text outside frames, and a frame still open at the end (cut off), are raw text too."""
    parts: list[ToolCall | str] = []
    position = 0
    while payload[position:].strip():
        start = payload.find(begin, position)
        if start == -1:
            parts.append(payload[position:])
            break
        if payload[position:start].strip():
            parts.append(payload[position:start])
        end = stop(payload, start + len(begin))
        frame = payload[start:] if end == -1 else payload[start:end]
        call = None if end == -1 else read(frame)
        parts.append(frame if call is None else call)
        position = len(payload) if end == -1 else end
    return parts


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not JSON")  # NaN and Infinity: Python's json would accept them


def json_value(text: str, *, constants: bool = True) -> Any:
    """The JSON value ``text`` holds, None when it holds none (or ``null``); ``constants=False`` refuses
    ``NaN`` and ``Infinity``, which Python's json reads."""
    try:
        return json.loads(text) if constants else json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return None


def named_call(name: Any, arguments: Any, *, decode: bool = False) -> ToolCall | None:
    """A call of ``name`` with the arguments object re-encoded, or None unless the name is a non-empty string
    and the arguments a JSON object; ``decode``: arguments given as a string are JSON text to decode first."""
    if decode and isinstance(arguments, str):
        arguments = json_value(arguments)
    if not isinstance(name, str) or not name or not isinstance(arguments, dict):
        return None
    return ToolCall(name=name, arguments=json.dumps(arguments, ensure_ascii=False))


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
