"""Turn a contract-valid ``/generate`` body into the sampled sequences SGLang would run.

Mirrors SGLang 0.5.23: ``GenerateReqInput.normalize_batch_and_arguments`` (``srt/managers/io_struct.py``:
single vs batch, ``n`` fan-out with fresh rids), ``TokenizerManager._validate_one_request``
(``srt/managers/tokenizer_manager.py``: context length) and ``SamplingParams.__post_init__``/``verify``/
``normalize`` (``srt/sampling/sampling_params.py``: defaults and value checks). Every rejection is a
:class:`GenerateError` carrying SGLang's message; the server turns it into SGLang's error response.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..contract import GRAMMAR_FIELDS
from .grammar import forced_call_text

__all__ = ["GenerateError", "Job", "Sampling", "plan_jobs"]

_SAMPLING_EPS = 1e-6
_TOP_K_ALL = 1 << 30
_MAX_STOP_COUNT = 32


class GenerateError(ValueError):
    """A request SGLang refuses, with SGLang's message and HTTP status."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class Sampling:
    """SGLang's sampling parameters after defaults and normalization."""

    max_new_tokens: int | None
    stop_strs: tuple[str, ...]
    stop_token_ids: frozenset[int]
    temperature: float
    top_k: int
    min_new_tokens: int
    ignore_eos: bool
    skip_special_tokens: bool
    spaces_between_special_tokens: bool
    no_stop_trim: bool
    sampling_seed: int | None
    n: int
    forced_call: str | None = None
    """The call a structural tag forces (see grammar.py)."""

    @property
    def greedy(self) -> bool:
        return self.top_k == 1


@dataclass(frozen=True)
class Job:
    """One sampled sequence of a request (a batch item, or one of its ``n`` samples)."""

    rid: str
    prompt_ids: tuple[int, ...]
    sampling: Sampling
    sample_index: int
    return_logprob: bool
    top_logprobs_num: int
    logprob_start_len: int
    return_text_in_logprobs: bool
    return_prompt_token_ids: bool
    stream: bool
    return_routed_experts: bool = False
    routed_experts_start_len: int = 0


def _or_default(params: dict[str, Any], key: str, default: Any) -> Any:
    value = params.get(key)
    return default if value is None else value


def _verify_distribution(params: dict[str, Any], temperature: float, top_k: int) -> None:
    """The first half of ``SamplingParams.verify``: beam width, temperature, top-p/min-p/top-k and penalties.
    Messages show the values as sent (JSON -1 stays "-1", as in SGLang); checks use them as numbers."""
    beam_width = params.get("beam_width")
    top_p = _or_default(params, "top_p", 1.0)
    min_p = _or_default(params, "min_p", 0.0)
    frequency_penalty = _or_default(params, "frequency_penalty", 0.0)
    presence_penalty = _or_default(params, "presence_penalty", 0.0)
    repetition_penalty = _or_default(params, "repetition_penalty", 1.0)
    if beam_width is not None and beam_width < 1:
        raise GenerateError(f"beam_width must be at least 1, got {beam_width}.")
    if not math.isfinite(temperature) or temperature < 0.0:
        raw_temperature = _or_default(params, "temperature", 1.0)
        raise GenerateError(f"temperature must be a non-negative finite number, got {raw_temperature}.")
    if not 0.0 < top_p <= 1.0:
        raise GenerateError(f"top_p must be in (0, 1], got {top_p}.")
    if not 0.0 <= min_p <= 1.0:
        raise GenerateError(f"min_p must be in [0, 1], got {min_p}.")
    if top_k < 1 or top_k == -1:
        raise GenerateError(f"top_k must be -1 (disable) or at least 1, got {top_k}.")
    if not -2.0 <= frequency_penalty <= 2.0:
        raise GenerateError(f"frequency_penalty must be in [-2, 2], got {frequency_penalty}.")
    if not -2.0 <= presence_penalty <= 2.0:
        raise GenerateError(f"presence_penalty must be in [-2, 2], got {presence_penalty}.")
    if not 0.0 < repetition_penalty <= 2.0:
        raise GenerateError(f"repetition_penalty must be in (0, 2] (1.0 = no penalty), got {repetition_penalty}.")


def _verify_limits(params: dict[str, Any], min_new_tokens: int, max_new_tokens: int | None, vocab_size: int) -> None:
    """The second half of ``SamplingParams.verify``: token counts, logit bias, seed and a single grammar."""
    if not min_new_tokens >= 0:
        raise GenerateError(f"min_new_tokens must be in [0, max_new_tokens], got {min_new_tokens}.")
    if max_new_tokens is not None:
        if max_new_tokens < 0:
            raise GenerateError(f"max_new_tokens must be at least 0, got {max_new_tokens}.")
        if not min_new_tokens <= max_new_tokens:
            raise GenerateError(
                f"min_new_tokens must be in [0, max_new_tokens({max_new_tokens})], got {min_new_tokens}."
            )
    for token_id in params.get("logit_bias") or {}:
        if not 0 <= int(token_id) < vocab_size:
            raise GenerateError(f"logit_bias must has keys in [0, {vocab_size - 1}], got {token_id}.")
    seed = params.get("sampling_seed")
    if seed is not None and not -(2**63) <= seed <= 2**63 - 1:
        raise GenerateError(f"sampling_seed must be in [-2**63, 2**63 - 1], got {seed}.")
    grammars = [params.get(key) or None for key in GRAMMAR_FIELDS]
    if sum(grammar is not None for grammar in grammars) > 1:
        raise GenerateError("Only one of json_schema, regex, ebnf, or structural_tag can be set.")


