"""The provider behind SGLang's model gateway (PyPI ``smg`` 1.13, the successor of ``sglang-router``) in front of
emulator workers: sticky sessions per policy, the body reaching a worker unchanged, cancelled streams, a worker
stopped mid-session, and the gateway's own errors. What each worker received is read at the worker."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections import Counter, defaultdict
from pathlib import Path

import litellm
import pytest
import yaml
from _gateway import gateway, healthy_workers
from _support import counted

import sglang_native_provider
from sglang_native_provider.emulator import Emulator
from sglang_native_provider.server_check import PROBE_TEXT

POOL = 3
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


@contextlib.asynccontextmanager
async def workers(count: int = POOL, **options):
    started: list[Emulator] = []
    try:
        for _ in range(count):
            started.append(await asyncio.to_thread(Emulator("qwen3", **options).start))
        yield started
    finally:
        for emulator in started:
            await asyncio.to_thread(emulator.stop)


def settings(url: str, **extra) -> dict:
    return {"model": "sglang_native/qwen3", "api_base": url, "tokenizer": "offline:qwen3", **extra}


def fields_of(response) -> dict:
    return response.choices[0].message.provider_specific_fields


def sessions_at(pool: list[Emulator]) -> dict[str, list[int]]:
    """For each session id, the worker (index in ``pool``) of every ``/generate`` call naming it."""
    where: dict[str, list[int]] = defaultdict(list)
    for index, emulator in enumerate(pool):
        for body in emulator.requests:
            if "session_id" in body:
                where[body["session_id"]].append(index)
    return where


def prefill_probes(pool: list[Emulator]) -> int:
    return sum(body.get("text") == PROBE_TEXT for emulator in pool for body in emulator.requests)


async def converse(url: str, opening: str, turns: int, **extra) -> list:
    """``turns`` turns of one conversation, each answer passed back with its metadata."""
    messages = [{"role": "user", "content": opening}]
    responses = []
    for turn in range(turns):
        response = await litellm.acompletion(**settings(url), messages=messages, max_tokens=6, **extra)
        messages += [response.choices[0].message.model_dump(), {"role": "user", "content": f"And turn {turn + 2}?"}]
        responses.append(response)
    return responses


def assert_exact_continuations(responses: list) -> None:
    """Each later turn continued on the exact ids of the turn before it (prompt then sampled ids)."""
    for before, after in itertools.pairwise(responses):
        earlier, later = fields_of(before), fields_of(after)
        assert later["continuation"] == "exact"
        exact = earlier["prompt_token_ids"] + earlier["completion_token_ids"]
        assert later["prompt_token_ids"][: len(exact)] == exact


async def test_consistent_hashing_keeps_every_turn_of_a_session_on_one_worker():
    """32 concurrent sessions x 3 turns, keyed by the session id (``X-SMG-Routing-Key``): each session's turns
    land on one worker, which has its earlier turns cached; the sessions spread over every worker."""
    async with workers() as pool:
        with gateway(pool, "consistent_hashing") as url:
            conversations = await asyncio.gather(
                *(
                    converse(url, f"Session {n} says hello.", 3, metadata={"session_id": f"hashed-{n}"})
                    for n in range(32)
                )
            )
    where = sessions_at(pool)
    assert sorted(where) == sorted(f"hashed-{n}" for n in range(32))
    assert all(len(workers_) == 3 and len(set(workers_)) == 1 for workers_ in where.values()), where
    assert {workers_[0] for workers_ in where.values()} == set(range(POOL))
    for emulator in pool:  # the header smg routed by reached the worker too
        for body, headers in zip(emulator.requests, emulator.request_headers, strict=True):
            assert headers.get("x-smg-routing-key") == body.get("session_id", headers.get("x-smg-routing-key"))
    for responses in conversations:
        assert_exact_continuations(responses)
        for before, after in itertools.pairwise(responses):  # the worker holds the earlier turn
            assert fields_of(after)["cached_tokens"] >= len(fields_of(before)["prompt_token_ids"])
    assert prefill_probes(pool) == 1  # 32 first calls, one server check


async def test_the_server_check_runs_once_through_the_gateway():
    """smg answers /model_info 404 and its own /v1/tokenize 4xx; the check still finds the workers' parser, once
    for 12 first calls started together, counted at the workers."""
    pool = [Emulator("qwen3", tool_call_parser="mistral") for _ in range(POOL)]
    seen = [counted(emulator) for emulator in pool]
    async with contextlib.AsyncExitStack() as stack:
        for emulator in pool:
            await stack.enter_async_context(emulator)
        with gateway(pool, "round_robin") as url:
            at_start = sum(seen, Counter())  # smg's own registration and health probes
            responses = await asyncio.gather(
                *(
                    litellm.acompletion(**settings(url), messages=[{"role": "user", "content": "Hi"}], max_tokens=2)
                    for _ in range(12)
                )
            )
    for response in responses:
        parser, gateway_ = fields_of(response)["server_warnings"]
        assert "--tool-call-parser mistral" in parser and "drops sampling_params.structural_tag" in gateway_
    total = sum(seen, Counter()) - at_start
    assert total["/get_model_info"] == 1 and prefill_probes(pool) == 1
    assert total["/model_info"] == 0 and total["/v1/tokenize"] == 0  # the gateway answers those itself
    assert total["/generate"] == 12 + 1


@pytest.mark.parametrize("policy, flags", [("cache_aware", ()), ("prefix_hash", ("--prefix-token-count", "16"))])
async def test_conversations_without_a_key_stick_to_a_worker_under_prefix_policies(policy, flags):
    """No session named, so no routing key. cache_aware sends a prompt sharing at least --cache-threshold of a
    worker's cached prefix there, prefix_hash hashes the first --prefix-token-count ids (below a first turn's
    length here); with the pool unloaded (one request at a time) neither spills, so every later turn lands where
    the turn before it did, and new conversations spread."""
    async with workers() as pool:
        with gateway(pool, policy, *flags) as url:
            for n in range(12):
                await converse(url, f"Conversation {n:02d} of the prefix routing test says hello to you.", 3)
    tokenizer = pool[0].tokenizer
    where: dict[str, list[int]] = defaultdict(list)
    for index, emulator in enumerate(pool):
        for body in emulator.requests:
            if "input_ids" in body:
                where[re.search(r"Conversation \d\d", tokenizer.decode(body["input_ids"]))[0]].append(index)
    assert len(where) == 12 and all(len(at) == 3 for at in where.values())
    sticky = sum(len(set(at)) == 1 for at in where.values())
    assert sticky == 12, where
    assert len({at[0] for at in where.values()}) >= 2


def sent_bodies(monkeypatch) -> dict[str, dict]:
    """The ``/generate`` bodies the provider sends, by rid."""
    client = sglang_native_provider.handler._client
    sent: dict[str, dict] = {}
    generate, stream = client.agenerate, client.astream

    def agenerate(config, body, model):
        sent[body["rid"]] = body
        return generate(config, body, model)

    def astream(config, body, model):
        sent[body["rid"]] = body
        return stream(config, body, model)

    monkeypatch.setattr(client, "agenerate", agenerate)
    monkeypatch.setattr(client, "astream", astream)
    return sent


# What smg 1.13 adds to every /generate body it forwards: SGLang's own defaults (and a model name SGLang ignores).
GATEWAY_DEFAULTS = {
    "model": "unknown",
    "return_text_in_logprobs": False,
    "log_metrics": True,
    "background": False,
    "no_logs": False,
    "return_bytes": False,
    "return_entropy": False,
}
REQUESTS = {
    "sampling": dict(
        temperature=0.7,
        top_p=0.9,
        max_tokens=8,
        stop=["\n\n"],
        seed=5,
        frequency_penalty=0.1,
        logprobs=True,
        top_logprobs=3,
        metadata={"session_id": "fields-sampling"},
    ),
    "json schema": dict(
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "city", "schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        },
        max_tokens=20,
        metadata={"session_id": "fields-schema"},
    ),
}
# Sampling params smg 1.13 drops on the way (its typed body has no such field).
DROPPED = {
    "forced call": (dict(tools=[WEATHER], tool_choice="required", max_tokens=40), "structural_tag"),
    "logit bias": (dict(logit_bias={"9707": 5}, max_tokens=4), "logit_bias"),
}


async def send_through_gateway(requests: dict[str, dict], *, stream: bool) -> list[Emulator]:
    async with workers() as pool:
        with gateway(pool, "consistent_hashing") as url:
            for name, extra in requests.items():
                response = await litellm.acompletion(
                    **settings(url), messages=[{"role": "user", "content": f"{name}: Paris?"}], stream=stream, **extra
                )
                if stream:
                    assert [chunk async for chunk in response][-1].choices[0].finish_reason
    return pool


def received_by_rid(pool: list[Emulator]) -> dict[str, dict]:
    return {body["rid"]: body for emulator in pool for body in emulator.requests if "rid" in body}


@pytest.mark.parametrize("stream", [False, True])
async def test_every_field_reaches_the_worker_unchanged(monkeypatch, stream):
    """input_ids, sampling params, a JSON-schema constraint, logprob fields, session_id, routing_key and rid: the
    body a worker receives through the gateway is the one the provider sent, plus SGLang's own defaults."""
    sent = sent_bodies(monkeypatch)
    received = received_by_rid(await send_through_gateway(REQUESTS, stream=stream))
    assert len(sent) == len(REQUESTS) and received == {rid: {**body, **GATEWAY_DEFAULTS} for rid, body in sent.items()}
    sampling, schema = sent.values()
    assert sampling["top_logprobs_num"] == 3 and sampling["routing_key"] == sampling["session_id"] == "fields-sampling"
    assert set(sampling["sampling_params"]) >= {"temperature", "top_p", "stop", "frequency_penalty", "sampling_seed"}
    assert "json_schema" in schema["sampling_params"]
    assert all(body["stream"] is stream and body["return_logprob"] is True for body in sent.values())


