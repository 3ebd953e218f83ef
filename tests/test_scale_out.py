"""Many SGLang workers behind real balancers: LiteLLM's Router (examples/router_scaleout.yaml) and SGLang's own
Rust router (``sglang-router``). Requests spread, dead or failing workers are routed around, and the calls
counted at the workers show that no request is lost or sent twice."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from pathlib import Path

import litellm
import pytest
import yaml
from _support import free_port, wait_until_serving

import sglang_native_provider
from sglang_native_provider.emulator import Emulator, Faults, load_emulator_tokenizer

CONFIG = Path(__file__).resolve().parent.parent / "examples" / "router_scaleout.yaml"
WORKER_ENV = ("SGLANG_WORKER_1", "SGLANG_WORKER_2", "SGLANG_WORKER_3")


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


@contextlib.asynccontextmanager
async def workers(*faults: Faults | None):
    started = [await asyncio.to_thread(Emulator("qwen3", faults=f).start) for f in faults]
    try:
        yield started
    finally:
        for emulator in started:
            await asyncio.to_thread(emulator.stop)


def router(monkeypatch, pool: list[Emulator], fallback: Emulator) -> litellm.Router:
    for name, emulator in zip(WORKER_ENV, pool, strict=True):
        monkeypatch.setenv(name, emulator.url)
    monkeypatch.setenv("SGLANG_FALLBACK", fallback.url)
    return litellm.Router(**yaml.safe_load(CONFIG.read_text()))


async def ask(call, count: int) -> list:
    """``count`` concurrent requests, each naming its number; every answer must be to its own prompt."""
    responses = await asyncio.gather(
        *(call(messages=[{"role": "user", "content": f"request {i}"}], max_tokens=4) for i in range(count))
    )
    tokenizer = load_emulator_tokenizer("qwen3")
    for i, response in enumerate(responses):
        fields = response.choices[0].message.provider_specific_fields
        assert f"request {i}<|im_end|>" in tokenizer.decode(fields["prompt_token_ids"])
        assert response.choices[0].finish_reason in ("stop", "length")
    return responses


def calls(pool: list[Emulator]) -> list[int]:
    return [emulator.faults.calls for emulator in pool]


async def test_router_spreads_requests_over_the_workers(monkeypatch):
    async with workers(None, None, None, None) as (*pool, fallback):
        balanced = router(monkeypatch, pool, fallback)
        await ask(lambda **kw: balanced.acompletion(model="qwen3", **kw), 60)
        assert sum(calls(pool)) == 60 and min(calls(pool)) > 0
        assert fallback.faults.calls == 0


async def test_router_rides_through_a_failing_worker_without_losing_or_repeating_requests(monkeypatch):
    flaky = Faults({"reset": 0.3, "unavailable": 0.2, "abort": 0.1}, seed=3)
    async with workers(flaky, None, None, None) as (*pool, fallback):
        balanced = router(monkeypatch, pool, fallback)
        await ask(lambda **kw: balanced.acompletion(model="qwen3", **kw), 60)
        failed = sum(flaky.injected.values())
        assert failed > 0
        # every request succeeded once; the only extra calls are the retries of injected failures
        assert sum(calls(pool)) + fallback.faults.calls == 60 + failed


async def test_router_routes_around_a_dead_worker_and_falls_back_when_all_are_dead(monkeypatch):
    async with workers(None, None, None, None) as (*pool, fallback):
        balanced = router(monkeypatch, pool, fallback)
        await asyncio.to_thread(pool[0].stop)
        await ask(lambda **kw: balanced.acompletion(model="qwen3", **kw), 30)
        # LiteLLM never cools a deployment down for connection errors, so the dead worker keeps drawing first
        # attempts; each is retried on a drawn worker, and only a request whose 4 attempts all draw the dead
        # one (p = 1/81) goes to the fallback group. Each request is answered exactly once either way.
        assert sum(calls(pool[1:])) + fallback.faults.calls == 30
        assert sum(calls(pool[1:])) >= 25
        for emulator in pool[1:]:
            await asyncio.to_thread(emulator.stop)
        answered_before = fallback.faults.calls
        await ask(lambda **kw: balanced.acompletion(model="qwen3", **kw), 5)
        assert fallback.faults.calls - answered_before == 5


@contextlib.contextmanager
def sglang_router(pool: list[Emulator]):
    """SGLang's Rust router (PyPI ``sglang-router``) on a free loopback port, round-robin over ``pool``."""
    port = free_port()
    command = [
        *(sys.executable, "-m", "sglang_router.launch_router", "--host", "127.0.0.1", "--port", str(port)),
        *("--worker-urls", *(emulator.url for emulator in pool), "--policy", "round_robin"),
        *("--prometheus-port", str(free_port()), "--log-level", "error", "--health-check-interval-secs", "1"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/health", process, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


async def test_sglang_router_in_front_of_emulator_workers():
    async with workers(None, None, None) as pool:
        with sglang_router(pool) as url:
            settings = {"model": "sglang_native/qwen3", "api_base": url, "tokenizer": "offline:qwen3"}
            await ask(lambda **kw: litellm.acompletion(**settings, **kw), 30)
            assert calls(pool) == [10, 10, 10]  # round robin, each request once
            stream = await litellm.acompletion(
                **settings, messages=[{"role": "user", "content": "stream"}], max_tokens=4, stream=True
            )
            chunks = [chunk async for chunk in stream]
            assert chunks[-1].choices[0].finish_reason in ("stop", "length")
            await asyncio.to_thread(pool[0].stop)
            await ask(lambda **kw: litellm.acompletion(**settings, **kw), 30)
            assert sum(calls(pool)) == 30 + 1 + 30  # the router retried the dead worker's share elsewhere
