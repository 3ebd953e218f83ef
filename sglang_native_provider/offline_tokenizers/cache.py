"""Built tokenizers kept on disk, one directory per recipe and source file, reused until either changes."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .convert import chat_template, convert
from .recipes import TokenizerRecipe, recipe

__all__ = ["build_tokenizer", "cache_root", "load_tokenizer"]

# Bump when a recipe (or what a build writes) changes so cached builds are not reused. 2: compact tokenizer.json.
_RECIPE_VERSION = "2"


def cache_root() -> Path:
    """Where built tokenizers are kept: ``$SGLANG_NATIVE_CACHE_DIR`` or ``~/.cache/sglang-native-provider``."""
    configured = os.environ.get("SGLANG_NATIVE_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "sglang-native-provider"


def _cache_key(recipe: TokenizerRecipe, ranks: Path) -> str:
    digest = hashlib.sha256()
    digest.update(ranks.read_bytes())
    digest.update(chat_template(recipe).encode())
    digest.update(repr(recipe).encode())
    return f"{recipe.name}-v{_RECIPE_VERSION}-{digest.hexdigest()[:16]}"


def build_tokenizer(name: str, cache_dir: Path | None = None) -> Path:
    """Build (once, then cached on disk) the named tokenizer and return its directory.

    :class:`~.packages.OfflineTokenizerError` for an unknown name; :class:`~.packages.MissingPackage` (one) when a
    package it is built from is not installed.
    """
    chosen = recipe(name)
    ranks = chosen.ranks_path()
    root = cache_dir or cache_root()
    target = root / "tokenizers" / _cache_key(chosen, ranks)
    if (target / "tokenizer.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{chosen.name}-", dir=target.parent))
    try:
        tokenizer = convert(chosen, ranks)
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


def load_tokenizer(name: str, cache_dir: Path | None = None) -> Any:
    """The named tokenizer as a ``PreTrainedTokenizerFast`` (built on first use)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(build_tokenizer(name, cache_dir)))
