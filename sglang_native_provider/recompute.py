"""What a trainer recomputes of a trajectory line, and how SGLang computed the logprob it returned (numpy only).

SGLang 0.5.23 returns, for each sampled token, ``log_softmax(z / T)[token]`` where ``z`` are the model's logits
after the repetition penalties of the turn's earlier sampled tokens (frequency, presence, repetition), the
grammar mask of a constrained turn and the ``logit_bias``, and ``T`` the temperature (1 for greedy sampling,
temperature 0). ``top_p``, ``top_k`` and ``min_p`` are not applied to it (no renormalization over the kept
tokens). :func:`sampled_logprobs` applies the same to a trainer's logits; a grammar mask and ``min_new_tokens``
(which masks the stop tokens) cannot be recomputed from the trajectory, so :func:`unreproduced` names them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "SCHEMAS",
    "TurnTokens",
    "read_trajectories",
    "sampled_logprobs",
    "temperature",
    "turn_tokens",
    "unreproduced",
]

SCHEMAS = ("sglang-native-trajectory/1", "sglang-native-trajectory/2", "sglang-native-trajectory/3")
"""The trajectory lines this reads (version 3 records each turn's ``sampling``; older turns read as unknown)."""
_GREEDY = 1e-6  # SGLang samples greedily below this temperature, and returns unscaled logprobs


def read_trajectories(path: str | Path) -> Iterator[dict[str, Any]]:
    """The trajectory lines of a JSONL file (raises ValueError naming the line of anything else)."""
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
            if not isinstance(record, dict) or record.get("schema") not in SCHEMAS:
                raise ValueError(f"{path}:{number}: not a trajectory line (schema one of {', '.join(SCHEMAS)})")
            yield record


@dataclass(frozen=True)
class TurnTokens:
    """One turn's sampled tokens that are compared: positions in the trajectory's ``token_ids``, the ids, the
    rollout's logprobs, and for each the turn's sampled ids before it (what SGLang's penalties count)."""

    number: int
    turn: Mapping[str, Any]
    start: int
    positions: list[int]
    ids: list[int]
    rollout: list[float]

    def history(self, token_ids: Sequence[int], position: int) -> Sequence[int]:
        """The turn's sampled ids before ``position``."""
        return token_ids[self.start : position]


def turn_tokens(record: Mapping[str, Any]) -> list[TurnTokens]:
    """Per turn, the tokens to compare: sampled (``loss_mask`` 1, so a branch's repeated turns are left to the
    trajectory that trains them) and with a rollout logprob."""
    ids, mask, logprobs = record["token_ids"], record["loss_mask"], record["logprobs"]
    turns = []
    for number, turn in enumerate(record["turns"]):
        start = turn["prompt_length"]
        end = start + turn["completion_length"]
        if start < 1 or end > len(ids):
            raise ValueError(f"turn {number} spans tokens {start}:{end} of a {len(ids)}-token trajectory")
        positions = [p for p in range(start, end) if mask[p] == 1 and logprobs[p] is not None]
        turns.append(
            TurnTokens(number, turn, start, positions, [ids[p] for p in positions], [logprobs[p] for p in positions])
        )
    return turns


def unreproduced(sampling: Mapping[str, Any] | None) -> list[str]:
    """What of a turn's sampling the recomputation cannot apply (its logprobs then differ by design). A turn
    without a recorded sampling (a line older than version 3) is recomputed at temperature 1, without bias."""
    sampling = sampling or {}
    missing = []
    if sampling.get("constrained"):
        missing.append(f"logits masked by a grammar ({sampling['constrained']})")
    if sampling.get("min_new_tokens"):
        missing.append("min_new_tokens masks the stop tokens")
    return missing


def temperature(sampling: Mapping[str, Any] | None) -> float:
    """The temperature that divides a turn's logits in its returned logprobs (1 for greedy sampling): logit
    noise of size e moves them by about e / T."""
    value = float((sampling or {}).get("temperature", 1.0))
    return value if value >= _GREEDY else 1.0


def _penalized(row: np.ndarray, history: Sequence[int], sampling: Mapping[str, Any]) -> np.ndarray:
    """SGLang's penalties of the turn's earlier sampled tokens (frequency, presence: subtracted; repetition:
    positive logits divided, negative ones multiplied)."""
    if not len(history):
        return row
    counts = np.bincount(np.asarray(history, dtype=np.int64), minlength=row.shape[0])[: row.shape[0]]
    seen = counts > 0
    row = row - float(sampling.get("frequency_penalty") or 0.0) * counts
    row = row - float(sampling.get("presence_penalty") or 0.0) * seen
    repetition = float(sampling.get("repetition_penalty") or 1.0)
    if repetition != 1.0:
        row = np.where(seen, np.where(row > 0, row / repetition, row * repetition), row)
    return row


def _penalties(sampling: Mapping[str, Any]) -> bool:
    return bool(
        sampling.get("frequency_penalty")
        or sampling.get("presence_penalty")
        or (sampling.get("repetition_penalty") or 1.0) != 1.0
    )


def sampled_logprobs(
    logits: np.ndarray,
    ids: Sequence[int],
    sampling: Mapping[str, Any] | None,
    histories: Sequence[Sequence[int]] = (),
) -> np.ndarray:
    """The logprob SGLang would return for each sampled id, from the logits that predicted it (one row each):
    penalties (given each row's ``histories``), logit bias, temperature, then log-softmax."""
    sampling = sampling or {}
    rows = np.asarray(logits, dtype=np.float32)
    if _penalties(sampling):
        rows = np.stack([_penalized(row, history, sampling) for row, history in zip(rows, histories, strict=True)])
    bias = sampling.get("logit_bias") or {}
    if bias:
        rows = rows.copy() if rows is logits else rows
        for token, value in bias.items():
            if 0 <= int(token) < rows.shape[1]:
                rows[:, int(token)] += float(value)
    scale = temperature(sampling)
    if scale != 1.0:
        rows = rows / np.float32(scale)
    top = rows.max(axis=1, keepdims=True)
    log_normalizer = np.log(np.exp(rows - top).sum(axis=1)) + top[:, 0]
    picked = rows[np.arange(rows.shape[0]), np.asarray(ids, dtype=np.int64)]
    return (picked - log_normalizer).astype(np.float64)
