"""The ``POST /generate`` client: pooled httpx connections and SGLang errors as LiteLLM exceptions."""

from __future__ import annotations

import asyncio
import codecs
import functools
import json
import logging
import re
import ssl
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import HttpxAiohttpClient
from pydantic import ValidationError

from .config import DeploymentConfig
from .errors import connection_error, error_for_status, timeout_error
from .protocol import GenerateOutput

__all__ = ["GenerateClient", "error_message", "sse_event"]

logger = logging.getLogger(__name__)

DONE: dict[str, Any] = {}
"""Returned by :func:`sse_event` for SGLang's closing ``data: [DONE]``."""
_SSE_FIELD = re.compile(r"^[A-Za-z]*:")

_LIMITS = httpx.Limits(max_connections=1024, max_keepalive_connections=256)


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
        raise error_for_status(code if isinstance(code, int) and code >= 400 else 500, message, model)
    return event


_ABORT_TIMEOUT = 2.0  # seconds; an abort runs while the caller's cancellation waits for it
_ENDED_EARLY = "SGLang's stream ended before [DONE] (connection dropped or server stopped)"


class _TooLarge(Exception):
    pass


def _check_size(size: int, cap: int) -> None:
    if size > cap:
        raise _TooLarge


class _LineSplitter:
    """SSE lines from raw chunks, refusing a line longer than the cap (an untrusted server could send one
    endless line)."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""

    def feed(self, chunk: bytes) -> list[str]:
        # Only "\n" ends a line: model text inside the JSON may hold other Unicode line separators.
        *lines, self._pending = (self._pending + self._decoder.decode(chunk)).split("\n")
        for line in (*lines, self._pending):
            _check_size(len(line), self._cap)
        return [line.removesuffix("\r") for line in lines]

    def close(self) -> list[str]:
        rest = (self._pending + self._decoder.decode(b"", final=True)).removesuffix("\r")
        return [rest] if rest else []


@functools.lru_cache(maxsize=8)
def _tls(ssl_verify: bool | str) -> bool | ssl.SSLContext:
    """httpx's ``verify``: on, off, or a context trusting the CA bundle file given."""
    return ssl.create_default_context(cafile=ssl_verify) if isinstance(ssl_verify, str) else ssl_verify


class _LoopClients:
    """One event loop's async clients (by TLS setting), closed when the loop shuts down: a suspended async
    generator is the hook, since ``asyncio.run`` and ``asyncio.Runner`` close open async generators while the
    loop still runs."""

    def __init__(self, forget) -> None:
        self.clients: dict[Any, httpx.AsyncClient] = {}
        self._closer = self._close_at_shutdown(forget)

    async def start(self) -> None:
        await anext(self._closer)

    async def _close_at_shutdown(self, forget) -> AsyncIterator[None]:
        try:
            yield
        finally:
            forget()
            for client in self.clients.values():
                await client.aclose()


