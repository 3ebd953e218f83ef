"""Runs sampled sequences token by token and reports them in SGLang's output shape.

The output dicts follow SGLang 0.5.23 ``TokenizerManager._handle_batch_output`` and
``_stream_one_response`` (``srt/managers/tokenizer_manager.py``): ``{"text", "output_ids",
"meta_info"}`` with ``meta_info`` keys in SGLang's order; cumulative stream events by default and
deltas with ``--incremental-streaming-output``. Stream events follow ``--stream-interval``
(``srt/managers/scheduler_components/output_streamer.py``: the first token at once, then every
``stream_interval`` tokens) and the tokenizer manager's draining of queued outputs into one event; the last
two steps of a request streaming several sequences arrived together in every real capture, which the emulator
reproduces by default (see :class:`Engine`), so clients must not assume one token per event. Finishing follows
``Req.update_finish_state`` (``srt/managers/schedule_batch.py``: stop string, then stop token / EOS, then length)
and the detokenizer's ``trim_matched_stop`` (``srt/managers/detokenizer_manager.py``): a matched stop is cut
from ``text`` while ``output_ids`` keep the matched stop token, except the stop tokens the server's tool-call
parser keeps (see :mod:`.stop_tokens`).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from .model import FakeModel, LogprobRow, PrefixCache
from .requests import GenerateError, Job
from .routing import FakeMoe
from .vision import ImageTokens

__all__ = ["Engine"]

_REPLACEMENT_CHAR = "\ufffd"


@dataclass
class _Sequence:
    """The live state of one running job."""

    job: Job
    cached_tokens: int
    started: float = field(default_factory=time.perf_counter)
    output_ids: list[int] = field(default_factory=list)
    # Logprob fields in wire shape, built once per token (cumulative events resend them).
    input_logprobs: list[list[Any]] = field(default_factory=list)
    input_top_logprobs: list[list[list[Any]] | None] = field(default_factory=list)
    output_logprobs: list[list[Any]] = field(default_factory=list)
    output_top_logprobs: list[list[list[Any]]] = field(default_factory=list)
    finish_reason: dict[str, Any] | None = None
    abort_requested: bool = False
    sent_ids: int = 0
    sent_text: str = ""
    first_sent: bool = False

    @functools.cached_property
    def context(self) -> int:
        """The key this sampled sequence's logprobs are derived from."""
        return FakeModel.context_id(self.job.prompt_ids, self.job.sample_index)


def _refused(sequence: _Sequence, message: str) -> bool:
    """A request SGLang's scheduler refuses: an error (raised), or in a stream an ``abort`` finish (True)."""
    if not sequence.job.stream:
        raise GenerateError(message)
    sequence.finish_reason = {"type": "abort", "message": message, "status_code": 400, "err_type": "BadRequestError"}
    return True


