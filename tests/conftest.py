"""Shared fixtures: offline tokenizers and an in-process SGLang emulator on a free loopback port."""

from __future__ import annotations

import os

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx
import pytest
from hypothesis import HealthCheck, settings

import sglang_native_provider
from sglang_native_provider.emulator import Emulator, load_emulator_tokenizer

# Hypothesis' per-example deadline (200 ms) is a timed assertion: on 2 busy cores one example of a response or
# stream build took 1.2 s. The properties are about outcomes; speed goals live in benchmarks/.
settings.register_profile("outcomes", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("outcomes")

# The real-SGLang tier (installs and starts SGLang 0.5.23 on CPU) runs only when asked: pytest tests/real_sglang
collect_ignore = ["real_sglang"]


@pytest.fixture(autouse=True)
def unchecked_servers():
    """Each test's servers are checked afresh: a new emulator may get the free port of an earlier test's, and the
    provider keeps one check result per address for the life of the process."""
    sglang_native_provider.handler._checks.forget()
    sglang_native_provider.handler._captures.forget()


@pytest.fixture(scope="session")
def qwen3_tokenizer():
    return load_emulator_tokenizer("qwen3")


@pytest.fixture(scope="session")
def llama_tokenizer():
    return load_emulator_tokenizer("llama3.1")


@pytest.fixture
def emulator():
    with Emulator("qwen3") as emu:
        yield emu


@pytest.fixture
def slow_emulator():
    """Emits one token every 20 ms, so that streams and aborts can be observed mid-generation."""
    with Emulator("qwen3", token_delay=0.02) as emu:
        yield emu


@pytest.fixture
async def client(emulator):
    async with httpx.AsyncClient(base_url=emulator.url, timeout=30) as http:
        yield http
