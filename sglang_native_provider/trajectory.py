"""A multi-turn rollout as RL trainers want it: the exact token ids, a loss mask and aligned logprobs.

Use it beside plain ``litellm.acompletion`` calls::

    trajectory = Trajectory([{"role": "user", "content": task}])
    while not done:
        response = await litellm.acompletion(model="sglang_native/...", messages=trajectory.messages, tools=tools)
        message = trajectory.add_response(response)
        trajectory.add_messages(*run_tools(message.tool_calls))
    trajectory.write_jsonl("rollouts.jsonl")

Everything is read from the token metadata the provider puts on each assistant message, so
``Trajectory.from_messages(messages)`` rebuilds the same object from a finished conversation, and
``Trajectory.from_session(session_id)`` builds a session's trajectories from the session ledger, for
frameworks that keep their own history (and drop the metadata).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from .rollout_signals import MISSING, ROUTED_EXPERTS, stitch
from .sessions import LedgerTurn, SessionStore, open_store

__all__ = ["SCHEMA", "Trajectory", "TrajectoryError", "Turn"]

SCHEMA = "sglang-native-trajectory/3"
_TOKEN_FIELDS = ("prompt_ids", "completion_ids", "completion_logprobs")  # kept once, at the top level
_ARRAY_FIELDS = (ROUTED_EXPERTS,)  # kept in the .npz beside the JSON line (Trajectory.write)


class TrajectoryError(ValueError):
    """The turns do not form one token sequence (a turn was re-rendered instead of continued)."""


@dataclass(frozen=True)
class Turn:
    """One generation: the prompt it saw, what it sampled, and what SGLang reported."""

    prompt_ids: list[int]
    completion_ids: list[int]
    completion_logprobs: list[float | None] | None
    finish_reason: dict[str, Any] | None
    weight_version: str | None
    cached_tokens: int | None
    tool_calls: list[dict[str, Any]]
    template_drift: dict[str, Any] | None
    continuation_warning: str | None
    turn_id: str | None = None
    """SGLang's request id of the choice."""
    continuation: str | None = None
    """For a session's turn, how its prompt was built: ``exact``, ``ledger``, ``rerendered`` or ``new``."""
    first_difference: int | None = None
    """For a re-rendered turn: where its prompt departs from the turn it follows."""
    trained: bool = True
    """False when an earlier trajectory of the session holds this turn already (a branch's shared prefix):
    its tokens are then masked out, so that each sampled token is trained once."""
    routed_experts: dict[str, Any] | None = None
    """The turn's routed experts in their compact encoding (``rollout_signals.compact``), ``{"missing": why}``
    when the turn asked and got none, None when it did not ask."""
    sampling: dict[str, Any] | None = None
    """How the turn was sampled (``sampling.recorded_sampling``: temperature, logit bias, penalties...); None
    for a turn recorded before it was kept."""

    @property
    def truncated(self) -> bool:
        """The turn was cut off by its token budget (``max_tokens``): its end-of-turn tokens, if the conversation
        went on, are the next turn's prompt tokens (loss mask 0)."""
        return (self.finish_reason or {}).get("type") == "length"

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any], tool_calls: list[dict[str, Any]], **session: Any) -> Turn:
        """The turn behind one choice's ``provider_specific_fields``."""
        return cls(
            prompt_ids=list(fields["prompt_token_ids"]),
            completion_ids=list(fields["completion_token_ids"]),
            completion_logprobs=fields.get("completion_logprobs"),
            finish_reason=fields.get("sglang_finish_reason"),
            weight_version=fields.get("weight_version"),
            cached_tokens=fields.get("cached_tokens"),
            tool_calls=tool_calls,
            template_drift=fields.get("template_drift"),
            continuation_warning=fields.get("continuation_warning"),
            turn_id=fields.get("sglang_request_id"),
            routed_experts=fields.get(ROUTED_EXPERTS) or _missing(fields),
            sampling=fields.get("sampling"),
            **session,
        )

    @classmethod
    def from_message(cls, message: Any) -> Turn | None:
        """The turn behind an assistant message this provider produced (None for any other message)."""
        data = _as_dict(message)
        fields = data.get("provider_specific_fields") or {}
        if "completion_token_ids" not in fields or "prompt_token_ids" not in fields:
            return None
        calls = [
            {"id": call.get("id"), "name": call["function"]["name"], "arguments": call["function"]["arguments"]}
            for call in (data.get("tool_calls") or [])
        ]
        return cls.from_fields(fields, calls, continuation=fields.get("continuation"))


def _as_dict(message: Any) -> dict[str, Any]:
    if isinstance(message, Mapping):
        return dict(message)
    return message.model_dump()


