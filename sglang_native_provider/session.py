"""A request's rollout session: the session it names, the turn its conversation continues in that session's
ledger, and the recording of its answer.

A request belongs to a session when it names one: LiteLLM ``metadata={"session_id": ...}``,
``litellm_session_id``, or an ``X-Session-ID`` / ``X-LiteLLM-Session-ID`` header (sent with ``extra_headers``,
or reaching the LiteLLM proxy, which hands it on as ``litellm_session_id``). A store that cannot be used fails
the request (``APIConnectionError`` naming it) or, with ``session_store_errors="rerender"``, is logged and the
request goes on without the ledger, saying so in ``session_warning``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from litellm.types.utils import ModelResponse

from .config import PROVIDER, DeploymentConfig
from .continuation import PreviousTurn, Prompt
from .errors import bad_request, connection_error
from .fingerprints import HistoryKeys
from .ledger import Ledger, Recording
from .sessions import StoreError, open_store

__all__ = [
    "CONVERSATION_PREFIX",
    "SESSION_HEADERS",
    "UNRECORDED",
    "Session",
    "SessionTurn",
    "how_to_name_a_session",
    "owner_of",
    "session_id_of",
]

logger = logging.getLogger(__name__)

SESSION_HEADERS = ("x-session-id", "x-litellm-session-id")
UNRECORDED = "the session store could not be used (see the log): this turn is not in the ledger"
CONVERSATION_PREFIX = "conversation-"
"""The session id of a conversation that names none (``Trajectory.from_session`` reads it like any other)."""
_GENERATED = "litellm_session_id_generated"  # LiteLLM's proxy marks session ids it made up itself


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


def owner_of(litellm_params: Mapping[str, Any] | None) -> str | None:
    """The LiteLLM proxy key a request came with (the hash the proxy writes into its metadata, after the
    client's own), None outside a proxy."""
    params = litellm_params or {}
    for name in ("metadata", "litellm_metadata"):
        metadata = params.get(name)
        if isinstance(metadata, Mapping) and isinstance(metadata.get("user_api_key_hash"), str):
            return metadata["user_api_key_hash"]
    return None


def how_to_name_a_session(litellm_params: Mapping[str, Any] | None) -> str:
    """How the caller names a session, for its path: a header through the LiteLLM proxy, a keyword in the SDK."""
    if _proxy_headers(litellm_params or {}) is not None:
        return "send an X-Session-ID header with each request"
    return "pass metadata={'session_id': ...} or litellm_session_id=... with each call"


def _proxy_headers(params: Mapping[str, Any]) -> Mapping[str, Any] | None:
    request = params.get("proxy_server_request")
    headers = request.get("headers") if isinstance(request, Mapping) else None
    return headers if isinstance(headers, Mapping) else None


@dataclasses.dataclass(frozen=True)
class Session:
    """The session a request names, or the conversation it continues when it names none, and its ledger (None
    once its store could not be used)."""

    session_id: str
    ledger: Ledger | None
    model: str
    fail_on_store_errors: bool = True
    named: bool = True
    """False for a conversation's own session (``conversation-<fingerprint of its opening>``): every request
    is recorded, so frameworks that name nothing continue exactly; its store errors never fail a request."""
    naming_hint: str = ""
    """For a conversation's own session: how the caller would name one (see :func:`how_to_name_a_session`)."""

    @classmethod
    def of_conversation(
        cls, config: DeploymentConfig, keys: HistoryKeys, litellm_params: Mapping[str, Any] | None, model: str
    ) -> Session | None:
        """The session of the conversation ``keys`` fingerprint, in the ``session_store`` (None if unusable);
        through a proxy, each key's conversations are its own."""
        owner = owner_of(litellm_params)
        opening = keys.opening if owner is None else hashlib.sha256(f"{owner}:{keys.opening}".encode()).hexdigest()
        session_id = f"{CONVERSATION_PREFIX}{opening[:32]}"
        try:
            ledger = Ledger(open_store(config.session_store), owner)
            return cls(session_id, ledger, model, False, named=False, naming_hint=how_to_name_a_session(litellm_params))
        except (ValueError, StoreError) as exc:
            logger.debug("sglang_native: no ledger for %s: %s", session_id, exc)
            return None

    @classmethod
    def of_request(
        cls, config: DeploymentConfig, litellm_params: Mapping[str, Any] | None, headers: Any, model: str
    ) -> Session | None:
        """The session the request names (None if none), its ledger opened from the ``session_store`` setting."""
        session_id = session_id_of(litellm_params, headers if isinstance(headers, Mapping) else None)
        if session_id is None:
            return None
        session = cls(session_id, None, model, config.session_store_errors == "fail")
        try:
            ledger = Ledger(open_store(config.session_store), owner_of(litellm_params))
            return dataclasses.replace(session, ledger=ledger)
        except ValueError as exc:
            raise bad_request(f"Invalid {PROVIDER} setting session_store for model {model!r}: {exc}", model) from None
        except StoreError as exc:
            return session._without_store(exc)

    def _without_store(self, exc: StoreError) -> Session:
        """Fail the request for a store error, or (``session_store_errors="rerender"``; always for a session the
        request did not name) go on without it."""
        if self.fail_on_store_errors:
            message = f"{exc} (set session_store_errors='rerender' to go on without it)"
            raise connection_error(message, self.model) from None
        logger.warning("sglang_native: %s; continuing without the session ledger", exc)
        return dataclasses.replace(self, ledger=None)

    def find(
        self, messages: Sequence[Mapping[str, Any]], index: int, keys: HistoryKeys
    ) -> tuple[Session, PreviousTurn | None, str | None]:
        """The turn of this session that wrote assistant ``messages[index]``: (this session, possibly without
        its store, the turn or None, why none was found)."""
        if self.ledger is None:
            return self, None, f"the session store could not be read for messages[{index}]"
        try:
            fields = self.ledger.find(self.session_id, messages, index, keys)
        except StoreError as exc:
            return self._without_store(exc), None, f"the session store could not be read for messages[{index}]"
        if isinstance(fields, str) and self.named:
            return self, None, f"{fields} (session {self.session_id!r}): cannot tell which one it is"
        if isinstance(fields, str):
            return self, None, f"{fields} in this conversation: cannot tell which one it is; {self.naming_hint}"
        if fields is None:
            whose = f"session {self.session_id!r}" if self.named else "this conversation (no session named)"
            return self, None, f"no turn of {whose} wrote messages[{index}] (it was rewritten or edited)"
        return self, PreviousTurn(index, fields, "ledger"), None

    def turn(
        self, keys: HistoryKeys, prompt: Prompt, previous: PreviousTurn | None, *, has_history: bool
    ) -> SessionTurn | None:
        """How this request's answer is recorded (None when the store cannot be used)."""
        if self.ledger is None:
            return None
        try:
            recording = self.ledger.recording(
                self.session_id,
                keys.whole,
                prompt.ids,
                continued_from=previous.fields if previous is not None else None,
                source=previous.source if previous is not None else None,
                rerendered=not prompt.continued,
                has_history=has_history,
            )
        except StoreError as exc:
            self._without_store(exc)
            return None
        return SessionTurn(self.ledger, recording, self.model, self.fail_on_store_errors, self.named)


@dataclasses.dataclass(frozen=True)
class SessionTurn:
    """How one request's choices are recorded in its session's ledger."""

    ledger: Ledger
    recording: Recording
    model: str
    fail_on_store_errors: bool = True
    """A store that cannot record fails the request (APIConnectionError), or is logged and skipped."""
    named: bool = True
    """Whether the request named the session (else it is the conversation's own, see :class:`Session`)."""

    def fields(self) -> dict[str, Any]:
        """What each choice reports: the session (``session_id``, or ``conversation_id`` when the request named
        none) and how the prompt continued it."""
        fields = self.recording.fields()
        if not self.named:
            fields["conversation_id"] = fields.pop("session_id")
        return fields

    def record(self, choices: Sequence[tuple[dict[str, Any], Any, Any, Sequence[Any]]]) -> bool:
        """Record (provider_specific_fields, content, reasoning, [(name, arguments)]) per choice; False when
        the store failed and ``session_store_errors`` says to go on (logged)."""
        try:
            self.ledger.record(self.recording, choices)
        except StoreError as exc:
            if self.fail_on_store_errors:
                raise connection_error(f"{exc} (the answer was not recorded)", self.model) from None
            logger.warning("sglang_native: %s; the answer was not recorded", exc)
            return False
        return True

    async def arecord(self, choices: Sequence[tuple[dict[str, Any], Any, Any, Sequence[Any]]]) -> bool:
        """As :meth:`record`, in a worker thread when the store does I/O, so that a slow store holds up only
        this request, not the event loop with every other request on it."""
        if self.ledger.store.blocking:
            return await asyncio.to_thread(self.record, choices)
        return self.record(choices)

    def record_response(self, response: ModelResponse) -> None:
        """Record a whole response; if the store failed, each choice says so in ``session_warning``."""
        _mark_unrecorded(response, self.record(_choices_of(response)))

    async def arecord_response(self, response: ModelResponse) -> None:
        """As :meth:`record_response`, off the event loop when the store does I/O."""
        _mark_unrecorded(response, await self.arecord(_choices_of(response)))


def _choices_of(response: ModelResponse) -> list[tuple[Any, ...]]:
    return [
        (
            choice.message.provider_specific_fields or {},
            choice.message.content,
            getattr(choice.message, "reasoning_content", None),
            [(call.function.name, call.function.arguments) for call in choice.message.tool_calls or ()],
        )
        for choice in response.choices
    ]


def _mark_unrecorded(response: ModelResponse, recorded: bool) -> None:
    if not recorded:
        for choice in response.choices:
            choice.message.provider_specific_fields["session_warning"] = UNRECORDED
