"""Deadlines: one per request, fixed when it starts; a stream's clock for its next event; a watchdog for
abandoned streams.

The rule: a request's deadline is computed once, on the event loop's monotonic clock, when the request starts,
and everything the request does runs under it, the one resend on a new connection included (that resend gets
only what remains, never a fresh deadline). A non-streamed request must be answered whole within ``timeout``.
A stream must show its first event within ``stream_first_event_timeout`` (default: ``timeout``) of the start,
resend included, and each next event within ``stream_idle_timeout`` of the caller asking for it; bytes that do
not complete an event (``: ping`` comments, other SSE fields, a line dripping in, an event repeating the
previous one byte for byte) never move the clock, so a server cannot hold a stream past its bound with them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys

import aiohttp

from ..config import DeploymentConfig
from ..errors import timeout_error

if sys.version_info >= (3, 11):
    from asyncio import timeout_at
else:  # aiohttp depends on async-timeout before Python 3.11
    from async_timeout import timeout_at

__all__ = ["StreamClock", "Watchdog", "deadline_after", "timeout_at"]

logger = logging.getLogger(__name__)


def deadline_after(seconds: float) -> float:
    """The running loop's monotonic time ``seconds`` from now: a deadline for :func:`timeout_at`."""
    return asyncio.get_running_loop().time() + seconds


@dataclasses.dataclass
class StreamClock:
    """When a stream must show its next event: the first within ``stream_first_event_timeout`` (default
    ``timeout``) of the request's start, each next within ``stream_idle_timeout`` of the previous one (counted
    from when the caller asked for it). Only :meth:`event` moves it: what does not complete a new event does not
    count (comments, partial lines, an event repeating the previous one byte for byte)."""

    first: float
    idle: float
    next_event: float
    seen_one: bool = False

    @classmethod
    def start(cls, config: DeploymentConfig, now: float) -> StreamClock:
        """The clock of a stream starting at ``now`` (loop time)."""
        first = config.stream_first_event_timeout or config.timeout
        return cls(first=first, idle=config.stream_idle_timeout, next_event=now + first)

    def event(self, now: float) -> None:
        """An event was taken at ``now``: the next is due within ``idle``."""
        self.seen_one = True
        self.next_event = now + self.idle

    def error(self, url: str, model: str) -> Exception:
        """The ``Timeout`` for a missed :attr:`next_event`, naming the setting that bounded it."""
        if self.seen_one:
            return timeout_error(
                f"SGLang's stream at {url} sent no event for {self.idle:g} s (stream_idle_timeout; ': ping' "
                "comments do not count)",
                model,
            )
        return timeout_error(
            f"SGLang at {url} sent no stream event within {self.first:g} s (stream_first_event_timeout, "
            "default: timeout)",
            model,
        )


class Watchdog:
    """Closes a stream's connection when its caller has not asked for the next event for ``seconds`` (an
    abandoned stream: SGLang stops generating when the connection closes); 0 never does."""

    def __init__(self, seconds: float, response: aiohttp.ClientResponse) -> None:
        self._seconds = seconds
        self._response = response
        self._timer: asyncio.TimerHandle | None = None
        self.fired = False

    def arm(self) -> None:
        """Start counting: an event was handed to the caller."""
        if self._seconds:
            self._timer = asyncio.get_running_loop().call_later(self._seconds, self._fire)

    def disarm(self) -> None:
        """Stop counting: the caller asked for the next event (or left)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self.fired = True
        logger.warning(
            "sglang_native: a stream was not read for %g s (stream_abandon_timeout); closing it", self._seconds
        )
        self._response.close()
