"""The LiteLLM custom provider ``sglang_native``: chat completions over SGLang's native ``/generate``.

``register()`` adds it to ``litellm.custom_provider_map``; the LiteLLM proxy can point its
``custom_provider_map`` at ``sglang_native_provider.provider.handler`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx
import litellm
from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import ModelResponse, ModelResponseStream

from .capabilities import register_models
from .client import GenerateClient
from .config import CLIENT_SETTINGS, PROVIDER, SETTING_NAMES, DeploymentConfig, load_config
from .continuation import PreviousTurn, Prompt, build_prompt, conversation_digest, last_assistant, previous_turn
from .errors import bad_request, connection_error
from .ledger import HistoryKeys, Ledger, session_id_of
from .parsers import (
    REASONING_PARSERS,
    TOOL_CALL_PARSERS,
    detect_reasoning_parser,
    detect_tool_call_parser,
)
from .request import UNRECORDED, PreparedCall, SessionTurn
from .response import ResponseContext
from .sampling import SamplingRequest, build_sampling_request
from .server_check import ServerChecks
from .sessions import StoreError, open_store
from .streaming import StreamAssembler
from .templating import normalize_messages, normalize_tools, prompt_tokenizer, resolve_chat_template, tokenizers
from .tool_choice import resolve_tool_choice
from .validation import vocab_size

__all__ = ["SGLangNativeProvider", "handler", "register"]

logger = logging.getLogger(__name__)


def _request_fields(
    config: DeploymentConfig, model: str, prompt: Prompt, digest: str, *, logged: bool
) -> dict[str, Any]:
    """The metadata every choice of this request carries (see continuation.py); a fallback from exact
    continuation is logged as a warning when ``logged`` (not for histories that never carried tokens)."""
    fields: dict[str, Any] = {"tokenizer": config.tokenizer_source(model), "conversation_digest": digest}
    if prompt.drift is not None:
        fields["template_drift"] = prompt.drift
    if prompt.warning is not None:
        fields["continuation_warning"] = prompt.warning
        (logger.warning if logged else logger.debug)("sglang_native: %s", prompt.warning)
    return fields


def _check_vocabulary(prompt_ids: list[int], tokenizer, model_vocab_size: int | None, model: str) -> None:
    """Refuse ids the tokenizer (or the model, its ``vocab_size`` setting) does not have, from a mismatched
    tokenizer or forged metadata: a real SGLang server's scheduler dies on an input id beyond its embedding."""
    size = vocab_size(tokenizer, model_vocab_size)
    if prompt_ids and (max(prompt_ids) >= size or min(prompt_ids) < 0):
        bad = next(token for token in prompt_ids if not 0 <= token < size)
        raise bad_request(f"prompt token id {bad} is outside the tokenizer's vocabulary (size {size})", model)


@dataclasses.dataclass(frozen=True)
class _ReasoningStart:
    """How the output can start, for a tag-delimited reasoning parser: inside the block the prompt opened
    (QwQ/R1-style templates end with the opening tag), and whether it may start with reasoning at all (not
    when the prompt closed the block: Qwen3 with thinking off, DeepSeek-V3.1 without thinking)."""

    opened: bool = False
    may_reason: bool = False

    @classmethod
    def of(cls, tokenizer, prompt_ids: list[int], reasoning_parser: Any) -> _ReasoningStart:
        open_tag, close_tag = (getattr(reasoning_parser, name, None) for name in ("open_tag", "close_tag"))
        if open_tag is None or close_tag is None:
            return cls()
        # Enough tokens for either tag whatever the tokenizer (a tag that is no special token may take one each
        # character: Kimi K3's ``<|open|>think<|sep|>``), plus whitespace after it.
        tail = tokenizer.decode(prompt_ids[-(len(open_tag) + len(close_tag) + 8) :]).rstrip()
        return cls(opened=tail.endswith(open_tag), may_reason=not tail.endswith(close_tag))


