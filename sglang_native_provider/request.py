"""One prepared request: everything a completion needs, decided before any network I/O."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from typing import Any

from litellm.types.utils import ModelResponse

from .config import DeploymentConfig
from .continuation import Prompt
from .errors import connection_error
from .ledger import Ledger, Recording
from .response import ResponseContext, build_model_response
from .sampling import SamplingRequest
from .sessions import StoreError

__all__ = ["UNRECORDED", "PreparedCall", "SessionTurn"]

logger = logging.getLogger(__name__)

UNRECORDED = "the session store could not be used (see the log): this turn is not in the ledger"


@dataclasses.dataclass(frozen=True)
class SessionTurn:
    """The session a request belongs to and how its choices are recorded in the ledger."""

    ledger: Ledger
    recording: Recording
    model: str
    fail_on_store_errors: bool = True
    """A store that cannot record fails the request (APIConnectionError), or is logged and skipped."""

    def record(self, choices) -> bool:
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

    async def arecord(self, choices) -> bool:
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


@dataclasses.dataclass
class PreparedCall:
    """Everything one completion needs, prepared before any network I/O."""

    config: DeploymentConfig
    sampling: SamplingRequest
    prompt: Prompt
    context: ResponseContext
    require_reasoning: bool = False
    """A forced tool call's grammar starts after the reasoning block (SGLang's reasoning-aware grammar)."""
    session: SessionTurn | None = None
    server_check: Any = None
    """The deployment to check once against the server (``server_check.ServerChecks``), or None."""
    rid: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def model(self) -> str:
        return self.context.model

    def body(self, *, stream: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "rid": self.rid,
            "stream": stream,
            "input_ids": self.prompt.ids,
            "sampling_params": self.sampling.sampling_params,
            "return_logprob": True,
        }
        if self.sampling.top_logprobs:
            body["top_logprobs_num"] = self.sampling.top_logprobs
        if self.require_reasoning:
            body["require_reasoning"] = True
        if self.session is not None:
            body["session_id"] = self.session.recording.session_id  # SGLang's identity; it leaves the prompt be
        if self.config.routing_key:
            body["routing_key"] = self.config.routing_key  # a session's turns go to the worker caching them
        return body

    def report_server_warnings(self, warnings: tuple[str, ...]) -> None:
        if warnings:
            self.context.request_fields["server_warnings"] = list(warnings)

    def response(self, model_response: ModelResponse, outputs) -> ModelResponse:
        response = build_model_response(model_response, outputs, self.context)
        if self.session is not None:
            self.session.record_response(response)
        return response

    async def aresponse(self, model_response: ModelResponse, outputs) -> ModelResponse:
        """As :meth:`response`, recording off the event loop."""
        response = build_model_response(model_response, outputs, self.context)
        if self.session is not None:
            await self.session.arecord_response(response)
        return response
