"""SGLang stream events -> LiteLLM ``ModelResponseStream`` chunks.

SGLang streams cumulative ``text``/``output_ids``/logprob lists by default and deltas with
``--incremental-streaming-output``; the deployment setting says which, and a stream that does not match it
fails clearly. Text deltas go through the reasoning and tool-call parsers' incremental streams, so markup
never leaks into ``content`` and the joined deltas equal the non-streaming answer. The last chunk of each
choice carries its finish reason and the same token metadata as a non-streaming response.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from litellm.types.utils import ChatCompletionDeltaToolCall, Delta, Function, ModelResponseStream, StreamingChoices
from pydantic import ValidationError

from .errors import error_for_status
from .model_text import StreamedText
from .parsers import ReasoningStream, ToolCall, ToolCallStream
from .protocol import GenerateOutput, LogprobEntry
from .response import (
    ResponseContext,
    openai_finish_reason,
    openai_logprobs,
    token_bytes_for,
    usage,
)
from .validation import (
    check_counts,
    check_event_index,
    check_finish_reason,
    check_logprobs,
    check_token_ids,
    check_top_logprobs,
    vocab_size,
)

__all__ = ["StreamAssembler"]


@dataclass
class _Pending:
    """A chunk held back by one event, so that the choice's last chunk can carry its metadata."""

    reasoning: str = ""
    content: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    logprobs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Choice:
    """What one sampled sequence has streamed so far."""

    reasoning: ReasoningStream | None
    tools: ToolCallStream | None
    shown: StreamedText
    """The text passed to the parsers: from the ids, paced by SGLang's text (``text`` below)."""
    output_ids: list[int] = field(default_factory=list)
    text: str = ""
    logprobs: list[LogprobEntry] = field(default_factory=list)
    top_logprobs: list[Any] = field(default_factory=list)
    call_names: list[str] = field(default_factory=list)
    started: bool = False
    pending: _Pending | None = None
    unsent_logprobs: list[dict[str, Any]] = field(default_factory=list)
    final: GenerateOutput | None = None
    written: tuple[dict[str, Any], str, str | None, list[tuple[str, str]]] | None = None
    """The finished choice's metadata and what it wrote (content, reasoning, calls), for the ledger."""


def _sent(values: list[Any], output_ids: list[int]) -> list[Any] | None:
    """A stream's assembled logprob list, or None when no event carried one."""
    return values if values or not output_ids else None


