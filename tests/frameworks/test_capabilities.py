"""What the frameworks ask LiteLLM about a ``sglang_native`` model before or after calling it (issue 13, item 5):
each lookup is read where the framework reads it, and must answer without a ``litellm.register_model``."""

from __future__ import annotations

import litellm
from _frameworks import MODEL, TOKENIZER


def test_function_calling_is_declared():
    # DSPy (dspy.clients.capabilities) and CrewAI (LLM.supports_function_calling) fall back to tool calls
    # written as text when this is False; CrewAI asks litellm.utils.supports_function_calling
    assert litellm.supports_function_calling(model=MODEL) is True
    assert litellm.utils.supports_function_calling(MODEL, custom_llm_provider="sglang_native") is True


def test_supported_params_name_tools():
    # DSPy's JSONAdapter sends response_format only when listed; CrewAI sends its stop words only when "stop"
    # is listed (LLM.supports_stop_words, asked without a provider)
    params = litellm.get_supported_openai_params(model=MODEL, custom_llm_provider="sglang_native") or []
    assert {"tools", "tool_choice", "stop", "response_format"} <= set(params)
    assert "stop" in (litellm.get_supported_openai_params(model=MODEL) or [])


def test_cost_is_zero_not_an_error(emulator):
    # mini-swe-agent prices every answer with completion_cost (and refuses a cost <= 0 unless its
    # cost_tracking is "ignore_errors"); DSPy and langchain-litellm read _hidden_params["response_cost"]
    emulator.script("Sunny.")
    response = litellm.completion(
        model=MODEL, api_base=emulator.url, tokenizer=TOKENIZER, messages=[{"role": "user", "content": "Weather?"}]
    )
    assert response._hidden_params["response_cost"] == 0.0
    assert litellm.cost_calculator.completion_cost(response, model=MODEL) == 0.0
