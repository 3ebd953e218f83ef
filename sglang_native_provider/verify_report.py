"""The report of ``sglang-native verify``: per turn and overall mismatch figures, as JSON or a table.

A trainer gates a batch on it: ``report.ok(max_abs=0.01)`` is False when a reproducible sampled token's
logprob differs by more than that, when a turn looks re-tokenized, or when an importance weight falls outside
the clip range (unless ``allow_clipped``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .mismatch import Mismatch

__all__ = ["TurnReport", "VerifyReport"]


@dataclass(frozen=True)
class TurnReport:
    """One turn of one trajectory."""

    trajectory: int
    """The trajectory's line number in the batch (0-based)."""
    turn: int
    figures: Mismatch
    retokenized: bool
    """Its first tokens jump against the rest (see ``mismatch.looks_retokenized``)."""
    continuation: str | None
    """How the session ledger says its prompt was built (``rerendered``: not continued on exact tokens)."""
    unreproduced: list[str] = field(default_factory=list)
    """What of its sampling the recomputation could not apply: its figures are then left out of the totals."""
    sampling_recorded: bool = True
    """False for a turn of a line older than version 3: temperature 1 and no bias were assumed."""
    differences: list[float] = field(default_factory=list, repr=False)
    """``train - rollout`` per compared token."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "trajectory": self.trajectory,
            "turn": self.turn,
            **self.figures.to_dict(),
            "retokenized": self.retokenized,
            "continuation": self.continuation,
            "unreproduced": self.unreproduced,
            "sampling_recorded": self.sampling_recorded,
        }


@dataclass(frozen=True)
class VerifyReport:
    """Every turn's figures and the batch's (over the turns whose sampling was reproduced)."""

    turns: list[TurnReport]
    overall: Mismatch
    clip: tuple[float, float]
    trajectories: int

    @property
    def retokenized(self) -> list[tuple[int, int]]:
        """(trajectory, turn) of each turn that looks re-tokenized."""
        return [(turn.trajectory, turn.turn) for turn in self.turns if turn.retokenized]

    @property
    def rerendered(self) -> list[tuple[int, int]]:
        """(trajectory, turn) of each turn the ledger recorded as re-rendered."""
        return [(turn.trajectory, turn.turn) for turn in self.turns if turn.continuation == "rerendered"]

    def ok(self, max_abs: float = 0.01, *, allow_clipped: bool = False) -> bool:
        """Whether the batch is on-policy enough to train on as is."""
        return (
            self.overall.max_abs <= max_abs
            and not self.retokenized
            and (allow_clipped or self.overall.outside_clip == 0)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "trajectories": self.trajectories,
            "clip": list(self.clip),
            "overall": self.overall.to_dict(),
            "retokenized": [list(pair) for pair in self.retokenized],
            "rerendered": [list(pair) for pair in self.rerendered],
            "turns": [turn.to_dict() for turn in self.turns],
        }

    def table(self) -> str:
        """A readable table: one row per turn, then the batch."""
        low, high = self.clip
        header = f"{'traj':>4} {'turn':>4} {'tokens':>6} {'max|d|':>8} {'mean|d|':>8} {'KL k3':>9} "
        header += f"{'w min':>6} {'w max':>6} {f'out [{low:g},{high:g}]':>12}  note"
        lines = [header]
        for turn in self.turns:
            lines.append(_row(f"{turn.trajectory:>4} {turn.turn:>4}", turn.figures, _note(turn)))
        count = f"{self.trajectories} trajector{'y' if self.trajectories == 1 else 'ies'}"
        lines.append(_row(f"{'all':>9}", self.overall, count))
        return "\n".join(lines)

    @classmethod
    def of(cls, turns: Sequence[TurnReport], clip: tuple[float, float], trajectories: int) -> VerifyReport:
        """The report of these turns; the totals count the turns whose sampling was reproduced."""
        kept = [turn for turn in turns if not turn.unreproduced]
        differences = np.concatenate([np.asarray(turn.differences, dtype=np.float64) for turn in kept] or [[]])
        overall = Mismatch.of(differences, np.zeros_like(differences), clip)
        return cls(list(turns), overall, clip, trajectories)


def _row(label: str, figures: Mismatch, note: str) -> str:
    return (
        f"{label} {figures.tokens:>6} {figures.max_abs:>8.4f} {figures.mean_abs:>8.4f} {figures.kl_k3:>9.2e} "
        f"{figures.weight_min:>6.3f} {figures.weight_max:>6.3f} {figures.outside_clip:>12}  {note}"
    )


def _note(turn: TurnReport) -> str:
    notes = ["RE-TOKENIZED?"] if turn.retokenized else []
    if turn.continuation == "rerendered":
        notes.append("re-rendered by the provider")
    if not turn.sampling_recorded:
        notes.append("sampling not recorded: temperature 1, no bias assumed")
    notes += [f"not in the totals: {reason}" for reason in turn.unreproduced]
    return "; ".join(notes)