def _sampling(params: dict[str, Any], vocab_size: int) -> Sampling:
    """``SamplingParams`` as SGLang builds it: ``__post_init__`` (defaults, greedy), ``verify`` and ``normalize``."""
    temperature = float(_or_default(params, "temperature", 1.0))
    top_k = int(_or_default(params, "top_k", -1))
    min_new_tokens = int(_or_default(params, "min_new_tokens", 0))
    max_new_tokens = params.get("max_new_tokens", 128)
    # __post_init__: a near-zero temperature means greedy.
    if 0 <= temperature < _SAMPLING_EPS:
        temperature, top_k = 1.0, 1
    if top_k == -1:
        top_k = _TOP_K_ALL
    _verify_distribution(params, temperature, top_k)
    _verify_limits(params, min_new_tokens, max_new_tokens, vocab_size)
    # normalize()
    stop = params.get("stop")
    stop_strs = (stop,) if isinstance(stop, str) else tuple(stop or ())
    if len(stop_strs) > _MAX_STOP_COUNT:
        raise GenerateError(f"at most {_MAX_STOP_COUNT} stop strings are allowed, got {len(stop_strs)}")
    return Sampling(
        max_new_tokens=max_new_tokens,
        stop_strs=stop_strs,
        stop_token_ids=frozenset(t for t in params.get("stop_token_ids") or () if t is not None),
        temperature=temperature,
        top_k=top_k,
        min_new_tokens=min_new_tokens,
        ignore_eos=bool(_or_default(params, "ignore_eos", False)),
        skip_special_tokens=bool(_or_default(params, "skip_special_tokens", True)),
        spaces_between_special_tokens=bool(_or_default(params, "spaces_between_special_tokens", True)),
        no_stop_trim=bool(_or_default(params, "no_stop_trim", False)),
        sampling_seed=params.get("sampling_seed"),
        n=int(_or_default(params, "n", 1)),
        forced_call=forced_call_text(params.get("structural_tag")),
    )


def _per_item(value: Any, index: int, default: Any) -> Any:
    """A batch field given once for all items or as one value per item."""
    if isinstance(value, list):
        return value[index] if index < len(value) else default
    return default if value is None else value


def _batch_prompts(body: dict[str, Any], encode) -> tuple[bool, list[list[int]]]:
    """(is_single, prompt ids per item); input_ids win over text, as in SGLang's tokenizer manager."""
    text, input_ids = body.get("text"), body.get("input_ids")
    if text is None and input_ids is None:
        raise GenerateError("Either text, input_ids or input_embeds should be provided.")
    if input_ids is not None and len(input_ids) == 0:
        raise GenerateError("input_ids cannot be empty.")
    single = isinstance(text, str) if text is not None else isinstance(input_ids[0], int)
    if input_ids is not None:
        return single, [list(input_ids)] if single else [list(ids) for ids in input_ids]
    return single, [encode(text)] if single else [encode(item) for item in text]


def plan_jobs(body: dict[str, Any], *, encode, vocab_size: int, context_length: int) -> tuple[bool, list[Job]]:
    """Validate a contract-valid body and expand it into jobs; ``(is_single_response, jobs)``."""
    single, prompts = _batch_prompts(body, encode)
    raw_params = body.get("sampling_params") or {}
    params_list = raw_params if isinstance(raw_params, list) else [raw_params] * len(prompts)
    n = _or_default(params_list[0] if params_list else {}, "n", 1)
    if any(_or_default(p, "n", 1) != n for p in params_list):
        raise GenerateError("The parallel_sample_num should be the same for all samples in sample params.")

    rids = body.get("rid")
    if isinstance(rids, list) and len(set(rids)) != len(rids):
        duplicates = [rid for rid, count in Counter(rids).items() if count > 1]
        raise GenerateError(f"Duplicate request IDs detected within the request: {duplicates}")

    jobs: list[Job] = []
    for index, prompt in enumerate(prompts):
        params = params_list[index] if index < len(params_list) else {}
        sampling = _sampling(params, vocab_size)
        prompt_len = len(prompt)
        if prompt_len >= context_length:
            raise GenerateError(
                f"The input ({prompt_len} tokens) is longer than the model's context length ({context_length} tokens)."
            )
        if sampling.max_new_tokens is not None and sampling.max_new_tokens + prompt_len > context_length:
            total = sampling.max_new_tokens + prompt_len
            raise GenerateError(
                "Requested token count exceeds the model's maximum context length "
                f"of {context_length} tokens. You requested a total of {total} "
                f"tokens: {prompt_len} tokens from the input messages and "
                f"{sampling.max_new_tokens} tokens for the completion. Please reduce the number "
                "of tokens in the input messages or the completion to fit within the limit."
            )
        # n > 1 regenerates a fresh rid per sample (GenerateReqInput.regenerate_rid).
        given_rid = _per_item(rids, index, None)
        for sample_index in range(n):
            rid = given_rid if n == 1 and given_rid is not None else uuid.uuid4().hex
            jobs.append(
                Job(
                    rid=rid,
                    prompt_ids=tuple(prompt),
                    sampling=sampling,
                    sample_index=sample_index,
                    return_logprob=bool(_per_item(body.get("return_logprob"), index, False)),
                    top_logprobs_num=int(_per_item(body.get("top_logprobs_num"), index, 0)),
                    logprob_start_len=int(_per_item(body.get("logprob_start_len"), index, -1)),
                    return_text_in_logprobs=bool(body.get("return_text_in_logprobs") or False),
                    return_prompt_token_ids=bool(body.get("return_prompt_token_ids") or False),
                    stream=bool(body.get("stream") or False),
                    return_routed_experts=bool(body.get("return_routed_experts") or False),
                    routed_experts_start_len=int(body.get("routed_experts_start_len") or 0),
                )
            )
    return single and n == 1, jobs
