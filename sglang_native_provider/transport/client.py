"""The ``POST /generate`` client: generate, stream, abort and probe, each sync and async.

What an untrusted server can do is bounded: a whole answer must arrive within ``timeout``; a stream's first event
within ``stream_first_event_timeout`` and each next one within ``stream_idle_timeout`` (``: ping`` comments and
partial lines do not count); a request's deadline is fixed when it starts and its one resend on a new connection
gets only what remains of it (see ``deadlines.py``); an answer or one stream line is at most
``max_response_bytes``; an error answer is read up to 64 KiB and quoted up to 2,000 characters; compressed
answers (never asked for) and redirects are refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import litellm

from ..config import DeploymentConfig
from ..errors import bad_request, connection_error, timeout_error
from ..protocol import GenerateOutput
from .answers import check_event_stream, outputs, read_body
from .deadlines import StreamClock, Watchdog, deadline_after, timeout_at
from .errors import ResponseTooLarge, error_answer, mapped_errors
from .sessions import BackgroundLoop, SessionPools
from .sse import EventReader

__all__ = ["PROBE_TIMEOUT", "GenerateClient", "Probe"]

logger = logging.getLogger(__name__)

_HEADERS = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
_ABORT_TIMEOUT = 2.0  # seconds; an abort runs while the caller's cancellation waits for it
PROBE_TIMEOUT = 5.0  # seconds; a probe of the server (see server_check.py) is best effort
_PROBE_BYTES = 1 << 20


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


def _headers(config: DeploymentConfig) -> dict[str, str]:
    return {**_HEADERS, **config.headers()}


def _late(config: DeploymentConfig, url: str, model: str) -> Exception:
    return timeout_error(f"SGLang at {url} did not answer within timeout={config.timeout:g} s", model)


class GenerateClient:
    """Per event loop and TLS setting a pool of kept-alive aiohttp connections, closed when the loop shuts
    down; sync calls use a background loop's. A request lost on a kept-alive connection the server had just
    closed (nothing of an answer arrived) is sent once more on a new connection, under the same ``rid`` and
    within what remains of the request's deadline: if the first send did reach SGLang and is still running,
    SGLang refuses the duplicate ``rid`` (a connection error saying so), so a running request is never started
    twice."""

    def __init__(self) -> None:
        self._sessions = SessionPools()
        self._background = BackgroundLoop()

    async def _answer(self, config: DeploymentConfig, url: str, payload: bytes, model: str) -> aiohttp.ClientResponse:
        """The 200 answer to POSTing ``payload`` (resent once if a kept-alive connection was closed under it);
        any other status raises its exception. Runs under the caller's deadline, which bounds both sends."""
        sessions = await self._sessions.get(config.ssl_verify)
        response, retried = await sessions.post(url, payload, _headers(config))
        if response.status != 200:
            try:
                raise await error_answer(response, url, model, retried=retried)
            finally:
                response.release()
        return response

    async def agenerate(self, config: DeploymentConfig, body: dict[str, Any], model: str) -> list[GenerateOutput]:
        """A non-streamed ``/generate``, answered whole within ``timeout`` seconds of the call (one deadline for
        connecting, sending, a resend on a new connection and reading the answer), in ``index`` order."""
        url = f"{config.api_base}/generate"
        payload = _encode(body, model)
        with mapped_errors(config, url, model, functools.partial(_late, config, url, model)):
            async with timeout_at(deadline_after(config.timeout)):
                response = await self._answer(config, url, payload, model)
                try:
                    content = await read_body(response, config.max_response_bytes, model)
                finally:
                    response.release()
        return outputs(content, model)

    def generate(self, config: DeploymentConfig, body: dict[str, Any], model: str) -> list[GenerateOutput]:
        """Sync :meth:`agenerate`."""
        return self._background.run(self.agenerate(config, body, model))

    async def astream(
        self, config: DeploymentConfig, body: dict[str, Any], model: str
    ) -> AsyncIterator[dict[str, Any]]:
        """The JSON events of a streamed ``/generate``, up to ``[DONE]``: the first within
        ``stream_first_event_timeout`` (default ``timeout``) of the call, a resend included, each next within
        ``stream_idle_timeout`` of being asked for; bytes that complete no new event do not count."""
        url = f"{config.api_base}/generate"
        payload = _encode(body, model)
        loop = asyncio.get_running_loop()
        clock = StreamClock.start(config, loop.time())
        with mapped_errors(config, url, model, functools.partial(clock.error, url, model)):
            async with timeout_at(clock.next_event):
                response = await self._answer(config, url, payload, model)
            try:
                check_event_stream(response, model)
                events = EventReader(response.content.readany, clock, config.max_response_bytes, model)
                watchdog = Watchdog(config.stream_abandon_timeout, response)
                while (event := await events.next()) is not None:
                    watchdog.arm()
                    try:
                        yield event
                    finally:
                        watchdog.disarm()
                    if watchdog.fired:
                        raise connection_error(
                            f"the stream was not read for {config.stream_abandon_timeout:g} s and was closed "
                            "(stream_abandon_timeout)",
                            model,
                        )
                    clock.event(loop.time())
            finally:
                response.release()

    def stream(self, config: DeploymentConfig, body: dict[str, Any], model: str) -> Iterator[dict[str, Any]]:
        """Sync :meth:`astream`."""
        return self._background.iterate(self.astream(config, body, model))

    async def aabort(self, config: DeploymentConfig, rid: str) -> None:
        """Ask SGLang to stop generating ``rid`` (best effort within 2 s: failures are logged)."""
        try:
            sessions = await self._sessions.get(config.ssl_verify)
            async with timeout_at(deadline_after(_ABORT_TIMEOUT)):
                response = await sessions.pooled.post(
                    f"{config.api_base}/abort_request",
                    data=json.dumps({"rid": rid}),
                    headers=_headers(config),
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
            sessions = await self._sessions.get(config.ssl_verify)
            async with timeout_at(deadline_after(min(config.timeout, PROBE_TIMEOUT))):
                data = None if body is None else json.dumps(body)
                method = sessions.pooled.get if body is None else functools.partial(sessions.pooled.post, data=data)
                async with method(url, headers=_headers(config), allow_redirects=False) as response:
                    content = await read_body(response, _PROBE_BYTES, "")
        except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError, ResponseTooLarge, litellm.APIError) as exc:
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
