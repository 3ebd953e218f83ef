"""What the emulator reads from a model's ``config.json``: the context length, model type, architectures and EOS ids.

Real SGLang takes the context length from the model config (``get_context_length`` in
``srt/utils/hf_transformers/common.py``: the first of a few keys, times the rope-scaling factor unless the
scaling keeps the original length), not from the tokenizer's ``model_max_length``; ``/model_info`` reports the
config's ``model_type`` and ``architectures``; generation stops on the config's and ``generation_config.json``'s
``eos_token_id`` (``ModelConfig._get_hf_eos_token_id`` in ``srt/configs/model_config.py``) besides the tokenizer's.
Without a config, an offline recipe's model family gives ``model_type`` and ``architectures``
(:func:`recipe_model_config`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ModelConfig", "load_model_config", "recipe_model_config"]

_CONTEXT_LENGTH_KEYS = (
    "max_sequence_length",
    "seq_length",
    "max_seq_len",
    "model_max_length",
    "max_position_embeddings",
)
_DEFAULT_CONTEXT_LENGTH = 2048
# The Hugging Face config's model_type and architectures of the models an offline recipe's tokenizer belongs to
# (Qwen3.5/3.6 are left out: the family has dense and MoE models of different types).
_RECIPE_MODELS = {
    "qwen3": ("qwen3", ("Qwen3ForCausalLM",)),
    "qwen2.5": ("qwen2", ("Qwen2ForCausalLM",)),
    "llama3.1": ("llama", ("LlamaForCausalLM",)),
    "mistral-nemo": ("mistral", ("MistralForCausalLM",)),
    "deepseek-v4": ("deepseek_v4", ("DeepseekV4ForCausalLM",)),
}


@dataclass(frozen=True)
class ModelConfig:
    """The parts of a Hugging Face model config the emulator serves."""

    context_length: int | None
    """None: not known (the tokenizer's ``model_max_length`` is used)."""
    model_type: str | None
    architectures: tuple[str, ...] | None
    eos_token_ids: tuple[int, ...] = ()


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


def _eos_ids(value: int | list[int] | None) -> list[int]:
    if value is None:
        return []
    return [value] if isinstance(value, int) else list(value)


def load_model_config(path: str | Path) -> ModelConfig:
    """A model directory (its ``config.json``, and ``generation_config.json`` beside it) or the JSON file itself."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    generation_path = path.parent / "generation_config.json"
    generation = json.loads(generation_path.read_text(encoding="utf-8")) if generation_path.is_file() else {}
    text_config = config.get("text_config") or config
    architectures = config.get("architectures")
    eos = _eos_ids(config.get("eos_token_id")) + _eos_ids(generation.get("eos_token_id"))
    return ModelConfig(
        context_length=_context_length(text_config),
        model_type=config.get("model_type"),
        architectures=tuple(architectures) if architectures else None,
        eos_token_ids=tuple(sorted(set(eos))),
    )


def recipe_model_config(recipe: str) -> ModelConfig | None:
    """The model type and architectures of an offline recipe's model family (no context length), if known."""
    known = _RECIPE_MODELS.get(recipe)
    if known is None:
        return None
    return ModelConfig(context_length=None, model_type=known[0], architectures=known[1])
