"""MoE routing replay: routed experts asked of SGLang, checked, carried compactly, recorded in the session ledger
and joined into a trajectory aligned with its token ids (against the emulator's deterministic fake MoE)."""

from __future__ import annotations

import base64
import json
import uuid

import litellm
import numpy as np
import openai
import pytest
from _redis import redis_url  # noqa: F401  (fixture)

import sglang_native_provider
from sglang_native_provider import Trajectory
from sglang_native_provider.emulator import Emulator, FakeMoe
from sglang_native_provider.rollout_signals import from_compact
from sglang_native_provider.sessions import LedgerTurn, open_store

MOE = FakeMoe(layers=3, experts=40, top_k=4)
LAYOUT = {"layers": 3, "top_k": 4, "experts": 40}
QUESTION = [{"role": "user", "content": "Plan a trip to Paris."}]


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


@pytest.fixture
def moe_server():
    with Emulator("qwen3", enable_return_routed_experts=True, moe=MOE) as emu:
        yield emu


def settings(emu: Emulator, **extra) -> dict:
    return dict(
        model="sglang_native/qwen3",
        api_base=emu.url,
        tokenizer="offline:qwen3",
        routed_experts=True,
        moe_layout=LAYOUT,
        **extra,
    )


def routed(fields: dict) -> tuple[int, np.ndarray]:
    return from_compact(fields["routed_experts"])


def full_capture(fields: dict) -> np.ndarray:
    """What one capture of the whole sequence from position 0 holds."""
    return MOE.rows([*fields["prompt_token_ids"], *fields["completion_token_ids"]], 0)


async def test_whole_response_carries_compact_checked_routing(moe_server):
    moe_server.script("Sunny, 20 degrees.")
    response = await litellm.acompletion(messages=QUESTION, **settings(moe_server))
    fields = response.choices[0].message.provider_specific_fields
    encoded = fields["routed_experts"]
    assert set(encoded) == {"dtype", "shape", "start", "data"} and encoded["dtype"] == "uint8"
    start, array = routed(fields)
    seqlen = len(fields["prompt_token_ids"]) + len(fields["completion_token_ids"])
    assert start == 0 and array.shape == (seqlen - 1, 3, 4)
    assert np.array_equal(array, full_capture(fields))
    body = moe_server.requests[-1]
    assert body["return_routed_experts"] is True and body["routed_experts_start_len"] == 0
    assert isinstance(encoded["data"], str)  # never a list of lists in the response or the proxy's JSON


async def test_stream_carries_routing_on_the_last_chunk(moe_server):
    moe_server.script("Sunny, 20 degrees.")
    stream = await litellm.acompletion(messages=QUESTION, stream=True, **settings(moe_server))
    carrying = []
    async for chunk in stream:
        for choice in chunk.choices:
            fields = getattr(choice.delta, "provider_specific_fields", None) or {}
            if "routed_experts" in fields:
                carrying.append(fields)
    assert len(carrying) == 1
    start, array = routed(carrying[0])
    assert start == 0 and np.array_equal(array, full_capture(carrying[0]))


async def test_each_of_n_samples_has_its_own_routing(moe_server):
    response = await litellm.acompletion(messages=QUESTION, n=3, max_tokens=12, **settings(moe_server))
    arrays = [routed(choice.message.provider_specific_fields)[1] for choice in response.choices]
    for choice, array in zip(response.choices, arrays, strict=True):
        assert np.array_equal(array, full_capture(choice.message.provider_specific_fields))
    completions = {tuple(c.message.provider_specific_fields["completion_token_ids"]) for c in response.choices}
    assert len(completions) == 3 and not np.array_equal(arrays[0][-5:], arrays[1][-5:])


async def test_continued_turns_ask_only_new_rows_and_stitch_to_one_capture(moe_server):
    messages, previous_end = list(QUESTION), 0
    for turn, answer in enumerate(["First answer.", "Second answer.", "Third answer."]):
        moe_server.script(answer)
        response = await litellm.acompletion(messages=messages, **settings(moe_server))
        message = response.choices[0].message
        fields = message.provider_specific_fields
        start, array = routed(fields)
        if turn:
            assert fields["continuation"] == "exact"
            assert start == previous_end and moe_server.requests[-1]["routed_experts_start_len"] == previous_end
        previous_end = len(fields["prompt_token_ids"]) + len(fields["completion_token_ids"]) - 1
        assert start + len(array) == previous_end
        messages += [message, {"role": "user", "content": f"And then {turn}?"}]
    trajectory = Trajectory.from_messages(messages)
    ids = trajectory.token_ids
    stitched = trajectory.routed_experts
    assert stitched.shape == (len(ids) - 1, 3, 4) and np.array_equal(stitched, MOE.rows(ids, 0))
    batch = trajectory.rl_fields()
    assert np.array_equal(batch["routed_experts"], stitched)
    assert len(batch["prompt_ids"]) + len(batch["response_ids"]) == len(stitched) + 1


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_url(request, tmp_path):
    if request.param == "memory":
        return "memory"
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("redis_url")