async def test_smg_drops_structural_tags_and_logit_bias(monkeypatch):
    """A known gap of smg 1.13 (docs/scale-out.md): a forced ``tool_choice`` (its structural tag) and
    ``logit_bias`` do not reach the worker; everything else does. Fails once smg passes them on."""
    sent = sent_bodies(monkeypatch)
    received = received_by_rid(
        await send_through_gateway({name: extra for name, (extra, _) in DROPPED.items()}, stream=False)
    )
    for body, (_, dropped) in zip(sent.values(), DROPPED.values(), strict=True):
        assert dropped in body["sampling_params"]
        kept = {k: v for k, v in body["sampling_params"].items() if k != dropped}
        assert received[body["rid"]] == {**body, **GATEWAY_DEFAULTS, "sampling_params": kept}


async def test_a_cancelled_stream_stops_generating_on_the_worker():
    """smg has no /abort_request (404): the gateway drops its upstream request when the client goes, and the
    worker stops generating for nobody."""
    async with workers(token_delay=0.02) as pool:
        for emulator in pool:
            emulator.script(list(range(1000, 3000)))  # 2,000 ids without EOS: 40 s of generation
        with gateway(pool, "round_robin") as url:
            first_chunk = asyncio.Event()

            async def consume():
                stream = await litellm.acompletion(
                    **settings(url), messages=[{"role": "user", "content": "Talk."}], max_tokens=2000, stream=True
                )
                async for _ in stream:
                    first_chunk.set()

            task = asyncio.create_task(consume())
            await asyncio.wait_for(first_chunk.wait(), 60)
            (worker,) = [emulator for emulator in pool if emulator.running_rids]
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            deadline = time.monotonic() + 20
            while worker.running_rids:
                assert time.monotonic() < deadline, "the worker kept generating after the client left"
                await asyncio.sleep(0.05)
            assert worker.engine.abort_requests == []  # stopped by the disconnect, not by an abort request


