"""Fixtures of the agent-framework tests (the Qwen3 ``emulator`` fixture comes from tests/conftest.py)."""

from __future__ import annotations

import uuid

import pytest
from _frameworks import LiteLLMSpy

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
