"""The session ledger: every generated turn of a named session is recorded, so that the next turn continues on
its exact tokens even when the caller's framework sends the assistant message back without our metadata.

An assistant message without metadata (in a request naming a session, see ``session.py``) is matched against
the turns of its session that answered the same history (``fingerprints.HistoryKeys``): what the model wrote
(content, reasoning when the caller kept it, tool calls by name and by arguments compared as JSON values, since
frameworks re-serialize them) must be what the caller sent back, whitespace at the ends of content aside.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .fingerprints import HistoryKeys, common_prefix_length, json_value, packed_ids
from .sessions import LedgerTurn, SessionStore

__all__ = ["Ledger", "Recording"]

_PACKED_TURNS = 256  # recent turns kept packed for that comparison
_PARENT_SEARCH = 16  # how many recent turns a re-rendered turn is compared with to find where it departs
_SIGNALS = ("routed_experts",)  # choice metadata kept in LedgerTurn.signals, apart from fields


def _written(content: str | None, reasoning: str | None, calls: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {"content": content or "", "reasoning": reasoning or None, "tool_calls": [list(call) for call in calls]}


def _matches(turn: LedgerTurn, message: Mapping[str, Any]) -> bool:
    """Whether an assistant message (normalized) says what the turn's model wrote."""
    written = turn.message
    if (message.get("content") or "").strip() != (written["content"] or "").strip():
        return False
    reasoning = message.get("reasoning_content")
    if reasoning and reasoning.strip() != (written["reasoning"] or "").strip():
        return False
    calls = [(call["function"]["name"], json_value(call["function"]["arguments"])) for call in _calls(message)]
    return calls == [(name, json_value(arguments)) for name, arguments in written["tool_calls"]]


def _tokens(fields: Mapping[str, Any]) -> tuple[int, ...]:
    return (*fields["prompt_token_ids"], -1, *fields["completion_token_ids"])


def _calls(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return message.get("tool_calls") or []


_packed_turns: OrderedDict[tuple[str, str, int, float], bytes] = OrderedDict()
_packed_lock = threading.Lock()


def _packed_turn(turn: LedgerTurn) -> bytes:
    """A recorded turn's prompt and sampled ids, packed once (a re-rendered turn is compared with the recent
    turns of its conversation at every call; stores hand out new records each time)."""
    key = (turn.session_id, turn.turn_id, turn.sequence, turn.created)
    with _packed_lock:
        packed = _packed_turns.get(key)
    if packed is None:
        packed = packed_ids([*turn.fields["prompt_token_ids"], *turn.fields["completion_token_ids"]])
        with _packed_lock:
            _packed_turns[key] = packed
            while len(_packed_turns) > _PACKED_TURNS:
                _packed_turns.popitem(last=False)
    return packed


@dataclass(frozen=True)
class Recording:
    """How the request's prompt relates to the session's earlier turns, decided before it is sent."""

    session_id: str
    history_key: str
    continuation: str
    parent_id: str | None = None
    first_difference: int | None = None

    def fields(self) -> dict[str, Any]:
        """What each choice reports in ``provider_specific_fields``."""
        fields: dict[str, Any] = {"session_id": self.session_id, "continuation": self.continuation}
        if self.first_difference is not None:
            fields["session_first_difference"] = self.first_difference
        return fields


class Ledger:
    """The session ledger over one store, as one caller sees it: ``owner`` (a LiteLLM proxy key's hash, None
    outside a proxy) finds only the turns it made, and its turns are recorded as its own."""

    def __init__(self, store: SessionStore, owner: str | None = None) -> None:
        self.store = store
        self.owner = owner

    def find(
        self, session_id: str, messages: Sequence[Mapping[str, Any]], index: int, keys: HistoryKeys
    ) -> dict[str, Any] | str | None:
        """The token metadata of the session's turn that wrote assistant ``messages[index]`` in reply to
        ``messages[:index]`` (``keys`` of ``messages``); None if no turn did; why not, when several did with
        different tokens (``n > 1`` samples that read the same but were sampled differently)."""
        answers = self.store.answers(session_id, keys.before_last_assistant)
        found = [turn for turn in answers if turn.user_api_key_hash == self.owner and _matches(turn, messages[index])]
        sequences = {_tokens(turn.fields) for turn in found}
        if len(sequences) > 1:
            return f"{len(found)} recorded turns wrote messages[{index}] with different tokens"
        return found[-1].metadata() if found else None

    def recording(
        self,
        session_id: str,
        key: str,
        prompt_ids: Sequence[int],
        *,
        continued_from: Mapping[str, Any] | None,
        source: str | None,
        rerendered: bool,
        has_history: bool,
    ) -> Recording:
        """Classify this request's prompt: continued exactly on a turn (from its metadata or the ledger),
        re-rendered (where it departs from the closest recent turn's tokens), or a new conversation."""
        if continued_from is not None and not rerendered:
            kind = "exact" if source == "message" else "ledger"
            return Recording(session_id, key, kind, continued_from.get("sglang_request_id"))
        if continued_from is None and not has_history:
            return Recording(session_id, key, "new")
        best: tuple[int, str | None] = (-1, None)
        prompt = packed_ids(prompt_ids)
        for turn in self.store.recent(session_id, _PARENT_SEARCH):
            shared = common_prefix_length(prompt, _packed_turn(turn))
            best = max(best, (shared, turn.turn_id), key=lambda pair: pair[0])
        position, parent = best
        return Recording(session_id, key, "rerendered", parent, position if parent is not None else None)

    def record(self, recording: Recording, choices: Sequence[tuple[dict[str, Any], Any, Any, Sequence[Any]]]) -> None:
        """Record each choice: (its provider_specific_fields, content, reasoning, [(name, arguments)])."""
        now, recorder = time.time(), f"{socket.gethostname()}:{os.getpid()}"
        for choice_fields, content, reasoning, calls in choices:
            fields = {key: value for key, value in choice_fields.items() if key not in _SIGNALS}
            signals = {key: choice_fields[key] for key in _SIGNALS if choice_fields.get(key) is not None}
            self.store.add(
                LedgerTurn(
                    session_id=recording.session_id,
                    turn_id=str(fields.get("sglang_request_id")),
                    history_key=recording.history_key,
                    message=_written(content, reasoning, calls),
                    fields=fields,
                    continuation=recording.continuation,
                    parent_id=recording.parent_id,
                    first_difference=recording.first_difference,
                    created=now,
                    recorded_by=recorder,
                    user_api_key_hash=self.owner,
                    signals=signals or None,
                )
            )
