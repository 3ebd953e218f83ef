"""Fault injection: the failures a fleet of SGLang workers produces, at configurable rates.

Each ``/generate`` call draws at most one fault from a seeded generator:

- ``unavailable``: 503 with SGLang's ``ErrorResponse`` body (an overloaded or draining server);
- ``server_error``: 500, likewise;
- ``slow``: answered normally after ``slow_seconds``;
- ``reset``: the connection is dropped before any response (a crashed worker);
- ``stream_drop``: a stream is cut after its first event, without ``[DONE]`` (streams only);
- ``malformed``: 200 with a truncated JSON body (non-streaming) or event (streaming);
- ``abort``: generation ends at once with an ``abort`` finish, as when the scheduler aborts a request.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FAULT_KINDS", "FaultInjector", "Faults"]

FAULT_KINDS = ("unavailable", "server_error", "slow", "reset", "stream_drop", "malformed", "abort")
_STATUS = {"unavailable": 503, "server_error": 500}


@dataclass
class Faults:
    """Rates (0..1, summing to at most 1) of each fault kind. What the worker saw is counted too: ``calls``
    (``/generate`` calls received), ``peers`` (client addresses, one per connection) and ``injected``
    (the faults drawn)."""

    rates: Mapping[str, float] = field(default_factory=dict)
    slow_seconds: float = 1.0
    seed: int = 0
    calls: int = 0
    peers: set[tuple[str, int]] = field(default_factory=set)
    injected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.rates) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kind(s) {unknown}; known: {', '.join(FAULT_KINDS)}")
        if any(not 0 <= rate <= 1 for rate in self.rates.values()) or sum(self.rates.values()) > 1:
            raise ValueError("fault rates must lie in [0, 1] and sum to at most 1")
        self._random = random.Random(self.seed)

    @classmethod
    def parse(cls, specs: list[str], **kwargs: Any) -> Faults:
        """From ``KIND=RATE`` strings, as the CLI's ``--fault`` takes them."""
        rates = {}
        for spec in specs:
            kind, _, rate = spec.partition("=")
            try:
                rates[kind.strip()] = float(rate)
            except ValueError:
                raise ValueError(f"--fault expects KIND=RATE, got {spec!r}") from None
        return cls(rates, **kwargs)

    def draw(self, *, stream: bool) -> str | None:
        """The fault for the next call, or None; ``stream_drop`` applies to streams only."""
        point = self._random.random()
        for kind in FAULT_KINDS:
            point -= self.rates.get(kind, 0.0)
            if point < 0:
                if kind == "stream_drop" and not stream:
                    return None
                self.injected[kind] += 1
                return kind
        return None


def _error_body(status: int) -> bytes:
    """SGLang's ``ErrorResponse`` for an HTTPException on /generate."""
    message = "The server is overloaded; try again later." if status == 503 else "Internal server error"
    body = {"object": "error", "message": message, "type": str(status), "param": None, "code": status}
    return json.dumps(body).encode()


def _drop_connection(send) -> None:
    """Close the client's connection at once (uvicorn's ``send`` is bound to its transport)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("fault injection needs uvicorn's transport to drop a connection")
    transport.abort()


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


class FaultInjector:
    """ASGI middleware (outermost, so it holds uvicorn's own ``send``) applying :class:`Faults` to
    ``/generate``. The fault drawn is left in ``scope["state"]["fault"]`` for the app (``abort``)."""

    def __init__(self, app, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != "/generate":
            await self.app(scope, receive, send)
            return
        self.faults.calls += 1
        if scope.get("client"):
            self.faults.peers.add(tuple(scope["client"]))
        if not self.faults.rates:
            await self.app(scope, receive, send)
            return
        raw = await _read_body(receive)
        try:
            stream = json.loads(raw).get("stream") is True
        except (ValueError, AttributeError):
            stream = False
        fault = self.faults.draw(stream=stream)
        scope.setdefault("state", {})["fault"] = fault

        replayed = False

        async def replay() -> dict[str, Any]:
            """The body once, then the client's own messages (disconnects)."""
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": raw, "more_body": False}

        if fault == "slow":
            await asyncio.sleep(self.faults.slow_seconds)
        elif fault in _STATUS:
            await _send_whole(send, _STATUS[fault], b"application/json", _error_body(_STATUS[fault]))
            return
        elif fault == "reset":
            _drop_connection(send)
            await receive()  # the disconnect, so uvicorn knows the response was not forgotten
            return
        elif fault == "malformed":
            body = b'data: {"text": "trunc\n\n' if stream else b'{"text": "trunc'
            await _send_whole(send, 200, b"text/event-stream" if stream else b"application/json", body)
            return
        elif fault == "stream_drop":
            send = _cut_after_first_event(send)
        await self.app(scope, replay, send)


async def _send_whole(send, status: int, content_type: bytes, body: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _cut_after_first_event(send):
    """A ``send`` that passes the response start and first body chunk, then drops the connection."""
    state = {"chunks": 0}

    async def cutting(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            if state["chunks"] >= 1:
                _drop_connection(send)
                return
            state["chunks"] += 1
        await send(message)

    return cutting
