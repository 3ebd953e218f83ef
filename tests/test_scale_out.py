"""Many SGLang workers behind LiteLLM's balancers: its Router (examples/router_scaleout.yaml) and its proxy with
health checks (examples/proxy_scaleout.yaml). Requests spread, dead or failing workers are routed around, and the
calls counted at the workers show that no request is lost or sent twice. SGLang's own gateway: test_gateway.py."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import httpx
import litellm
import pytest
import yaml
from _support import litellm_proxy

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


def proxy_health(base: str, master_key: str) -> dict:
    answer = httpx.get(f"{base}/health", headers={"Authorization": f"Bearer {master_key}"}, timeout=60)
    answer.raise_for_status()
    return answer.json()


def wait_for_health(base: str, master_key: str, healthy: int, unhealthy: int, timeout: float = 60) -> dict:
    """Poll the proxy's background health results (what its routing reads) until they show these counts."""
    deadline = time.monotonic() + timeout
    while (health := proxy_health(base, master_key)).get("unhealthy_count") != unhealthy or health.get(
        "healthy_count"
    ) != healthy:
        assert time.monotonic() < deadline, f"health did not reach {healthy}/{unhealthy}: {health}"
        time.sleep(0.3)
    return health


def proxied_answers(base: str, master_key: str, tag: str, count: int) -> list[httpx.Response]:
    answers = [
        httpx.post(
            f"{base}/v1/chat/completions",
            headers={"Authorization": f"Bearer {master_key}"},
            json={"model": "qwen3", "messages": [{"role": "user", "content": f"{tag} {i}"}], "max_tokens": 4},
            timeout=60,
        )
        for i in range(count)
    ]
    assert [answer.status_code for answer in answers] == [200] * count
    return answers


def prompts_seen(emulator: Emulator, tag: str) -> int:
    tokenizer = load_emulator_tokenizer("qwen3")
    return sum(f"{tag} " in tokenizer.decode(request["input_ids"]) for request in emulator.requests)


def test_proxy_health_checks_take_a_dead_worker_out_of_the_draw_and_back(tmp_path):
    """examples/proxy_scaleout.yaml: the proxy's background checks (a generation through sglang_native) mark a
    dead worker unhealthy, requests are never tried on it (no retries), and it is drawn again once back."""
    config = yaml.safe_load((CONFIG.parent / "proxy_scaleout.yaml").read_text())
    config["general_settings"]["health_check_interval"] = 1
    (tmp_path / "proxy.yaml").write_text(yaml.safe_dump(config))
    pool = [Emulator("qwen3").start() for _ in WORKER_ENV]
    try:
        pool[0].stop()
        env = {name: emulator.url for name, emulator in zip(WORKER_ENV, pool, strict=True)}
        with litellm_proxy(tmp_path / "proxy.yaml", env) as (base, master_key):
            health = wait_for_health(base, master_key, healthy=2, unhealthy=1)
            (dead,) = health["unhealthy_endpoints"]
            assert dead["api_base"] == pool[0].url and "APIConnectionError" in dead["error"]
            answers = proxied_answers(base, master_key, "while down", 20)
            assert [answer.headers["x-litellm-attempted-retries"] for answer in answers] == ["0"] * 20
            assert sum(prompts_seen(emulator, "while down") for emulator in pool[1:]) == 20

            pool[0].start()
            wait_for_health(base, master_key, healthy=3, unhealthy=0)
            proxied_answers(base, master_key, "back", 30)
            assert prompts_seen(pool[0], "back") > 0
            assert sum(prompts_seen(emulator, "back") for emulator in pool) == 30
    finally:
        for emulator in pool:
            emulator.stop()
