"""The ``POST /generate`` client: pooled connections, deadlines, bounded reads, SGLang errors as LiteLLM exceptions.

Async calls go through aiohttp's connection pool (one per event loop and TLS setting). Sync calls run the same
code on a private event loop in a background thread, so both have the same deadlines, limits and retries.

What an untrusted server can do is bounded: a whole answer must arrive within ``timeout``; a stream's first event
within ``stream_first_event_timeout`` and each next one within ``stream_idle_timeout`` (``: ping`` comments and
partial lines do not count); an answer or one stream line is at most ``max_response_bytes``; an error answer is
read up to 64 KiB and quoted up to 2,000 characters; compressed answers (never asked for) and redirects are refused.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import functools
import json
import logging
import os
import re
import ssl
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import aiohttp
import certifi
import litellm
from pydantic import ValidationError

from .config import DeploymentConfig
from .errors import bad_request, bounded, connection_error, error_for_status, timeout_error
from .protocol import GenerateOutput

if sys.version_info >= (3, 11):
    from asyncio import timeout_at
else:  # aiohttp depends on async-timeout before Python 3.11
    from async_timeout import timeout_at

__all__ = ["GenerateClient", "error_message", "sse_event"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

DONE: dict[str, Any] = {}
"""Returned by :func:`sse_event` for SGLang's closing ``data: [DONE]``."""
_SSE_FIELD = re.compile(r"^[A-Za-z]*:")

_MAX_CONNECTIONS = 1024
_KEEPALIVE_SECONDS = 2.0
"""How long an idle connection is kept: well under uvicorn's 5 s (SGLang's ``SGLANG_TIMEOUT_KEEP_ALIVE``), whose
clock starts when the server sends an answer's last byte, while ours starts later, once the answer is read."""
_HEADERS = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
_ERROR_BODY_BYTES = 64 * 1024
"""The most of an error answer that is read: enough for any JSON envelope SGLang sends."""
_ERROR_TEXT_CHARS = 2000
"""The most of an error answer that is quoted in the exception's message."""
_ABORT_TIMEOUT = 2.0  # seconds; an abort runs while the caller's cancellation waits for it
_PROBE_TIMEOUT = 5.0  # seconds; a probe of the server (see server_check.py) is best effort
_PROBE_BYTES = 1 << 20
_ENDED_EARLY = "SGLang's stream ended before [DONE] (connection dropped or server stopped)"


def error_message(body: bytes) -> str:
    """SGLang's error text from any of its envelopes: ``{"error": str}``, ``{"error": {"message"}}``,
    ``{"object": "error", "message"}``; else the raw body."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip() or "(empty body)"
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, str):
            return error
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(data.get("message"), str):
            return data["message"]
    return json.dumps(data)


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


class _TooLarge(Exception):
    pass


def _check_size(size: int, cap: int) -> None:
    if size > cap:
        raise _TooLarge


def _decode_line(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").removesuffix("\r")


class _LineSplitter:
    """SSE lines from raw chunks in time linear in the bytes fed (a line's pieces are joined once, when it ends),
    refusing a line longer than the cap (an untrusted server could send one endless line)."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._pieces: list[bytes] = []
        self._size = 0

    def _hold(self, piece: bytes) -> None:
        if piece:
            self._size += len(piece)
            _check_size(self._size, self._cap)
            self._pieces.append(piece)

    def feed(self, chunk: bytes) -> list[str]:
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
            _check_size(len(part), self._cap)
            lines.append(_decode_line(part))
        self._hold(parts[-1])
        return lines

    def close(self) -> list[str]:
        rest = _decode_line(b"".join(self._pieces))
        self._pieces, self._size = [], 0
        return [rest] if rest else []


@functools.lru_cache(maxsize=8)
def _tls(ssl_verify: bool | str) -> bool | ssl.SSLContext:
    """aiohttp's ``ssl``: off, or a context trusting certifi's CA store (as httpx does) or the bundle file given."""
    if ssl_verify is False:
        return False
    return ssl.create_default_context(cafile=certifi.where() if ssl_verify is True else ssl_verify)


@dataclasses.dataclass
class _Attempt:
    """Per-request trace context: whether aiohttp sent the request on a kept-alive connection."""

    reused: bool = False


async def _note_reuse(session: aiohttp.ClientSession, context: Any, params: Any) -> None:
    if isinstance(context.trace_request_ctx, _Attempt):  # aborts are sent without one
        context.trace_request_ctx.reused = True


def _session(connector: aiohttp.BaseConnector, *trace_configs: aiohttp.TraceConfig) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=connector,
        trace_configs=list(trace_configs) or None,
        timeout=aiohttp.ClientTimeout(total=None),  # deadlines are this module's (see GenerateClient)
        auto_decompress=False,
        trust_env=True,  # HTTP(S)_PROXY / NO_PROXY, as httpx honours them
    )