class Engine:
    """The emulator's scheduler: runs jobs, tracks them by rid for abort, and owns the prefix cache.

    ``stream_interval`` is SGLang's ``--stream-interval``. A merged stream does not send the event of the token
    before the last one on its own but merges it into the final event, as real SGLang's HTTP handler does when the
    last two steps' outputs are queued together, which depends on timing. ``merge_last_events`` None (the default)
    merges the streams of a request that streams several sequences (a batch, ``n > 1``), as real SGLang 0.5.23 on
    CPU did in every such capture, and not a lone stream (8 events for 8 tokens there); True merges every stream,
    False none. The first event is never merged. ``kept_stop_ids`` are the matched stop tokens the detokenizer does
    not trim from ``text`` (:func:`~.stop_tokens.kept_stop_token_ids`). ``moe`` is the model's mixture of experts
    when the server captures routing (``--enable-return-routed-experts``); None: a request asking for it gets none.
    """

    def __init__(
        self,
        model: FakeModel,
        *,
        context_length: int,
        weight_version: str = "default",
        token_delay: float = 0.0,
        incremental_streaming_output: bool = False,
        stream_interval: int = 1,
        merge_last_events: bool | None = None,
        kept_stop_ids: frozenset[int] = frozenset(),
        moe: FakeMoe | None = None,
        image_tokens: ImageTokens | None = None,
    ) -> None:
        if stream_interval < 1:
            raise ValueError(f"stream_interval must be at least 1, got {stream_interval}")
        self.model = model
        self.context_length = context_length
        self.weight_version = weight_version
        self.token_delay = token_delay
        self.incremental_streaming_output = incremental_streaming_output
        self.stream_interval = stream_interval
        self.merge_last_events = merge_last_events
        self.kept_stop_ids = kept_stop_ids
        self.moe = moe
        self.image_tokens = image_tokens
        """A vision model's image tokens (see vision.py); None for a text model, which ignores ``image_data``."""
        self.cache = PrefixCache()
        self.abort_requests: list[str] = []
        """Every rid ``/abort_request`` asked for (``"*"`` for abort_all), for tests to check."""
        self._running: dict[str, _Sequence] = {}

    @property
    def running_rids(self) -> list[str]:
        return list(self._running)

    def abort(self, rid: str = "", abort_all: bool = False) -> None:
        """End running requests with an ``abort`` finish; unknown rids are ignored, as in SGLang."""
        self.abort_requests.append("*" if abort_all else rid)
        targets = self._running.values() if abort_all else [self._running.get(rid)] if rid else []
        for sequence in targets:
            if sequence is not None:
                sequence.abort_requested = True

    def prefill_shared_prompts(self, jobs: list[Job]) -> None:
        """SGLang prefills an ``n > 1`` request's prompt once before sampling, so every sample finds it cached."""
        for job in jobs:
            if job.sample_index > 0:
                self.cache.insert(job.prompt_ids)

    def reserve(self, jobs: list[Job]) -> None:
        """Refuse rids already running (SGLang: "Duplicate request ID detected")."""
        for job in jobs:
            if job.rid in self._running:
                raise GenerateError(f"Duplicate request ID detected: {job.rid}")

    async def run(self, job: Job, *, aborted: bool = False, batched: bool = False) -> AsyncIterator[dict[str, Any]]:
        """Generate one job; yields stream events, or only the final output when not streaming. An ``aborted``
        job ends before its first token with an ``abort`` finish (fault injection); a ``batched`` one streams
        beside other sequences of its request."""
        self.reserve([job])
        cap = len(job.prompt_ids) - 1
        if job.return_logprob and 0 <= job.logprob_start_len < cap:
            cap = job.logprob_start_len  # prompt logprobs must be computed, not read from cache
        sequence = _Sequence(
            job=job, cached_tokens=min(self.cache.match(job.prompt_ids), max(cap, 0)), abort_requested=aborted
        )
        self._running[job.rid] = sequence
        try:
            merge = self.merge_last_events if self.merge_last_events is not None else batched
            async for output in self._generate(sequence, merge):
                yield output
        finally:
            self._running.pop(job.rid, None)
            if sequence.finish_reason is not None and sequence.finish_reason["type"] != "abort":
                # The last sampled token has no KV entry yet, so it is not cached (SGLang does the same).
                self.cache.insert(job.prompt_ids + tuple(sequence.output_ids[:-1]))

    async def _generate(self, sequence: _Sequence, merge: bool) -> AsyncIterator[dict[str, Any]]:
        job = sequence.job
        if self._logprob_start_too_high(sequence) or self._routed_experts_start_refused(sequence):
            yield self._output(sequence, "")
            return
        sampling = job.sampling
        max_new_tokens = sampling.max_new_tokens
        if max_new_tokens is None:
            max_new_tokens = self.context_length - len(job.prompt_ids)
        tokens = self.model.completion(
            job.prompt_ids,
            sample_index=job.sample_index,
            seed=sampling.sampling_seed,
            greedy=sampling.greedy,
            forced=sampling.forced_call,
        )
        stop_ids = sampling.stop_token_ids | self.model.eos_token_ids
        if job.return_logprob:
            self._record_input_logprobs(sequence)
        if max_new_tokens == 0:
            sequence.finish_reason = {"type": "length", "length": 0}
        held: tuple[dict[str, Any], tuple[int, str]] | None = None  # an event waiting to be merged or sent
        while sequence.finish_reason is None:
            await asyncio.sleep(self.token_delay)
            if sequence.abort_requested:
                sequence.finish_reason = {"type": "abort", "message": "Aborted", "status_code": None, "err_type": None}
                break
            token = self._sample(sequence, tokens, stop_ids)
            sequence.finish_reason = self._finish_reason(sequence, token, stop_ids, max_new_tokens)
            if job.stream and sequence.finish_reason is None and self._stream_due(sequence):
                text = self._text(sequence)
                if not self._holds_stop_prefix(sequence, text):
                    sent_before = (sequence.sent_ids, sequence.sent_text)
                    output = self._output(sequence, text)
                    if held is not None:
                        yield held[0]
                        held = None
                    if merge and sent_before[0] > 0:
                        held = (output, sent_before)
                    else:
                        yield output
        if held is not None:  # merged into the final event: incremental deltas restart where it began
            sequence.sent_ids, sequence.sent_text = held[1]
        yield self._output(sequence, self._text(sequence))

    @staticmethod
    def _logprob_start_too_high(sequence: _Sequence) -> bool:
        """A ``logprob_start_len`` past the prompt: an error (raised), or in a stream an ``abort`` finish (True)."""
        job = sequence.job
        prompt_len = len(job.prompt_ids)
        if not (job.return_logprob and job.logprob_start_len > prompt_len):
            return False
        message = (
            f"req.logprob_start_len={job.logprob_start_len} is higher than the number of input tokens "
            f"len(req.origin_input_ids)={prompt_len}. Please use a smaller logprob_start_len."
        )
        return _refused(sequence, message)

    @staticmethod
    def _routed_experts_start_refused(sequence: _Sequence) -> bool:
        """SGLang's scheduler refuses a ``routed_experts_start_len`` below 0 or past the prompt (with or without
        the server flag): an error, or in a stream an ``abort`` finish (True)."""
        job = sequence.job
        start, prompt_len = job.routed_experts_start_len, len(job.prompt_ids)
        if not job.return_routed_experts or 0 <= start <= prompt_len:
            return False
        if start < 0:
            message = (
                f"recv_req.routed_experts_start_len={start} is lower than 0. "
                "Please use a non-negative routed_experts_start_len."
            )
        else:
            message = (
                f"recv_req.routed_experts_start_len={start} is higher than the number of input tokens "
                f"len(req.origin_input_ids)={prompt_len}. Please use a smaller routed_experts_start_len."
            )
        return _refused(sequence, message)

    def _sample(self, sequence: _Sequence, tokens: Iterator[int], stop_ids: frozenset[int]) -> int:
        """The next token (stop tokens masked out until ``min_new_tokens`` exist), appended with its logprobs."""
        job = sequence.job
        sampling = job.sampling
        token = next(tokens)
        while len(sequence.output_ids) < sampling.min_new_tokens and token in stop_ids:
            token = next(tokens)
        sequence.output_ids.append(token)
        if job.return_logprob:
            row = self.model.logprob_row(
                sequence.context, len(sequence.output_ids), token, greedy=sampling.greedy, top_k=job.top_logprobs_num
            )
            self._record_output_logprobs(sequence, token, row)
        return token

    def _stream_due(self, sequence: _Sequence) -> bool:
        """SGLang's rule: every step at interval 1, else the first token at once, then every ``interval``."""
        unsent = len(sequence.output_ids) - sequence.sent_ids
        return self.stream_interval == 1 or unsent >= self.stream_interval or (sequence.sent_ids == 0 and unsent > 0)

    def _finish_reason(
        self, sequence: _Sequence, token: int, stop_ids: frozenset[int], max_new_tokens: int
    ) -> dict[str, Any] | None:
        sampling = sequence.job.sampling
        if sampling.stop_strs:
            tail = self.model.tokenizer.decode(sequence.output_ids[-(max(map(len, sampling.stop_strs)) + 2) :])
            for stop in sampling.stop_strs:
                if stop in tail:
                    return {"type": "stop", "matched": stop}
        if not sampling.ignore_eos and token in stop_ids:
            return {"type": "stop", "matched": token}
        if len(sequence.output_ids) >= max_new_tokens:
            return {"type": "length", "length": max_new_tokens}
        return None

    @staticmethod
    def _holds_stop_prefix(sequence: _Sequence, text: str) -> bool:
        """SGLang delays a stream event while the text ends with the start of a stop string."""
        stops = sequence.job.sampling.stop_strs
        return any(text.endswith(stop[:k]) for stop in stops for k in range(1, len(stop)))

    def _decoded_ids(self, sequence: _Sequence) -> list[int]:
        """The ids the detokenizer decodes into ``text``: all, less a matched stop token unless ``no_stop_trim``
        is set or the tool-call parser keeps that token."""
        ids = sequence.output_ids
        matched = (sequence.finish_reason or {}).get("matched")
        stop_token = isinstance(matched, int) and not isinstance(matched, bool)
        if stop_token and ids and not sequence.job.sampling.no_stop_trim and ids[-1] not in self.kept_stop_ids:
            return ids[:-1]
        return ids

    def _text(self, sequence: _Sequence) -> str:
        sampling = sequence.job.sampling
        text = self.model.tokenizer.decode(
            self._decoded_ids(sequence), skip_special_tokens=sampling.skip_special_tokens
        )
        matched = (sequence.finish_reason or {}).get("matched")
        if isinstance(matched, str):
            position = text.find(matched)
            if position != -1:
                text = text[: position + len(matched)] if sampling.no_stop_trim else text[:position]
        if sequence.finish_reason is None:
            # An incomplete UTF-8 sequence is held back until its last byte arrives.
            text = text.rstrip(_REPLACEMENT_CHAR)
        return text

    def _logprob_entry(self, logprob: float | None, token_id: int, with_text: bool) -> list[Any]:
        text = self.model.tokenizer.decode([token_id]) if with_text else None
        return [logprob, token_id, text]

    def _record_output_logprobs(self, sequence: _Sequence, token: int, row: LogprobRow) -> None:
        with_text = sequence.job.return_text_in_logprobs
        sequence.output_logprobs.append(self._logprob_entry(row.logprob, token, with_text))
        if sequence.job.top_logprobs_num > 0:
            sequence.output_top_logprobs.append([self._logprob_entry(lp, tid, with_text) for lp, tid in row.top])

    def _record_input_logprobs(self, sequence: _Sequence) -> None:
        """Prompt logprobs from ``logprob_start_len`` on; SGLang gives the first position none."""
        job = sequence.job
        start = job.logprob_start_len
        if not 0 <= start < len(job.prompt_ids):
            return
        context = FakeModel.context_id(job.prompt_ids[:start], -1)
        with_text = job.return_text_in_logprobs
        for position in range(start, len(job.prompt_ids)):
            token = job.prompt_ids[position]
            if position == start:
                sequence.input_logprobs.append(self._logprob_entry(None, token, with_text))
                sequence.input_top_logprobs.append(None)
                continue
            row = self.model.logprob_row(context, position, token, greedy=False, top_k=job.top_logprobs_num)
            sequence.input_logprobs.append(self._logprob_entry(row.logprob, token, with_text))
            sequence.input_top_logprobs.append([self._logprob_entry(lp, tid, with_text) for lp, tid in row.top])

    @staticmethod
    def _logprob_fields(sequence: _Sequence, since: int) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "input_token_logprobs": sequence.input_logprobs,
            "output_token_logprobs": sequence.output_logprobs[since:],
            "output_token_logprobs_length": len(sequence.output_logprobs),
        }
        if sequence.job.top_logprobs_num > 0:
            fields["input_top_logprobs"] = sequence.input_top_logprobs
            fields["output_top_logprobs"] = sequence.output_top_logprobs[since:]
        return fields

    def _routed_experts(self, sequence: _Sequence) -> str | None:
        """A finished request's routing (SGLang collects it once the request finishes, so a stream carries it on
        its last event only); none without the server flag, as SGLang has no capturer then."""
        job, finish = sequence.job, sequence.finish_reason
        if self.moe is None or not job.return_routed_experts or finish is None or finish["type"] == "abort":
            return None
        return self.moe.encoded([*job.prompt_ids, *sequence.output_ids], job.routed_experts_start_len)

    def _output(self, sequence: _Sequence, text: str) -> dict[str, Any]:
        job = sequence.job
        finished = sequence.finish_reason is not None
        incremental = job.stream and self.incremental_streaming_output
        since = sequence.sent_ids if incremental else 0
        meta_info: dict[str, Any] = {
            "id": job.rid,
            "finish_reason": sequence.finish_reason,
            "prompt_tokens": len(job.prompt_ids),
            "weight_version": self.weight_version,
            "num_retractions": 0,
        }
        if job.return_logprob:
            meta_info.update(self._logprob_fields(sequence, since))
        meta_info["reasoning_tokens"] = 0
        meta_info["completion_tokens"] = len(sequence.output_ids)
        meta_info["cached_tokens"] = sequence.cached_tokens
        if finished:
            meta_info["weight_versions"] = [
                {"version": self.weight_version, "start": 0, "end": len(sequence.output_ids)}
            ]
        cached = sequence.cached_tokens
        meta_info["cached_tokens_details"] = {"device": cached, "host": 0} if cached else None
        routed = self._routed_experts(sequence)
        if routed is not None:
            meta_info["routed_experts"] = routed
        meta_info["dp_rank"] = None
        if finished:
            meta_info["e2e_latency"] = time.perf_counter() - sequence.started
        if not sequence.first_sent:
            meta_info["response_sent_to_client_ts"] = time.time()
            sequence.first_sent = True
        output: dict[str, Any] = {
            "text": text[len(sequence.sent_text) :] if incremental else text,
            "output_ids": sequence.output_ids[since:],
            "meta_info": meta_info,
        }
        if job.return_prompt_token_ids:
            output["prompt_token_ids"] = list(job.prompt_ids)
        sequence.sent_ids = len(sequence.output_ids)
        sequence.sent_text = text
        return output
