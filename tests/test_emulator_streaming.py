"""Streaming ``/generate`` (SSE) and abort, as SGLang 0.5.23 does them.

``srt/entrypoints/http_server.py`` (``serve_generate_request``): ``data: <json>\\n\\n`` events, then
``data: [DONE]\\n\\n``; a ValueError becomes an ``{"error": {...}}`` event on a 200 stream.
``srt/managers/tokenizer_manager.py``: cumulative ``text``/``output_ids`` by default, deltas (and
sliced logprob lists) with ``--incremental-streaming-output``; ``/abort_request`` ends a running request
with ``{"type": "abort", "message": "Aborted", "status_code": null, "err_type": null}``.
"""

from __future__ import annotations

import asyncio
import itertools
import json

import httpx

from sglang_native_provider.emulator import Emulator

ABORTED = {"type": "abort", "message": "Aborted", "status_code": None, "err_type": None}


async def read_events(http: httpx.AsyncClient, body: dict) -> tuple[list[dict], list[str]]:
    """All JSON events of one stream, and the raw SSE lines."""
    raw: list[str] = []
    async with http.stream("POST", "/generate", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            raw.append(line)
    events = [json.loads(line[6:]) for line in raw if line.startswith("data: ") and line != "data: [DONE]"]
    return events, raw


async def test_cumulative_stream_matches_the_non_streaming_answer(client, emulator):
    body = {
        "input_ids": [1, 2, 3],
        "sampling_params": {"temperature": 0, "max_new_tokens": 30},
        "return_logprob": True,
        "top_logprobs_num": 2,
    }
    whole = (await client.post("/generate", json=body)).json()
    events, raw = await read_events(client, {**body, "stream": True})
    assert raw[-2:] == ["data: [DONE]", ""]
    assert all(line == "" for line in raw[1::2])  # each event is followed by a blank line
    # One event per token: a lone stream's last two steps are not merged (tests/test_emulator_golden.py).
    tokens = len(whole["output_ids"])
    assert [len(event["output_ids"]) for event in events] == list(range(1, tokens + 1))
    for earlier, later in itertools.pairwise(events):
        assert later["text"].startswith(earlier["text"])
        assert later["output_ids"][: len(earlier["output_ids"])] == earlier["output_ids"]
        assert earlier["meta_info"]["finish_reason"] is None
        assert "e2e_latency" not in earlier["meta_info"]
    last = events[-1]
    assert last["text"] == whole["text"] and last["output_ids"] == whole["output_ids"]
    assert last["meta_info"]["finish_reason"] == whole["meta_info"]["finish_reason"]
    assert last["meta_info"]["output_token_logprobs"] == whole["meta_info"]["output_token_logprobs"]
    assert last["meta_info"]["output_top_logprobs"] == whole["meta_info"]["output_top_logprobs"]
    assert ["response_sent_to_client_ts" in e["meta_info"] for e in events] == [True] + [False] * (len(events) - 1)


async def test_incremental_stream_sends_deltas():
    async with Emulator("qwen3", incremental_streaming_output=True) as emu, httpx.AsyncClient(base_url=emu.url) as http:
        emu.script("Deltas add up to the whole answer.", "Deltas add up to the whole answer.")
        body = {"input_ids": [1, 2], "sampling_params": {"max_new_tokens": 40}, "return_logprob": True}
        whole = (await http.post("/generate", json=body)).json()
        events, _ = await read_events(http, {**body, "stream": True})
    assert "".join(e["text"] for e in events) == whole["text"]
    assert [i for e in events for i in e["output_ids"]] == whole["output_ids"]
    assert all(len(e["output_ids"]) == len(e["meta_info"]["output_token_logprobs"]) for e in events)
    assert [x for e in events for x in e["meta_info"]["output_token_logprobs"]] == whole["meta_info"][
        "output_token_logprobs"
    ]
    assert events[-1]["meta_info"]["output_token_logprobs_length"] == len(whole["output_ids"])


async def test_multibyte_characters_are_never_split(client, emulator, qwen3_tokenizer):
    text = "天气🙂很好 🌧️"
    emulator.script(text)
    events, _ = await read_events(client, {"text": "q", "stream": True})
    assert all("\ufffd" not in e["text"] for e in events)
    assert events[-1]["text"] == text
    # the emoji spans several tokens, so some events hold text back until it is complete
    assert len({e["text"] for e in events}) < len(events)


async def test_stream_holds_back_a_partial_stop_string(client, emulator):
    emulator.script("alpha beta STOP gamma")
    events, _ = await read_events(client, {"text": "q", "stream": True, "sampling_params": {"stop": " STOP"}})
    assert all("ST" not in e["text"] for e in events)
    assert events[-1]["text"] == "alpha beta"
    assert events[-1]["meta_info"]["finish_reason"] == {"type": "stop", "matched": " STOP"}


async def test_stream_validation_error_is_an_error_event(client):
    events, raw = await read_events(client, {"text": "x", "stream": True, "sampling_params": {"temperature": -2}})
    assert events == [
        {
            "error": {
                "message": "temperature must be a non-negative finite number, got -2.",
                "type": "invalid_request_error",
                "code": 400,
                "retryable": False,
            }
        }
    ]
    assert raw[-2] == "data: [DONE]"


async def test_stream_contract_error_is_a_400(client):
    response = await client.post("/generate", json={"text": "x", "stream": True, "sampling_params": {"bad": 1}})
    assert response.status_code == 400 and response.json()["error"].startswith("unknown field `bad`")


async def test_batch_stream_events_carry_their_index(client, emulator):
    emulator.script("first answer", "second answer here")
    events, _ = await read_events(client, {"input_ids": [[1], [2]], "stream": True})
    finals = {e["index"]: e for e in events if e["meta_info"]["finish_reason"] is not None}
    assert {e["index"] for e in events} == {0, 1}
    assert finals[0]["text"] == "first answer" and finals[1]["text"] == "second answer here"


async def test_n_stream_events_carry_their_index(client):
    events, _ = await read_events(
        client, {"text": "x", "stream": True, "sampling_params": {"n": 2, "max_new_tokens": 3}}
    )
    assert {e["index"] for e in events} == {0, 1}
    assert len({e["meta_info"]["id"] for e in events}) == 2


async def _wait_until_running(emulator: Emulator, rid: str) -> None:
    for _ in range(500):
        if rid in emulator.running_rids:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{rid} never started")


async def _wait_until_idle(emulator: Emulator) -> None:
    for _ in range(500):
        if not emulator.running_rids:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"still running: {emulator.running_rids}")