class _Sessions:
    """aiohttp sessions for one TLS setting: a pool of kept-alive connections, and one without a pool for a
    request retried on a new connection."""

    def __init__(self, tls: bool | ssl.SSLContext) -> None:
        trace = aiohttp.TraceConfig()
        trace.on_connection_reuseconn.append(_note_reuse)
        pooled = aiohttp.TCPConnector(limit=_MAX_CONNECTIONS, keepalive_timeout=_KEEPALIVE_SECONDS, ssl=tls)
        self.pooled = _session(pooled, trace)
        self.fresh = _session(aiohttp.TCPConnector(limit=_MAX_CONNECTIONS, force_close=True, ssl=tls))

    @property
    def is_closed(self) -> bool:
        return self.pooled.closed

    async def aclose(self) -> None:
        await self.pooled.close()
        await self.fresh.close()


class _LoopSessions:
    """One event loop's sessions (by TLS setting), closed when the loop shuts down: a suspended async generator
    is the hook, since ``asyncio.run`` and ``asyncio.Runner`` close open async generators while the loop still
    runs."""

    def __init__(self, forget: Callable[[], None]) -> None:
        self.sessions: dict[Any, _Sessions] = {}
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


_END = object()


async def _next(iterator: AsyncIterator[T]) -> T | object:
    try:
        return await anext(iterator)
    except StopAsyncIteration:
        return _END


class _BackgroundLoop:
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


@dataclasses.dataclass
class _StreamClock:
    """When a stream must show its next event: the first within ``stream_first_event_timeout`` (default
    ``timeout``) of the request, each next within ``stream_idle_timeout`` of the previous one (counted from
    when the caller asked for it). Comments (``: ping``), partial lines and an event repeating the previous one
    byte for byte do not count."""

    first: float
    idle: float
    next_event: float
    seen_one: bool = False

    @classmethod
    def start(cls, config: DeploymentConfig, now: float) -> _StreamClock:
        first = config.stream_first_event_timeout or config.timeout
        return cls(first=first, idle=config.stream_idle_timeout, next_event=now + first)

    def event(self, now: float) -> None:
        self.seen_one = True
        self.next_event = now + self.idle

    def error(self, url: str, model: str) -> Exception:
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


class _Watchdog:
    """Closes a stream's connection when its caller has not asked for the next event for ``seconds`` (an
    abandoned stream: SGLang stops generating when the connection closes)."""

    def __init__(self, seconds: float, response: aiohttp.ClientResponse) -> None:
        self._seconds = seconds
        self._response = response
        self._timer: asyncio.TimerHandle | None = None
        self.fired = False

    def arm(self) -> None:
        if self._seconds:
            self._timer = asyncio.get_running_loop().call_later(self._seconds, self._fire)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self.fired = True
        logger.warning(
            "sglang_native: a stream was not read for %g s (stream_abandon_timeout); closing it", self._seconds
        )
        self._response.close()


