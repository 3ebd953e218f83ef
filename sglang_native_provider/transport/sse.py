"""Server-sent events from an untrusted server: lines split in linear time under a size cap, SGLang's events
parsed, and a stream's events read one at a time under its clock (see ``deadlines.py``)."""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import connection_error, error_for_status
from .deadlines import StreamClock, timeout_at
from .errors import check_size

__all__ = ["DONE", "EventReader", "LineSplitter", "sse_event"]

DONE: dict[str, Any] = {}
"""Returned by :func:`sse_event` for SGLang's closing ``data: [DONE]``."""
_SSE_FIELD = re.compile(r"^[A-Za-z]*:")
_ENDED_EARLY = "SGLang's stream ended before [DONE] (connection dropped or server stopped)"


def sse_event(line: str, model: str) -> dict[str, Any] | None:
    """One SSE line of a ``/generate`` stream: its JSON event, :data:`DONE`, or None for other fields.

    An ``{"error": ...}`` event raises its LiteLLM exception; a malformed line or event raises too.
    """
    if not line or line.startswith(":"):
        return None
    if not line.startswith("data:"):
        if _SSE_FIELD.match(line):
            return None  # an SSE field SGLang does not send (event:, id:, retry:)
        raise error_for_status(502, f"malformed SSE line in SGLang's stream: {line[:200]!r}", model)
    payload = line[5:].lstrip(" ")
    if payload == "[DONE]":
        return DONE
    try:
        event = json.loads(payload)
    except ValueError:
        raise error_for_status(502, f"malformed SSE event in SGLang's stream: {payload[:200]!r}", model) from None
    if not isinstance(event, dict):
        raise error_for_status(502, f"unexpected SSE event in SGLang's stream: {payload[:200]!r}", model)
    error = event.get("error")
    if error is not None:
        message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
        code = error.get("code") if isinstance(error, dict) else None
        raise error_for_status(code if isinstance(code, int) and code >= 400 else 500, str(message), model)
    return event


def _decode_line(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").removesuffix("\r")


class LineSplitter:
    """SSE lines from raw chunks in time linear in the bytes fed (a line's pieces are joined once, when it ends),
    refusing a line longer than the cap (an untrusted server could send one endless line)."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._pieces: list[bytes] = []
        self._size = 0

    def _hold(self, piece: bytes) -> None:
        if piece:
            self._size += len(piece)
            check_size(self._size, self._cap)
            self._pieces.append(piece)

    def feed(self, chunk: bytes) -> list[str]:
        """The lines ``chunk`` ends (without their ``\\n``); raises ``ResponseTooLarge`` for a line over the cap."""
        # Only "\n" ends a line: model text inside the JSON may hold other Unicode line separators. A "\n" byte
        # never occurs inside a UTF-8 sequence, so each line decodes on its own.
        parts = chunk.split(b"\n")
        if len(parts) == 1:
            self._hold(chunk)
            return []
        self._hold(parts[0])
        lines = [_decode_line(b"".join(self._pieces))]
        self._pieces, self._size = [], 0
        for part in parts[1:-1]:
            check_size(len(part), self._cap)
            lines.append(_decode_line(part))
        self._hold(parts[-1])
        return lines

    def close(self) -> list[str]:
        """The unterminated last line, if any."""
        rest = _decode_line(b"".join(self._pieces))
        self._pieces, self._size = [], 0
        return [rest] if rest else []


class EventReader:
    """A stream's JSON events one at a time, each awaited under ``clock`` (its :attr:`StreamClock.next_event`
    does not move while comments, other fields, partial lines or a repeat of the previous event arrive)."""

    def __init__(self, read: Callable[[], Awaitable[bytes]], clock: StreamClock, cap: int, model: str) -> None:
        self._read = read
        self._clock = clock
        self._lines = LineSplitter(cap)
        self._pending: collections.deque[str] = collections.deque()
        self._previous = ""
        self._model = model

    def _parsed(self) -> dict[str, Any] | None:
        """The first event among the lines already read, :data:`DONE`, or None when they hold neither."""
        while self._pending:
            line = self._pending.popleft()
            if line == self._previous and line:  # a repeated event carries nothing new and does not count
                continue
            event = sse_event(line, self._model)
            if event is not None:
                self._previous = line
                return event
        return None

    async def next(self) -> dict[str, Any] | None:
        """The next event, or None after ``[DONE]``. Raises ``TimeoutError`` when the clock's deadline passes
        first, and ``APIConnectionError`` when the body ends without ``[DONE]``."""
        while (event := self._parsed()) is None:
            async with timeout_at(self._clock.next_event):
                chunk = await self._read()
            if not chunk:
                if any(sse_event(line, self._model) is DONE for line in self._lines.close()):
                    return None
                raise connection_error(_ENDED_EARLY, self._model)
            self._pending.extend(self._lines.feed(chunk))
        return None if event is DONE else event
