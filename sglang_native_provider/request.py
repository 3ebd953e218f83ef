"""One request, prepared before any network I/O: LiteLLM's arguments -> settings, prompt ids, sampling params,
the ``/generate`` body, and what reading the answer needs.

:func:`prepare` reads top-down as the pipeline: settings and parameters, tokenizer and output format, the
session and the turn the conversation continues, the prompt ids, then the :class:`PreparedCall`.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import Any

import litellm
from litellm.types.utils import ModelResponse

from .capabilities import register_models
from .config import PROVIDER, DeploymentConfig, deployment_for_call
from .continuation import PreviousTurn, Prompt, build_prompt, last_assistant, previous_turn
from .errors import bad_request
from .fingerprints import HistoryKeys
from .messages import normalize_messages, normalize_tools
from .output_format import OutputFormat, ReasoningStart
from .response import ResponseContext, build_model_response
from .rollout_signals import RoutedExpertsAsk
from .sampling import SamplingRequest, build_sampling_request, recorded_sampling
from .server_check import ServerChecks
from .session import UNRECORDED, Session, SessionTurn
from .streaming import StreamAssembler
from .templating import prompt_tokenizer, resolve_chat_template
from .tokenizer_loading import tokenizers
from .tool_choice import ToolChoice, resolve_tool_choice
from .validation import vocab_size
from .vision import ImagePrompt, VisionRequest

__all__ = ["PreparedCall", "prepare"]

logger = logging.getLogger(__name__)

_REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high")


@dataclasses.dataclass(frozen=True)
class _Asked:
    """What the caller asked besides the messages, validated."""

    tools: list[dict[str, Any]] | None
    template_kwargs: dict[str, Any]
    sampling: SamplingRequest
    tool_choice: Any
    parallel_tool_calls: Any
    drop_params: bool
    model: str

    @classmethod
    def of(cls, params: dict[str, Any], config: DeploymentConfig, litellm_params: Any, model: str) -> _Asked:
        drop_params = bool((litellm_params or {}).get("drop_params") or litellm.drop_params)
        tools = normalize_tools(params.pop("tools", None), model)
        tool_choice = params.pop("tool_choice", None)
        parallel_tool_calls = params.pop("parallel_tool_calls", None)  # shapes a forced call's tag, as in SGLang
        template_kwargs = _template_kwargs(config, params.pop("reasoning_effort", None), model)
        sampling = build_sampling_request(params, config.default_sampling_params, drop_params=drop_params, model=model)
        return cls(tools, template_kwargs, sampling, tool_choice, parallel_tool_calls, drop_params, model)


def _template_kwargs(config: DeploymentConfig, reasoning_effort: str | None, model: str) -> dict[str, Any]:
    """``chat_template_kwargs``, with OpenAI's ``reasoning_effort`` as the template's thinking switch
    (``"none"`` turns ``enable_thinking`` off, any other effort on) unless the kwargs set it already."""
    kwargs = dict(config.chat_template_kwargs)
    if reasoning_effort is None:
        return kwargs
    if reasoning_effort not in _REASONING_EFFORTS:
        raise bad_request(f"reasoning_effort must be one of {', '.join(_REASONING_EFFORTS)}", model)
    kwargs.setdefault("enable_thinking", reasoning_effort != "none")
    return kwargs


@dataclasses.dataclass(frozen=True)
class _Conversation:
    """The normalized messages, their fingerprints, and the assistant turn they continue (if known)."""

    raw: list[Any]
    messages: list[dict[str, Any]]
    keys: HistoryKeys
    last_assistant: int | None
    """The position of the last assistant turn that new messages follow."""
    previous: PreviousTurn | None
    unmatched: str | None
    """Why an earlier assistant turn could not be continued (reported as ``continuation_warning``)."""
    session: Session | None

    @classmethod
    def of(
        cls, raw: list[Any], asked: _Asked, session: Session | None, config: DeploymentConfig, litellm_params: Any
    ) -> _Conversation:
        """Normalize the messages once and find the metadata of the turn they continue: on the message, else
        in the ledger of the session the request names, else of the conversation itself."""
        model = asked.model
        messages = normalize_messages(raw, model)
        index = last_assistant(messages)
        keys = HistoryKeys.of(messages, asked.tools, asked.template_kwargs, index)
        session = session or Session.of_conversation(config, keys, litellm_params, model)
        previous, unmatched = previous_turn(raw, messages), None
        if previous is None and index is not None:
            if session is None:
                unmatched = f"messages[{index}] carries no {PROVIDER} token metadata and no ledger could be read"
            else:
                session, previous, unmatched = session.find(messages, index, keys)
        return cls(raw, messages, keys, index, previous, unmatched, session)

    def session_turn(self, prompt: Prompt) -> SessionTurn | None:
        """How the answer to ``prompt`` is recorded in the session's ledger (None without one)."""
        if self.session is None:
            return None
        return self.session.turn(self.keys, prompt, self.previous, has_history=self.last_assistant is not None)