def _parser(kind: str, name: str | None, registry: dict[str, type], model: str, tokenizer):
    """The named parser; one that reads the model's own format description from its tokenizer
    (``response_template``) gets the tokenizer."""
    if name is None:
        return None
    parser = registry.get(name)
    if parser is None:
        raise bad_request(f"Unknown {kind} {name!r} for {model!r}; known: {', '.join(sorted(registry))}", model)
    try:
        return parser.for_tokenizer(tokenizer) if hasattr(parser, "for_tokenizer") else parser()
    except ImportError as exc:  # a parser built on a newer transformers than the one installed
        raise bad_request(f"The {kind} {name!r} for {model!r} cannot be used here: {exc}", model) from None


@functools.lru_cache(maxsize=256)
def _detected(model: str, kind: str, chat_template: str) -> str | None:
    """The parser the chat template implies (cached, so each choice is logged once per model)."""
    detect = detect_tool_call_parser if kind == "tool_call_parser" else detect_reasoning_parser
    name = detect(chat_template)
    logger.info("sglang_native: %s for %r detected from its chat template: %s", kind, model, name)
    return name


@functools.lru_cache(maxsize=16)
def _special_token_texts(tokenizer) -> frozenset[str]:
    special = set(getattr(tokenizer, "all_special_tokens", ()))
    special.update(added.content for added in getattr(tokenizer, "added_tokens_decoder", {}).values() if added.special)
    return frozenset(special)


def _keep_special_markers(sampling: SamplingRequest, tokenizer, *parsers: Any) -> None:
    """Families whose markup is made of special tokens (Kimi, DeepSeek, Mistral, Llama's python tag) need
    SGLang to keep special tokens in ``text``; the caller's own ``skip_special_tokens`` wins."""
    markers = {marker for parser in parsers if parser is not None for marker in parser.markers}
    if markers & _special_token_texts(tokenizer):
        sampling.sampling_params.setdefault("skip_special_tokens", False)


def _timeout_seconds(timeout: float | httpx.Timeout | None) -> float | None:
    if isinstance(timeout, httpx.Timeout):
        return timeout.read
    return float(timeout) if timeout is not None else None


_REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high")


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


def _drop_params(litellm_params: dict[str, Any] | None) -> bool:
    return bool((litellm_params or {}).get("drop_params") or litellm.drop_params)


def _refuse_client_settings(litellm_params: Mapping[str, Any], model: str) -> None:
    """Through the LiteLLM proxy, a request body's keys reach the provider mixed with the deployment's own
    settings: a client could choose the tokenizer (and remote code), read a file as a chat template, point
    the session store anywhere or switch TLS checks off. Only ``CLIENT_SETTINGS`` may come from a client."""
    request = litellm_params.get("proxy_server_request")
    body = request.get("body") if isinstance(request, Mapping) else None
    if not isinstance(body, Mapping):
        return
    refused = sorted((set(body) & (SETTING_NAMES | {"ssl_verify"})) - CLIENT_SETTINGS)
    if refused:
        names = ", ".join(refused)
        raise bad_request(
            f"{names}: deployment setting(s) a request through the proxy cannot set "
            f"(a client may set only {', '.join(sorted(CLIENT_SETTINGS))})",
            model,
        )


def _deployment(
    model: str,
    params: dict[str, Any],
    api_base: str | None,
    api_key: str | None,
    timeout: Any,
    litellm_params: Mapping[str, Any] | None = None,
) -> DeploymentConfig:
    """The deployment's settings: those mixed into ``params`` (taken out of it) and LiteLLM's own arguments
    (``ssl_verify``, a call kwarg or Router ``litellm_params``, is consumed by LiteLLM into ``litellm_params``)."""
    litellm_params = litellm_params or {}
    _refuse_client_settings(litellm_params, model)
    settings = {name: params.pop(name) for name in list(params) if name in SETTING_NAMES}
    ssl_verify = litellm_params.get("ssl_verify")
    settings.update(
        {
            key: value
            for key, value in (
                ("api_base", api_base),
                ("api_key", api_key),
                ("timeout", _timeout_seconds(timeout)),
                ("ssl_verify", ssl_verify),
            )
            if value is not None
        }
    )
    return load_config(model, settings)


