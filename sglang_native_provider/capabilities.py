"""What an ``sglang_native/<model>`` deployment supports, told to LiteLLM's model map.

Frameworks ask LiteLLM (``litellm.supports_function_calling``, ``supports_reasoning``, cost tracking) before
they choose native tool calls over text ones, and LiteLLM's cost lookup raises for a model it does not know
(and searches its whole map for it first, ~1 ms a call). Each model is registered once: with function
calling, tool choice and response schemas, at zero cost, where the map does not already say otherwise (the
user's own pricing, e.g. a Router deployment's ``model_info``, is kept).
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
    # Not "supports_reasoning": frameworks that see it send reasoning_effort (DSPy does), which LiteLLM
    # refuses for a custom provider unless the call allows it (allowed_openai_params=["reasoning_effort"]).
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
        new = {key: _missing(litellm.model_cost.get(key) or {}) for key in keys if key not in _registered}
        _registered.update(keys)
        new = {key: entry for key, entry in new.items() if entry}
        if new:
            litellm.register_model(new)


def _missing(entry: dict) -> dict:
    """The capabilities an existing entry lacks (a Router registers its deployments with every field None);
    whatever the entry sets, its pricing above all, is kept."""
    return {name: value for name, value in CAPABILITIES.items() if entry.get(name) is None}
