"""The trainer's check: recompute every sampled token's logprob with the model in transformers and compare it
with the rollout's (``sglang-native verify``, :func:`verify_trajectories`, ``Trajectory.verify``).

Needs the ``verify`` extra (torch and transformers): ``pip install 'sglang-native-provider[verify]'``. Each
trajectory runs through the model in chunks of ``chunk_size`` tokens on a KV cache, and only the rows that
predict a compared token are turned into logits, so memory is the rollout's KV cache plus one chunk's rows.
How SGLang's returned logprob is recomputed (temperature, logit bias, penalties): see ``recompute.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

try:
    import torch
    import transformers
except ModuleNotFoundError as exc:
    raise ModuleNotFoundError(
        f"verifying trajectories needs the 'verify' extra ({exc.name} is not installed): "
        "pip install 'sglang-native-provider[verify]'",
        name=exc.name,
    ) from None

from .mismatch import Mismatch, RetokenizeRule, looks_retokenized
from .recompute import TurnTokens, sampled_logprobs, temperature, turn_tokens, unreproduced
from .verify_report import TurnReport, VerifyReport

__all__ = ["DTYPES", "load_model", "trainer_logprobs", "verify_trajectories"]

_ROWS = 128
"""Rows of logits turned into float32 and log-softmaxed at once: memory stays ~3 x 128 x vocabulary floats."""
DTYPES = {"auto": "auto", "bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def load_model(path: str | Path, *, device: str = "cpu", dtype: str = "auto", trust_remote_code: bool = False):
    """A causal LM from a directory or hub id, in eval mode on ``device`` (``dtype``: one of :data:`DTYPES`,
    ``auto`` the checkpoint's own)."""
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(path), dtype=DTYPES[dtype], trust_remote_code=trust_remote_code
    )
    return model.to(device).eval()


def _device(model) -> torch.device:
    return next(model.parameters()).device


def trainer_logprobs(model, record: Mapping[str, Any], turns: list[TurnTokens], chunk_size: int) -> list[np.ndarray]:
    """Per turn, the model's logprob of each compared token under the turn's recorded sampling."""
    ids = record["token_ids"]
    wanted = {}  # the row predicting a compared token -> (its turn, its place among the turn's)
    for index, turn in enumerate(turns):
        for slot, position in enumerate(turn.positions):
            wanted[position - 1] = (index, slot)
    results = [np.zeros(len(turn.positions)) for turn in turns]
    device, cache = _device(model), None
    with torch.inference_mode():
        for begin in range(0, len(ids) - 1, chunk_size):
            chunk = ids[begin : min(begin + chunk_size, len(ids) - 1)]
            rows = [row for row in range(begin, begin + len(chunk)) if row in wanted]
            keep = torch.tensor([row - begin for row in rows] or [len(chunk) - 1], device=device)
            output = model(
                input_ids=torch.tensor([chunk], device=device),
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=keep,
            )
            cache = output.past_key_values
            for first in range(0, len(rows), _ROWS):  # vocabulary-wide float32 rows, a few at a time
                logits = output.logits[0, first : first + _ROWS].float().cpu().numpy()
                _score(logits, [wanted[row] for row in rows[first : first + _ROWS]], turns, ids, results)
    return results


def _score(logits: np.ndarray, places: list[tuple[int, int]], turns: list[TurnTokens], ids, results) -> None:
    """Fill ``results`` for these rows (``places``: each row's turn and slot), one turn (one sampling) at a time."""
    by_turn: dict[int, list[tuple[int, int]]] = {}
    for offset, (index, slot) in enumerate(places):
        by_turn.setdefault(index, []).append((offset, slot))
    for index, entries in by_turn.items():
        turn = turns[index]
        offsets, slots = [offset for offset, _ in entries], [slot for _, slot in entries]
        results[index][slots] = sampled_logprobs(
            logits[offsets],
            [turn.ids[slot] for slot in slots],
            turn.turn.get("sampling"),
            [turn.history(ids, turn.positions[slot]) for slot in slots],
        )


def _as_record(trajectory: Any) -> Mapping[str, Any]:
    return trajectory if isinstance(trajectory, Mapping) else trajectory.to_dict()


def verify_trajectories(
    trajectories: Iterable[Any],
    model: Any,
    *,
    device: str = "cpu",
    dtype: str = "auto",
    trust_remote_code: bool = False,
    clip: tuple[float, float] = (0.5, 2.0),
    chunk_size: int = 1024,
    rule: RetokenizeRule | None = None,
) -> VerifyReport:
    """Compare each trajectory's rollout logprobs with ``model``'s (a loaded transformers causal LM, or a
    directory or hub id to load): trajectory lines (dicts) or :class:`~.trajectory.Trajectory` objects."""
    if not isinstance(model, torch.nn.Module):
        model = load_model(model, device=device, dtype=dtype, trust_remote_code=trust_remote_code)
    rule = rule or RetokenizeRule()
    reports: list[TurnReport] = []
    count = 0
    for count, trajectory in enumerate(trajectories, 1):
        record = _as_record(trajectory)
        turns = turn_tokens(record)
        train = trainer_logprobs(model, record, turns, chunk_size)
        reports += _turn_reports(count - 1, turns, train, clip, rule)
    return VerifyReport.of(reports, clip, count)


def _turn_reports(
    number: int, turns: list[TurnTokens], train: list[np.ndarray], clip: tuple[float, float], rule: RetokenizeRule
) -> list[TurnReport]:
    """The reports of one trajectory's turns."""
    rollout = [np.asarray(turn.rollout, dtype=np.float64) for turn in turns]
    differences = [values - logprobs for values, logprobs in zip(train, rollout, strict=True)]
    # re-tokenization is judged on |d| x T (noise in the logits, not scaled by the turn's temperature); the
    # turns whose sampling could not be recomputed are no reference for the others (see mismatch.py)
    missing = [unreproduced(turn.turn.get("sampling")) for turn in turns]
    absolute = [
        np.abs(values) * temperature(turn.turn.get("sampling")) if not gaps else np.zeros(0)
        for values, gaps, turn in zip(differences, missing, turns, strict=True)
    ]
    return [
        TurnReport(
            trajectory=number,
            turn=turn.number,
            figures=Mismatch.of(train[index], turn.rollout, clip),
            retokenized=looks_retokenized(absolute, index, rule),
            continuation=turn.turn.get("continuation"),
            unreproduced=missing[index],
            sampling_recorded=turn.turn.get("sampling") is not None,
            differences=differences[index].tolist(),
        )
        for index, turn in enumerate(turns)
    ]