@dataclasses.dataclass(frozen=True)
class _Conversation:
    """The normalized messages, and the token metadata of the assistant turn they continue (if known)."""

    raw: list[Any]
    messages: list[dict[str, Any]]
    last_assistant: int | None
    """The position of the last assistant turn that new messages follow."""
    previous: PreviousTurn | None
    unmatched: str | None
    """Why an earlier assistant turn could not be continued (reported as ``continuation_warning``)."""
    session: _Session | None
    keys: HistoryKeys | None = None
    """The conversation's fingerprints in the ledger (with a session)."""


@dataclasses.dataclass(frozen=True)
class _Session:
    session_id: str
    ledger: Ledger


def _session(config: DeploymentConfig, litellm_params: Mapping[str, Any] | None, headers: Any, model: str):
    """The session the request names and its ledger, or None."""
    session_id = session_id_of(litellm_params, headers if isinstance(headers, Mapping) else None)
    if session_id is None:
        return None
    try:
        return _Session(session_id, Ledger(open_store(config.session_store)))
    except ValueError as exc:
        raise bad_request(f"Invalid {PROVIDER} setting session_store for model {model!r}: {exc}", model) from None
    except StoreError as exc:
        return _store_failure(config, exc, model)


def _store_failure(config: DeploymentConfig, exc: StoreError, model: str) -> None:
    """An unreachable store fails the request (APIConnectionError naming it), or, with
    ``session_store_errors="rerender"``, is logged and the request goes on without the ledger."""
    if config.session_store_errors == "fail":
        raise connection_error(f"{exc} (set session_store_errors='rerender' to go on without it)", model) from None
    logger.warning("sglang_native: %s; continuing without the session ledger", exc)
    return None


def _conversation(
    raw_messages: list[Any],
    session: _Session | None,
    render_inputs: tuple[Any, Mapping[str, Any]],
    config: DeploymentConfig,
    model: str,
) -> _Conversation:
    """Normalize the messages once and find the metadata of the turn they continue: on the message, else
    in the session ledger."""
    messages = normalize_messages(raw_messages, model)
    previous = previous_turn(raw_messages, messages)
    index = last_assistant(messages)
    keys = HistoryKeys.of(messages, *render_inputs, index) if session is not None else None
    conversation = functools.partial(_Conversation, raw_messages, messages, index, keys=keys)
    if previous is not None or index is None:
        return conversation(previous, None, session)
    if session is None:
        reason = (
            f"messages[{index}] carries no {PROVIDER} token metadata and the request names no session "
            "(metadata={'session_id': ...}) to find it in"
        )
        return conversation(None, reason, None)
    try:
        fields = session.ledger.find(session.session_id, messages, index, keys)
    except StoreError as exc:
        _store_failure(config, exc, model)
        return conversation(None, f"the session store could not be read for messages[{index}]", None)
    if fields is None:
        reason = f"no turn of session {session.session_id!r} wrote messages[{index}] (it was rewritten or edited)"
        return conversation(None, reason, session)
    return conversation(PreviousTurn(index, fields, "ledger"), None, session)


def _session_turn(conversation: _Conversation, prompt: Prompt, config, model: str) -> SessionTurn | None:
    session = conversation.session
    if session is None or conversation.keys is None:
        return None
    previous = conversation.previous
    try:
        recording = session.ledger.recording(
            session.session_id,
            conversation.keys.whole,
            prompt.ids,
            continued_from=previous.fields if previous is not None else None,
            source=previous.source if previous is not None else None,
            rerendered=not prompt.continued,
            has_history=conversation.last_assistant is not None,
        )
    except StoreError as exc:
        return _store_failure(config, exc, model)
    return SessionTurn(session.ledger, recording, model, fail_on_store_errors=config.session_store_errors == "fail")


