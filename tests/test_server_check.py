"""The once-per-deployment check of the server against the provider's tokenizer and parsers."""

from __future__ import annotations

import time

import litellm
import pytest
from hostile_server import HostileServer

import sglang_native_provider
from sglang_native_provider.emulator import Emulator

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