class GenerateClient:
    """Per event loop and TLS setting a pool of kept-alive aiohttp connections, closed when the loop shuts
    down; sync calls use a background loop's. A request lost on a kept-alive connection the server had just
    closed (nothing of an answer arrived) is sent once more on a new connection, under the same ``rid``: if the
    first send did reach SGLang and is still running, SGLang refuses the duplicate ``rid`` (a connection error
    saying so), so a running request is never started twice."""

    def __init__(self) -> None:
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopSessions] = weakref.WeakKeyDictionary()
        self._background = _BackgroundLoop()

    async def _async_client(self, config: DeploymentConfig) -> _Sessions:
        loop = asyncio.get_running_loop()
        loop_sessions = self._async.get(loop)
        if loop_sessions is None:
            loop_sessions = self._async[loop] = _LoopSessions(lambda: self._async.pop(loop, None))
            await loop_sessions.start()
        sessions = loop_sessions.sessions.get(config.ssl_verify)
        if sessions is None or sessions.is_closed:
            sessions = loop_sessions.sessions[config.ssl_verify] = _Sessions(_tls(config.ssl_verify))
        return sessions

    async def _send(self, config: DeploymentConfig, url: str, payload: bytes) -> tuple[aiohttp.ClientResponse, bool]:
        """POST ``payload``; retried once on a new connection if the kept-alive one it went out on was closed
        before any answer (uvicorn closes idle connections after 5 s: the request crossed the close). Returns
        the answer and whether it came from the retry."""
        sessions = await self._async_client(config)
        headers = {**_HEADERS, **config.headers()}
        attempt = _Attempt()
        try:
            response = await sessions.pooled.post(
                url, data=payload, headers=headers, allow_redirects=False, trace_request_ctx=attempt
            )
            return response, False
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            if not attempt.reused or isinstance(exc, aiohttp.ClientConnectorError):
                raise
            logger.info("sglang_native: %s closed a kept-alive connection (%s); sending again", url, exc)
        return await sessions.fresh.post(url, data=payload, headers=headers, allow_redirects=False), True

    async def agenerate(self, config: DeploymentConfig, body: dict[str, Any], model: str) -> list[GenerateOutput]:
        """A non-streamed ``/generate``, answered whole within ``timeout`` seconds."""
        url = f"{config.api_base}/generate"
        payload = _encode(body, model)
        response = None
        try:
            async with timeout_at(asyncio.get_running_loop().time() + config.timeout):
                response, retried = await self._send(config, url, payload)
                if response.status != 200:
                    raise await _error_answer(response, url, model, retried=retried)
                content = await _read_body(response, config.max_response_bytes, model)
        except asyncio.TimeoutError:
            raise timeout_error(f"SGLang at {url} did not answer within timeout={config.timeout:g} s", model) from None
        except aiohttp.ClientError as exc:
            raise _transport_error(exc, url, model) from None
        except _TooLarge:
            raise _too_large(config, model) from None
        finally:
            if response is not None:
                response.release()
        return _outputs(content, model)

    def generate(self, config: DeploymentConfig, body: dict[str, Any], model: str) -> list[GenerateOutput]:
        """Sync :meth:`agenerate`."""
        return self._background.run(self.agenerate(config, body, model))

    async def astream(
        self, config: DeploymentConfig, body: dict[str, Any], model: str
    ) -> AsyncIterator[dict[str, Any]]:
        """The JSON events of a streamed ``/generate``, up to ``[DONE]``."""
        url = f"{config.api_base}/generate"
        payload = _encode(body, model)
        loop = asyncio.get_running_loop()
        clock = _StreamClock.start(config, loop.time())
        lines = _LineSplitter(config.max_response_bytes)
        response = watchdog = None
        previous = ""
        try:
            async with timeout_at(clock.next_event):
                response, retried = await self._send(config, url, payload)
                if response.status != 200:
                    raise await _error_answer(response, url, model, retried=retried)
                _check_event_stream(response, model)
            watchdog = _Watchdog(config.stream_abandon_timeout, response)
            while True:
                async with timeout_at(clock.next_event):
                    chunk = await response.content.readany()
                if not chunk:
                    break
                for line in lines.feed(chunk):
                    if line == previous and line:  # a repeated event carries nothing new and does not count
                        continue
                    event = sse_event(line, model)
                    if event is DONE:
                        return
                    if event is not None:
                        previous = line
                        watchdog.arm()
                        yield event
                        watchdog.disarm()
                        if watchdog.fired:
                            raise connection_error(
                                f"the stream was not read for {config.stream_abandon_timeout:g} s and was closed "
                                "(stream_abandon_timeout)",
                                model,
                            )
                        clock.event(loop.time())
            for line in lines.close():
                if sse_event(line, model) is DONE:
                    return
        except asyncio.TimeoutError:
            raise clock.error(url, model) from None
        except aiohttp.ClientError as exc:
            raise _transport_error(exc, url, model) from None
        except _TooLarge:
            raise _too_large(config, model) from None
        finally:
            if watchdog is not None:
                watchdog.disarm()
            if response is not None:
                response.release()
        raise connection_error(_ENDED_EARLY, model)

    def stream(self, config: DeploymentConfig, body: dict[str, Any], model: str) -> Iterator[dict[str, Any]]:
        """Sync :meth:`astream`."""
        return self._background.iterate(self.astream(config, body, model))

    async def aabort(self, config: DeploymentConfig, rid: str) -> None:
        """Ask SGLang to stop generating ``rid`` (best effort: failures are logged)."""
        try:
            sessions = await self._async_client(config)
            async with timeout_at(asyncio.get_running_loop().time() + _ABORT_TIMEOUT):
                response = await sessions.pooled.post(
                    f"{config.api_base}/abort_request",
                    data=json.dumps({"rid": rid}),
                    headers={**_HEADERS, **config.headers()},
                    allow_redirects=False,
                )
                response.release()
        except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError) as exc:  # RuntimeError: session closed
            logger.warning("sglang_native: could not abort request %s: %s", rid, type(exc).__name__)

    def abort(self, config: DeploymentConfig, rid: str) -> None:
        """Sync :meth:`aabort`."""
        self._background.run(self.aabort(config, rid))

    async def aprobe(self, config: DeploymentConfig, path: str, body: dict[str, Any] | None = None) -> Probe | None:
        """GET ``path`` (POST ``body`` when given) for a small JSON answer, best effort: the status and the
        parsed answer (None when it is not JSON), or None when the server could not be reached in time."""
        url = f"{config.api_base}{path}"
        try:
            sessions = await self._async_client(config)
            async with timeout_at(asyncio.get_running_loop().time() + min(config.timeout, _PROBE_TIMEOUT)):
                headers = {**_HEADERS, **config.headers()}
                data = None if body is None else json.dumps(body)
                method = sessions.pooled.get if body is None else functools.partial(sessions.pooled.post, data=data)
                async with method(url, headers=headers, allow_redirects=False) as response:
                    content = await _read_body(response, _PROBE_BYTES, "")
        except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError, _TooLarge, litellm.APIError) as exc:
            logger.debug("sglang_native: probing %s failed: %s", url, type(exc).__name__)
            return None
        try:
            answer = json.loads(content)
        except ValueError:
            answer = None
        return Probe(response.status, answer)

    def probe(self, config: DeploymentConfig, path: str, body: dict[str, Any] | None = None) -> Probe | None:
        """Sync :meth:`aprobe`."""
        return self._background.run(self.aprobe(config, path, body))


