"""The session ledger: every generated turn of a named session is recorded, so that the next turn continues on
its exact tokens even when the caller's framework sends the assistant message back without our metadata.

A request belongs to a session when it names one: LiteLLM ``metadata={"session_id": ...}``,
``litellm_session_id``, or an ``X-Session-ID`` / ``X-LiteLLM-Session-ID`` header (sent with ``extra_headers``,
or reaching the LiteLLM proxy, which hands it on as ``litellm_session_id``). An assistant message without
metadata is matched against the turns of its session that answered the same history: what the model wrote
(content, reasoning when the caller kept it, tool calls by name and by arguments compared as JSON values,
since frameworks re-serialize them) must be what the caller sent back, whitespace at the ends of content
aside. Histories are compared the same way, so a framework that drops reasoning or re-orders argument keys
still matches; an edited message does not.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .sessions import LedgerTurn, SessionStore

__all__ = [
    "SESSION_HEADERS",
    "HistoryKeys",
    "Ledger",
    "Recording",
    "session_id_of",
]

logger = logging.getLogger(__name__)

SESSION_HEADERS = ("x-session-id", "x-litellm-session-id")
_GENERATED = "litellm_session_id_generated"  # LiteLLM's proxy marks session ids it made up itself
_PARENT_SEARCH = 16  # how many recent turns a re-rendered turn is compared with to find where it departs


def session_id_of(litellm_params: Mapping[str, Any] | None, headers: Mapping[str, Any] | None) -> str | None:
    """The session a request names, if any (see the module docstring for where it is looked for)."""
    params = litellm_params or {}
    metadata = params.get("metadata")
    if isinstance(metadata, Mapping) and metadata.get("session_id") and not metadata.get(_GENERATED):
        return str(metadata["session_id"])
    if params.get("litellm_session_id"):
        return str(params["litellm_session_id"])
    for source in (headers, _proxy_headers(params)):
        for name, value in (source or {}).items():
            if isinstance(name, str) and name.lower() in SESSION_HEADERS and value:
                return str(value)
    return None


def _proxy_headers(params: Mapping[str, Any]) -> Mapping[str, Any] | None:
    request = params.get("proxy_server_request")
    headers = request.get("headers") if isinstance(request, Mapping) else None
    return headers if isinstance(headers, Mapping) else None


def _arguments(arguments: Any) -> Any:
    """Tool-call arguments as a JSON value (text that is not JSON is compared as written, stripped)."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return arguments.strip()
    return arguments


def _text_digest(text: str) -> bytes:
    """A text's digest; frameworks send the same history strings at every turn, so short ones are cached."""
    return _cached_digest(text) if len(text) <= _CACHED_TEXT_CHARS else _digest(text)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


_CACHED_TEXT_CHARS = 16_384
_cached_digest = functools.lru_cache(maxsize=4096)(_digest)


def _value_digest(value: Any) -> bytes:
    if isinstance(value, str):
        return _text_digest(value.strip())
    return _text_digest(json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str))


def _message_digest(message: Mapping[str, Any]) -> bytes:
    """What must not change in a message for the history to be the same: its role and content, and for an
    assistant turn its content with the ends stripped and its tool calls (names, arguments as JSON values);
    reasoning and call ids are left out, as frameworks drop or regenerate them."""
    role = message["role"]
    if role != "assistant":
        return role.encode() + _text_digest(message.get("content") or "")
    parts = [b"assistant", _text_digest((message.get("content") or "").strip())]
    for call in _calls(message):
        parts += [_text_digest(call["function"]["name"]), _value_digest(call["function"]["arguments"])]
    return hashlib.sha256(b"\0".join(parts)).digest()


@dataclass(frozen=True)
class HistoryKeys:
    """Fingerprints of a conversation (normalized messages, with the tools and template switches they are
    rendered with): the whole of it, and the part before its last assistant turn (None without one)."""

    whole: str
    before_last_assistant: str | None

    @classmethod
    def of(
        cls, messages: Sequence[Mapping[str, Any]], tools: Any, template_kwargs: Mapping[str, Any], index: int | None
    ) -> HistoryKeys:
        """One pass over the messages; ``index`` is the last assistant turn's position, if any."""
        running = hashlib.sha256(_value_digest([tools, dict(template_kwargs)]))
        before = None
        for position, message in enumerate(messages):
            if position == index:
                before = running.hexdigest()[:32]
            running.update(_message_digest(message))
        return cls(running.hexdigest()[:32], before)


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
    calls = [(call["function"]["name"], _arguments(call["function"]["arguments"])) for call in _calls(message)]
    return calls == [(name, _arguments(arguments)) for name, arguments in written["tool_calls"]]


def _calls(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return message.get("tool_calls") or []


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    length = min(len(a), len(b))
    for index in range(length):
        if a[index] != b[index]:
            return index
    return length


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
    """The session ledger over one store."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store

    def find(
        self, session_id: str, messages: Sequence[Mapping[str, Any]], index: int, keys: HistoryKeys
    ) -> dict[str, Any] | None:
        """The token metadata of the session's latest turn that wrote assistant ``messages[index]`` in reply
        to ``messages[:index]`` (``keys`` of ``messages``), or None."""
        for turn in reversed(self.store.answers(session_id, keys.before_last_assistant)):
            if _matches(turn, messages[index]):
                return turn.fields
        return None

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
        for turn in self.store.recent(session_id, _PARENT_SEARCH):
            tokens = [*turn.fields["prompt_token_ids"], *turn.fields["completion_token_ids"]]
            best = max(best, (_common_prefix(prompt_ids, tokens), turn.turn_id), key=lambda pair: pair[0])
        position, parent = best
        return Recording(session_id, key, "rerendered", parent, position if parent is not None else None)

    def record(self, recording: Recording, choices: Sequence[tuple[dict[str, Any], Any, Any, Sequence[Any]]]) -> None:
        """Record each choice: (its provider_specific_fields, content, reasoning, [(name, arguments)])."""
        now, recorder = time.time(), f"{socket.gethostname()}:{os.getpid()}"
        for fields, content, reasoning, calls in choices:
            self.store.add(
                LedgerTurn(
                    session_id=recording.session_id,
                    turn_id=str(fields.get("sglang_request_id")),
                    history_key=recording.history_key,
                    message=_written(content, reasoning, calls),
                    fields=dict(fields),
                    continuation=recording.continuation,
                    parent_id=recording.parent_id,
                    first_difference=recording.first_difference,
                    created=now,
                    recorded_by=recorder,
                )
            )
