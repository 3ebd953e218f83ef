"""How far a trainer's logprobs are from a rollout's, token by token (numpy only).

``train`` and ``rollout`` are the logprobs of the same sampled tokens: the trainer's recomputation and SGLang's.
With ``r = p_train / p_rollout = exp(train - rollout)``:

- ``|d| = |train - rollout|``, its maximum and mean;
- the k3 estimate of KL(rollout || train): the mean of ``(r - 1) - log r`` over tokens sampled from the rollout
  policy (unbiased, never negative; Schulman's "Approximating KL divergence");
- the token-level importance weights ``r`` (TIS), and how many fall outside a clip range ``[low, high]``.

A turn *looks re-tokenized* when the tokens the trainer feeds differ from those the server saw just before it:
the mismatch then jumps at the turn's first tokens. See :func:`looks_retokenized` for the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["Mismatch", "RetokenizeRule", "importance_weights", "k3_kl", "looks_retokenized", "outside_clip"]


def importance_weights(train: np.ndarray, rollout: np.ndarray) -> np.ndarray:
    """``exp(train - rollout)`` per token: p_train / p_rollout."""
    return np.exp(np.asarray(train, dtype=np.float64) - np.asarray(rollout, dtype=np.float64))


def k3_kl(train: np.ndarray, rollout: np.ndarray) -> float:
    """The k3 estimate of KL(rollout || train): mean of ``(r - 1) - log r``, ``r = exp(train - rollout)``."""
    log_ratio = np.asarray(train, dtype=np.float64) - np.asarray(rollout, dtype=np.float64)
    if log_ratio.size == 0:
        return 0.0
    return float(np.mean(np.expm1(log_ratio) - log_ratio))


def outside_clip(weights: np.ndarray, clip: tuple[float, float]) -> int:
    """How many importance weights fall below ``clip[0]`` or above ``clip[1]``."""
    low, high = clip
    weights = np.asarray(weights)
    return int(np.count_nonzero((weights < low) | (weights > high)))


@dataclass(frozen=True)
class Mismatch:
    """The figures of one comparison (a turn, a trajectory, a batch)."""

    tokens: int
    max_abs: float
    mean_abs: float
    kl_k3: float
    weight_min: float
    weight_max: float
    outside_clip: int

    @classmethod
    def of(cls, train: Sequence[float], rollout: Sequence[float], clip: tuple[float, float]) -> Mismatch:
        train_array = np.asarray(train, dtype=np.float64)
        rollout_array = np.asarray(rollout, dtype=np.float64)
        if train_array.shape != rollout_array.shape:
            raise ValueError(f"{train_array.shape[0]} trainer logprobs for {rollout_array.shape[0]} rollout logprobs")
        if train_array.size == 0:
            return cls(0, 0.0, 0.0, 0.0, 1.0, 1.0, 0)
        difference = np.abs(train_array - rollout_array)
        weights = importance_weights(train_array, rollout_array)
        return cls(
            tokens=int(train_array.size),
            max_abs=float(difference.max()),
            mean_abs=float(difference.mean()),
            kl_k3=k3_kl(train_array, rollout_array),
            weight_min=float(weights.min()),
            weight_max=float(weights.max()),
            outside_clip=outside_clip(weights, clip),
        )

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class RetokenizeRule:
    """When a turn looks re-tokenized: the mean |d| of its first ``head`` tokens exceeds ``floor`` and is
    ``ratio`` times the reference, the smaller of the mean |d| of the turn's other tokens and the median of
    the other turns' mean |d| in its trajectory (without either, no turn is flagged: nothing to compare).
    The floor is above bf16 noise on CPU (a mean |d| of about 0.0005); the ratio keeps larger noise (GPU
    kernels) from being flagged."""

    head: int = 8
    floor: float = 0.002
    ratio: float = 4.0


def looks_retokenized(turns: Sequence[np.ndarray], index: int, rule: RetokenizeRule | None = None) -> bool:
    """Whether turn ``index`` of a trajectory (``turns``: each turn's ``|d|`` per sampled token) jumps at its
    first tokens against the rest of the turn or against the trajectory's other turns."""
    rule = rule or RetokenizeRule()
    differences = np.asarray(turns[index], dtype=np.float64)
    if differences.size == 0:
        return False
    head = float(differences[: rule.head].mean())
    if head <= rule.floor:
        return False
    references = []
    if differences.size > rule.head:
        references.append(float(differences[rule.head :].mean()))
    others = [float(np.mean(turn)) for number, turn in enumerate(turns) if number != index and len(turn)]
    if others:
        references.append(float(np.median(others)))
    return bool(references) and head > rule.ratio * min(references)
