"""Fixtures of the agent-framework tests (the Qwen3 ``emulator`` fixture comes from tests/conftest.py)."""

from __future__ import annotations

import uuid

import pytest
from _frameworks import LiteLLMSpy

import sglang_native_provider
from sglang_native_provider import sessions


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


@pytest.fixture(autouse=True)
def fresh_memory_store(monkeypatch):
    """Each test its own in-memory ledger (the ``memory`` store): a conversation that names no session is
    recorded under its opening's fingerprint, the same for the same script in every test."""
    monkeypatch.setattr(sessions, "_default", sessions.MemoryStore())


@pytest.fixture(params=["named", "unnamed"])
def session(request) -> str | None:
    """The session a test names, or None: the same test run naming none (no metadata session_id, no
    litellm_session_id, no X-Session-ID), recorded under its conversation's own session (issue 21)."""
    return f"{request.node.name}-{uuid.uuid4().hex[:8]}" if request.param == "named" else None


@pytest.fixture
def spy(monkeypatch) -> LiteLLMSpy:
    """Every call the framework makes into ``litellm.completion``/``acompletion``, with its response."""
    recorder = LiteLLMSpy()
    recorder.install(monkeypatch)
    return recorder