class Trajectory:
    """The messages of a rollout and the turns the provider generated in it."""

    def __init__(self, messages: Sequence[Any] = (), *, session_id: str | None = None, branch: int = 0) -> None:
        self.messages: list[Any] = list(messages)
        self.turns: list[Turn] = []
        self.session_id = session_id
        self.branch = branch
        """The trajectory's position among its session's (0 for the first)."""

    @classmethod
    def from_session(cls, session_id: str, store: SessionStore | str | None = None) -> list[Trajectory]:
        """A session's trajectories from the session ledger (``store``: a store or its URL; default the
        in-process one): turns that continue one another exactly form one trajectory; a re-rendered turn, a
        new conversation, or a second continuation of the same turn (a retried step, a sub-agent) starts
        another. A branch repeats the turns it shares with an earlier trajectory, masked out of its loss.
        ``messages`` holds what the model wrote in each turn. Raises UnknownSessionError."""
        store = store if store is not None and not isinstance(store, str) else open_store(store)
        chains: list[list[tuple[LedgerTurn, bool]]] = []
        ends: dict[str, int] = {}  # turn id -> the chain it ends
        where: dict[str, tuple[int, int]] = {}  # turn id -> (chain, position)
        for turn in store.turns(session_id):
            continues = turn.continuation in ("exact", "ledger") and turn.parent_id in where
            if continues and turn.parent_id in ends:
                chain = ends.pop(turn.parent_id)
                chains[chain].append((turn, True))
            elif continues:
                chain_index, position = where[turn.parent_id]
                shared = [(earlier, False) for earlier, _ in chains[chain_index][: position + 1]]
                chain = len(chains)
                chains.append([*shared, (turn, True)])
            else:
                chain = len(chains)
                chains.append([(turn, True)])
            ends[turn.turn_id] = chain
            where[turn.turn_id] = (chain, len(chains[chain]) - 1)
        return [cls._from_chain(session_id, branch, chain) for branch, chain in enumerate(chains)]

    @classmethod
    def _from_chain(cls, session_id: str, branch: int, chain: list[tuple[LedgerTurn, bool]]) -> Trajectory:
        trajectory = cls(session_id=session_id, branch=branch)
        for turn, trained in chain:
            written = turn.message
            calls = [{"id": None, "name": name, "arguments": arguments} for name, arguments in written["tool_calls"]]
            trajectory.turns.append(
                Turn.from_fields(
                    turn.metadata(),
                    calls,
                    continuation=turn.continuation,
                    first_difference=turn.first_difference,
                    trained=trained,
                )
            )
            message = {"role": "assistant", "content": written["content"] or None, "tool_calls": calls or None}
            if written["reasoning"]:
                message["reasoning_content"] = written["reasoning"]
            trajectory.messages.append(message)
        return trajectory

    @classmethod
    def from_messages(cls, messages: Sequence[Any]) -> Trajectory:
        """Rebuild a trajectory from a conversation whose assistant messages came from this provider."""
        trajectory = cls(messages)
        trajectory.turns = [turn for turn in map(Turn.from_message, messages) if turn is not None]
        return trajectory

    def add_response(self, response: Any, choice: int = 0) -> Any:
        """Record one response's choice as the next turn; its message is appended and returned."""
        message = response.choices[choice].message
        turn = Turn.from_message(message)
        if turn is None:
            raise TrajectoryError("the response carries no sglang_native token metadata")
        self.messages.append(message)
        self.turns.append(turn)
        return message

    def add_messages(self, *messages: Any) -> None:
        """Append tool results or user messages; their tokens arrive with the next turn's prompt."""
        self.messages.extend(messages)

    def _sequence(self) -> tuple[list[int], list[int], list[float | None]]:
        if not self.turns:
            raise TrajectoryError("the trajectory has no generated turn yet")
        ids: list[int] = []
        mask: list[int] = []
        logprobs: list[float | None] = []
        for number, turn in enumerate(self.turns):
            if turn.prompt_ids[: len(ids)] != ids:
                reason = turn.continuation_warning or "its prompt does not start with the previous turns' tokens"
                raise TrajectoryError(f"turn {number} does not continue turn {number - 1}: {reason}")
            new_prompt = turn.prompt_ids[len(ids) :]
            ids += new_prompt + turn.completion_ids
            mask += [0] * len(new_prompt) + [int(turn.trained)] * len(turn.completion_ids)
            sampled = turn.completion_logprobs or [None] * len(turn.completion_ids)
            logprobs += [None] * len(new_prompt) + list(sampled)
        return ids, mask, logprobs

    @property
    def token_ids(self) -> list[int]:
        """Every token of the rollout, in order: prompts, sampled tokens, tool and user messages."""
        return self._sequence()[0]

    @property
    def loss_mask(self) -> list[int]:
        """1 for each token the model sampled, 0 for every other token (aligned with :attr:`token_ids`)."""
        return self._sequence()[1]

    @property
    def logprobs(self) -> list[float | None]:
        """The sampling logprob of each sampled token, None elsewhere (aligned with :attr:`token_ids`)."""
        return self._sequence()[2]

    @property
    def routed_experts(self) -> np.ndarray | None:
        """``(len(token_ids) - 1, layers, top_k)``: row ``i`` holds the experts token ``i`` was routed to (the last
        token has none, as in SGLang), joined from the turns' rows; None when no turn has routing. Raises
        TrajectoryError naming a turn whose routing is missing or does not fit."""
        ids = self._sequence()[0]
        parts = [(turn.routed_experts, len(turn.prompt_ids) + len(turn.completion_ids)) for turn in self.turns]
        try:
            return stitch(parts, max(len(ids) - 1, 0))
        except ValueError as exc:
            raise TrajectoryError(f"routed experts: {exc}") from None

    def rl_fields(self) -> dict[str, Any]:
        """What RL trainers read: the first prompt, then everything after it with its mask and logprobs, and
        with routing, ``routed_experts`` over ``prompt_ids + response_ids`` (see :attr:`routed_experts`)."""
        ids, mask, logprobs = self._sequence()
        start = len(self.turns[0].prompt_ids)
        fields: dict[str, Any] = {
            "prompt_ids": ids[:start],
            "response_ids": ids[start:],
            "response_mask": mask[start:],
            "rollout_logprobs": [value if value is not None else 0.0 for value in logprobs[start:]],
        }
        routed = self.routed_experts
        if routed is not None:
            fields[ROUTED_EXPERTS] = routed
        return fields

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON form (``schema`` = ``sglang-native-trajectory/3``, see docs/sessions.md)."""
        ids, mask, logprobs = self._sequence()
        return {
            "schema": SCHEMA,
            "session_id": self.session_id,
            "branch": self.branch,
            "token_ids": ids,
            "loss_mask": mask,
            "logprobs": logprobs,
            "prompt_length": len(self.turns[0].prompt_ids),
            "turns": [
                {
                    "prompt_length": len(turn.prompt_ids),
                    "completion_length": len(turn.completion_ids),
                    "truncated": turn.truncated,
                    **{key: value for key, value in asdict(turn).items() if key not in _TOKEN_FIELDS + _ARRAY_FIELDS},
                    **_array_summary(turn),
                }
                for turn in self.turns
            ],
            "messages": [_plain_message(message) for message in self.messages],
        }

    def verify(self, model: Any, **options: Any) -> Any:
        """Recompute each sampled token's logprob with ``model`` (a transformers causal LM or its directory) and
        compare it with the rollout's: a ``verify_report.VerifyReport`` (options: see
        ``verify.verify_trajectories``). Needs the ``verify`` extra."""
        from .verify import verify_trajectories

        return verify_trajectories([self], model, **options)

    def write_jsonl(self, target: str | Path | IO[str]) -> None:
        """Append the trajectory as one JSON line to a file (path or open text file)."""
        line = json.dumps(self.to_dict(), ensure_ascii=False) + "\n"
        if isinstance(target, (str, Path)):
            with open(target, "a", encoding="utf-8") as file:
                file.write(line)
        else:
            target.write(line)

    def write(self, target: str | Path) -> Path | None:
        """Append the JSON line to the file ``target``; with routing, the arrays go to an ``.npz`` beside it
        (``token_ids``, ``loss_mask``, ``routed_experts``), which the line names in ``arrays``: that file's
        path, returned (None without routing)."""
        target = Path(target)
        record = self.to_dict()
        routed = self.routed_experts
        path = None
        if routed is not None:
            path = target.with_name(f"{target.stem}.{uuid.uuid4().hex[:16]}.npz")
            ids, mask = record["token_ids"], record["loss_mask"]
            np.savez(
                path, token_ids=np.asarray(ids, np.int64), loss_mask=np.asarray(mask, np.uint8), routed_experts=routed
            )
            record["arrays"] = {
                "file": path.name,
                ROUTED_EXPERTS: {"dtype": routed.dtype.name, "shape": list(routed.shape)},
            }
        with open(target, "a", encoding="utf-8") as file:
            file.write(json.dumps(record, ensure_ascii=False) + "\n")
        return path


def _missing(fields: Mapping[str, Any]) -> dict[str, Any] | None:
    reason = fields.get(MISSING)
    return {"missing": reason} if reason else None


def _array_summary(turn: Turn) -> dict[str, Any]:
    """A turn's arrays in its JSON line: where its rows start and their shape (or why it has none), not the data."""
    encoded = turn.routed_experts
    if encoded is None:
        return {}
    if "missing" in encoded:
        return {ROUTED_EXPERTS: encoded}
    return {ROUTED_EXPERTS: {"start": encoded["start"], "shape": encoded["shape"]}}


def _plain_message(message: Any) -> dict[str, Any]:
    """A message without the token metadata (the trajectory holds the tokens once)."""
    data = _as_dict(message)
    data.pop("provider_specific_fields", None)
    return {key: value for key, value in data.items() if value is not None}
