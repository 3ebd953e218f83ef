"""The trainer's check without torch: the mismatch figures on fixed inputs, how SGLang's returned logprob is
recomputed from logits, which tokens of a trajectory line are compared, the report, and the missing extra."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from sglang_native_provider.cli import main
from sglang_native_provider.mismatch import (
    Mismatch,
    RetokenizeRule,
    importance_weights,
    k3_kl,
    looks_retokenized,
    outside_clip,
)
from sglang_native_provider.recompute import (
    read_trajectories,
    sampled_logprobs,
    temperature,
    turn_tokens,
    unreproduced,
)
from sglang_native_provider.verify_report import TurnReport, VerifyReport

CLIP = (0.5, 2.0)


def test_k3_is_the_mean_of_r_minus_one_minus_log_r():
    train = np.log([0.5, 0.25, 0.1])
    rollout = np.log([0.25, 0.5, 0.1])  # r = 2, 0.5, 1
    expected = ((2 - 1 - math.log(2)) + (0.5 - 1 - math.log(0.5)) + 0.0) / 3
    assert k3_kl(train, rollout) == pytest.approx(expected, rel=1e-12)
    assert k3_kl(rollout, rollout) == 0.0 and k3_kl([], []) == 0.0


def test_importance_weights_and_the_clip_count():
    weights = importance_weights(np.log([0.4, 0.5, 1.0, 2.0, 2.1]), np.zeros(5))
    assert weights == pytest.approx([0.4, 0.5, 1.0, 2.0, 2.1])
    assert outside_clip(weights, CLIP) == 2  # the bounds are inside
    assert outside_clip(weights, (0.3, 3.0)) == 0


def test_the_figures_of_one_comparison():
    figures = Mismatch.of([-1.0, -2.0, -0.5], [-1.1, -2.0, -0.2], CLIP)
    assert figures.tokens == 3
    assert figures.max_abs == pytest.approx(0.3) and figures.mean_abs == pytest.approx(0.4 / 3)
    assert figures.weight_min == pytest.approx(math.exp(-0.3)) and figures.weight_max == pytest.approx(math.exp(0.1))
    assert figures.outside_clip == 0
    assert Mismatch.of([0.0], [-1.0], CLIP).outside_clip == 1  # weight e > 2
    with pytest.raises(ValueError, match="2 trainer logprobs for 1 rollout"):
        Mismatch.of([0.0, 0.0], [0.0], CLIP)


NOISE = np.full(40, 0.001)


def test_a_jump_at_a_turns_first_tokens_looks_re_tokenized():
    jumped = np.concatenate([np.full(8, 0.05), np.full(32, 0.001)])
    assert looks_retokenized([NOISE, jumped], 1)
    assert not looks_retokenized([NOISE, jumped], 0)
    assert looks_retokenized([jumped], 0)  # against the rest of the turn alone


def test_a_turn_shifted_throughout_looks_re_tokenized_against_the_other_turns():
    shifted = np.full(40, 0.05)
    assert looks_retokenized([NOISE, shifted, NOISE], 1)
    assert not looks_retokenized([shifted, shifted, shifted], 1)  # the whole rollout is off: not one turn


def test_noise_and_turns_without_a_reference_are_not_flagged():
    assert not looks_retokenized([NOISE, NOISE * 3], 1)  # above the others, under the floor
    assert not looks_retokenized([np.full(5, 0.2)], 0)  # one short turn: nothing to compare with
    assert not looks_retokenized([NOISE, np.array([])], 1)
    strict = RetokenizeRule(head=8, floor=0.0005, ratio=2.0)
    assert looks_retokenized([NOISE, NOISE * 3], 1, strict)


def _log_softmax(row: np.ndarray) -> np.ndarray:
    row = row.astype(np.float64)
    return row - np.log(np.exp(row - row.max()).sum()) - row.max()


LOGITS = np.array([[2.0, 1.0, 0.5, -1.0], [0.0, 3.0, -2.0, 1.0]], dtype=np.float32)


def test_the_returned_logprob_is_temperature_scaled():
    scaled = sampled_logprobs(LOGITS, [1, 3], {"temperature": 0.5})
    assert scaled == pytest.approx([_log_softmax(LOGITS[0] / 0.5)[1], _log_softmax(LOGITS[1] / 0.5)[3]], abs=1e-6)
    raw = sampled_logprobs(LOGITS, [1, 3], None)
    assert raw == pytest.approx([_log_softmax(LOGITS[0])[1], _log_softmax(LOGITS[1])[3]], abs=1e-6)
    assert abs(scaled[0] - raw[0]) > 0.1
    assert sampled_logprobs(LOGITS, [1, 3], {"temperature": 0.0}) == pytest.approx(raw, abs=1e-6)  # greedy


def test_the_temperature_that_scales_a_turns_logprobs():
    assert [temperature(None), temperature({}), temperature({"temperature": 0}), temperature({"temperature": 0.5})] == [
        1.0,
        1.0,
        1.0,
        0.5,
    ]


def test_top_p_top_k_and_min_p_leave_the_returned_logprob_unnormalized():
    filtered = sampled_logprobs(LOGITS, [1, 3], {"top_p": 0.5, "top_k": 1, "min_p": 0.3})
    assert filtered == pytest.approx(sampled_logprobs(LOGITS, [1, 3], {}), abs=1e-7)


def test_the_logit_bias_is_in_the_returned_logprob_before_the_temperature():
    logits = LOGITS.copy()
    biased = sampled_logprobs(logits, [1, 3], {"logit_bias": {"0": -5, "3": 2.5}, "temperature": 2.0})
    shifted = LOGITS + np.array([-5.0, 0.0, 0.0, 2.5], dtype=np.float32)
    assert biased == pytest.approx([_log_softmax(shifted[0] / 2)[1], _log_softmax(shifted[1] / 2)[3]], abs=1e-6)
    assert np.array_equal(logits, LOGITS)  # the caller's logits are left as they were


def test_penalties_count_the_turns_earlier_sampled_tokens():
    sampling = {"frequency_penalty": 0.5, "presence_penalty": 0.25, "repetition_penalty": 2.0}
    history = [0, 0, 3]  # token 0 twice, token 3 once
    got = sampled_logprobs(LOGITS[1:], [1], sampling, [history])
    row = LOGITS[1].astype(np.float64) - 0.5 * np.array([2, 0, 0, 1]) - 0.25 * np.array([1, 0, 0, 1])
    row = np.where([True, False, False, True], np.where(row > 0, row / 2.0, row * 2.0), row)
    assert got == pytest.approx([_log_softmax(row)[1]], abs=1e-6)
    assert sampled_logprobs(LOGITS[1:], [1], sampling, [[]]) == pytest.approx([_log_softmax(LOGITS[1])[1]], abs=1e-6)


def test_what_cannot_be_recomputed_is_named():
    assert unreproduced({"temperature": 0.5, "logit_bias": {"1": 2}}) == []
    assert unreproduced(None) == []
    assert unreproduced({"constrained": "structural_tag", "min_new_tokens": 3}) == [
        "logits masked by a grammar (structural_tag)",
        "min_new_tokens masks the stop tokens",
    ]


def _line(schema: str = "sglang-native-trajectory/3", **extra) -> dict:
    # prompt [10, 11], turn 0 samples [12, 13]; tool tokens [14]; turn 1 samples [15, 16] (the last one masked
    # out: a branch's shared turn would be) with one logprob missing.
    return {
        "schema": schema,
        "token_ids": [10, 11, 12, 13, 14, 15, 16],
        "loss_mask": [0, 0, 1, 1, 0, 1, 1],
        "logprobs": [None, None, -0.5, -0.25, None, None, -1.0],
        "turns": [
            {"prompt_length": 2, "completion_length": 2, "sampling": {"temperature": 0.7}},
            {"prompt_length": 5, "completion_length": 2, "continuation": "ledger"},
        ],
        **extra,
    }


def test_the_compared_tokens_are_the_sampled_ones_with_a_logprob():
    turns = turn_tokens(_line())
    assert [(turn.positions, turn.ids, turn.rollout) for turn in turns] == [
        ([2, 3], [12, 13], [-0.5, -0.25]),
        ([6], [16], [-1.0]),
    ]
    assert list(turns[1].history(_line()["token_ids"], 6)) == [15]  # the turn's earlier sampled ids
    broken = _line()
    broken["turns"][1]["completion_length"] = 9
    with pytest.raises(ValueError, match="turn 1 spans tokens 5:14 of a 7-token trajectory"):
        turn_tokens(broken)


def test_trajectory_lines_of_every_version_are_read_and_anything_else_is_refused(tmp_path):
    path = tmp_path / "lines.jsonl"
    lines = [_line(), _line("sglang-native-trajectory/2"), _line("sglang-native-trajectory/1")]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + "\n")
    assert [record["schema"] for record in read_trajectories(path)] == [line["schema"] for line in lines]
    path.write_text(json.dumps(_line()) + "\n" + json.dumps({"schema": "other"}) + "\n")
    with pytest.raises(ValueError, match=r"lines.jsonl:2: not a trajectory line"):
        list(read_trajectories(path))


def _turn(number: int, differences: list[float], **options) -> TurnReport:
    rollout = [-1.0] * len(differences)
    train = [value + d for value, d in zip(rollout, differences, strict=True)]
    return TurnReport(0, number, Mismatch.of(train, rollout, CLIP), differences=differences, **options)


def test_the_report_leaves_turns_it_could_not_recompute_out_of_the_totals():
    turns = [
        _turn(0, [0.001, -0.002], retokenized=False, continuation="new"),
        _turn(1, [1.5, 1.5], retokenized=False, continuation="ledger", unreproduced=["logits masked by a grammar"]),
        _turn(2, [0.004], retokenized=False, continuation="rerendered", sampling_recorded=False),
    ]
    report = VerifyReport.of(turns, CLIP, 1)
    assert report.overall.tokens == 3 and report.overall.max_abs == pytest.approx(0.004)
    assert report.ok(0.01) and not report.ok(0.003)
    assert report.rerendered == [(0, 2)] and report.retokenized == []
    table = report.table()
    assert "not in the totals: logits masked by a grammar" in table and "re-rendered by the provider" in table
    assert "sampling not recorded: temperature 1, no bias assumed" in table
    data = json.loads(json.dumps(report.to_dict()))
    assert data["overall"]["tokens"] == 3 and data["rerendered"] == [[0, 2]] and len(data["turns"]) == 3


def test_a_re_tokenized_turn_or_a_clipped_weight_fails_the_gate():
    flagged = VerifyReport.of([_turn(0, [0.001], retokenized=True, continuation=None)], CLIP, 1)
    assert not flagged.ok(0.01) and flagged.retokenized == [(0, 0)] and "RE-TOKENIZED?" in flagged.table()
    clipped = VerifyReport.of([_turn(0, [0.001, -0.9], retokenized=False, continuation=None)], CLIP, 1)
    assert clipped.overall.outside_clip == 1
    assert not clipped.ok(1.0) and clipped.ok(1.0, allow_clipped=True)


_WITHOUT_TORCH = """
import sys
sys.modules["torch"] = None  # as in an install without the 'verify' extra
from sglang_native_provider.cli import main
code = main(["verify", sys.argv[1], "--model", sys.argv[2]])
print("exit", code)
from sglang_native_provider import Trajectory
try:
    Trajectory().verify("model")
