"""Checks of what an SGLang server answers against what was asked and what the tokenizer knows.

RL users train on the token ids and logprobs, so a response that does not hold together (logprobs not aligned
with ``output_ids``, ids outside the vocabulary, NaN logprobs, more or fewer answers than ``n``, an unknown
finish type, negative counts) is never passed on: each violation is an ``InternalServerError`` (502) naming
the field and the index. :func:`text_mismatch` compares SGLang's ``text`` with the ids decoded locally.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import invalid_output
from .protocol import FinishReason, GenerateOutput, LogprobEntry, MetaInfo

__all__ = [
    "check_counts",
    "check_event_index",
    "check_finish_reason",
    "check_logprobs",
    "check_output",
    "check_output_count",
    "check_token_ids",
    "check_top_logprobs",
    "decodes_exactly",
    "expected_texts",
    "text_mismatch",
    "vocab_size",
]

FINISH_TYPES = frozenset({"stop", "length", "abort"})
_POSITIVE_TOLERANCE = 1e-4
"""Logprobs computed in low precision may round a little above 0; anything beyond is not a logprob."""


@functools.lru_cache(maxsize=16)
def vocab_size(tokenizer, model_vocab_size: int | None = None) -> int:
    """The number of ids an output may hold: the tokenizer's (added tokens included), or the model's
    ``vocab_size`` setting when larger (embedding rows beyond the tokenizer's tokens can be sampled)."""
    return max(len(tokenizer), model_vocab_size or 0)


def check_token_ids(ids: Sequence[int], size: int, where: str, model: str, start: int = 0) -> None:
    """Each id from ``start`` on is in ``[0, size)`` (the protocol models made them ints)."""
    window = ids[start:]
    if not window or (min(window) >= 0 and max(window) < size):
        return
    index = next(index for index, token_id in enumerate(window, start) if not 0 <= token_id < size)
    raise invalid_output(
        f"{where}[{index}] = {ids[index]!r} is not a token id (0 to {size - 1}): a model with more embedding rows "
        "than tokenizer tokens takes the vocab_size setting",
        model,
    )


def _is_logprob(value: Any) -> bool:
    return isinstance(value, (int, float)) and value <= _POSITIVE_TOLERANCE  # NaN compares False


def _check_logprob(value: Any, where: str, model: str) -> None:
    if not _is_logprob(value):
        raise invalid_output(f"{where} = {value!r} is not a logprob (a number <= 0)", model)


def check_logprobs(
    ids: Sequence[int], entries: Sequence[LogprobEntry], model: str, *, start: int = 0, complete: bool = True
) -> None:
    """``output_token_logprobs`` from ``start`` on: one entry per id (when ``complete``), each naming that id
    and carrying a logprob."""
    where = "meta_info.output_token_logprobs"
    if complete and len(entries) != len(ids):
        raise invalid_output(f"{where} has {len(entries)} entries for {len(ids)} output_ids", model)
    end = min(len(entries), len(ids))
    window = entries[start:end]
    if [entry[1] for entry in window] == list(ids[start:end]) and all(_is_logprob(entry[0]) for entry in window):
        return
    for index in range(start, end):
        logprob, token_id, _ = entries[index]
        if token_id != ids[index]:
            problem = f"{where}[{index}] is for token {token_id}, output_ids[{index}] is {ids[index]}"
            raise invalid_output(problem, model)
        _check_logprob(logprob, f"{where}[{index}] logprob", model)


def check_top_logprobs(
    ids: Sequence[int],
    rows: Sequence[Sequence[LogprobEntry] | None],
    top_logprobs: int,
    size: int,
    model: str,
    *,
    start: int = 0,
    complete: bool = True,
) -> None:
    """``output_top_logprobs`` from ``start`` on: one row per id (when ``complete``), each of ``top_logprobs``
    entries with known token ids and logprobs, best first."""
    where = "meta_info.output_top_logprobs"
    if complete and len(rows) != len(ids):
        raise invalid_output(f"{where} has {len(rows)} rows for {len(ids)} output_ids", model)
    window = rows[start : min(len(rows), len(ids))]
    short = next((index for index, row in enumerate(window, start) if row is None or len(row) != top_logprobs), None)
    if short is not None:
        count = "no row" if rows[short] is None else f"{len(rows[short])} entries"
        raise invalid_output(f"{where}[{short}] has {count}, {top_logprobs} were asked", model)
    # Checked over all rows at once (rows x top_logprobs entries), then located row by row when wrong.
    token_ids = [entry[1] for row in window for entry in row]
    if token_ids and (min(token_ids) < 0 or max(token_ids) >= size):
        for index, row in enumerate(window, start):
            check_token_ids([entry[1] for entry in row], size, f"{where}[{index}] token id", model)
    logprobs = [entry[0] for row in window for entry in row]
    columns = [logprobs[rank::top_logprobs] for rank in range(top_logprobs)]
    sorted_rows = all(
        all(earlier >= later for earlier, later in zip(columns[rank], columns[rank + 1], strict=True))
        for rank in range(top_logprobs - 1)
    )
    if None not in logprobs and all(logprob <= _POSITIVE_TOLERANCE for logprob in logprobs) and sorted_rows:
        return
    for index, row in enumerate(window, start):
        for rank, (logprob, _, _) in enumerate(row):
            _check_logprob(logprob, f"{where}[{index}][{rank}] logprob", model)
            if rank and logprob > row[rank - 1][0]:
                raise invalid_output(f"{where}[{index}] is not sorted best first (entry {rank})", model)


def check_finish_reason(finish: FinishReason | None, model: str) -> None:
    """A finish type SGLang documents (``stop``, ``length``, ``abort``); None means not finished yet."""
    if finish is not None and finish.type not in FINISH_TYPES:
        raise invalid_output(f"meta_info.finish_reason.type {finish.type!r} is not one of stop, length, abort", model)


def check_counts(meta: MetaInfo, model: str) -> None:
    """``prompt_tokens``, ``completion_tokens`` and ``cached_tokens`` are counts; at most the prompt is cached."""
    for name in ("prompt_tokens", "completion_tokens", "cached_tokens"):
        if getattr(meta, name) < 0:
            raise invalid_output(f"meta_info.{name} = {getattr(meta, name)} is negative", model)
    if meta.cached_tokens > meta.prompt_tokens:
        raise invalid_output(
            f"meta_info.cached_tokens = {meta.cached_tokens} exceeds prompt_tokens = {meta.prompt_tokens}", model
        )


def check_output(
    output: GenerateOutput,
    *,
    tokenizer,
    logprobs: bool,
    top_logprobs: int,
    model: str,
    model_vocab_size: int | None = None,
) -> None:
    """One finished non-streamed output (or a stream's assembled output) holds together."""
    meta = output.meta_info
    size = vocab_size(tokenizer, model_vocab_size)
    check_finish_reason(meta.finish_reason, model)
    check_counts(meta, model)
    check_token_ids(output.output_ids, size, "output_ids", model)
    if meta.completion_tokens != len(output.output_ids):
        raise invalid_output(
            f"meta_info.completion_tokens = {meta.completion_tokens} for {len(output.output_ids)} output_ids", model
        )
    if meta.output_token_logprobs is not None:
        check_logprobs(output.output_ids, meta.output_token_logprobs, model)
    elif logprobs:
        raise invalid_output("meta_info.output_token_logprobs is missing (logprobs were asked)", model)
    if top_logprobs:
        if meta.output_top_logprobs is None:
            raise invalid_output("meta_info.output_top_logprobs is missing (top_logprobs were asked)", model)
        check_top_logprobs(output.output_ids, meta.output_top_logprobs, top_logprobs, size, model)


def check_output_count(count: int, n: int, model: str) -> None:
    """``/generate`` answered one output per sample asked."""
    if count != n:
        raise invalid_output(f"the response has {count} outputs, n = {n} were asked", model)


def check_event_index(index: int, n: int, model: str) -> None:
    """A stream event's ``index`` names one of the ``n`` samples asked."""
    if not 0 <= index < n:
        raise invalid_output(f"stream event index {index} is outside 0..{n - 1} (n = {n})", model)


@functools.lru_cache(maxsize=16)
def decodes_exactly(tokenizer) -> bool:
    """Whether decoding the ids locally reproduces SGLang's incremental detokenization exactly: byte-level
    BPE (each token is its bytes, so windows concatenate) without clean-up of spaces around punctuation."""
    decoder = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
    return type(decoder).__name__ == "ByteLevel" and not getattr(tokenizer, "clean_up_tokenization_spaces", False)


def _decoded(tokenizer, ids: Sequence[int], options: Mapping[str, Any]) -> str:
    return tokenizer.decode(
        list(ids),
        skip_special_tokens=options.get("skip_special_tokens", True),
        spaces_between_special_tokens=options.get("spaces_between_special_tokens", True),
    )


def expected_texts(output: GenerateOutput, tokenizer, options: Mapping[str, Any]) -> list[str]:
    """What SGLang's detokenizer makes of the ids: a matched stop token is dropped (unless ``no_stop_trim``;
    SGLang keeps tool-closing stop tokens, so both are accepted) and the text ends before a matched stop
    string (or after it, with ``no_stop_trim``)."""
    ids = output.output_ids
    finish = output.meta_info.finish_reason
    matched = finish.matched if finish is not None else None
    no_stop_trim = bool(options.get("no_stop_trim"))
    variants = [ids]
    if isinstance(matched, int) and not no_stop_trim and ids:
        variants.insert(0, ids[:-1])
    texts = []
    for variant in variants:
        text = _decoded(tokenizer, variant, options)
        if isinstance(matched, str) and (position := text.find(matched)) != -1:
            text = text[: position + len(matched)] if no_stop_trim else text[:position]
        texts.append(text)
    return texts


def text_mismatch(output: GenerateOutput, tokenizer, options: Mapping[str, Any]) -> dict[str, Any] | None:
    """Where SGLang's ``text`` differs from the ids decoded locally, or None when it agrees (or when this
    tokenizer's decoding cannot be reproduced exactly). ``options`` are the request's ``sampling_params``."""
    if not decodes_exactly(tokenizer):
        return None
    expected = expected_texts(output, tokenizer, options)
    if output.text in expected:
        return None
    decoded = expected[0]
    position = next(
        (index for index, (a, b) in enumerate(zip(decoded, output.text, strict=False)) if a != b),
        min(len(decoded), len(output.text)),
    )
    return {
        "position": position,
        "decoded": decoded[position : position + 80],
        "text": output.text[position : position + 80],
    }
