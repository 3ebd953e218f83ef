"""Tokenizers for the provider: loaded once (a hub id, a directory or an ``offline:NAME`` recipe) and cached.

A tokenizer that cannot be loaded is a ``litellm.BadRequestError`` saying why (a missing optional package
names what to install).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from .errors import bad_request

__all__ = ["OFFLINE_PREFIX", "TokenizerCache", "tokenizers"]

OFFLINE_PREFIX = "offline:"


class TokenizerCache:
    """Loaded tokenizers shared across calls and threads, keyed by (source, revision, trust_remote_code).

    Bounded: the least recently used tokenizer is dropped beyond ``maxsize``.
    """

    def __init__(self, maxsize: int = 8) -> None:
        self._maxsize = maxsize
        self._entries: OrderedDict[tuple[str, str | None, bool], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, source: str, *, revision: str | None, trust_remote_code: bool, model: str) -> Any:
        """The tokenizer of ``source`` (loaded on first use); a ``BadRequestError`` when it cannot be loaded."""
        key = (source, revision, trust_remote_code)
        with self._lock:
            tokenizer = self._entries.get(key)
            if tokenizer is None:
                tokenizer = _load(source, revision, trust_remote_code, model)
                self._entries[key] = tokenizer
                while len(self._entries) > self._maxsize:
                    self._entries.popitem(last=False)
            self._entries.move_to_end(key)
            return tokenizer


tokenizers = TokenizerCache()
"""The process-wide tokenizer cache the provider uses."""


def _load(source: str, revision: str | None, trust_remote_code: bool, model: str) -> Any:
    try:
        if source.startswith(OFFLINE_PREFIX):
            from .offline_tokenizers import OfflineTokenizerError, load_tokenizer

            try:
                return load_tokenizer(source[len(OFFLINE_PREFIX) :])
            except OfflineTokenizerError as exc:  # MissingPackage included: its message says what to install
                raise bad_request(f"Could not load tokenizer {source!r} for model {model!r}: {exc}", model) from None
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(source, revision=revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, ImportError) as exc:
        hint = ""
        if "trust_remote_code" in str(exc) and not trust_remote_code:
            hint = " (it needs remote code; set trust_remote_code=True only if you trust it)"
        raise bad_request(
            f"Could not load tokenizer {source!r} for model {model!r}{hint}: {type(exc).__name__}: {exc}", model
        ) from None
