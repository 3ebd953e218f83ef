"""SGLang's HTTP details around the handlers: JSON bodies, FastAPI's validation errors, SSE, CORS and the API key.

Follows SGLang 0.5.23 ``srt/entrypoints/http_server.py`` (orjson responses, ``data: <json>`` events ended by
``data: [DONE]``) and ``srt/utils/auth.py`` (``decide_request_auth``: health/readiness paths are always open,
everything else needs ``Authorization: Bearer <api_key>`` when a key is set, else 401 ``{"error": "Unauthorized"}``).
Malformed JSON gets FastAPI's ``RequestValidationError`` text as SGLang reshapes it, and every response but a 401
carries SGLang's CORS middleware's ``vary: Origin``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

from .requests import GenerateError

__all__ = [
    "ABORT",
    "GENERATE",
    "ApiKeyMiddleware",
    "Endpoint",
    "VaryOriginMiddleware",
    "dumps",
    "error_then_done",
    "json_response",
    "parse_body",
    "sse",
    "stream_error_event",
    "validation_error",
]

_OPEN_PATH_PREFIXES = ("/health", "/ready", "/metrics")
_HTTP_SERVER_SOURCE = "sglang/srt/entrypoints/http_server.py"


def dumps(content: Any) -> bytes:
    """Compact UTF-8 JSON, as SGLang's orjson responses are."""
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(content: Any, status_code: int = 200) -> Response:
    """A JSON response with SGLang's compact body."""
    return Response(dumps(content), status_code=status_code, media_type="application/json")


@dataclass(frozen=True)
class Endpoint:
    """Where FastAPI says a validation error happened: SGLang's handler, its source line and route."""

    function: str
    line: int
    route: str


GENERATE = Endpoint("generate_request", 928, "POST /generate")
ABORT = Endpoint("abort_request", 1721, "POST /abort_request")


def validation_error(errors: list[dict[str, Any]], endpoint: Endpoint) -> Response:
    """FastAPI's RequestValidationError text (errors, then the endpoint's source location) as SGLang reshapes
    it (400 ``ErrorResponse``)."""
    listed = "".join(f"  {error}\n" for error in errors)
    message = (
        f"{len(errors)} validation error{'s' if len(errors) != 1 else ''}:\n{listed}\n"
        f'  File "{_HTTP_SERVER_SOURCE}", line {endpoint.line}, in {endpoint.function}\n'
        f"    {endpoint.route} {errors}"
    )
    return json_response(
        {"object": "error", "message": message, "type": "Bad Request", "param": None, "code": 400}, 400
    )


def parse_body(raw: bytes, endpoint: Endpoint) -> tuple[Any, Response | None]:
    """(body, None), or (None, the validation error FastAPI gives for a missing or malformed JSON body)."""
    if not raw:
        return None, validation_error(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}], endpoint
        )
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError as exc:
        error = {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        }
        return None, validation_error([error], endpoint)


def stream_error_event(error: GenerateError) -> bytes:
    """The event SGLang's streaming ``/generate`` sends for an error (then ``[DONE]``)."""
    event = {
        "error": {
            "message": str(error),
            "type": "invalid_request_error",
            "code": error.status_code,
            "retryable": False,
        }
    }
    return b"data: " + dumps(event) + b"\n\n"


def sse(events: AsyncIterator[bytes]) -> StreamingResponse:
    """An event-stream response of ``events``."""
    return StreamingResponse(events, media_type="text/event-stream")


async def error_then_done(error: GenerateError) -> AsyncIterator[bytes]:
    """A stream that is only an error event and ``[DONE]``."""
    yield stream_error_event(error)
    yield b"data: [DONE]\n\n"


class VaryOriginMiddleware:
    """``vary: Origin`` on every response, as SGLang's CORS middleware (any origin allowed) sends."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_vary(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"vary", b"Origin")]}
            await send(message)

        await self.app(scope, receive, send_with_vary)


class ApiKeyMiddleware:
    """Bearer-token check on every path but health/readiness/metrics (pure ASGI keeps disconnects)."""

    def __init__(self, app, *, api_key: str) -> None:
        self.app = app
        self._api_key = api_key

    def __repr__(self) -> str:
        return "ApiKeyMiddleware(api_key=***)"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or scope["path"].startswith(_OPEN_PATH_PREFIXES):
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token and secrets.compare_digest(token, self._api_key):
            await self.app(scope, receive, send)
            return
        await json_response({"error": "Unauthorized"}, 401)(scope, receive, send)