async def test_ledger_keeps_routing_byte_for_byte_and_exports_it(moe_server, store_url, tmp_path):
    session = f"rollout-{uuid.uuid4().hex[:8]}"
    messages, returned = list(QUESTION), []
    for turn, answer in enumerate(["Looking.", "Found it.", "Done."]):
        moe_server.script(answer)
        response = await litellm.acompletion(
            messages=messages, metadata={"session_id": session}, session_store=store_url, **settings(moe_server)
        )
        message = response.choices[0].message
        returned.append(message.provider_specific_fields)
        if turn:  # the framework dropped the metadata: the ledger finds the turn, and its routing's end
            assert returned[-1]["continuation"] == "ledger"
            previous = returned[-2]
            end = len(previous["prompt_token_ids"]) + len(previous["completion_token_ids"]) - 1
            assert moe_server.requests[-1]["routed_experts_start_len"] == end == returned[-1]["routed_experts"]["start"]
        messages += [{"role": "assistant", "content": message.content}, {"role": "user", "content": f"next {turn}"}]
    recorded = open_store(store_url).turns(session)
    assert [turn.signals["routed_experts"] for turn in recorded] == [fields["routed_experts"] for fields in returned]
    assert all("routed_experts" not in turn.fields for turn in recorded)  # one copy, in signals
    (trajectory,) = Trajectory.from_session(session, store_url)
    ids = trajectory.token_ids
    assert np.array_equal(trajectory.routed_experts, MOE.rows(ids, 0))

    npz = trajectory.write(tmp_path / "rollouts.jsonl")
    line = json.loads((tmp_path / "rollouts.jsonl").read_text())
    assert line["arrays"] == {"file": npz.name, "routed_experts": {"dtype": "uint8", "shape": [len(ids) - 1, 3, 4]}}
    starts = [fields["routed_experts"]["start"] for fields in returned]
    assert [turn["routed_experts"]["start"] for turn in line["turns"]] == starts
    assert "data" not in json.dumps(line["turns"])
    with np.load(npz) as arrays:
        assert arrays["token_ids"].tolist() == ids and arrays["loss_mask"].tolist() == trajectory.loss_mask
        assert np.array_equal(arrays["routed_experts"], MOE.rows(ids, 0))


class _WrongMoe:
    """A server whose routing does not fit the request: one row too many, or an id past the experts."""

    def __init__(self, fault: str) -> None:
        self.fault = fault

    def encoded(self, ids, start) -> str:
        rows = MOE.rows(ids, start)
        if self.fault == "rows":
            rows = np.concatenate([rows, rows[:1]])
        elif self.fault == "id":
            rows[-1, 1, 2] = 40
        else:
            return "not base64!"
        return base64.b64encode(rows.tobytes()).decode()


@pytest.mark.parametrize("fault", ["rows", "id", "encoding"])
@pytest.mark.parametrize("stream", [False, True])
async def test_routing_that_does_not_fit_is_a_502(moe_server, fault, stream):
    moe_server.engine.moe = _WrongMoe(fault)
    moe_server.script("Sunny.")
    with pytest.raises(openai.APIError) as caught:
        response = await litellm.acompletion(messages=QUESTION, stream=stream, **settings(moe_server))
        if stream:
            async for _ in response:
                pass
    error = getattr(caught.value, "original_exception", None) or caught.value
    assert getattr(error, "status_code", None) == 502 and "meta_info.routed_experts" in str(error)
    expected = {"rows": "rows (positions 0 to", "id": "expert id 40", "encoding": "base64"}
    assert expected[fault] in str(error)


async def test_server_without_the_flag_is_a_bad_request_naming_it():
    with Emulator("qwen3") as emu:
        with pytest.raises(litellm.BadRequestError, match="--enable-return-routed-experts"):
            await litellm.acompletion(messages=QUESTION, **settings(emu))
        with pytest.raises(litellm.BadRequestError, match="--enable-return-routed-experts"):
            litellm.completion(messages=QUESTION, stream=True, **settings(emu))
        assert emu.requests == []  # refused before anything was generated
        # SGLang itself ignores the ask without the flag; a server that does not say (no /server_info, a router)
        # is asked anyway, and the answer says the routing is missing.
        sglang_native_provider.handler._captures._known[emu.url] = {}
        response = await litellm.acompletion(messages=QUESTION, **settings(emu))
        fields = response.choices[0].message.provider_specific_fields
        assert "routed_experts" not in fields and "--enable-return-routed-experts" in fields["routed_experts_missing"]
        assert emu.requests[-1]["return_routed_experts"] is True
        with pytest.raises(sglang_native_provider.TrajectoryError, match="turn 0 has no routed_experts"):
            Trajectory.from_messages([*QUESTION, response.choices[0].message]).rl_fields()


