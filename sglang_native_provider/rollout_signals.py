"""Routed experts (MoE routing replay): SGLang's capture of each token's experts, decoded, checked and kept compact.

SGLang 0.5.23 (``return_routed_experts``, ``--enable-return-routed-experts``) returns in a finished output's
``meta_info["routed_experts"]`` base64 of C-ordered int32 ``(rows, layers, top_k)``: the experts each position
``[routed_experts_start_len, seqlen - 1)`` was routed to (seqlen = prompt + output tokens; the last sampled token
never went through the model). Here it becomes a numpy array of the smallest unsigned type holding the expert
ids (uint8 up to 256 experts), checked against the request (row count) and the model's layout (layers, top_k,
ids below the expert count): a violation is the same 502 as misaligned logprobs. It travels as a compact
encoding, never as Python lists::

    {"dtype": "uint8", "shape": [rows, layers, top_k], "start": start, "data": "<base64 of the C-ordered array>"}
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import DeploymentConfig, MoeLayout
from .errors import bad_request, invalid_output

__all__ = ["MISSING", "ROUTED_EXPERTS", "RoutedExpertsAsk", "compact", "from_compact", "model_layout", "stitch"]

ROUTED_EXPERTS = "routed_experts"
MISSING = "routed_experts_missing"
_EXPERT_KEYS = ("num_experts", "n_routed_experts", "num_local_experts", "moe_num_experts")
_DTYPES = {"uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32}


@functools.lru_cache(maxsize=32)
def _layout_from_file(path: str) -> MoeLayout | None:
    """The layout a model's ``config.json`` gives (its ``text_config`` for multimodal models), if it is MoE."""
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    config = config.get("text_config") or config
    layers, top_k = config.get("num_hidden_layers"), config.get("num_experts_per_tok")
    if not isinstance(layers, int) or not isinstance(top_k, int) or layers < 1 or top_k < 1:
        return None
    experts = next((config[key] for key in _EXPERT_KEYS if isinstance(config.get(key), int)), None)
    return MoeLayout(layers=layers, top_k=top_k, experts=experts)


def model_layout(config: DeploymentConfig, model: str) -> MoeLayout:
    """The ``moe_layout`` setting, else the ``config.json`` beside a tokenizer directory; a ``BadRequestError``
    when neither says (the row width alone cannot tell layers from top_k)."""
    if config.moe_layout is not None:
        return config.moe_layout
    layout = _layout_from_file(str(Path(config.tokenizer_source(model)) / "config.json"))
    if layout is None:
        raise bad_request(
            "routed_experts needs the model's MoE layout: set moe_layout={'layers': L, 'top_k': K, 'experts': E} "
            "or use a tokenizer directory whose config.json has num_hidden_layers and num_experts_per_tok",
            model,
        )
    return layout


def _dtype_for(experts: int) -> np.dtype:
    """The smallest unsigned type holding ids below ``experts``."""
    return np.dtype(np.uint8 if experts <= 1 << 8 else np.uint16 if experts <= 1 << 16 else np.uint32)


def compact(array: np.ndarray, start: int) -> dict[str, Any]:
    """The compact encoding of ``(rows, layers, top_k)`` expert ids whose first row is position ``start``."""
    return {
        "dtype": array.dtype.name,
        "shape": list(array.shape),
        "start": start,
        "data": base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii"),
    }


def from_compact(encoded: Mapping[str, Any]) -> tuple[int, np.ndarray]:
    """``(start, array)`` from :func:`compact`'s encoding; ValueError when it does not hold together."""
    dtype = _DTYPES.get(str(encoded.get("dtype")))
    shape, start = encoded.get("shape"), encoded.get("start")
    if dtype is None or not isinstance(shape, list) or len(shape) != 3 or not isinstance(start, int) or start < 0:
        raise ValueError(f"not a routed_experts encoding (dtype, shape [rows, layers, top_k], start): {encoded!r:.120}")
    try:
        data = base64.b64decode(str(encoded.get("data", "")), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"routed_experts data is not base64: {exc}") from None
    if len(data) != int(np.prod(shape)) * np.dtype(dtype).itemsize:
        raise ValueError(f"routed_experts data holds {len(data)} bytes, not a {dtype.__name__} array of {shape}")
    return start, np.frombuffer(data, dtype=dtype).reshape(shape)


