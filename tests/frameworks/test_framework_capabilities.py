"""What the frameworks ask LiteLLM about a ``sglang_native`` model (issue 13, item 5), read where they read it:
DSPy and CrewAI ask ``supports_function_calling`` before their first call (and fall back to tool calls written as
text when it is False), so their models are named to ``register(...)`` ahead; mini-swe-agent prices every answer
with ``completion_cost``; DSPy and langchain-litellm read ``_hidden_params["response_cost"]``."""

from __future__ import annotations

import uuid

import litellm
from _frameworks import TOKENIZER

import sglang_native_provider


def unique_model() -> str:
    return f"sglang_native/qwen3-{uuid.uuid4().hex[:8]}"  # not yet in LiteLLM's map, whatever ran before


def test_models_named_to_register_are_declared_before_any_call():
    model = unique_model()
    sglang_native_provider.register(model.removeprefix("sglang_native/"))
    assert litellm.supports_function_calling(model=model) is True  # DSPy
    assert litellm.utils.supports_function_calling(model, custom_llm_provider="sglang_native") is True  # CrewAI


def test_a_model_is_declared_and_priced_at_zero_by_its_first_call(emulator):
    model = unique_model()
    emulator.script("Sunny.")
    response = litellm.completion(
        model=model, api_base=emulator.url, tokenizer=TOKENIZER, messages=[{"role": "user", "content": "Weather?"}]
    )
    assert litellm.supports_function_calling(model=model) is True
    assert response._hidden_params["response_cost"] == 0.0
    # mini-swe-agent's own check then refuses the 0.0 unless its cost_tracking is "ignore_errors"
    assert litellm.cost_calculator.completion_cost(response, model=model) == 0.0