@dataclasses.dataclass(frozen=True)
class Probe:
    """A probe's answer: its HTTP status and its JSON body (None when it was not JSON)."""

    status: int
    answer: Any


def _encode(body: dict[str, Any], model: str) -> bytes:
    try:
        return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise bad_request(f"the request cannot be sent as JSON: {exc}", model) from None


def _refuse_encoding(response: aiohttp.ClientResponse, model: str) -> None:
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise error_for_status(
            502, f"SGLang answered with Content-Encoding {encoding[:40]!r}, not the identity encoding asked for", model
        )


def _check_event_stream(response: aiohttp.ClientResponse, model: str) -> None:
    _refuse_encoding(response, model)
    content_type = response.headers.get("Content-Type")
    if content_type is not None and content_type.split(";")[0].strip().lower() != "text/event-stream":
        raise error_for_status(
            502,
            f"SGLang answered a streamed request with Content-Type {content_type[:80]!r}, not text/event-stream",
            model,
        )


async def _read_body(response: aiohttp.ClientResponse, cap: int, model: str) -> bytes:
    _refuse_encoding(response, model)
    if response.content_length is not None:
        _check_size(response.content_length, cap)
    content = bytearray()
    while chunk := await response.content.readany():
        content += chunk
        _check_size(len(content), cap)
    return bytes(content)


