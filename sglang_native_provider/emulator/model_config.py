"""What the emulator reads from a model's ``config.json``: the context length, model type and architectures.

Real SGLang takes the context length from the model config (``get_context_length`` in
``srt/utils/hf_transformers/common.py``: the first of a few keys, times the rope-scaling factor unless the
scaling keeps the original length), not from the tokenizer's ``model_max_length``; ``/model_info`` reports the
config's ``model_type`` and ``architectures``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ModelConfig", "load_model_config"]

_CONTEXT_LENGTH_KEYS = (
    "max_sequence_length",
    "seq_length",
    "max_seq_len",
    "model_max_length",
    "max_position_embeddings",
)
_DEFAULT_CONTEXT_LENGTH = 2048


@dataclass(frozen=True)
class ModelConfig:
    """The parts of a Hugging Face model config the emulator serves."""

    context_length: int
    model_type: str | None
    architectures: tuple[str, ...] | None


def _context_length(config: dict) -> int:
    rope_scaling = config.get("rope_scaling") or None
    factor = 1
    if isinstance(rope_scaling, dict):
        factor = rope_scaling.get("factor", 1)
        if "original_max_position_embeddings" in rope_scaling or rope_scaling.get("rope_type") == "llama3":
            factor = 1
    for key in _CONTEXT_LENGTH_KEYS:
        value = config.get(key)
        if value is not None:
            return int(factor * value)
    return _DEFAULT_CONTEXT_LENGTH


def load_model_config(path: str | Path) -> ModelConfig:
    """A model directory (its ``config.json``) or the JSON file itself."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    text_config = config.get("text_config") or config
    architectures = config.get("architectures")
    return ModelConfig(
        context_length=_context_length(text_config),
        model_type=config.get("model_type"),
        architectures=tuple(architectures) if architectures else None,
    )