class StreamAssembler:
    """Feeds on parsed SGLang events (:meth:`event`) and returns the LiteLLM chunks they make."""

    def __init__(self, context: ResponseContext, rid: str, *, incremental: bool) -> None:
        """``context`` of the request whose ``rid`` it streams; ``incremental`` when the server sends deltas."""
        self._incremental = incremental
        self._context = context
        self._token_bytes = token_bytes_for(context.tokenizer)
        self._choices: dict[int, _Choice] = {}
        self._id = f"chatcmpl-{rid}"
        self._created = int(time.time())

    def _new_choice(self) -> _Choice:
        context = self._context
        reasoning_parser, tool_parser = context.reasoning_parser, context.tool_parser
        return _Choice(
            reasoning=reasoning_parser.stream(opened=context.reasoning_opened) if reasoning_parser else None,
            tools=tool_parser.stream(context.tools) if tool_parser and context.tools else None,
            shown=context.streamed_text(),
        )

    def event(self, data: dict[str, Any]) -> list[ModelResponseStream]:
        """The chunks one SGLang event releases.

        Each choice's latest visible chunk is held back until the next one arrives: LiteLLM drops a
        content-less chunk once a finish reason is known, so the token metadata (and usage) ride on the
        choice's last visible chunk, followed by an empty chunk with the finish reason.
        """
        model = self._context.model
        try:
            output = GenerateOutput.model_validate(data)
        except ValidationError as exc:
            raise error_for_status(502, f"malformed stream event from SGLang: {exc}", model) from None
        index = output.index or 0
        check_event_index(index, self._context.n, model)
        check_finish_reason(output.meta_info.finish_reason, model)
        check_counts(output.meta_info, model)
        choice = self._choices.get(index)
        if choice is None:
            choice = self._choices[index] = self._new_choice()
        text_delta, new_logprobs, new_tops = self._deltas(choice, output)
        finish = output.meta_info.finish_reason
        full = self._finished(choice, output) if finish is not None else None
        if full is not None:
            text_delta += choice.shown.finish(full)
        reasoning, content, calls = self._parse(choice, text_delta, final=full is not None)
        if self._context.logprobs and new_logprobs:
            top = self._context.top_logprobs
            choice.unsent_logprobs += openai_logprobs(new_logprobs, new_tops, self._token_bytes, top)["content"]
        chunks: list[ModelResponseStream] = []
        if reasoning or content or calls:
            chunks += self._release(index, choice)
            choice.pending = _Pending(reasoning, content, calls)
        if choice.pending is not None:
            choice.pending.logprobs += choice.unsent_logprobs
            choice.unsent_logprobs = []
        if full is None:
            return chunks
        content, reasoning, calls, metadata = self._context.parse_output(choice.shown.shown)
        fields = self._context.choice_fields(full, content, reasoning, calls, metadata)
        choice.written = (fields, content, reasoning, [(call.name, call.arguments) for call in calls])
        all_finished = len(self._choices) == self._context.n and all(
            other.final is not None for other in self._choices.values()
        )
        chunks += self._release(index, choice, fields=fields, with_usage=all_finished)
        finish_reason = openai_finish_reason(finish, bool(choice.call_names))
        chunks.append(self._chunk(index, Delta(), finish_reason=finish_reason))
        return chunks

    def _finished(self, choice: _Choice, output: GenerateOutput) -> GenerateOutput:
        """The whole sequence at its last event, checked as a non-streamed output is."""
        full = output.model_copy(
            update={
                "output_ids": choice.output_ids,
                "text": choice.text,
                "meta_info": output.meta_info.model_copy(
                    update={
                        "output_token_logprobs": _sent(choice.logprobs, choice.output_ids),
                        "output_top_logprobs": _sent(choice.top_logprobs, choice.output_ids),
                    }
                ),
            }
        )
        self._context.check(full)
        choice.final = full
        return full

    def _release(
        self, index: int, choice: _Choice, *, fields: dict[str, Any] | None = None, with_usage: bool = False
    ) -> list[ModelResponseStream]:
        pending = choice.pending or (_Pending() if fields is not None else None)
        choice.pending = None
        if pending is None:
            return []
        tool_calls = []
        for call in pending.calls:
            tool_calls.append(
                ChatCompletionDeltaToolCall(
                    index=len(choice.call_names),
                    id=call.id or self._context.tool_parser.new_call_id(),
                    type="function",
                    function=Function(name=call.name, arguments=call.arguments),
                )
            )
            choice.call_names.append(call.name)
        delta = Delta(
            role=None if choice.started else "assistant",
            content=pending.content or None,
            reasoning_content=pending.reasoning or None,
            tool_calls=tool_calls or None,
            provider_specific_fields=fields,
        )
        choice.started = True
        logprobs = {"content": pending.logprobs} if pending.logprobs else None
        chunk = self._chunk(index, delta, logprobs=logprobs)
        if with_usage:
            finals = [other.final for _, other in sorted(self._choices.items())]
            chunk.usage = usage(len(self._context.prompt_ids), finals)  # type: ignore[attr-defined]
        return [chunk]

    def _chunk(
        self, index: int, delta: Delta, *, finish_reason: str | None = None, logprobs: dict[str, Any] | None = None
    ) -> ModelResponseStream:
        stream_choice = StreamingChoices(index=index, delta=delta, finish_reason=finish_reason, logprobs=logprobs)
        model = self._context.model
        return ModelResponseStream(id=self._id, created=self._created, model=model, choices=[stream_choice])

    def _deltas(self, choice: _Choice, output: GenerateOutput):
        """This event's new text (from its ids, ``model_text.StreamedText``), logprobs and top logprobs (recorded
        on ``choice``); checks the streaming mode."""
        meta = output.meta_info
        logprobs = meta.output_token_logprobs or []
        tops = meta.output_top_logprobs or []
        if self._incremental:
            new_ids, text_delta, new_logprobs, new_tops = output.output_ids, output.text, logprobs, tops
            consistent = len(choice.output_ids) + len(new_ids) == meta.completion_tokens
        else:
            seen = len(choice.output_ids)
            consistent = output.output_ids[:seen] == choice.output_ids and len(output.output_ids) == (
                meta.completion_tokens
            )
            new_ids = output.output_ids[seen:]
            text_delta = output.text[len(choice.text) :] if output.text.startswith(choice.text) else ""
            new_logprobs, new_tops = logprobs[len(choice.logprobs) :], tops[len(choice.top_logprobs) :]
        if not consistent:
            configured = "incremental" if self._incremental else "cumulative"
            raise error_for_status(
                502,
                f"SGLang's stream does not match the deployment's {configured} streaming mode; set "
                f"incremental_streaming_output={not self._incremental} if the server runs "
                f"{'without' if self._incremental else 'with'} --incremental-streaming-output",
                self._context.model,
            )
        checked_ids, checked_logprobs, checked_tops = (
            len(choice.output_ids),
            min(len(choice.output_ids), len(choice.logprobs)),
            min(len(choice.output_ids), len(choice.top_logprobs)),
        )
        choice.output_ids.extend(new_ids)
        choice.text += text_delta
        choice.logprobs.extend(new_logprobs)
        choice.top_logprobs.extend(new_tops)
        self._check_new_tokens(choice, checked_ids, checked_logprobs, checked_tops)
        return choice.shown.event(new_ids, choice.text), new_logprobs, new_tops

    def _check_new_tokens(self, choice: _Choice, ids_from: int, logprobs_from: int, tops_from: int) -> None:
        """What this event added holds together before any of it is passed on (the whole output is checked
        again when it finishes)."""
        model, top_logprobs = self._context.model, self._context.top_logprobs
        size = vocab_size(self._context.tokenizer, self._context.model_vocab_size)
        check_token_ids(choice.output_ids, size, "output_ids", model, start=ids_from)
        check_logprobs(choice.output_ids, choice.logprobs, model, start=logprobs_from, complete=False)
        if top_logprobs:
            check_top_logprobs(
                choice.output_ids, choice.top_logprobs, top_logprobs, size, model, start=tops_from, complete=False
            )

    @staticmethod
    def _parse(choice: _Choice, text: str, *, final: bool) -> tuple[str, str, list[ToolCall]]:
        reasoning, content = "", text
        if choice.reasoning is not None:
            reasoning, content = choice.reasoning.feed(text)
            if final:
                more_reasoning, more_content = choice.reasoning.finish()
                reasoning, content = reasoning + more_reasoning, content + more_content
        calls: list[ToolCall] = []
        if choice.tools is not None:
            content, calls = choice.tools.feed(content)
            if final:
                more_content, more_calls = choice.tools.finish()
                content, calls = content + more_content, calls + more_calls
        return reasoning, content, calls

    def finished_choices(self) -> list[tuple[dict[str, Any], str, str | None, list[tuple[str, str]]]]:
        """Each finished choice's (provider_specific_fields, content, reasoning, [(name, arguments)])."""
        return [choice.written for _, choice in sorted(self._choices.items()) if choice.written is not None]

    def done(self) -> None:
        """At ``[DONE]``: every sampled sequence must have finished."""
        expected = self._context.n
        finished = sum(choice.final is not None for choice in self._choices.values())
        if finished != expected:
            raise error_for_status(
                502, f"SGLang's stream ended with {finished} of {expected} sequences finished", self._context.model
            )
