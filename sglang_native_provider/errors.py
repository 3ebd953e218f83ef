"""LiteLLM exceptions for everything that can go wrong, with status codes Router retries correctly.

LiteLLM wraps a bare exception from a custom provider as a retried 500 ``APIConnectionError``, so every
failure is mapped here to the exception a LiteLLM user expects (400s are not retried; connection errors,
timeouts, 429 and 5xx are).
"""

from __future__ import annotations

import litellm

__all__ = ["MESSAGE_LIMIT", "bad_request", "bounded", "connection_error", "error_for_status", "timeout_error"]

PROVIDER = "sglang_native"

MESSAGE_LIMIT = 2500
"""The most characters of a server's text (an error answer, an error event, an abort message) that an exception
message carries: LiteLLM runs its secret-redaction and error-normalization regexes over every message, and over a
20 MB one they blocked the event loop for a minute."""

_CONTEXT_OVERFLOW_MARKERS = (
    "longer than the model's context length",
    "exceeds the model's maximum context length",
)


def bounded(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text``, or its first ``limit`` characters saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]} [cut: the first {limit:,} of {len(text):,} characters]"


def bad_request(message: str, model: str) -> litellm.BadRequestError:
    return litellm.BadRequestError(message=message, model=model, llm_provider=PROVIDER)


def connection_error(message: str, model: str) -> litellm.APIConnectionError:
    return litellm.APIConnectionError(message=message, model=model, llm_provider=PROVIDER)


def timeout_error(message: str, model: str) -> litellm.Timeout:
    return litellm.Timeout(message=message, model=model, llm_provider=PROVIDER)


def error_for_status(status_code: int, message: str, model: str) -> Exception:
    """The LiteLLM exception for an SGLang error answer (or an abort finish carrying a status); the server's
    ``message`` is cut to :data:`MESSAGE_LIMIT` characters."""
    message = bounded(message)
    text = f"SGLang error {status_code}: {message}"
    if status_code in (400, 422):
        if any(marker in message for marker in _CONTEXT_OVERFLOW_MARKERS):
            return litellm.ContextWindowExceededError(message=text, model=model, llm_provider=PROVIDER)
        return bad_request(text, model)
    if status_code in (401, 403):
        return litellm.AuthenticationError(message=text, model=model, llm_provider=PROVIDER)
    if status_code == 404:
        return litellm.NotFoundError(message=text, model=model, llm_provider=PROVIDER)
    if status_code == 408 or status_code == 504:
        return timeout_error(text, model)
    if status_code == 429:
        return litellm.RateLimitError(message=text, model=model, llm_provider=PROVIDER)
    if status_code == 503:
        return litellm.ServiceUnavailableError(message=text, model=model, llm_provider=PROVIDER)
    if 400 <= status_code < 500:
        return bad_request(text, model)
    return litellm.InternalServerError(message=text, model=model, llm_provider=PROVIDER)


def invalid_output(message: str, model: str) -> Exception:
    """The 502 for an answer that does not hold together (ids, logprobs, choices), naming the field."""
    error = error_for_status(502, f"invalid output from SGLang: {message}", model)
    error.status_code = 502  # a bad gateway answer; LiteLLM's InternalServerError says 500
    return error
