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
    """(server kind, the emulator's answers to that server's golden exchanges, sent in order to an emulator
    configured like that real server)."""
    incremental, api_key = golden.SERVERS[request.param]
    emulator = Emulator("qwen3", model_config=MODEL_CONFIG, incremental_streaming_output=incremental, api_key=api_key)
    with emulator, httpx.Client(base_url=emulator.url, timeout=30) as client:
        answers = {exchange.name: golden.send(client, exchange) for exchange in golden.exchanges_for(request.param)}
    return request.param, answers


def test_every_exchange_is_recorded():
    for server in golden.SERVERS:
        recorded = golden.load_fixture(server)["exchanges"]
        assert sorted(recorded) == sorted(exchange.name for exchange in golden.exchanges_for(server))


def test_emulator_matches_real_sglang_shapes(emulated):
    server, answers = emulated
    recorded = golden.load_fixture(server)["exchanges"]
    problems = []
    for exchange in golden.exchanges_for(server):
        problems += golden.differences(exchange, recorded[exchange.name]["response"], answers[exchange.name])
    assert not problems, "\n".join(problems)


def _outputs(record: dict) -> list[dict]:
    """The /generate outputs of an answer: its body (one or a list) or its stream's events."""
    if "events" in record:
        return [event for event in record["events"] if isinstance(event, dict) and "meta_info" in event]
    body = record.get("body")
    outputs = body if isinstance(body, list) else [body]
    return [output for output in outputs if isinstance(output, dict) and "meta_info" in output]


def _cache_values(record: dict) -> list[tuple]:
    """(index, cached_tokens, cached_tokens_details) of every output, each distinct value once."""
    values = {
        (output.get("index"), output["meta_info"]["cached_tokens"], repr(output["meta_info"]["cached_tokens_details"]))
        for output in _outputs(record)
    }
    return sorted(values, key=repr)


def test_cached_tokens_and_their_details_are_real_sglangs_values(emulated):
    """``cached_tokens_details`` is ``{"device": cached_tokens, "host": 0}`` once a prefix is cached, else null
    (``SchedulerOutputStreamer.get_cached_tokens_details``), with the same numbers as real SGLang's answers."""
    server, answers = emulated
    recorded = golden.load_fixture(server)["exchanges"]
    checked = []
    for name, answer in answers.items():
        real = recorded[name]["response"]
        if real["status"] == 200 and _outputs(real):
            assert _cache_values(answer) == _cache_values(real), name
            checked.append(name)
    assert len(checked) >= 3
    if server == "cumulative":
        assert _cache_values(answers["cached_second"]) == [(None, 11, repr({"device": 11, "host": 0}))]


def _lengths_by_index(record: dict) -> dict:
    """Each streamed sequence's ``output_ids`` lengths, event by event."""
    lengths: dict = {}
    for event in _outputs(record):
        lengths.setdefault(event.get("index"), []).append(len(event["output_ids"]))
    return lengths


def test_stream_events_per_sequence_are_real_sglangs(emulated):
    """A lone stream sends one event per token; each stream of a batch or ``n > 1`` request merges its last two
    (the real SGLang answers recorded here; how often it merges depends on timing)."""
    server, answers = emulated
    recorded = golden.load_fixture(server)["exchanges"]
    streams = [exchange.name for exchange in golden.exchanges_for(server) if exchange.stream]
    for name in streams:
        real = recorded[name]["response"]
        if real["status"] == 200:
            assert _lengths_by_index(answers[name]) == _lengths_by_index(real), name


def test_model_type_and_architectures_are_real_sglangs(emulated):
    server, answers = emulated
    real = golden.load_fixture("cumulative")["exchanges"]["model_info"]["response"]["body"]
    if server == "cumulative":
        emulated_info = answers["model_info"]["body"]
        assert (real["model_type"], real["architectures"]) == ("qwen3", ["Qwen3ForCausalLM"])
        assert (emulated_info["model_type"], emulated_info["architectures"]) == ("qwen3", ["Qwen3ForCausalLM"])
    with Emulator("qwen3") as emulator:  # no model config: the offline recipe's model family
        info = httpx.get(f"{emulator.url}/model_info").json()
    assert (info["model_type"], info["architectures"]) == (real["model_type"], real["architectures"])


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
        ({}, [1, 2, 3, 4, 5, 6, 7, 8]),  # a lone stream: one event per token, as real SGLang's was
        ({"merge_last_events": True}, [1, 2, 3, 4, 5, 6, 8]),  # the last event carries two tokens
        ({"merge_last_events": False}, [1, 2, 3, 4, 5, 6, 7, 8]),
        ({"stream_interval": 3, "merge_last_events": False}, [1, 4, 7, 8]),  # first at once, then every 3
        ({"stream_interval": 3}, [1, 4, 7, 8]),
        ({"stream_interval": 3, "merge_last_events": True}, [1, 4, 8]),
    ],
)
def test_stream_events_follow_stream_interval_and_merging(settings, lengths):
    with Emulator("qwen3", **settings) as emulator:
        assert _stream_lengths(emulator, 8) == lengths


def test_incremental_deltas_of_a_merged_event_cover_both_tokens():
    with Emulator("qwen3", incremental_streaming_output=True, merge_last_events=True) as emulator:
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
