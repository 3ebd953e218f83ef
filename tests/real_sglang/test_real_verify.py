"""Real tier: the trainer's check. Sessions run through the provider against real SGLang 0.5.23 (CPU, the tiny
random Qwen3), are exported as trajectory JSONL, and ``sglang-native verify`` recomputes every sampled token's
logprob with the same checkpoint in transformers, inside the real-SGLang venv (which has torch; the main venv
does not).

Measured: with the exact tokens, transformers and SGLang agree within bf16 noise (about 0.002), so the
threshold is ``MAX_ABS``; a one-token change in a turn's prompt moves that turn's logprobs by about 0.05.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path

import environment
import pytest
from test_real_sglang import IM_END, WEATHER_TOOL, completion

import sglang_native_provider
from sglang_native_provider import Trajectory

MAX_ABS = 0.01
"""The documented threshold for exact tokens (docs/verify.md): bf16 noise is about 0.002."""
ROOT = Path(__file__).resolve().parents[2]
BIAS = {str(IM_END): 5.0}
"""At temperature 0.5 the random model (near-uniform logits) then ends its turn with probability ~0.13 per
token (within 64 tokens but once in 6,000 runs); every other token's logprob moves by ~0.13."""


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


def plain(message) -> dict:
    """The assistant message as a framework keeps it: without the token metadata."""
    entry = {"role": "assistant", "content": message.content}
    if message.tool_calls:
        entry["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
            for c in message.tool_calls
        ]
    return entry


async def _named_session(server, session_id: str) -> list[dict]:
    """Four turns through the ledger, with the same tools: temperature 0.5 with a logit bias (ends), a cut-off
    turn, a forced tool call (grammar-constrained: not recomputable), a last free turn."""
    messages: list = [{"role": "user", "content": "Weather in Paris?"}]
    steps = [
        {"temperature": 0.5, "logit_bias": BIAS, "max_tokens": 64},
        {"max_tokens": 6, "extra_body": {"ignore_eos": True}},
        {"tool_choice": "required", "max_tokens": 24, "temperature": 0},
        {"max_tokens": 8, "extra_body": {"ignore_eos": True}},
    ]
    fields = []
    for number, step in enumerate(steps):
        response = await completion(
            server, messages=messages, tools=[WEATHER_TOOL], metadata={"session_id": session_id}, **step
        )
        message = response.choices[0].message
        fields.append(message.provider_specific_fields)
        messages = [*messages, plain(message)]
        for call in message.tool_calls or ():
            messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"sky": "clear"}'})
        if not message.tool_calls:
            messages.append({"role": "user", "content": f"And then? ({number})"})
    return fields


async def _unnamed_conversation(server) -> str:
    """Two turns that name no session and drop the metadata: the conversation's own id."""
    messages: list = [{"role": "user", "content": "Plan a day in Lyon."}]
    for _ in range(2):
        response = await completion(server, messages=messages, max_tokens=8, extra_body={"ignore_eos": True})
        messages = [*messages, plain(response.choices[0].message), {"role": "user", "content": "More."}]
    return response.choices[0].message.provider_specific_fields["conversation_id"]


def verify(python: Path, model: Path, path: Path) -> tuple[int, dict]:
    """``sglang-native verify --json`` in the real-SGLang venv: its exit code and report."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("VIRTUAL_ENV", None)
    command = [str(python), "-m", "sglang_native_provider.cli", "verify", str(path), "--model", str(model), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    return done.returncode, json.loads(done.stdout)


def _turns(report: dict, trajectory: int) -> list[dict]:
    return [turn for turn in report["turns"] if turn["trajectory"] == trajectory]


def _with_sampling(line: dict, turn: int, sampling: dict) -> dict:
    changed = copy.deepcopy(line)
    changed["turns"][turn]["sampling"] = sampling
    return changed


def _retokenized(line: dict, turn: int, dropped: int = 4) -> dict:
    """The line as a trainer that re-rendered the message before ``turn`` would feed it: ``dropped`` of its
    tokens gone (re-tokenization merges pieces), so the turn's prompt is shorter and every later token moved."""
    changed = copy.deepcopy(line)
    end = changed["turns"][turn]["prompt_length"] - 5  # inside the user or tool message the turn answers
    assert not any(changed["loss_mask"][end - dropped : end])
    for key in ("token_ids", "loss_mask", "logprobs"):
        del changed[key][end - dropped : end]
    for later in changed["turns"][turn:]:
        later["prompt_length"] -= dropped
    return changed


async def test_verify_recomputes_every_sampled_token_of_real_sglang_sessions(local, tmp_path):
    python, model = environment.ensure()
    server = local["cumulative"]
    session_id = f"verify-{os.getpid()}"
    fields = await _named_session(server, session_id)
    assert fields[0]["sampling"] == {"temperature": 0.5, "logit_bias": BIAS}
    assert [turn["sglang_finish_reason"]["type"] for turn in fields][:2] == ["stop", "length"], fields
    assert fields[2]["sampling"] == {"temperature": 0, "constrained": "structural_tag"}
    assert [turn["continuation"] for turn in fields] == ["new", "ledger", "ledger", "ledger"], fields
    conversation = await _unnamed_conversation(server)
    (named,) = Trajectory.from_session(session_id)
    (unnamed,) = Trajectory.from_session(conversation)
    lines = [named.to_dict(), unnamed.to_dict()]

    # exact tokens: every recomputed token within bf16 noise, nothing flagged; the forced call left out
    exact = tmp_path / "exact.jsonl"
    exact.write_text("".join(json.dumps(line) + "\n" for line in lines))
    code, report = verify(python, model, exact)
    assert code == 0 and report["trajectories"] == 2 and report["retokenized"] == []
    assert report["overall"]["max_abs"] < MAX_ABS and report["overall"]["outside_clip"] == 0, report
    compared = sum(named.loss_mask) + sum(unnamed.loss_mask) - len(fields[2]["completion_token_ids"])
    assert report["overall"]["tokens"] == compared
    assert _turns(report, 0)[2]["unreproduced"] == ["logits masked by a grammar (structural_tag)"]

    # the first turn with its temperature or its bias forgotten moves far, the others not; a trainer that
    # re-rendered the message before the last turn (4 tokens fewer): that turn alone is flagged
    variants = [
        _with_sampling(lines[0], 0, {"logit_bias": BIAS}),
        _with_sampling(lines[0], 0, {"temperature": 0.5}),
        _retokenized(lines[0], 3),
    ]
    path = tmp_path / "variants.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in variants))
    code, report = verify(python, model, path)
    assert code == 1
    for forgotten in (0, 1):
        first, *rest = _turns(report, forgotten)
        assert first["max_abs"] > 10 * MAX_ABS, first
        assert all(turn["max_abs"] < MAX_ABS for turn in rest if not turn["unreproduced"]), rest
    assert [pair for pair in report["retokenized"] if pair[0] == 2] == [[2, 3]], report["turns"]
    assert all(turn["max_abs"] < MAX_ABS for turn in _turns(report, 2)[:2])
