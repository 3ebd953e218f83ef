"""OpenAI ``logprobs`` of a chat completion, as SGLang 0.5.23's OpenAI server builds them.

``OpenAIServingChat._process_response_logprobs`` (``srt/entrypoints/openai/serving_chat.py``): each entry's
``token`` is the token's text (``return_text_in_logprobs``), its ``bytes`` the token's exact bytes through GPT-2's
byte decoder when the tokenizer is byte-level BPE (``token_id_to_bytes`` in ``srt/entrypoints/openai/utils.py``:
sampled vocabulary pieces all byte-decodable), else the text's UTF-8.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

__all__ = ["openai_logprobs"]


@functools.lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's map of printable characters back to the bytes they stand for."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    byte_values, characters = list(printable), list(printable)
    for byte in range(256):
        if byte not in printable:
            byte_values.append(byte)
            characters.append(256 + len(characters) - len(printable))
    return {chr(character): byte for byte, character in zip(byte_values, characters, strict=True)}


@functools.lru_cache(maxsize=16)
def _is_byte_level(tokenizer: Any) -> bool:
    """SGLang's probe: a few vocabulary pieces (first, middle, last) are all made of byte-decoder characters."""
    decoder = _byte_decoder()
    size = len(tokenizer.get_vocab())
    for token_id in (0, 1, 2, 3, size // 2, size - 2):
        if 0 <= token_id < size:
            piece = tokenizer.convert_ids_to_tokens(token_id)
            if piece and any(character not in decoder for character in piece):
                return False
    return True


def _token_bytes(tokenizer: Any, token_id: int, text: str | None) -> list[int]:
    if _is_byte_level(tokenizer):
        decoder = _byte_decoder()
        piece = tokenizer.convert_ids_to_tokens(token_id)
        if piece and all(character in decoder for character in piece):
            return [decoder[character] for character in piece]
    return list((text or "").encode("utf-8"))


def _entry(tokenizer: Any, logprob: float, token_id: int, text: str | None) -> dict[str, Any]:
    return {"token": text or "", "bytes": _token_bytes(tokenizer, token_id, text), "logprob": logprob}


def openai_logprobs(
    tokenizer: Any, entries: Sequence[Sequence[Any]], tops: Sequence[Any] | None, top_logprobs: int
) -> dict[str, Any]:
    """OpenAI's ``logprobs`` (``content``) of SGLang ``[logprob, token_id, text]`` entries and top-logprob rows."""
    content = []
    for index, (logprob, token_id, text) in enumerate(entries):
        row = tops[index] if tops and index < len(tops) else None
        entry = _entry(tokenizer, logprob, token_id, text)
        entry["top_logprobs"] = [_entry(tokenizer, *top) for top in (row or [])[:top_logprobs]]
        content.append(entry)
    return {"content": content}