async def test_without_a_layout_the_request_is_refused(moe_server):
    options = settings(moe_server)
    del options["moe_layout"]
    with pytest.raises(litellm.BadRequestError, match="moe_layout"):
        await litellm.acompletion(messages=QUESTION, **options)


async def test_a_turn_without_routing_is_named_never_a_zero_row(moe_server):
    messages = list(QUESTION)
    for turn in range(3):
        moe_server.script(f"Answer {turn}.")
        response = await litellm.acompletion(messages=messages, **settings(moe_server))
        messages += [response.choices[0].message, {"role": "user", "content": "more"}]
    second, third = messages[3].provider_specific_fields, messages[5].provider_specific_fields
    kept = second.pop("routed_experts")  # the second turn's routing was lost
    with pytest.raises(sglang_native_provider.TrajectoryError, match="turn 1 has no routed_experts"):
        _ = Trajectory.from_messages(messages).routed_experts
    second["routed_experts"] = kept
    del third["routed_experts"]  # the last turn's
    with pytest.raises(sglang_native_provider.TrajectoryError, match="turn 2 has no routed_experts"):
        Trajectory.from_messages(messages).rl_fields()
    # A turn without routing makes the next one ask from 0, which covers it again.
    moe_server.script("Plain.")
    response = await litellm.acompletion(messages=messages, **settings(moe_server))
    assert moe_server.requests[-1]["routed_experts_start_len"] == 0
    trajectory = Trajectory.from_messages([*messages, response.choices[0].message])
    assert np.array_equal(trajectory.routed_experts, MOE.rows(trajectory.token_ids, 0))


def test_older_ledger_records_without_signals_still_read():
    turn = LedgerTurn("s", "t", "h", {"content": "", "reasoning": None, "tool_calls": []}, {"a": 1}, "new")
    record = json.loads(turn.to_json())
    del record["signals"]
    old = LedgerTurn.from_json(json.dumps(record))
    assert old.signals is None and old.metadata() == {"a": 1}


async def test_emulator_refuses_a_start_past_the_prompt(moe_server):
    import httpx

    async with httpx.AsyncClient(base_url=moe_server.url) as http:
        body = {"input_ids": [1, 2, 3], "return_routed_experts": True, "routed_experts_start_len": 4}
        answer = await http.post("/generate", json=body)
        assert answer.status_code == 400 and "is higher than the number of input tokens" in answer.text
        body["routed_experts_start_len"] = 3
        answer = (await http.post("/generate", json={**body, "sampling_params": {"max_new_tokens": 2}})).json()
        raw = np.frombuffer(base64.b64decode(answer["meta_info"]["routed_experts"]), dtype=np.int32)
        assert raw.size == (3 + 2 - 1 - 3) * 3 * 4
        info = (await http.get("/server_info")).json()
        assert info["enable_return_routed_experts"] is True and info["enable_return_indexer_topk"] is False


async def test_streamed_session_turns_are_recorded_and_continued(moe_server):
    session = f"rollout-{uuid.uuid4().hex[:8]}"
    messages, ends = list(QUESTION), []
    for turn in range(2):
        moe_server.script(f"Streamed answer {turn}.")
        stream = await litellm.acompletion(
            messages=messages, stream=True, metadata={"session_id": session}, **settings(moe_server)
        )
        content = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
        (recorded,) = open_store("memory").recent(session, 1)
        fields = recorded.metadata()
        assert moe_server.requests[-1]["routed_experts_start_len"] == (ends[-1] if ends else 0)
        assert routed(fields)[0] == moe_server.requests[-1]["routed_experts_start_len"]
        ends.append(len(fields["prompt_token_ids"]) + len(fields["completion_token_ids"]) - 1)
        messages += [{"role": "assistant", "content": content}, {"role": "user", "content": "go on"}]
    (trajectory,) = Trajectory.from_session(session)
    assert np.array_equal(trajectory.routed_experts, MOE.rows(trajectory.token_ids, 0))


async def test_cli_export_writes_the_npz_beside_the_jsonl(moe_server, tmp_path):
    from sglang_native_provider.cli import main

    session = f"rollout-{uuid.uuid4().hex[:8]}"
    moe_server.script("Exported.")
    await litellm.acompletion(messages=QUESTION, metadata={"session_id": session}, **settings(moe_server))
    out = tmp_path / "export.jsonl"
    assert main(["sessions", "export", session, "--out", str(out), "--store", "memory"]) == 0
    line = json.loads(out.read_text())
    with np.load(tmp_path / line["arrays"]["file"]) as arrays:
        assert np.array_equal(arrays["routed_experts"], MOE.rows(line["token_ids"], 0))