async def _error_answer(response: aiohttp.ClientResponse, url: str, model: str, *, retried: bool = False) -> Exception:
    """The exception for a non-200 answer, quoting at most :data:`_ERROR_TEXT_CHARS` of its text (read up to
    :data:`_ERROR_BODY_BYTES`: the rest is never read)."""
    status = response.status
    if 300 <= status < 400:
        location = response.headers.get("Location", "")[:200]
        return bad_request(
            f"SGLang at {url} answered {status}, a redirect to {location!r}; redirects are not followed: set "
            "api_base to the server's own address",
            model,
        )
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return error_for_status(status, f"(a {encoding[:40]}-encoded answer, not read)", model)
    head = bytearray()
    while len(head) <= _ERROR_BODY_BYTES and (chunk := await response.content.read(_ERROR_BODY_BYTES + 1 - len(head))):
        head += chunk
    message = error_message(bytes(head[:_ERROR_BODY_BYTES]))
    if len(head) > _ERROR_BODY_BYTES:
        message = (
            f"{message[:_ERROR_TEXT_CHARS]} [cut: the answer is longer than {_ERROR_BODY_BYTES:,} bytes, its first "
            f"{min(len(message), _ERROR_TEXT_CHARS):,} characters shown]"
        )
    else:
        message = bounded(message, _ERROR_TEXT_CHARS)
    if retried and status == 400 and "Duplicate request ID" in message:
        return connection_error(
            f"the connection to SGLang at {url} was lost as the request went out, and SGLang is still running it "
            "(its rid is in flight), so it was not sent twice",
            model,
        )
    return error_for_status(status, message, model)


def _too_large(config: DeploymentConfig, model: str) -> Exception:
    return error_for_status(
        502, f"SGLang's response exceeds max_response_bytes ({config.max_response_bytes} bytes)", model
    )


def _transport_error(exc: aiohttp.ClientError, url: str, model: str) -> Exception:
    """The LiteLLM exception for a failed connection or a broken answer, with a one-line message."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return connection_error(
            f"Could not reach SGLang at {url}: its TLS certificate is not trusted ({exc.certificate_error}); set "
            "ssl_verify to the CA bundle that signed it, or false",
            model,
        )
    if isinstance(exc, aiohttp.ClientPayloadError):
        return connection_error(f"SGLang's answer from {url} was cut off: {bounded(str(exc), 300)}", model)
    if isinstance(exc, aiohttp.ClientResponseError):  # not HTTP, or HTTP the parser refuses
        return error_for_status(502, f"SGLang at {url} sent an invalid HTTP answer: {bounded(str(exc), 300)}", model)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return connection_error(f"Could not reach SGLang at {url}: the server closed the connection", model)
    return connection_error(f"Could not reach SGLang at {url}: {type(exc).__name__}: {bounded(str(exc), 300)}", model)


def _outputs(content: bytes, model: str) -> list[GenerateOutput]:
    try:
        data = json.loads(content)
    except ValueError:
        preview = content[:200].decode("utf-8", "replace")
        raise error_for_status(502, f"SGLang's /generate answer is not JSON: {preview!r}", model) from None
    items = data if isinstance(data, list) else [data]
    odd = [item for item in items if not isinstance(item, dict)]
    if not items or odd:
        kind = "an empty list" if not items else f"a {type(odd[0]).__name__}"
        if items and isinstance(data, list):
            kind = f"a list holding {kind}"
        raise error_for_status(502, f"SGLang's /generate answer is {kind}, not one or more outputs", model)
    try:
        return [GenerateOutput.model_validate(item) for item in items]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)[:5]
        )
        raise error_for_status(502, f"malformed /generate response: {problems}", model) from None
