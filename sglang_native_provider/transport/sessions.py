"""aiohttp sessions and the event loops they live on.

Each event loop has its own sessions per TLS setting (a pool of kept-alive connections, and one without a pool
for a resend), closed when the loop shuts down. Sync callers use a private loop in a daemon thread
(:class:`BackgroundLoop`), so sync and async calls run the same code.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import functools
import logging
import os
import ssl
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import aiohttp
import certifi

__all__ = ["BackgroundLoop", "SessionPools", "Sessions", "tls"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_CONNECTIONS = 1024
KEEPALIVE_SECONDS = 2.0
"""How long an idle connection is kept: well under uvicorn's 5 s (SGLang's ``SGLANG_TIMEOUT_KEEP_ALIVE``), whose
clock starts when the server sends an answer's last byte, while ours starts later, once the answer is read."""


@functools.lru_cache(maxsize=8)
def tls(ssl_verify: bool | str) -> bool | ssl.SSLContext:
    """aiohttp's ``ssl``: off, or a context trusting certifi's CA store (as httpx does) or the bundle file given."""
    if ssl_verify is False:
        return False
    return ssl.create_default_context(cafile=certifi.where() if ssl_verify is True else ssl_verify)


@dataclasses.dataclass
class _Attempt:
    """Per-request trace context: whether aiohttp sent the request on a kept-alive connection."""

    reused: bool = False


async def _note_reuse(session: aiohttp.ClientSession, context: Any, params: Any) -> None:
    if isinstance(context.trace_request_ctx, _Attempt):  # aborts and probes are sent without one
        context.trace_request_ctx.reused = True


def _session(connector: aiohttp.BaseConnector, *trace_configs: aiohttp.TraceConfig) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=connector,
        trace_configs=list(trace_configs) or None,
        timeout=aiohttp.ClientTimeout(total=None),  # the deadlines are the caller's (see deadlines.py)
        auto_decompress=False,
        trust_env=True,  # HTTP(S)_PROXY / NO_PROXY, as httpx honours them
    )


class Sessions:
    """aiohttp sessions for one TLS setting: a pool of kept-alive connections, and one without a pool for a
    request sent again on a new connection."""

    def __init__(self, ssl_context: bool | ssl.SSLContext) -> None:
        trace = aiohttp.TraceConfig()
        trace.on_connection_reuseconn.append(_note_reuse)
        pooled = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_SECONDS, ssl=ssl_context)
        self.pooled = _session(pooled, trace)
        self.fresh = _session(aiohttp.TCPConnector(limit=MAX_CONNECTIONS, force_close=True, ssl=ssl_context))

    @property
    def is_closed(self) -> bool:
        return self.pooled.closed

    async def aclose(self) -> None:
        await self.pooled.close()
        await self.fresh.close()

    async def post(self, url: str, payload: bytes, headers: dict[str, str]) -> tuple[aiohttp.ClientResponse, bool]:
        """POST ``payload``, sent once more on a new connection if the kept-alive one it went out on was closed
        before any answer (uvicorn closes idle connections after 5 s: the request crossed the close). Returns
        the answer and whether it came from that resend. It sets no deadline of its own: the caller's, set once
        for the whole request, bounds both sends."""
        attempt = _Attempt()
        try:
            response = await self.pooled.post(
                url, data=payload, headers=headers, allow_redirects=False, trace_request_ctx=attempt
            )
            return response, False
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            if not attempt.reused or isinstance(exc, aiohttp.ClientConnectorError):
                raise
            logger.info("sglang_native: %s closed a kept-alive connection (%s); sending again", url, exc)
        return await self.fresh.post(url, data=payload, headers=headers, allow_redirects=False), True


class _LoopSessions:
    """One event loop's sessions (by TLS setting), closed when the loop shuts down: a suspended async generator
    is the hook, since ``asyncio.run`` and ``asyncio.Runner`` close open async generators while the loop still
    runs."""

    def __init__(self, forget: Callable[[], None]) -> None:
        self.sessions: dict[Any, Sessions] = {}
        self._closer = self._close_at_shutdown(forget)

    async def start(self) -> None:
        await anext(self._closer)

    async def _close_at_shutdown(self, forget: Callable[[], None]) -> AsyncIterator[None]:
        try:
            yield
        finally:
            forget()
            for sessions in self.sessions.values():
                await sessions.aclose()


class SessionPools:
    """The running loop's :class:`Sessions` per TLS setting, made on first use and closed at the loop's
    shutdown (forgotten with it)."""

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopSessions] = weakref.WeakKeyDictionary()

    def __len__(self) -> int:
        """How many loops have sessions open."""
        return len(self._loops)

    async def get(self, ssl_verify: bool | str) -> Sessions:
        """The running loop's sessions for ``ssl_verify`` (the ``DeploymentConfig`` setting)."""
        loop = asyncio.get_running_loop()
        loop_sessions = self._loops.get(loop)
        if loop_sessions is None:
            loop_sessions = self._loops[loop] = _LoopSessions(lambda: self._loops.pop(loop, None))
            await loop_sessions.start()
        sessions = loop_sessions.sessions.get(ssl_verify)
        if sessions is None or sessions.is_closed:
            sessions = loop_sessions.sessions[ssl_verify] = Sessions(tls(ssl_verify))
        return sessions


_END = object()


async def _next(iterator: AsyncIterator[T]) -> T | object:
    try:
        return await anext(iterator)
    except StopAsyncIteration:
        return _END


class BackgroundLoop:
    """An event loop in a daemon thread, running the async client for sync callers (started on first use, again
    in a forked child; stopped at interpreter exit after closing its connections)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._closing: set[asyncio.Future] = set()

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="sglang-native-sync", daemon=True)
                self._thread.start()
                self._pid = os.getpid()
                atexit.register(self._stop, self._loop)
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the background loop and wait for it; an interrupted wait cancels it."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._running())
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        """``iterator``'s items, each fetched on the background loop; closing this closes it there."""
        try:
            while (item := self.run(_next(iterator))) is not _END:
                yield item  # type: ignore[misc]
        finally:
            if threading.current_thread() is self._thread:  # finalized by the garbage collector on the loop
                task = asyncio.ensure_future(iterator.aclose())  # type: ignore[attr-defined]
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            else:
                self.run(iterator.aclose())  # type: ignore[attr-defined]

    def _stop(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop.is_running() and self._pid == os.getpid():
            with contextlib.suppress(Exception):  # at exit: closing politely is all it can try
                asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop).result(timeout=5)
            loop.call_soon_threadsafe(loop.stop)
