"""The ``POST /generate`` client: pooled httpx connections and SGLang errors as LiteLLM exceptions."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
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


class GenerateClient:
    """One pooled ``httpx.AsyncClient`` per event loop (and one ``httpx.Client`` for sync calls)."""

    def __init__(self) -> None:
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._sync: httpx.Client | None = None
        self._lock = threading.Lock()

    def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None or client.is_closed:
            client = self._async[loop] = httpx.AsyncClient(limits=_LIMITS, timeout=None)
        return client

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._sync is None or self._sync.is_closed:
                self._sync = httpx.Client(limits=_LIMITS, timeout=None)
            return self._sync

    async def agenerate(self, config: DeploymentConfig, body: dict[str, Any], model: str) -> list[GenerateOutput]:
        url = f"{config.api_base}/generate"
        try:
            response = await self._async_client().post(url, json=body, headers=config.headers(), timeout=config.timeout)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, url, model) from None
        return _outputs(response, model)

    def generate(self, config: DeploymentConfig, body: dict[str, Any], model: str) -> list[GenerateOutput]:
        url = f"{config.api_base}/generate"
        try:
            response = self._sync_client().post(url, json=body, headers=config.headers(), timeout=config.timeout)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, url, model) from None
        return _outputs(response, model)

    async def astream(
        self, config: DeploymentConfig, body: dict[str, Any], model: str
    ) -> AsyncIterator[dict[str, Any]]:
        """The JSON events of a streamed ``/generate``, up to ``[DONE]``."""
        url = f"{config.api_base}/generate"
        try:
            async with self._async_client().stream(
                "POST", url, json=body, headers=config.headers(), timeout=config.timeout
            ) as response:
                if response.status_code != 200:
                    raise error_for_status(response.status_code, error_message(await response.aread()), model)
                async for line in response.aiter_lines():
                    event = sse_event(line, model)
                    if event is DONE:
                        return
                    if event is not None:
                        yield event
        except httpx.HTTPError as exc:
            raise _transport_error(exc, url, model) from None
        raise connection_error(_ENDED_EARLY, model)

    def stream(self, config: DeploymentConfig, body: dict[str, Any], model: str) -> Iterator[dict[str, Any]]:
        """Sync :meth:`astream`."""
        url = f"{config.api_base}/generate"
        try:
            with self._sync_client().stream(
                "POST", url, json=body, headers=config.headers(), timeout=config.timeout
            ) as response:
                if response.status_code != 200:
                    raise error_for_status(response.status_code, error_message(response.read()), model)
                for line in response.iter_lines():
                    event = sse_event(line, model)
                    if event is DONE:
                        return
                    if event is not None:
                        yield event
        except httpx.HTTPError as exc:
            raise _transport_error(exc, url, model) from None
        raise connection_error(_ENDED_EARLY, model)

    async def aabort(self, config: DeploymentConfig, rid: str) -> None:
        """Ask SGLang to stop generating ``rid`` (best effort: failures are logged)."""
        try:
            await self._async_client().post(
                f"{config.api_base}/abort_request", json={"rid": rid}, headers=config.headers(), timeout=_ABORT_TIMEOUT
            )
        except httpx.HTTPError as exc:
            logger.warning("sglang_native: could not abort request %s: %s", rid, type(exc).__name__)

    def abort(self, config: DeploymentConfig, rid: str) -> None:
        """Sync :meth:`aabort`."""
        try:
            self._sync_client().post(
                f"{config.api_base}/abort_request", json={"rid": rid}, headers=config.headers(), timeout=_ABORT_TIMEOUT
            )
        except httpx.HTTPError as exc:
            logger.warning("sglang_native: could not abort request %s: %s", rid, type(exc).__name__)


def _transport_error(exc: httpx.HTTPError, url: str, model: str) -> Exception:
    if isinstance(exc, httpx.TimeoutException):
        return timeout_error(f"SGLang at {url} timed out: {type(exc).__name__}", model)
    return connection_error(f"Could not reach SGLang at {url}: {type(exc).__name__}: {exc}", model)


def _outputs(response: httpx.Response, model: str) -> list[GenerateOutput]:
    if response.status_code != 200:
        raise error_for_status(response.status_code, error_message(response.content), model)
    try:
        data = response.json()
        items = data if isinstance(data, list) else [data]
        return [GenerateOutput.model_validate(item) for item in items]
    except (ValueError, ValidationError) as exc:
        raise error_for_status(502, f"malformed /generate response: {exc}", model) from None