except ModuleNotFoundError as error:
    print("raised", error)
print("torch imported" if sys.modules.get("torch") else "no torch")
"""


def test_verify_without_its_extra_names_the_extra(tmp_path):
    path = tmp_path / "lines.jsonl"
    path.write_text(json.dumps(_line()) + "\n")
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_TORCH, str(path), str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "exit 2" in done.stdout and "Traceback" not in done.stderr
    assert "sglang-native verify needs the 'verify' extra" in done.stderr
    assert "pip install 'sglang-native-provider[verify]'" in done.stderr
    assert "raised verifying trajectories needs the 'verify' extra" in done.stdout
    assert "pip install 'sglang-native-provider[verify]'" in done.stdout.split("raised", 1)[1]


def test_the_package_and_its_command_import_no_torch():
    code = "import sys, sglang_native_provider.cli, sglang_native_provider.trajectory; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


def test_verify_refuses_a_file_that_is_not_trajectories(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sglang_native_provider.verify", type(sys)("stub"))
    sys.modules["sglang_native_provider.verify"].verify_trajectories = lambda *a, **k: pytest.fail("not reached")
    path = tmp_path / "other.jsonl"
    path.write_text('{"schema": "something else"}\n')
    assert main(["verify", str(path), "--model", str(tmp_path)]) == 2
    assert "other.jsonl:1: not a trajectory line" in capsys.readouterr().err
