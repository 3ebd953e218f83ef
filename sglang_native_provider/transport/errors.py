"""SGLang's error answers and aiohttp's failures as LiteLLM exceptions, with short one-line messages.

An error answer is read up to :data:`ERROR_BODY_BYTES` and quoted up to :data:`ERROR_TEXT_CHARS`; an answer or a
stream line over ``max_response_bytes`` is a 502 (:class:`ResponseTooLarge` marks it on the way).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator

import aiohttp

from ..config import DeploymentConfig
from ..errors import bad_request, bounded, connection_error, error_for_status

__all__ = [
    "ERROR_BODY_BYTES",
    "ERROR_TEXT_CHARS",
    "ResponseTooLarge",
    "check_size",
    "error_answer",
    "error_message",
    "foreign_encoding",
    "mapped_errors",
    "too_large",
    "transport_error",
]

ERROR_BODY_BYTES = 64 * 1024
"""The most of an error answer that is read: enough for any JSON envelope SGLang sends."""
ERROR_TEXT_CHARS = 2000
"""The most of an error answer that is quoted in the exception's message."""


class ResponseTooLarge(Exception):
    """An answer, or one line of a stream, is longer than the cap (``max_response_bytes``)."""


def check_size(size: int, cap: int) -> None:
    """Raise :class:`ResponseTooLarge` when ``size`` bytes exceed ``cap``."""
    if size > cap:
        raise ResponseTooLarge


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


def foreign_encoding(response: aiohttp.ClientResponse) -> str | None:
    """The answer's ``Content-Encoding`` when it is not the identity encoding asked for (cut to 40 characters)."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    return None if encoding in ("", "identity") else encoding[:40]


async def _error_text(response: aiohttp.ClientResponse) -> str:
    """The error answer's message, from at most :data:`ERROR_BODY_BYTES` of it (the rest is never read)."""
    head = bytearray()
    while len(head) <= ERROR_BODY_BYTES and (chunk := await response.content.read(ERROR_BODY_BYTES + 1 - len(head))):
        head += chunk
    message = error_message(bytes(head[:ERROR_BODY_BYTES]))
    if len(head) > ERROR_BODY_BYTES:
        return (
            f"{message[:ERROR_TEXT_CHARS]} [cut: the answer is longer than {ERROR_BODY_BYTES:,} bytes, its first "
            f"{min(len(message), ERROR_TEXT_CHARS):,} characters shown]"
        )
    return bounded(message, ERROR_TEXT_CHARS)


async def error_answer(response: aiohttp.ClientResponse, url: str, model: str, *, retried: bool = False) -> Exception:
    """The exception for a non-200 answer, quoting at most :data:`ERROR_TEXT_CHARS` of its text. ``retried``: the
    answer is to a resend on a new connection (a duplicate ``rid`` then means the first send is still running)."""
    status = response.status
    if 300 <= status < 400:
        location = response.headers.get("Location", "")[:200]
        return bad_request(
            f"SGLang at {url} answered {status}, a redirect to {location!r}; redirects are not followed: set "
            "api_base to the server's own address",
            model,
        )
    encoding = foreign_encoding(response)
    if encoding is not None:
        return error_for_status(status, f"(a {encoding}-encoded answer, not read)", model)
    message = await _error_text(response)
    if retried and status == 400 and "Duplicate request ID" in message:
        return connection_error(
            f"the connection to SGLang at {url} was lost as the request went out, and SGLang is still running it "
            "(its rid is in flight), so it was not sent twice",
            model,
        )
    return error_for_status(status, message, model)


def too_large(config: DeploymentConfig, model: str) -> Exception:
    """The 502 for an answer or a stream line over ``max_response_bytes``."""
    return error_for_status(
        502, f"SGLang's response exceeds max_response_bytes ({config.max_response_bytes} bytes)", model
    )


def transport_error(exc: aiohttp.ClientError, url: str, model: str) -> Exception:
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


@contextlib.contextmanager
def mapped_errors(config: DeploymentConfig, url: str, model: str, late: Callable[[], Exception]) -> Iterator[None]:
    """Raise what fails inside as its LiteLLM exception: a passed deadline as ``late()``, an aiohttp error as
    :func:`transport_error`, :class:`ResponseTooLarge` as :func:`too_large`; others pass unchanged."""
    try:
        yield
    except asyncio.TimeoutError:
        raise late() from None
    except aiohttp.ClientError as exc:
        raise transport_error(exc, url, model) from None
    except ResponseTooLarge:
        raise too_large(config, model) from None