class SGLangNativeProvider(CustomLLM):
    """Renders the chat client-side, sends exact token ids to ``/generate``, parses what comes back."""

    def __init__(self) -> None:
        super().__init__()
        self._client = GenerateClient()
        self._checks = ServerChecks(
            self._client, {"tool_call_parser": TOOL_CALL_PARSERS, "reasoning_parser": REASONING_PARSERS}
        )

    def _prepare(
        self,
        *,
        model: str,
        messages: list,
        api_base: str | None,
        api_key: str | None,
        optional_params: dict[str, Any],
        litellm_params: dict[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        headers: Any = None,
        **_unused: Any,
    ) -> PreparedCall:
        """Validate settings and parameters, find the turn the conversation continues and render the prompt;
        LiteLLM passes every argument by keyword, and those this provider does not use land in ``_unused``."""
        register_models(model)
        params = dict(optional_params)
        config = _deployment(model, params, api_base, api_key, timeout, litellm_params)
        drop_params = _drop_params(litellm_params)

        tools = normalize_tools(params.pop("tools", None), model)
        requested_tool_choice = params.pop("tool_choice", None)
        parallel_tool_calls = params.pop("parallel_tool_calls", None)  # shapes a forced call's tag, as in SGLang
        template_kwargs = _template_kwargs(config, params.pop("reasoning_effort", None), model)
        sampling = build_sampling_request(params, config.default_sampling_params, drop_params=drop_params, model=model)

        tokenizer = tokenizers.get(
            config.tokenizer_source(model),
            revision=config.tokenizer_revision,
            trust_remote_code=config.trust_remote_code,
            model=model,
        )
        chat_template = resolve_chat_template(config.chat_template)
        template_source = chat_template or tokenizer.chat_template or ""
        tool_parser_name = config.tool_call_parser or _detected(model, "tool_call_parser", template_source)
        reasoning_parser_name = config.reasoning_parser or _detected(model, "reasoning_parser", template_source)
        tool_choice = resolve_tool_choice(
            requested_tool_choice,
            tools,
            tool_parser_name,
            drop_params=drop_params,
            model=model,
            parallel_tool_calls=parallel_tool_calls,
        )
        tool_choice.constrain(sampling.sampling_params, model)

        render_inputs = (tools, template_kwargs)
        session = _session(config, litellm_params, headers, model)
        if session is not None and config.routing_key is None:
            config = config.model_copy(update={"routing_key": session.session_id})
        conversation = _conversation(messages, session, render_inputs, config, model)
        prompt = build_prompt(
            prompt_tokenizer(tokenizer, config.special_tokens_in_content, model),
            conversation.raw,
            conversation.messages,
            conversation.previous,
            tools=tools,
            chat_template=chat_template,
            chat_template_kwargs=template_kwargs,
            tokenizer_source=config.tokenizer_source(model),
            mode=config.continuation,
            drift_check=config.drift_check,
            model=model,
            unmatched=conversation.unmatched,
        )
        _check_vocabulary(prompt.ids, tokenizer, config.vocab_size, model)
        session_turn = _session_turn(conversation, prompt, config, model)

        tool_parser = _parser("tool_call_parser", tool_parser_name, TOOL_CALL_PARSERS, model, tokenizer)
        reasoning_parser = _parser("reasoning_parser", reasoning_parser_name, REASONING_PARSERS, model, tokenizer)
        _keep_special_markers(sampling, tokenizer, tool_parser, reasoning_parser)
        reasoning_start = _ReasoningStart.of(tokenizer, prompt.ids, reasoning_parser)
        digest = conversation_digest(conversation.messages, tools, template_kwargs)
        request_fields = _request_fields(config, model, prompt, digest, logged=conversation.unmatched is None)
        if session_turn is not None:
            request_fields.update(session_turn.recording.fields())
        elif session_id_of(litellm_params, headers if isinstance(headers, Mapping) else None) is not None:
            request_fields["session_warning"] = UNRECORDED  # the store failed and session_store_errors="rerender"
        context = ResponseContext(
            model=model,
            prompt_ids=prompt.ids,
            tokenizer=tokenizer,
            tools=tools if tool_choice.parse_calls else None,
            tool_parser=tool_parser,
            reasoning_parser=reasoning_parser,
            reasoning_opened=reasoning_start.opened,
            logprobs=sampling.logprobs,
            top_logprobs=sampling.top_logprobs,
            request_fields=request_fields,
            sampling_params=sampling.sampling_params,
            model_vocab_size=config.vocab_size,
        )
        # A forced call's grammar waits for the end of reasoning when the output may start with it.
        require_reasoning = tool_choice.structural_tag is not None and reasoning_start.may_reason
        return PreparedCall(
            config=config,
            sampling=sampling,
            prompt=prompt,
            context=context,
            require_reasoning=require_reasoning,
            session=session_turn,
            server_check=(
                ServerChecks.deployment(config, tool_parser_name, reasoning_parser_name, model)
                if config.server_check
                else None
            ),
        )

    async def _acheck_server(self, call: PreparedCall) -> None:
        if call.server_check is not None:
            warnings = await self._checks.acheck(call.config, call.server_check, call.context.tokenizer)
            call.report_server_warnings(warnings)

    def _check_server(self, call: PreparedCall) -> None:
        if call.server_check is not None:
            call.report_server_warnings(self._checks.check(call.config, call.server_check, call.context.tokenizer))

    def completion(self, *, model_response: ModelResponse, **kwargs: Any) -> ModelResponse:
        call = self._prepare(**kwargs)
        self._check_server(call)
        return call.response(model_response, self._client.generate(call.config, call.body(), call.model))

    async def acompletion(self, *, model_response: ModelResponse, **kwargs: Any) -> ModelResponse:
        # In a worker thread: rendering is CPU work and a session store may do I/O. (LiteLLM already calls
        # ``astreaming`` from one, and ``acompletion`` only to make this coroutine, awaited on the loop.)
        call = await asyncio.to_thread(self._prepare, **kwargs)
        await self._acheck_server(call)
        return await call.aresponse(model_response, await self._client.agenerate(call.config, call.body(), call.model))

    def astreaming(self, **kwargs: Any) -> AsyncIterator[ModelResponseStream]:  # type: ignore[override]
        """Validate and render now, so bad input raises its own exception from ``acompletion`` (LiteLLM wraps
        whatever a stream raises in ``MidStreamFallbackError``); stream when iterated."""
        return self._astream(self._prepare(**kwargs))

    async def _astream(self, call: PreparedCall) -> AsyncIterator[ModelResponseStream]:
        await self._acheck_server(call)
        assembler = StreamAssembler(call)
        finished = False
        try:
            # Closed at once when this stream is (not when collected): the connection closes, SGLang stops.
            events = self._client.astream(call.config, call.body(stream=True), call.model)
            async with contextlib.aclosing(events):
                async for event in events:
                    for chunk in assembler.event(event):
                        yield chunk
            assembler.done()
            finished = True
        finally:
            if not finished:  # cancelled, abandoned or failed: do not let the GPU generate for nobody
                await self._client.aabort(call.config, call.rid)
        if call.session is not None:
            await call.session.arecord(assembler.finished_choices())

    def streaming(self, **kwargs: Any) -> Iterator[ModelResponseStream]:
        """As :meth:`astreaming`, synchronously."""
        return self._stream(self._prepare(**kwargs))

    def _stream(self, call: PreparedCall) -> Iterator[ModelResponseStream]:
        self._check_server(call)
        assembler = StreamAssembler(call)
        finished = False
        try:
            with contextlib.closing(self._client.stream(call.config, call.body(stream=True), call.model)) as events:
                for event in events:
                    yield from assembler.event(event)
            assembler.done()
            finished = True
        finally:
            if not finished:
                self._client.abort(call.config, call.rid)
        if call.session is not None:
            call.session.record(assembler.finished_choices())


handler = SGLangNativeProvider()
"""The provider instance; the proxy's ``custom_provider_map`` can name it directly."""


def register(*models: str) -> SGLangNativeProvider:
    """Make ``sglang_native/<model>`` available to LiteLLM (idempotent); call before building a Router.

    Models named here are also registered in LiteLLM's model map with what they support (function
    calling, reasoning...) at zero cost, so frameworks that ask LiteLLM first use native tool calls; any
    other model is registered at its first call."""
    entries = [entry for entry in litellm.custom_provider_map if entry.get("provider") != PROVIDER]
    litellm.custom_provider_map = [*entries, {"provider": PROVIDER, "custom_handler": handler}]
    register_models(*models)
    return handler