class GenerateClient:
    """Pooled HTTP clients: per event loop and TLS setting an httpx client on aiohttp's connection pool (httpx's
    own pool looks at every connection each time a request starts or ends, which costs O(concurrency) per
    request), closed when the loop shuts down; one sync httpx ``Client`` per TLS setting. Response sizes are
    capped by the deployment's ``max_response_bytes``."""

    def __init__(self) -> None:
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClients] = weakref.WeakKeyDictionary()
        self._sync: dict[Any, httpx.Client] = {}
        self._lock = threading.Lock()

    async def _async_client(self, config: DeploymentConfig) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        loop_clients = self._async.get(loop)
        if loop_clients is None:
            loop_clients = self._async[loop] = _LoopClients(lambda: self._async.pop(loop, None))
            await loop_clients.start()
        client = loop_clients.clients.get(config.ssl_verify)
        if client is None or client.is_closed:
            client = loop_clients.clients[config.ssl_verify] = HttpxAiohttpClient(
                limits=_LIMITS, timeout=None, verify=_tls(config.ssl_verify)
            )
        return client

    def _sync_client(self, config: DeploymentConfig) -> httpx.Client:
        with self._lock:
            client = self._sync.get(config.ssl_verify)
            if client is None or client.is_closed:
                client = self._sync[config.ssl_verify] = httpx.Client(
                    limits=_LIMITS, timeout=None, verify=_tls(config.ssl_verify)
                )
            return client

    async def agenerate(self, config: DeploymentConfig, body: dict[str, Any], model: str) -> list[GenerateOutput]:
        url = f"{config.api_base}/generate"
        try:
            client = await self._async_client(config)
            async with client.stream(
                "POST", url, json=body, headers=config.headers(), timeout=config.timeout
            ) as response:
                content = bytearray()
                async for chunk in response.aiter_bytes():
                    content += chunk
                    _check_size(len(content), config.max_response_bytes)
        except (httpx.HTTPError, aiohttp.ClientError) as exc:
            raise _transport_error(exc, url, model) from None
        except _TooLarge:
            raise _too_large(config, model) from None
        return _outputs(response.status_code, bytes(content), model)

    def generate(self, config: DeploymentConfig, body: dict[str, Any], model: str) -> list[GenerateOutput]:
        url = f"{config.api_base}/generate"
        try:
            with self._sync_client(config).stream(
                "POST", url, json=body, headers=config.headers(), timeout=config.timeout
            ) as response:
                content = bytearray()
                for chunk in response.iter_bytes():
                    content += chunk
                    _check_size(len(content), config.max_response_bytes)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, url, model) from None
        except _TooLarge:
            raise _too_large(config, model) from None
        return _outputs(response.status_code, bytes(content), model)

    async def astream(
        self, config: DeploymentConfig, body: dict[str, Any], model: str
    ) -> AsyncIterator[dict[str, Any]]:
        """The JSON events of a streamed ``/generate``, up to ``[DONE]``."""
        url = f"{config.api_base}/generate"
        lines = _LineSplitter(config.max_response_bytes)
        try:
            client = await self._async_client(config)
            async with client.stream(
                "POST", url, json=body, headers=config.headers(), timeout=config.timeout
            ) as response:
                if response.status_code != 200:
                    raise error_for_status(response.status_code, error_message(await response.aread()), model)
                async for chunk in response.aiter_bytes():
                    for line in lines.feed(chunk):
                        event = sse_event(line, model)
                        if event is DONE:
                            return
                        if event is not None:
                            yield event
            for line in lines.close():
                if sse_event(line, model) is DONE:
                    return
        except (httpx.HTTPError, aiohttp.ClientError) as exc:
            raise _transport_error(exc, url, model) from None
        except _TooLarge:
            raise _too_large(config, model) from None
        raise connection_error(_ENDED_EARLY, model)

    def stream(self, config: DeploymentConfig, body: dict[str, Any], model: str) -> Iterator[dict[str, Any]]:
        """Sync :meth:`astream`."""
        url = f"{config.api_base}/generate"
        lines = _LineSplitter(config.max_response_bytes)
        try:
            with self._sync_client(config).stream(
                "POST", url, json=body, headers=config.headers(), timeout=config.timeout
            ) as response:
                if response.status_code != 200:
                    raise error_for_status(response.status_code, error_message(response.read()), model)
                for chunk in response.iter_bytes():
                    for line in lines.feed(chunk):
                        event = sse_event(line, model)
                        if event is DONE:
                            return
                        if event is not None:
                            yield event
            for line in lines.close():
                if sse_event(line, model) is DONE:
                    return
        except httpx.HTTPError as exc:
            raise _transport_error(exc, url, model) from None
        except _TooLarge:
            raise _too_large(config, model) from None
        raise connection_error(_ENDED_EARLY, model)

    async def aabort(self, config: DeploymentConfig, rid: str) -> None:
        """Ask SGLang to stop generating ``rid`` (best effort: failures are logged)."""
        try:
            client = await self._async_client(config)
            await client.post(
                f"{config.api_base}/abort_request", json={"rid": rid}, headers=config.headers(), timeout=_ABORT_TIMEOUT
            )
        except (httpx.HTTPError, aiohttp.ClientError) as exc:
            logger.warning("sglang_native: could not abort request %s: %s", rid, type(exc).__name__)

    def abort(self, config: DeploymentConfig, rid: str) -> None:
        """Sync :meth:`aabort`."""
        try:
            self._sync_client(config).post(
                f"{config.api_base}/abort_request", json={"rid": rid}, headers=config.headers(), timeout=_ABORT_TIMEOUT
            )
        except httpx.HTTPError as exc:
            logger.warning("sglang_native: could not abort request %s: %s", rid, type(exc).__name__)


def _too_large(config: DeploymentConfig, model: str) -> Exception:
    return error_for_status(
        502, f"SGLang's response exceeds max_response_bytes ({config.max_response_bytes} bytes)", model
    )


def _transport_error(exc: httpx.HTTPError | aiohttp.ClientError, url: str, model: str) -> Exception:
    """A timeout, or a connection that failed. The aiohttp transport maps every aiohttp connection error to
    an httpx timeout; the aiohttp error it came from tells which it was."""
    cause = exc.__cause__ if isinstance(exc.__cause__, aiohttp.ClientError) else exc
    timed_out = isinstance(cause, asyncio.TimeoutError) or (
        not isinstance(cause, aiohttp.ClientError) and isinstance(cause, httpx.TimeoutException)
    )
    if timed_out:
        return timeout_error(f"SGLang at {url} timed out: {type(cause).__name__}", model)
    return connection_error(f"Could not reach SGLang at {url}: {type(cause).__name__}: {cause}", model)


def _outputs(status_code: int, content: bytes, model: str) -> list[GenerateOutput]:
    if status_code != 200:
        raise error_for_status(status_code, error_message(content), model)
    try:
        data = json.loads(content)
        items = data if isinstance(data, list) else [data]
        return [GenerateOutput.model_validate(item) for item in items]
    except (ValueError, ValidationError) as exc:
        raise error_for_status(502, f"malformed /generate response: {exc}", model) from None
