"""SGLang ``/generate`` outputs -> a LiteLLM ``ModelResponse`` with exact token metadata.

Each choice's ``message.provider_specific_fields`` carries what RL users need (docs/token-metadata.md):
``prompt_token_ids``, ``completion_token_ids``, ``completion_logprobs``, ``completion_top_logprobs``,
``sglang_finish_reason``, ``sglang_request_id``, ``weight_version``, ``cached_tokens``, ``e2e_latency``.
It travels with the message when the caller appends it to the next turn's ``messages``.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from litellm.types.utils import (
    ChatCompletionMessageToolCall,
    Choices,
    Function,
    Message,
    ModelResponse,
    PromptTokensDetailsWrapper,
    Usage,
)

from .errors import error_for_status
from .fingerprints import message_digest
from .model_text import StreamedText, written_text
from .parsers import ReasoningParser, ToolCall, ToolCallParser
from .parsers.base import merge_metadata
from .protocol import FinishReason, GenerateOutput, LogprobEntry
from .rollout_signals import RoutedExpertsAsk
from .validation import check_output, check_output_count, text_mismatch

__all__ = [
    "ResponseContext",
    "TokenBytes",
    "build_model_response",
    "check_finished",
    "openai_finish_reason",
    "openai_logprobs",
    "token_bytes_for",
    "token_metadata",
    "unknown_tool_names",
    "usage",
]

logger = logging.getLogger(__name__)


class TokenBytes:
    """The exact bytes of each token id (byte-level BPE tokens map back to bytes one character each)."""

    def __init__(self, tokenizer) -> None:
        from transformers.convert_slow_tokenizer import bytes_to_unicode

        self._tokenizer = tokenizer
        decoder = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
        self._byte_level = type(decoder).__name__ == "ByteLevel"
        self._byte_decoder = {char: byte for byte, char in bytes_to_unicode().items()}
        self._added = {token_id: token.content for token_id, token in tokenizer.added_tokens_decoder.items()}
        self._cache: dict[int, bytes] = {}

    def __call__(self, token_id: int) -> bytes:
        cached = self._cache.get(token_id)
        if cached is None:
            cached = self._cache[token_id] = self._bytes(token_id)
        return cached

    def _bytes(self, token_id: int) -> bytes:
        added = self._added.get(token_id)
        if added is not None:
            return added.encode()
        if self._byte_level:
            piece = self._tokenizer.convert_ids_to_tokens(token_id)
            if piece is not None and all(char in self._byte_decoder for char in piece):
                return bytes(self._byte_decoder[char] for char in piece)
        return self._tokenizer.decode([token_id]).encode()


@functools.lru_cache(maxsize=16)
def token_bytes_for(tokenizer) -> TokenBytes:
    return TokenBytes(tokenizer)


def _openai_entry(token_bytes: TokenBytes, logprob: float | None, token_id: int) -> dict[str, Any]:
    raw = token_bytes(token_id)
    return {"token": raw.decode("utf-8", "replace"), "bytes": list(raw), "logprob": logprob}


def openai_logprobs(
    entries: Sequence[LogprobEntry], tops: Sequence[Any] | None, token_bytes: TokenBytes, top_logprobs: int
) -> dict[str, Any]:
    """OpenAI's ``logprobs`` (``content``: token, exact bytes, logprob, top alternatives)."""
    tops = tops or [None] * len(entries)
    content = []
    for (logprob, token_id, _), top in zip(entries, tops, strict=True):
        entry = _openai_entry(token_bytes, logprob, token_id)
        entry["top_logprobs"] = [_openai_entry(token_bytes, lp, tid) for lp, tid, _ in (top or [])[:top_logprobs]]
        content.append(entry)
    return {"content": content}