def _check_vocabulary(prompt_ids: list[int], tokenizer, model_vocab_size: int | None, model: str) -> None:
    """Refuse ids the tokenizer (or the model, its ``vocab_size`` setting) does not have, from a mismatched
    tokenizer or forged metadata: a real SGLang server's scheduler dies on an input id beyond its embedding."""
    size = vocab_size(tokenizer, model_vocab_size)
    if prompt_ids and (max(prompt_ids) >= size or min(prompt_ids) < 0):
        bad = next(token for token in prompt_ids if not 0 <= token < size)
        raise bad_request(f"prompt token id {bad} is outside the tokenizer's vocabulary (size {size})", model)


def _prompt(
    conversation: _Conversation, asked: _Asked, config: DeploymentConfig, tokenizer, model: str
) -> Prompt:
    prompt = build_prompt(
        prompt_tokenizer(tokenizer, config.special_tokens_in_content, model),
        conversation.raw,
        conversation.messages,
        conversation.previous,
        tools=asked.tools,
        chat_template=resolve_chat_template(config.chat_template),
        chat_template_kwargs=asked.template_kwargs,
        tokenizer_source=config.tokenizer_source(model),
        history_key=conversation.keys.before_last_assistant,
        mode=config.continuation,
        drift_check=config.drift_check,
        model=model,
        unmatched=conversation.unmatched,
    )
    _check_vocabulary(prompt.ids, tokenizer, config.vocab_size, model)
    return prompt


def _request_fields(
    config: DeploymentConfig, conversation: _Conversation, prompt: Prompt, session: SessionTurn | None, asked: _Asked
) -> dict[str, Any]:
    """The metadata every choice of this request carries (see continuation.py and session.py; ``sampling``: how
    it was sampled, see sampling.py); a fallback from exact continuation is logged as a warning (not for
    histories that never carried tokens)."""
    model = asked.model
    fields: dict[str, Any] = {"tokenizer": config.tokenizer_source(model)}
    fields["sampling"] = recorded_sampling(asked.sampling.sampling_params)
    fields["conversation_digest"] = conversation.keys.whole
    if prompt.drift is not None:
        fields["template_drift"] = prompt.drift
    if prompt.warning is not None:
        fields["continuation_warning"] = prompt.warning
        (logger.warning if conversation.unmatched is None else logger.debug)("sglang_native: %s", prompt.warning)
    if session is not None:
        fields.update(session.fields())
    elif conversation.session is not None and conversation.session.named:
        fields["session_warning"] = UNRECORDED  # the store failed and session_store_errors="rerender"
    return fields


def prepare(
    *,
    model: str,
    messages: list,
    api_base: str | None,
    api_key: str | None,
    optional_params: dict[str, Any],
    litellm_params: dict[str, Any] | None = None,
    timeout: Any = None,
    headers: Any = None,
    **_unused: Any,
) -> PreparedCall:
    """Validate settings and parameters, find the turn the conversation continues and render the prompt;
    LiteLLM passes every argument by keyword, and those this provider does not use land in ``_unused``."""
    register_models(model)
    params = dict(optional_params)
    config = deployment_for_call(model, params, api_base, api_key, timeout, litellm_params)
    asked = _Asked.of(params, config, litellm_params, model)
    tokenizer = tokenizers.get(
        config.tokenizer_source(model),
        revision=config.tokenizer_revision,
        trust_remote_code=config.trust_remote_code,
        model=model,
    )
    template_source = resolve_chat_template(config.chat_template) or tokenizer.chat_template or ""
    output_format = OutputFormat.of(config, tokenizer, template_source, model)
    tool_choice = resolve_tool_choice(
        asked.tool_choice,
        asked.tools,
        output_format.tool_parser_name,
        drop_params=asked.drop_params,
        model=model,
        parallel_tool_calls=asked.parallel_tool_calls,
    )
    tool_choice.constrain(asked.sampling.sampling_params, model)
    output_format.keep_special_markers(asked.sampling.sampling_params, tokenizer)

    session = Session.of_request(config, litellm_params, headers, model)
    if session is not None and config.routing_key is None:
        config = config.model_copy(update={"routing_key": session.session_id})
    conversation = _Conversation.of(messages, asked, session, config, litellm_params)
    vision = VisionRequest.of(conversation.messages, config, tokenizer, template_source, model)
    prompt = _prompt(conversation, asked, config, tokenizer, model)
    images = None
    if vision is not None:
        prompt, images = vision.apply(prompt, model)
    call = PreparedCall.of(model, config, asked, conversation, prompt, output_format, tool_choice, tokenizer)
    call.images = images
    return call


