"""What an ``sglang_native/<model>`` deployment supports, told to LiteLLM's model map.

Frameworks ask LiteLLM (``litellm.supports_function_calling``, ``supports_reasoning``, cost tracking) before
they choose native tool calls over text ones, and LiteLLM's cost lookup raises for a model it does not know
(and searches its whole map for it first, ~1 ms a call). Each model is registered once: with function
calling, tool choice, reasoning and response schemas, at zero cost, unless the map already has an entry
for it (the user's own pricing, e.g. a Router deployment's ``model_info``, is kept).
"""

from __future__ import annotations

import threading

import litellm

from .errors import PROVIDER

__all__ = ["CAPABILITIES", "register_models"]

CAPABILITIES = {
    "litellm_provider": PROVIDER,
    "mode": "chat",
    "supports_function_calling": True,
    "supports_parallel_function_calling": True,
    "supports_tool_choice": True,
    "supports_reasoning": True,
    "supports_response_schema": True,
    "supports_system_messages": True,
    "input_cost_per_token": 0.0,
    "output_cost_per_token": 0.0,
    "cache_read_input_token_cost": 0.0,
    "cache_creation_input_token_cost": 0.0,
}

_registered: set[str] = set()
_lock = threading.Lock()


def register_models(*models: str) -> None:
    """Register ``sglang_native/<model>`` for each model name (with or without the prefix), once."""
    keys = [model if model.startswith(f"{PROVIDER}/") else f"{PROVIDER}/{model}" for model in models]
    if _registered.issuperset(keys):  # every call after the first
        return
    with _lock:
        new = {key: dict(CAPABILITIES) for key in keys if key not in _registered and key not in litellm.model_cost}
        _registered.update(keys)
        if new:
            litellm.register_model(new)