def token_metadata(output: GenerateOutput, prompt_ids: Sequence[int], top_logprobs: int) -> dict[str, Any]:
    """The ``provider_specific_fields`` of one choice (see the module docstring)."""
    meta = output.meta_info
    fields: dict[str, Any] = {
        "prompt_token_ids": list(prompt_ids),
        "completion_token_ids": output.output_ids,
    }
    if meta.output_token_logprobs is not None:
        fields["completion_logprobs"] = [entry[0] for entry in meta.output_token_logprobs]
    if top_logprobs and meta.output_top_logprobs is not None:
        fields["completion_top_logprobs"] = [
            [[token_id, logprob] for logprob, token_id, _ in (row or [])] for row in meta.output_top_logprobs
        ]
    fields.update(
        sglang_finish_reason=meta.finish_reason.model_dump(exclude_none=True) if meta.finish_reason else None,
        sglang_request_id=meta.id,
        weight_version=meta.weight_version,
        cached_tokens=meta.cached_tokens,
        e2e_latency=meta.e2e_latency,
    )
    return fields


def unknown_tool_names(names: Sequence[str], tools: Sequence[dict[str, Any]] | None) -> list[str]:
    """Names of calls to functions the request's ``tools`` do not declare (kept, and reported in the
    metadata as ``unknown_tool_calls``)."""
    known = {tool["function"]["name"] for tool in tools or ()}
    return [name for name in names if name not in known]


def check_finished(output: GenerateOutput, model: str) -> None:
    """Raise the LiteLLM exception for an unfinished or aborted output."""
    finish = output.meta_info.finish_reason
    if finish is None:
        raise error_for_status(502, "SGLang returned an unfinished output", model)
    if finish.type == "abort":
        status = finish.status_code if finish.status_code and finish.status_code >= 400 else 500
        raise error_for_status(status, f"SGLang aborted the request: {finish.message or 'Aborted'}", model)


def openai_finish_reason(finish: FinishReason, has_tool_calls: bool) -> str:
    return "length" if finish.type == "length" else "tool_calls" if has_tool_calls else "stop"


def usage(prompt_tokens: int, outputs: Sequence[GenerateOutput]) -> Usage:
    """Usage of all sampled sequences; cached tokens as SGLang reported them for the first."""
    completion_tokens = sum(output.meta_info.completion_tokens for output in outputs)
    return Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
        prompt_tokens_details=PromptTokensDetailsWrapper(cached_tokens=outputs[0].meta_info.cached_tokens),
    )