async def wait_for_healthy(url: str, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while await asyncio.to_thread(healthy_workers, url) != count:
        assert time.monotonic() < deadline, f"the gateway did not count {count} healthy workers"
        await asyncio.sleep(0.2)


async def test_a_worker_stopped_mid_session_hands_its_sessions_on_with_exact_continuation():
    """Two turns of 9 keyed sessions, then a worker stops: its sessions' third turns go to the others and
    continue on the exact ids (from the message metadata, no worker cache needed); no turn is lost or repeated."""
    async with workers() as pool:
        with gateway(pool, "consistent_hashing") as url:
            opened = []
            for n in range(9):
                key = {"session_id": f"moving-{n}"}
                messages = [{"role": "user", "content": f"Session {n} opens."}]
                responses = []
                for _turn in range(2):
                    response = await litellm.acompletion(**settings(url), messages=messages, max_tokens=6, metadata=key)
                    messages += [response.choices[0].message.model_dump(), {"role": "user", "content": "Next?"}]
                    responses.append(response)
                opened.append((key, messages, responses))
            before = sessions_at(pool)
            stopped = before["moving-0"][0]
            await asyncio.to_thread(pool[stopped].stop)
            await wait_for_healthy(url, POOL - 1)
            for key, messages, responses in opened:
                response = await litellm.acompletion(**settings(url), messages=messages, max_tokens=6, metadata=key)
                responses.append(response)
    after = sessions_at(pool)
    moved = [s for s, at in before.items() if at[0] == stopped]
    assert moved and len(moved) < 9
    for session, at in after.items():
        assert len(at) == 3  # every turn answered once
        if session in moved:  # (``at`` lists the calls worker by worker)
            assert at.count(stopped) == 2 and len(set(at)) == 2
        else:
            assert len(set(at)) == 1  # the others stay where they were
    for _, _, responses in opened:
        assert_exact_continuations(responses)


async def test_the_gateways_own_errors_map_to_litellm_exceptions():
    """No healthy worker: smg's 503 is ServiceUnavailableError (retryable, not an internal error); its API key:
    AuthenticationError without it; its admission limit: RateLimitError."""
    ask = dict(messages=[{"role": "user", "content": "Hi"}], max_tokens=4, server_check=False)
    async with workers(token_delay=0.02) as pool:
        with gateway(pool[:1], "round_robin", "--api-key", "gateway-secret") as url:
            with pytest.raises(litellm.AuthenticationError, match="401"):
                await litellm.acompletion(**settings(url), **ask)
            await litellm.acompletion(**settings(url, api_key="gateway-secret"), **ask)
        with gateway(pool, "round_robin", "--max-concurrent-requests", "1", "--queue-size", "0") as url:
            outcomes = await asyncio.gather(
                *(litellm.acompletion(**settings(url, num_retries=0), **{**ask, "max_tokens": 40}) for _ in range(4)),
                return_exceptions=True,
            )
            refused = [o for o in outcomes if isinstance(o, Exception)]
            assert refused and all(isinstance(o, litellm.RateLimitError) for o in refused), outcomes
            assert len(refused) < 4
        with gateway(pool, "round_robin") as url:
            for emulator in pool:
                await asyncio.to_thread(emulator.stop)
            await wait_for_healthy(url, 0)
            with pytest.raises(litellm.ServiceUnavailableError, match="503"):
                await litellm.acompletion(**settings(url), **ask)


async def test_round_robin_spreads_streams_and_retries_a_dead_workers_share():
    """What the sglang-router tests checked, on its successor: 30 requests 10/10/10, a stream, and with a worker
    stopped (before its health check notices) its share retried on the others, none lost or repeated."""
    async with workers() as pool:
        with gateway(pool, "round_robin") as url:
            ask = dict(max_tokens=4, server_check=False)
            for i in range(30):
                await litellm.acompletion(
                    **settings(url), messages=[{"role": "user", "content": f"request {i}"}], **ask
                )
            assert [emulator.faults.calls for emulator in pool] == [10, 10, 10]
            stream = await litellm.acompletion(
                **settings(url), messages=[{"role": "user", "content": "stream"}], stream=True, **ask
            )
            assert [chunk async for chunk in stream][-1].choices[0].finish_reason in ("stop", "length")
            await asyncio.to_thread(pool[0].stop)
            for i in range(30):
                await litellm.acompletion(**settings(url), messages=[{"role": "user", "content": f"again {i}"}], **ask)
            assert sum(emulator.faults.calls for emulator in pool) == 30 + 1 + 30


async def test_the_example_router_config_keeps_each_session_on_one_worker(monkeypatch):
    """examples/gateway_router.yaml: a LiteLLM Router whose one deployment is the gateway."""
    config = yaml.safe_load((Path(__file__).resolve().parent.parent / "examples" / "gateway_router.yaml").read_text())
    async with workers() as pool:
        with gateway(pool, "consistent_hashing") as url:
            monkeypatch.setenv("SGLANG_GATEWAY", url)
            router = litellm.Router(**config)
            for n in range(9):
                messages = [{"role": "user", "content": f"Routed session {n}."}]
                for _ in range(2):
                    response = await router.acompletion(
                        model="qwen3", messages=messages, max_tokens=4, metadata={"session_id": f"routed-{n}"}
                    )
                    messages += [response.choices[0].message.model_dump(), {"role": "user", "content": "More?"}]
    where = sessions_at(pool)
    assert len(where) == 9 and all(len(at) == 2 and len(set(at)) == 1 for at in where.values())
    assert len({at[0] for at in where.values()}) >= 2
