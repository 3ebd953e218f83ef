"""The emulator answers the golden requests with the same shapes as real SGLang 0.5.23 did.

The real answers are fixtures (tests/fixtures/real_sglang/, recorded by tests/real_sglang/record.py from real SGLang
on CPU serving a tiny random-weights Qwen3); this test needs no real SGLang. Values are random, so shapes are
compared: keys and their order, JSON types, status, header names (content-type and vary by value), stream
event sequences, and error texts. The one allowed difference: real /server_info dumps all ~550 server args, the
emulator only the keys it knows (each must exist in real SGLang's answer with the same type).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from real_sglang import golden

from sglang_native_provider.emulator import Emulator

MODEL_CONFIG = Path(__file__).parent / "fixtures" / "real_sglang" / "tiny-qwen3"


@pytest.fixture(scope="module", params=sorted(golden.SERVERS))
def emulated(request):
    """(server kind, the emulator configured like that real server, a client)."""
    incremental, api_key = golden.SERVERS[request.param]
    emulator = Emulator("qwen3", model_config=MODEL_CONFIG, incremental_streaming_output=incremental, api_key=api_key)
    with emulator, httpx.Client(base_url=emulator.url, timeout=30) as client:
        yield request.param, client


def test_every_exchange_is_recorded():
    for server in golden.SERVERS:
        recorded = golden.load_fixture(server)["exchanges"]
        assert sorted(recorded) == sorted(exchange.name for exchange in golden.exchanges_for(server))


def test_emulator_matches_real_sglang_shapes(emulated):
    server, client = emulated
    recorded = golden.load_fixture(server)["exchanges"]
    problems = []
    for exchange in golden.exchanges_for(server):
        problems += golden.differences(exchange, recorded[exchange.name]["response"], golden.send(client, exchange))
    assert not problems, "\n".join(problems)


def test_the_comparison_sees_a_difference():
    """The comparison itself is not vacuous: a missing key, a changed type and another error text are caught."""
    exchange = next(e for e in golden.EXCHANGES if e.name == "bad_temperature")
    real = golden.load_fixture("cumulative")["exchanges"]["plain"]["response"]
    changed = {**real, "body": {**real["body"], "meta_info": dict(real["body"]["meta_info"])}}
    del changed["body"]["meta_info"]["dp_rank"]
    changed["body"]["meta_info"]["prompt_tokens"] = 6.0
    plain = next(e for e in golden.EXCHANGES if e.name == "plain")
    problems = golden.differences(plain, real, changed)
    assert any("dp_rank" in problem for problem in problems)
    error = golden.load_fixture("cumulative")["exchanges"]["bad_temperature"]["response"]
    reworded = {**error, "body": {"error": {"message": "temperature must be a non-negative finite number, got -1.0."}}}
    assert golden.differences(exchange, error, reworded)


# ---- the settings behind the fixes ----


def _events(emulator: Emulator, body: dict) -> list[dict]:
    stream = golden.Exchange("stream", "cumulative", "POST", "/generate", {**body, "stream": True})
    with httpx.Client(base_url=emulator.url, timeout=30) as client:
        return [event for event in golden.send(client, stream)["events"] if event != "[DONE]"]


def _stream_lengths(emulator: Emulator, tokens: int) -> list[int]:
    body = {"input_ids": [1000, 1001, 1002], "sampling_params": {"max_new_tokens": tokens, "ignore_eos": True}}
    return [len(event["output_ids"]) for event in _events(emulator, body)]


@pytest.mark.parametrize(
    ("settings", "lengths"),
    [
        ({}, [1, 2, 3, 4, 5, 6, 8]),  # the last event carries two tokens, as real SGLang's usually does
        ({"merge_last_events": False}, [1, 2, 3, 4, 5, 6, 7, 8]),
        ({"stream_interval": 3, "merge_last_events": False}, [1, 4, 7, 8]),  # first at once, then every 3
        ({"stream_interval": 3}, [1, 4, 8]),
    ],
)
def test_stream_events_follow_stream_interval_and_merging(settings, lengths):
    with Emulator("qwen3", **settings) as emulator:
        assert _stream_lengths(emulator, 8) == lengths


def test_incremental_deltas_of_a_merged_event_cover_both_tokens():
    with Emulator("qwen3", incremental_streaming_output=True) as emulator:
        body = {"input_ids": [1000, 1001], "sampling_params": {"max_new_tokens": 5, "ignore_eos": True}}
        whole = httpx.post(f"{emulator.url}/generate", json=body, timeout=30).json()
        events = _events(emulator, body)
    assert [len(event["output_ids"]) for event in events] == [1, 1, 1, 2]
    assert [token for event in events for token in event["output_ids"]] == whole["output_ids"]
    assert "".join(event["text"] for event in events) == whole["text"]


def test_context_length_and_model_info_come_from_the_model_config():
    with Emulator("qwen3", model_config=MODEL_CONFIG) as emulator:
        info = httpx.get(f"{emulator.url}/model_info").json()
        models = httpx.get(f"{emulator.url}/v1/models").json()
        too_long = httpx.post(f"{emulator.url}/generate", json={"input_ids": [1000] * 4096}).json()
    assert info["model_type"] == "qwen3" and info["architectures"] == ["Qwen3ForCausalLM"]
    assert models["data"][0]["max_model_len"] == 4096  # max_position_embeddings, not the tokenizer's 40960
    assert too_long["error"]["message"].endswith("context length (4096 tokens).")
    with Emulator("qwen3") as emulator:  # no model config: the tokenizer's length
        assert httpx.get(f"{emulator.url}/v1/models").json()["data"][0]["max_model_len"] == 40960


def test_vary_origin_on_every_answer_but_a_401():
    with Emulator("qwen3", api_key="k") as emulator:
        assert httpx.get(f"{emulator.url}/health").headers["vary"] == "Origin"
        refused = httpx.get(f"{emulator.url}/model_info")
        assert refused.status_code == 401 and "vary" not in refused.headers
        allowed = httpx.get(f"{emulator.url}/model_info", headers={"Authorization": "Bearer k"})
        assert allowed.headers["vary"] == "Origin"


def test_samples_of_one_request_share_the_prefilled_prompt():
    with Emulator("qwen3") as emulator:
        body = {"input_ids": [1000, 1001, 1002, 1003], "sampling_params": {"n": 2, "max_new_tokens": 2}}
        samples = httpx.post(f"{emulator.url}/generate", json=body, timeout=30).json()
    assert [sample["meta_info"]["cached_tokens"] for sample in samples] == [3, 3]
    assert [sample["meta_info"]["cached_tokens_details"] for sample in samples] == [{"device": 3, "host": 0}] * 2