@dataclass(frozen=True)
class RoutedExpertsAsk:
    """A request's ask for routed experts: from which position (``routed_experts_start_len``), for which model."""

    start: int
    layout: MoeLayout

    def body_fields(self) -> dict[str, Any]:
        """What the ``/generate`` body carries."""
        return {"return_routed_experts": True, "routed_experts_start_len": self.start}

    def decode(self, encoded: str, seqlen: int, model: str) -> np.ndarray:
        """The server's base64 int32 rows as ``(rows, layers, top_k)`` of the smallest type; a 502 when the
        rows are not those of ``[start, seqlen - 1)``, the width not the layout's, or an id not an expert."""
        where = "meta_info.routed_experts"
        try:
            raw = np.frombuffer(base64.b64decode(encoded, validate=True), dtype="<i4")
        except (binascii.Error, ValueError) as exc:
            raise invalid_output(f"{where} is not base64 of int32 values: {exc}", model) from None
        layout, rows = self.layout, max(0, seqlen - 1 - self.start)
        width = layout.layers * layout.top_k
        if raw.size != rows * width:
            raise invalid_output(
                f"{where} holds {raw.size} ids, not {rows} rows (positions {self.start} to {seqlen - 2}) of "
                f"{layout.layers} layers x top {layout.top_k}",
                model,
            )
        if raw.size and (raw.min() < 0 or (layout.experts is not None and raw.max() >= layout.experts)):
            bad = int(raw[(raw < 0) | (raw >= (layout.experts or np.iinfo(np.int32).max))][0])
            limit = f"0 to {layout.experts - 1}" if layout.experts else "non-negative"
            raise invalid_output(f"{where} holds expert id {bad}, not an expert ({limit})", model)
        experts = layout.experts or (int(raw.max()) + 1 if raw.size else 1)
        return raw.astype(_dtype_for(experts)).reshape(rows, layout.layers, layout.top_k)

    def fields(self, encoded: str | None, seqlen: int, model: str) -> dict[str, Any]:
        """A choice's metadata: the compact ``routed_experts``, or ``routed_experts_missing`` saying why not."""
        if encoded is None:
            reason = "the server returned no routed_experts (is it run with --enable-return-routed-experts?)"
            return {MISSING: reason}
        return {ROUTED_EXPERTS: compact(self.decode(encoded, seqlen, model), self.start)}

    @classmethod
    def of(
        cls, config: DeploymentConfig, previous: Mapping[str, Any] | None, continued: bool, model: str
    ) -> RoutedExpertsAsk | None:
        """The ask of a request (None unless ``routed_experts`` is set): a prompt continuing a turn that has its
        routing asks only from where that turn's rows end (``seqlen - 1`` of it), so each position's routing is
        fetched once; a new or re-rendered prompt asks from 0."""
        if not config.routed_experts:
            return None
        start = 0
        if continued and previous is not None and ROUTED_EXPERTS in previous:
            start = max(0, len(previous["prompt_token_ids"]) + len(previous["completion_token_ids"]) - 1)
        return cls(start, model_layout(config, model))


def _gap(number: int, start: int, covered: int, missing: list[tuple[int, str]]) -> str:
    if missing:
        return f"turn {missing[0][0]} has no routed_experts ({missing[0][1]})"
    return f"turn {number}'s routed_experts start at position {start}, the turns before it end at {covered}"


def stitch(parts: list[tuple[Mapping[str, Any] | None, int]], positions: int) -> np.ndarray | None:
    """One ``(positions, layers, top_k)`` array from each turn's ``(encoding, seqlen)``, in order: row ``i`` is the
    routing of token ``i`` (a later turn's rows replace an earlier one's). An encoding is None for a turn that did
    not ask, ``{"missing": why}`` for one that asked and got none. None when no turn asked; ValueError naming the
    turn whose rows are missing or do not fit, never a silent zero row."""
    decoded: list[tuple[int, int, np.ndarray] | str] = []
    for number, (encoded, seqlen) in enumerate(parts):
        if encoded is None or "missing" in encoded:
            decoded.append(encoded["missing"] if encoded else "the turn did not ask for them")
            continue
        try:
            start, array = from_compact(encoded)
        except ValueError as exc:
            raise ValueError(f"turn {number}: {exc}") from None
        if start + len(array) != max(seqlen - 1, start):
            raise ValueError(f"turn {number}'s routed_experts end at position {start + len(array)}, not {seqlen - 1}")
        decoded.append((number, start, array))
    present = [part for part in decoded if not isinstance(part, str)]
    if not present:
        if all(encoded is None for encoded, _ in parts):
            return None
        raise ValueError(_gap(0, 0, 0, [(n, why) for n, why in enumerate(decoded) if isinstance(why, str)]))
    shape = present[0][2].shape[1:]
    for number, _, array in present:
        if array.shape[1:] != shape:
            raise ValueError(f"turn {number}'s routed_experts are {list(array.shape[1:])} per token, not {list(shape)}")
    out = np.empty((positions, *shape), dtype=np.result_type(*(array.dtype for _, _, array in present)))
    covered, missing = 0, list[tuple[int, str]]()
    for number, part in enumerate(decoded):
        if isinstance(part, str):
            missing.append((number, part))
            continue
        _, start, array = part
        if start > covered:
            raise ValueError(_gap(number, start, covered, missing))
        out[start : start + len(array)] = array
        covered, missing = max(covered, start + len(array)), []
    if covered < positions:
        raise ValueError(_gap(len(parts), positions, covered, missing))
    return out
