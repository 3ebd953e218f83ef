"""Fixtures of the agent-framework tests (the Qwen3 ``emulator`` fixture comes from tests/conftest.py)."""

from __future__ import annotations

import uuid

import litellm
import pytest
from _frameworks import MODEL, LiteLLMSpy

import sglang_native_provider


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


@pytest.fixture
def session_id(request) -> str:
    return f"{request.node.name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def spy(monkeypatch) -> LiteLLMSpy:
    """Every call the framework makes into ``litellm.completion``/``acompletion``, with its response."""
    recorder = LiteLLMSpy()
    recorder.install(monkeypatch)
    return recorder


@pytest.fixture
def function_calling_declared():
    """How LiteLLM learns that the model calls tools natively: ``"provider"`` when sglang_native declares it
    itself, else the workaround users need today (``litellm.register_model``), undone after the test."""
    if litellm.supports_function_calling(model=MODEL):
        yield "provider"
        return
    saved = litellm.model_cost
    litellm.model_cost = dict(saved)
    entry = {"litellm_provider": "sglang_native", "mode": "chat", "supports_function_calling": True}
    litellm.register_model({MODEL: entry}, persist_across_reloads=False, add_to_provider_model_sets=False)
    try:
        yield "litellm.register_model"
    finally:
        litellm.model_cost = saved
        litellm.utils._invalidate_model_cost_lowercase_map()
