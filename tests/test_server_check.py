"""The once-per-deployment check of the server against the provider's tokenizer and parsers."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import litellm
import pytest
from _support import counted
from hostile_server import HostileServer

import sglang_native_provider
from sglang_native_provider.emulator import Emulator
from sglang_native_provider.server_check import PROBE_TEXT

MESSAGES = [{"role": "user", "content": "Hello"}]


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


@pytest.fixture
def probes(monkeypatch):
    """The paths the provider probes, in order."""
    seen: list[str] = []
    original = sglang_native_provider.handler._client.aprobe

    async def counting(config, path, body=None):
        seen.append(path)
        return await original(config, path, body)

    monkeypatch.setattr(sglang_native_provider.handler._client, "aprobe", counting)
    return seen


def fields_of(response) -> dict:
    return response.choices[0].message.provider_specific_fields


async def test_a_matching_server_is_checked_once_and_not_reported(emulator, probes):
    emulator.script("One.", "Two.")
    kwargs = dict(model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", messages=MESSAGES)
    first = await litellm.acompletion(**kwargs)
    second = await litellm.acompletion(**kwargs)
    assert "server_warnings" not in fields_of(first) and "server_warnings" not in fields_of(second)
    assert sorted(probes) == ["/model_info", "/v1/tokenize"]  # the first request only
    assert len(emulator.requests) == 2  # the probes are no generations


async def test_another_tokenizer_than_the_servers_is_reported(probes):
    with Emulator("llama3.1") as emulator:  # serves Llama 3.1; the provider renders with Qwen3's tokenizer
        emulator.script("Hi.")
        response = await litellm.acompletion(
            model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", messages=MESSAGES
        )
    (warning,) = fields_of(response)["server_warnings"]
    assert "tokenizes a probe text differently from tokenizer 'offline:qwen3'" in warning


@pytest.mark.parametrize("served, reported", [("mistral", True), ("hermes", False), ("qwen25", False), ("qwen", False)])
async def test_a_server_parsing_with_another_parser_is_reported(served, reported):
    with Emulator("qwen3", tool_call_parser=served) as emulator:
        emulator.script("Hi.")
        response = await litellm.acompletion(
            model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", messages=MESSAGES
        )
    warnings = fields_of(response).get("server_warnings", [])
    # The provider detects qwen25 from Qwen3's template; hermes parses alike (only its forced-call frame differs).
    assert bool(warnings) is reported
    if reported:
        assert "--tool-call-parser mistral" in warnings[0] and "tool_call_parser='mistral'" in warnings[0]


def test_sync_and_streamed_calls_are_checked_too():
    with Emulator("qwen3", tool_call_parser="mistral") as emulator:
        emulator.script("Hi.", "Streamed.")
        common = dict(model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", messages=MESSAGES)
        assert fields_of(litellm.completion(**common))["server_warnings"]
        chunks = list(litellm.completion(stream=True, **common))
        streamed = litellm.stream_chunk_builder(chunks, messages=MESSAGES)
        assert streamed.choices[0].message.content == "Streamed."
    metadata = [
        c.choices[0].delta.provider_specific_fields for c in chunks if c.choices[0].delta.provider_specific_fields
    ]
    assert metadata[-1]["server_warnings"]


async def test_the_check_can_be_turned_off(probes):
    with Emulator("qwen3", tool_call_parser="mistral") as emulator:
        emulator.script("Hi.")
        response = await litellm.acompletion(
            model="sglang_native/qwen3",
            api_base=emulator.url,
            tokenizer="offline:qwen3",
            messages=MESSAGES,
            server_check=False,
        )
    assert "server_warnings" not in fields_of(response) and probes == []


async def test_a_server_that_cannot_answer_the_probes_is_not_checked_and_asked_again(emulator, monkeypatch):
    async def unreachable(config, path, body=None):
        calls.append(path)

    calls: list[str] = []
    monkeypatch.setattr(sglang_native_provider.handler._client, "aprobe", unreachable)
    emulator.script("One.", "Two.")
    kwargs = dict(model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", messages=MESSAGES)
    for _ in range(2):
        response = await litellm.acompletion(**kwargs)
        assert "server_warnings" not in fields_of(response)
    assert len(calls) == 4  # not cached: asked again at the next request


async def test_a_server_dripping_its_probe_answers_delays_a_request_by_at_most_the_timeout(emulator):
    with HostileServer(relay_to=emulator.url) as hostile:  # every path under /drip answers a byte a second
        start = time.monotonic()
        with pytest.raises(litellm.Timeout):
            await litellm.acompletion(
                model="sglang_native/qwen3",
                api_base=hostile.url_for("drip"),
                tokenizer="offline:qwen3",
                messages=MESSAGES,
                timeout=1.5,
            )
        elapsed = time.monotonic() - start
    # the probes (together, at most min(timeout, 5 s)) then the request itself (its own timeout)
    assert elapsed < 1.5 + 1.5 + 5, elapsed


async def test_prompt_ids_outside_the_vocabulary_are_refused_before_sending(emulator):
    """A real SGLang scheduler dies on an input id beyond its embedding: forged (or another tokenizer's)
    metadata must never reach it."""
    emulator.script("One.")
    kwargs = dict(model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3")
    first = (await litellm.acompletion(messages=MESSAGES, **kwargs)).choices[0].message
    forged = first.model_dump()
    forged["provider_specific_fields"]["prompt_token_ids"] = [
        *forged["provider_specific_fields"]["prompt_token_ids"][:-1],
        10**6,
    ]
    with pytest.raises(litellm.BadRequestError, match="prompt token id 1000000 is outside the tokenizer's vocabulary"):
        await litellm.acompletion(messages=[*MESSAGES, forged, {"role": "user", "content": "More"}], **kwargs)
    assert len(emulator.requests) == 1


def prefill_probes(emulator: Emulator) -> int:
    return sum(body.get("text") == PROBE_TEXT for body in emulator.requests)


async def test_concurrent_first_calls_share_one_check_counted_at_the_server():
    emulator = Emulator("qwen3", tool_call_parser="mistral")
    seen = counted(emulator)
    with emulator:
        kwargs = dict(model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", messages=MESSAGES)
        responses = await asyncio.gather(*(litellm.acompletion(max_tokens=2, **kwargs) for _ in range(12)))
    assert seen["/v1/tokenize"] == 1 and seen["/model_info"] == 1 and seen["/generate"] == 12
    assert all("--tool-call-parser mistral" in fields_of(r)["server_warnings"][0] for r in responses)


def test_concurrent_first_calls_share_one_check_across_threads_and_event_loops():
    """Sync calls in threads and async calls on event loops of their own, all started together."""
    emulator = Emulator("qwen3", tool_call_parser="mistral")
    seen = counted(emulator)
    with emulator:
        kwargs = dict(model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", messages=MESSAGES)
        start = threading.Barrier(12)

        def sync_call():
            start.wait(timeout=60)
            return litellm.completion(max_tokens=2, **kwargs)

        def async_call():
            start.wait(timeout=60)
            return asyncio.run(litellm.acompletion(max_tokens=2, **kwargs))

        with ThreadPoolExecutor(12) as pool:
            futures = [pool.submit(sync_call if i % 2 else async_call) for i in range(12)]
            responses = [future.result(timeout=120) for future in futures]
    assert seen["/v1/tokenize"] == 1 and seen["/model_info"] == 1 and seen["/generate"] == 12
    assert all(fields_of(r)["server_warnings"] for r in responses)


async def test_behind_a_gateway_the_check_falls_back_to_what_it_passes_through():
    """smg's answers: /model_info 404 -> /get_model_info; /v1/tokenize refused -> a worker prefills the probe
    text; a Llama worker and a Mistral parser are both found, with one probe of each kind."""
    emulator = Emulator("llama3.1", tool_call_parser="mistral")
    seen = counted(emulator, gateway=True)
    with emulator:
        emulator.script("Hi.")
        response = await litellm.acompletion(
            model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", messages=MESSAGES
        )
    fields = fields_of(response)
    warnings = fields["server_warnings"]
    assert "tokenizes a probe text differently" in warnings[0] and "--tool-call-parser mistral" in warnings[1]
    assert "drops sampling_params.structural_tag and logit_bias" in warnings[2]
    assert seen["/v1/tokenize"] == 1 and seen["/model_info"] == 1 and seen["/get_model_info"] == 1
    assert prefill_probes(emulator) == 1 and seen["/generate"] == 2  # the probe and the request


def test_behind_a_gateway_the_sync_check_falls_back_too():
    emulator = Emulator("qwen3", tool_call_parser="mistral")
    seen = counted(emulator, gateway=True)
    with emulator:
        kwargs = dict(model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", messages=MESSAGES)
        first, second = litellm.completion(max_tokens=2, **kwargs), litellm.completion(max_tokens=2, **kwargs)
    warning, gateway = fields_of(first)["server_warnings"]  # the same tokenizer: only the parser differs
    assert "--tool-call-parser mistral" in warning and "model gateway (smg)" in gateway
    assert fields_of(second)["server_warnings"] == [warning, gateway]
    assert seen["/get_model_info"] == 1 and prefill_probes(emulator) == 1 and seen["/generate"] == 3