async def test_abort_a_running_stream(slow_emulator):
    async with httpx.AsyncClient(base_url=slow_emulator.url, timeout=30) as http:
        body = {"text": "x", "rid": "to-abort", "stream": True, "sampling_params": {"ignore_eos": True}}
        events = []
        async with http.stream("POST", "/generate", json=body) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                events.append(json.loads(line[6:]))
                if len(events) == 2:
                    abort = await http.post("/abort_request", json={"rid": "to-abort"})
                    assert abort.status_code == 200 and abort.content == b""
    assert events[-1]["meta_info"]["finish_reason"] == ABORTED
    assert 2 <= len(events[-1]["output_ids"]) < 128
    assert slow_emulator.running_rids == []


async def test_abort_a_running_non_streaming_request(slow_emulator):
    async with httpx.AsyncClient(base_url=slow_emulator.url, timeout=30) as http:
        body = {"text": "x", "rid": "long", "sampling_params": {"ignore_eos": True}}
        pending = asyncio.create_task(http.post("/generate", json=body))
        await _wait_until_running(slow_emulator, "long")
        await http.post("/abort_request", json={"abort_all": True})
        response = await pending
    assert response.status_code == 200
    assert response.json()["meta_info"]["finish_reason"] == ABORTED


async def test_abort_of_an_unknown_rid_is_ignored(client):
    response = await client.post("/abort_request", json={"rid": "nobody"})
    assert response.status_code == 200 and response.content == b""


async def test_a_running_rid_cannot_be_reused(slow_emulator):
    async with httpx.AsyncClient(base_url=slow_emulator.url, timeout=30) as http:
        body = {"text": "x", "rid": "dup", "sampling_params": {"max_new_tokens": 30}}
        first = asyncio.create_task(http.post("/generate", json=body))
        await _wait_until_running(slow_emulator, "dup")
        second = await http.post("/generate", json=body)
        assert second.status_code == 400
        assert second.json() == {"error": {"message": "Duplicate request ID detected: dup"}}
        assert (await first).status_code == 200


async def test_client_disconnect_stops_generation(slow_emulator):
    async with httpx.AsyncClient(base_url=slow_emulator.url, timeout=30) as http:
        body = {"text": "x", "rid": "gone", "stream": True, "sampling_params": {"ignore_eos": True}}
        async with http.stream("POST", "/generate", json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    break
        await _wait_until_idle(slow_emulator)
    assert slow_emulator.running_rids == []