@dataclass(frozen=True)
class ResponseContext:
    """What turning one request's outputs into a response needs to know about the request."""

    model: str
    prompt_ids: Sequence[int]
    tokenizer: Any
    tools: list[dict[str, Any]] | None
    """The tools whose calls are parsed (None when ``tool_choice`` is ``none``)."""
    tool_parser: ToolCallParser | None
    reasoning_parser: ReasoningParser | None
    reasoning_opened: bool
    logprobs: bool
    top_logprobs: int
    request_fields: dict[str, Any] = field(default_factory=dict)
    """Metadata every choice carries (tokenizer, conversation digest, template drift...)."""
    sampling_params: dict[str, Any] = field(default_factory=dict)
    """The request's SGLang ``sampling_params`` (``n``, and how ``text`` was detokenized)."""
    model_vocab_size: int | None = None
    """The ``vocab_size`` setting: output ids may go up to it when it exceeds the tokenizer's."""
    routed_experts: RoutedExpertsAsk | None = None
    """Whether (and from which position) the request asked for routed experts."""

    @property
    def n(self) -> int:
        return int(self.sampling_params.get("n") or 1)

    @functools.cached_property
    def markers(self) -> frozenset[str]:
        """The markup of this request's parsers (an end marker SGLang trimmed as a stop token is given back)."""
        parsers = (self.tool_parser, self.reasoning_parser)
        return frozenset(marker for parser in parsers if parser is not None for marker in parser.markers)

    def written(self, output: GenerateOutput) -> str:
        """The text the model wrote in a finished output, from its ids (see :mod:`.model_text`)."""
        return written_text(output, self.tokenizer, self.sampling_params, self.markers)

    def streamed_text(self) -> StreamedText:
        """One streamed sequence's text, from its ids as they arrive."""
        return StreamedText(self.tokenizer, self.sampling_params, self.markers, self.model)

    def check(self, output: GenerateOutput) -> None:
        """Raise ``InternalServerError`` for an unfinished, aborted or inconsistent output."""
        check_finished(output, self.model)
        check_output(
            output,
            tokenizer=self.tokenizer,
            logprobs=self.logprobs,
            top_logprobs=self.top_logprobs,
            model=self.model,
            model_vocab_size=self.model_vocab_size,
        )

    def parse_output(self, text: str) -> tuple[str, str | None, list[ToolCall], dict[str, list[Any]]]:
        """(content, reasoning, tool calls, the parsers' metadata such as ``unparsed_tool_markup``)."""
        reasoning, metadata = None, []
        if self.reasoning_parser is not None:
            parsed_reasoning = self.reasoning_parser.parse(text, opened=self.reasoning_opened)
            text, reasoning = parsed_reasoning.content, parsed_reasoning.reasoning
            metadata.append(parsed_reasoning.metadata)
        calls: list[ToolCall] = []
        if self.tools and self.tool_parser is not None:
            parsed = self.tool_parser.parse(text, self.tools)
            text, calls = parsed.content, parsed.calls
            metadata.append(parsed.metadata)
        return text, reasoning, calls, merge_metadata(*metadata)

    def choice_fields(
        self, output: GenerateOutput, content: str | None, reasoning: str | None, calls, metadata: dict
    ) -> dict:
        """A choice's ``provider_specific_fields``: token metadata, request metadata, digests, warnings, and
        what the parsers found besides content and calls (``metadata``, from :meth:`parse_output`)."""
        fields = token_metadata(output, self.prompt_ids, self.top_logprobs)
        if self.routed_experts is not None:
            seqlen = len(self.prompt_ids) + len(output.output_ids)
            fields.update(self.routed_experts.fields(output.meta_info.routed_experts, seqlen, self.model))
        fields.update(self.request_fields)
        fields.update(metadata)
        fields["message_digest"] = message_digest(content, reasoning, [(call.name, call.arguments) for call in calls])
        unknown = unknown_tool_names([call.name for call in calls], self.tools)
        if unknown:
            fields["unknown_tool_calls"] = unknown
        mismatch = text_mismatch(output, self.tokenizer, self.sampling_params)
        if mismatch is not None:
            fields["text_mismatch"] = mismatch
            logger.warning("sglang_native: SGLang's text departs from its decoded ids at %d", mismatch["position"])
        return fields


def _choice(index: int, output: GenerateOutput, context: ResponseContext, token_bytes: TokenBytes) -> Choices:
    text, reasoning, calls, metadata = context.parse_output(context.written(output))
    tool_calls = [
        ChatCompletionMessageToolCall(
            id=call.id or context.tool_parser.new_call_id(),
            type="function",
            function=Function(name=call.name, arguments=call.arguments),
        )
        for call in calls
    ]
    content = text or None if tool_calls else text
    message = Message(
        content=content,
        role="assistant",
        tool_calls=tool_calls or None,
        reasoning_content=reasoning,
        provider_specific_fields=context.choice_fields(output, content, reasoning, calls, metadata),
    )
    if reasoning is None:
        message.reasoning_content = None  # LiteLLM deletes the attribute; keep it, so it can always be read
    meta = output.meta_info
    choice_logprobs = (
        openai_logprobs(meta.output_token_logprobs or [], meta.output_top_logprobs, token_bytes, context.top_logprobs)
        if context.logprobs
        else None
    )
    finish_reason = openai_finish_reason(meta.finish_reason, bool(tool_calls))
    return Choices(index=index, finish_reason=finish_reason, message=message, logprobs=choice_logprobs)


def build_model_response(
    model_response: ModelResponse, outputs: list[GenerateOutput], context: ResponseContext
) -> ModelResponse:
    """Fill LiteLLM's ``model_response`` with one choice per sampled sequence."""
    check_output_count(len(outputs), context.n, context.model)
    for output in outputs:
        context.check(output)
    token_bytes = token_bytes_for(context.tokenizer)
    model_response.choices = [_choice(index, output, context, token_bytes) for index, output in enumerate(outputs)]
    model_response.usage = usage(len(context.prompt_ids), outputs)  # type: ignore[attr-defined]
    model_response.model = context.model
    model_response.created = int(time.time())
    return model_response
