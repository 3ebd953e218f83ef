"""Normalized messages -> exact prompt token ids, with the model's own chat template.

The ids sent to SGLang are exactly ``tokenizer.apply_chat_template(messages, tools=..., tokenize=True)``
for the normalized conversation: never text that SGLang re-tokenizes. Tokenizers split text at their added
tokens before anything else, so the text between two added tokens tokenizes the same wherever it appears;
:func:`encode_text` caches those pieces, and a system prompt or tool list repeated in every request is
tokenized once. Messages come normalized (:mod:`.messages`), tokenizers loaded (:mod:`.tokenizer_loading`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import bad_request
from .renderers import RENDERER_PREFIX, family_renderer

__all__ = [
    "ContentEscapingTokenizer",
    "added_tokens",
    "encode_text",
    "prompt_tokenizer",
    "render_prompt",
    "render_text",
    "resolve_chat_template",
    "token_pattern",
]


@functools.lru_cache(maxsize=32)
def _template_from_file(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def resolve_chat_template(chat_template: str | None) -> str | None:
    """A template given inline, or read from the file it names."""
    if chat_template is None or "{" in chat_template:
        return chat_template
    return _template_from_file(chat_template) if Path(chat_template).is_file() else chat_template


def render_text(
    tokenizer: Any,
    messages: list[dict[str, Any]],
    *,
    add_generation_prompt: bool,
    tools: list[dict[str, Any]] | None,
    chat_template: str | None,
    chat_template_kwargs: Mapping[str, Any],
    continue_final_message: bool = False,
) -> str:
    """The conversation rendered to text (no tokenization); ``chat_template="renderer:<name>"`` renders
    with that family renderer (``sglang_native_provider.renderers``) instead of a Jinja template."""
    if isinstance(tokenizer, ContentEscapingTokenizer):
        messages, tools = tokenizer.mask(messages, tools)
    renderer = family_renderer(chat_template)
    if renderer is not None:
        return renderer(
            messages,
            tools=tools,
            add_generation_prompt=add_generation_prompt,
            continue_final_message=continue_final_message,
            **chat_template_kwargs,
        )
    return tokenizer.apply_chat_template(
        messages,
        tools=tools,
        chat_template=chat_template,
        add_generation_prompt=add_generation_prompt,
        continue_final_message=continue_final_message,
        tokenize=False,
        **chat_template_kwargs,
    )


_CACHED_PIECE_CHARS = 32_768


def token_pattern(texts: Iterable[str]) -> re.Pattern[str]:
    """A pattern matching any of these token texts, longest first (matching nothing when there are none)."""
    return re.compile("|".join(re.escape(text) for text in sorted(texts, key=len, reverse=True)) or r"(?!)")


@functools.lru_cache(maxsize=16)
def added_tokens(tokenizer: Any) -> tuple[re.Pattern[str], dict[str, int]] | None:
    """A pattern matching the tokenizer's added tokens and their ids; None when one of them strips or
    normalizes its surroundings (then pieces would not tokenize independently)."""
    added = tokenizer.added_tokens_decoder
    if not added or any(t.lstrip or t.rstrip or t.single_word or t.normalized for t in added.values()):
        return None
    ids = {token.content: token_id for token_id, token in added.items()}
    return token_pattern(ids), ids


@functools.lru_cache(maxsize=8192)
def _encode_piece(tokenizer: Any, text: str) -> tuple[int, ...]:
    return tuple(tokenizer.encode(text, add_special_tokens=False))


def encode_text(tokenizer: Any, text: str) -> list[int]:
    """``tokenizer.encode(text, add_special_tokens=False)``, tokenizing each piece between added tokens
    once (cached): prompts repeat their system prompt, tools and history."""
    splitter = added_tokens(tokenizer)
    if splitter is None:
        return tokenizer.encode(text, add_special_tokens=False)
    pattern, added_ids = splitter
    ids: list[int] = []
    position = 0
    for match in pattern.finditer(text):
        ids += _piece(tokenizer, text[position : match.start()])
        ids.append(added_ids[match.group(0)])
        position = match.end()
    ids += _piece(tokenizer, text[position:])
    return ids


def _piece(tokenizer: Any, text: str) -> tuple[int, ...] | list[int]:
    if not text:
        return ()
    if len(text) > _CACHED_PIECE_CHARS:
        return tokenizer.encode(text, add_special_tokens=False)
    return _encode_piece(tokenizer, text)


_FIRST_PLACEHOLDER = 0xF0000  # Supplementary Private Use Area-A: one character per added token's text


class ContentEscapingTokenizer:
    """A tokenizer (``special_tokens_in_content="escape"``) for which :func:`render_text` renders each added
    token's text in message and tool strings (assistant messages excepted) as one placeholder character, and
    whose ``encode`` tokenizes placeholders as that text, plainly; the template's own added tokens stay
    tokens. Everything else is the wrapped tokenizer's."""

    def __init__(self, tokenizer: Any) -> None:
        splitter = added_tokens(tokenizer)
        if splitter is None:
            raise ValueError("its added tokens strip or normalize their surroundings")
        self._tokenizer = tokenizer
        self._pattern, self._ids = splitter
        self._placeholders = {text: chr(_FIRST_PLACEHOLDER + rank) for rank, text in enumerate(sorted(self._ids))}
        self._texts = {placeholder: text for text, placeholder in self._placeholders.items()}
        self._placeholder_pattern = token_pattern(self._texts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)

    def __len__(self) -> int:
        return len(self._tokenizer)

    def mask(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> tuple[list[dict[str, Any]], Any]:
        """``messages`` (but assistant messages) and ``tools`` with placeholders for added-token texts, as
        :func:`render_text` renders them."""
        masked = [message if message.get("role") == "assistant" else self._mask(message) for message in messages]
        return masked, self._mask(tools)

    def _mask(self, value: Any) -> Any:
        if isinstance(value, str):
            if self._placeholder_pattern.search(value):
                reserved = "message or tool text uses the private-use characters from U+F0000 that it reserves"
                raise bad_request(f"special_tokens_in_content='escape': {reserved}", "sglang_native")
            return self._pattern.sub(lambda match: self._placeholders[match.group(0)], value)
        if isinstance(value, Mapping):
            return {key: self._mask(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._mask(item) for item in value]
        return value

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        """The ids of ``text`` (the template's added tokens as tokens, placeholders as their plain text)."""
        ids: list[int] = []
        position = 0
        for match in [*self._pattern.finditer(text), None]:
            piece = text[position : match.start() if match else len(text)]
            if self._placeholder_pattern.search(piece):
                ids += _plain_ids(self._tokenizer, self._placeholder_pattern.sub(self._text, piece))
            elif piece:
                ids += self._tokenizer.encode(piece, add_special_tokens=False)
            if match:
                ids.append(self._ids[match.group(0)])
                position = match.end()
        return ids

    def _text(self, match: re.Match[str]) -> str:
        return self._texts[match.group(0)]


def _plain_ids(tokenizer: Any, text: str) -> list[int]:
    """``text`` through the tokenizer's normalizer, pre-tokenizer and model only: added tokens' texts are not
    matched (as ``encode`` does for text without them)."""
    backend = tokenizer.backend_tokenizer
    normalized = backend.normalizer.normalize_str(text) if backend.normalizer else text
    pieces = backend.pre_tokenizer.pre_tokenize_str(normalized) if backend.pre_tokenizer else [(normalized, None)]
    return [token.id for piece, _ in pieces for token in backend.model.tokenize(piece)]


@functools.lru_cache(maxsize=16)
def _escaping(tokenizer: Any) -> ContentEscapingTokenizer:
    return ContentEscapingTokenizer(tokenizer)


def prompt_tokenizer(tokenizer: Any, special_tokens_in_content: str, model: str) -> Any:
    """The tokenizer prompts are rendered and encoded with (see ``DeploymentConfig.special_tokens_in_content``)."""
    if special_tokens_in_content == "keep":
        return tokenizer
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise bad_request(f"special_tokens_in_content='escape' needs a fast tokenizer for {model!r}", model)
    try:
        return _escaping(tokenizer)
    except ValueError as exc:
        raise bad_request(f"special_tokens_in_content='escape' cannot be used for {model!r}: {exc}", model) from None


def render_prompt(
    tokenizer: Any,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None,
    chat_template: str | None,
    chat_template_kwargs: Mapping[str, Any],
    model: str,
) -> list[int]:
    """Prompt ids for the conversation; a final assistant message is continued (prefill)."""
    template = chat_template or tokenizer.chat_template
    if not template:
        raise bad_request(f"The tokenizer of {model!r} has no chat template; set chat_template", model)
    if tools and "tools" not in template and "tool_calls" not in template and not template.startswith(RENDERER_PREFIX):
        raise bad_request(f"The chat template of {model!r} does not support tools", model)
    prefill = messages[-1]["role"] == "assistant"
    try:
        text = render_text(
            tokenizer,
            messages,
            add_generation_prompt=not prefill,
            continue_final_message=prefill,
            tools=tools,
            chat_template=chat_template,
            chat_template_kwargs=chat_template_kwargs,
        )
    except Exception as exc:  # jinja errors, raise_exception() in templates, bad kwargs
        raise bad_request(f"The chat template of {model!r} failed: {type(exc).__name__}: {exc}", model) from None
    return encode_text(tokenizer, text)
