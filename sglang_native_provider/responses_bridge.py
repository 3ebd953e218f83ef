"""``litellm.responses`` with ``metadata``: the caller's metadata (and the ``session_id`` in it) reaches this
provider.

LiteLLM serves its Responses API for a provider without one of its own by turning the request into a chat
completion. The Responses API has a ``metadata`` field of its own, which that bridge keeps to itself: the
completion reached this provider with ``metadata=None`` (LiteLLM 1.110), so ``metadata={"session_id": ...}``
named no session. For ``sglang_native`` models only, the bridge's request is given the caller's metadata, as
``litellm.completion(metadata=...)`` gives it; other providers' requests are left as LiteLLM makes them.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

from .config import PROVIDER

__all__ = ["install"]

logger = logging.getLogger(__name__)

_MARK = "_sglang_native_keeps_metadata"


def _keeping_metadata(transform: Callable[..., dict]) -> Callable[..., dict]:
    signature = inspect.signature(transform)

    @functools.wraps(transform)
    def transform_keeping_metadata(*args: Any, **kwargs: Any) -> dict:
        request = transform(*args, **kwargs)
        if request.get("custom_llm_provider") != PROVIDER or request.get("metadata") is not None:
            return request
        asked = signature.bind_partial(*args, **kwargs).arguments.get("responses_api_request")
        metadata = asked.get("metadata") if isinstance(asked, Mapping) else None
        if isinstance(metadata, Mapping):
            request["metadata"] = dict(metadata)
        return request

    setattr(transform_keeping_metadata, _MARK, True)
    return transform_keeping_metadata


def install() -> bool:
    """Wrap LiteLLM's Responses-to-completion transformation (once); False, logged, when this LiteLLM has none
    to wrap (``litellm_session_id=`` and the ``X-Session-ID`` header still name a session)."""
    try:
        from litellm.responses.litellm_completion_transformation.transformation import (
            LiteLLMCompletionResponsesConfig as bridge,
        )
    except ImportError:
        bridge = None
    transform = getattr(bridge, "transform_responses_api_request_to_chat_completion_request", None)
    if getattr(transform, _MARK, False):
        return True
    if transform is None or "responses_api_request" not in inspect.signature(transform).parameters:
        logger.warning(
            "sglang_native: this LiteLLM's Responses bridge is unknown; responses(metadata=...) names no session"
        )
        return False
    bridge.transform_responses_api_request_to_chat_completion_request = staticmethod(_keeping_metadata(transform))
    return True