@dataclasses.dataclass
class PreparedCall:
    """Everything one completion needs, prepared before any network I/O."""

    config: DeploymentConfig
    sampling: SamplingRequest
    prompt: Prompt
    context: ResponseContext
    require_reasoning: bool = False
    """A forced tool call's grammar starts after the reasoning block (SGLang's reasoning-aware grammar)."""
    session_id: str | None = None
    session: SessionTurn | None = None
    server_check: Any = None
    """The deployment to check once against the server (``server_check.ServerChecks``), or None."""
    rid: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    images: ImagePrompt | None = None
    """The prompt's images: ``/generate`` then receives one placeholder per image and the images (see vision.py),
    while ``prompt.ids`` holds the expanded ids the model sees."""

    @classmethod
    def of(
        cls,
        model: str,
        config: DeploymentConfig,
        asked: _Asked,
        conversation: _Conversation,
        prompt: Prompt,
        output_format: OutputFormat,
        tool_choice: ToolChoice,
        tokenizer,
    ) -> PreparedCall:
        """The call for ``prompt``; a session's turn is classified in its ledger here."""
        session = conversation.session_turn(prompt)
        reasoning_start = ReasoningStart.of(tokenizer, prompt.ids, output_format.reasoning_parser)
        context = ResponseContext(
            model=model,
            prompt_ids=prompt.ids,
            tokenizer=tokenizer,
            tools=asked.tools if tool_choice.parse_calls else None,
            tool_parser=output_format.tool_parser,
            reasoning_parser=output_format.reasoning_parser,
            reasoning_opened=reasoning_start.opened,
            logprobs=asked.sampling.logprobs,
            top_logprobs=asked.sampling.top_logprobs,
            request_fields=_request_fields(config, conversation, prompt, session, asked),
            sampling_params=asked.sampling.sampling_params,
            model_vocab_size=config.vocab_size,
            routed_experts=RoutedExpertsAsk.of(
                config, conversation.previous.fields if conversation.previous else None, prompt.continued, model
            ),
        )
        check = (
            ServerChecks.deployment(config, output_format.tool_parser_name, output_format.reasoning_parser_name, model)
            if config.server_check
            else None
        )
        return cls(
            config=config,
            sampling=asked.sampling,
            prompt=prompt,
            context=context,
            # A forced call's grammar waits for the end of reasoning when the output may start with it.
            require_reasoning=tool_choice.structural_tag is not None and reasoning_start.may_reason,
            session_id=conversation.session.session_id if conversation.session and conversation.session.named else None,
            session=session,
            server_check=check,
        )

    @property
    def model(self) -> str:
        return self.context.model

    @property
    def signals_asked(self) -> list[str]:
        """The rollout signals this request asks the server to capture (see capture_check.py)."""
        return ["routed_experts"] if self.context.routed_experts is not None else []

    def body(self, *, stream: bool = False) -> dict[str, Any]:
        """The ``/generate`` body."""
        body: dict[str, Any] = {
            "rid": self.rid,
            "stream": stream,
            "input_ids": self.images.input_ids if self.images else self.prompt.ids,
            "sampling_params": self.sampling.sampling_params,
            "return_logprob": True,
        }
        if self.images:
            body["image_data"] = self.images.image_data
        if self.sampling.top_logprobs:
            body["top_logprobs_num"] = self.sampling.top_logprobs
        if self.require_reasoning:
            body["require_reasoning"] = True
        if self.session_id is not None:
            body["session_id"] = self.session_id  # SGLang's identity; it leaves the prompt be
        if self.config.routing_key:
            body["routing_key"] = self.config.routing_key  # a session's turns go to the worker caching them
        if self.context.routed_experts is not None:
            body.update(self.context.routed_experts.body_fields())
        return body

    def stream_assembler(self) -> StreamAssembler:
        """What turns this request's stream events into LiteLLM chunks."""
        return StreamAssembler(self.context, self.rid, incremental=self.config.incremental_streaming_output)

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
