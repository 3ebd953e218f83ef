"""The ``POST /generate`` client: pooled httpx connections and SGLang errors as LiteLLM exceptions."""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from typing import Any

import httpx
from pydantic import ValidationError

from .config import DeploymentConfig
from .errors import connection_error, error_for_status, timeout_error
from .protocol import GenerateOutput

__all__ = ["GenerateClient", "error_message"]

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
