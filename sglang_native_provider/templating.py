"""Messages -> exact prompt token ids, with the model's own chat template.

The ids sent to SGLang are exactly ``tokenizer.apply_chat_template(messages, tools=..., tokenize=True)``
for the normalized conversation: never text that SGLang re-tokenizes. Tokenizers split text at their added
tokens before anything else, so the text between two added tokens tokenizes the same wherever it appears;
:func:`encode_text` caches those pieces, and a system prompt or tool list repeated in every request is
tokenized once.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import bad_request
from .renderers import RENDERER_PREFIX, family_renderer

__all__ = [
    "ContentEscapingTokenizer",
    "TokenizerCache",
    "encode_text",
    "normalize_messages",
    "normalize_tools",
    "prompt_tokenizer",
    "render_prompt",
    "render_text",
    "resolve_chat_template",
    "token_pattern",
    "tokenizers",
]

OFFLINE_PREFIX = "offline:"
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
_KEPT_KEYS = ("name", "tool_call_id", "reasoning_content")


class TokenizerCache:
    """Loaded tokenizers shared across calls and threads, keyed by (source, revision, trust_remote_code).

    Bounded: the least recently used tokenizer is dropped beyond ``maxsize``.
    """

    def __init__(self, maxsize: int = 8) -> None:
        self._maxsize = maxsize
        self._entries: OrderedDict[tuple[str, str | None, bool], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, source: str, *, revision: str | None, trust_remote_code: bool, model: str):
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


def _load(source: str, revision: str | None, trust_remote_code: bool, model: str):
    try:
        if source.startswith(OFFLINE_PREFIX):
            from .offline_tokenizers import OfflineTokenizerError, load_tokenizer

            try:
                return load_tokenizer(source[len(OFFLINE_PREFIX) :])
            except OfflineTokenizerError as exc:
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


@functools.lru_cache(maxsize=32)
def _template_from_file(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def resolve_chat_template(chat_template: str | None) -> str | None:
    """A template given inline, or read from the file it names."""
    if chat_template is None or "{" in chat_template:
        return chat_template
    return _template_from_file(chat_template) if Path(chat_template).is_file() else chat_template


def _as_dict(message: Any) -> Mapping[str, Any]:
    """A message (or tool call, or function) as a mapping. Pydantic objects (LiteLLM's) are read from their
    field storage, far cheaper than serializing them: earlier messages are read again at every turn."""
    if isinstance(message, Mapping):
        return message
    if hasattr(message, "model_dump"):
        return {**vars(message), **(getattr(message, "__pydantic_extra__", None) or {})}
    raise TypeError(type(message).__name__)


def _text_content(content: Any, where: str, model: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
                raise bad_request(f"{where}: content part of type {kind!r} is not supported (text only)", model)
        return "\n".join(texts)
    raise bad_request(f"{where}: content must be a string or a list of content parts", model)


def _tool_call(call: Any, where: str, model: str) -> dict[str, Any]:
    try:
        call = _as_dict(call)
    except TypeError:
        raise bad_request(f"{where}: each tool call must be an object", model) from None
    function = call.get("function")
    if function is not None and not isinstance(function, Mapping) and hasattr(function, "model_dump"):
        function = _as_dict(function)
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise bad_request(f"{where}: each tool call needs a function with a name", model)
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        # Templates expect a mapping; unparsable text is kept as written (templates taking strings render it).
        with contextlib.suppress(json.JSONDecodeError):
            arguments = json.loads(arguments) if arguments.strip() else {}
    normalized: dict[str, Any] = {
        "type": "function",
        "function": {"name": function["name"], "arguments": arguments if arguments is not None else {}},
    }
    if call.get("id"):
        normalized["id"] = call["id"]
    return normalized


def normalize_messages(messages: Sequence[Any], model: str) -> list[dict[str, Any]]:
    """OpenAI chat messages as the dicts Hugging Face chat templates expect."""
    if not messages:
        raise bad_request("messages must be a non-empty list", model)
    normalized = []
    for index, raw in enumerate(messages):
        where = f"messages[{index}]"
        try:
            message = _as_dict(raw)
        except TypeError as exc:
            raise bad_request(f"{where} must be an object, got {exc}", model) from None
        role = _ROLES.get(message.get("role"))
        if role is None:
            raise bad_request(f"{where} has unknown role {message.get('role')!r}", model)
        entry: dict[str, Any] = {"role": role, "content": _text_content(message.get("content"), where, model)}
        for key in _KEPT_KEYS:
            if message.get(key) is not None:
                entry[key] = message[key]
        if role == "assistant" and message.get("tool_calls"):
            if not isinstance(message["tool_calls"], list):
                raise bad_request(f"{where}: tool_calls must be a list", model)
            entry["tool_calls"] = [_tool_call(call, where, model) for call in message["tool_calls"]]
        for key, value in entry.items():
            _refuse_lone_surrogates(value, f"{where}.{key}", model)
        normalized.append(entry)
    return normalized


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_lone_surrogates(value: Any, where: str, model: str) -> None:
    """Tokenizers cannot encode lone surrogates (text cut out of UTF-16, or decoded with ``surrogateescape``)."""
    if isinstance(value, str):
        found = None if value.isascii() else _LONE_SURROGATE.search(value)
        if found is not None:
            code = f"U+{ord(found.group()):04X}"
            raise bad_request(f"{where} contains a lone surrogate ({code}) at character {found.start()}", model)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _refuse_lone_surrogates(key, where, model)
            _refuse_lone_surrogates(item, where, model)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _refuse_lone_surrogates(item, where, model)


def normalize_tools(tools: Any, model: str) -> list[dict[str, Any]] | None:
    """OpenAI ``tools``, checked: each a function with a name and an object schema."""
    if not tools:
        return None
    if not isinstance(tools, list):
        raise bad_request("tools must be a list", model)
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not (isinstance(tool, Mapping) and tool.get("type") == "function" and isinstance(function, Mapping)):
            raise bad_request(f"tools[{index}] must be {{'type': 'function', 'function': {{...}}}}", model)
        if not isinstance(function.get("name"), str) or not function["name"]:
            raise bad_request(f"tools[{index}].function.name must be a non-empty string", model)
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            raise bad_request(f"tools[{index}].function.parameters must be a JSON schema object", model)
        _refuse_lone_surrogates(tool, f"tools[{index}]", model)
    return tools


def render_text(
    tokenizer,
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


def token_pattern(texts) -> re.Pattern[str]:
    """A pattern matching any of these token texts, longest first (matching nothing when there are none)."""
    return re.compile("|".join(re.escape(text) for text in sorted(texts, key=len, reverse=True)) or r"(?!)")


@functools.lru_cache(maxsize=16)
def _added_token_splitter(tokenizer) -> tuple[re.Pattern[str], dict[str, int]] | None:
    """A pattern matching the tokenizer's added tokens and their ids; None when one of them strips or
    normalizes its surroundings (then pieces would not tokenize independently)."""
    added = tokenizer.added_tokens_decoder
    if not added or any(t.lstrip or t.rstrip or t.single_word or t.normalized for t in added.values()):
        return None
    ids = {token.content: token_id for token_id, token in added.items()}
    return token_pattern(ids), ids


@functools.lru_cache(maxsize=8192)
def _encode_piece(tokenizer, text: str) -> tuple[int, ...]:
    return tuple(tokenizer.encode(text, add_special_tokens=False))


def encode_text(tokenizer, text: str) -> list[int]:
    """``tokenizer.encode(text, add_special_tokens=False)``, tokenizing each piece between added tokens
    once (cached): prompts repeat their system prompt, tools and history."""
    splitter = _added_token_splitter(tokenizer)
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


def _piece(tokenizer, text: str) -> tuple[int, ...] | list[int]:
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

    def __init__(self, tokenizer) -> None:
        splitter = _added_token_splitter(tokenizer)
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

    def mask(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None):
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


def _plain_ids(tokenizer, text: str) -> list[int]:
    """``text`` through the tokenizer's normalizer, pre-tokenizer and model only: added tokens' texts are not
    matched (as ``encode`` does for text without them)."""
    backend = tokenizer.backend_tokenizer
    normalized = backend.normalizer.normalize_str(text) if backend.normalizer else text
    pieces = backend.pre_tokenizer.pre_tokenize_str(normalized) if backend.pre_tokenizer else [(normalized, None)]
    return [token.id for piece, _ in pieces for token in backend.model.tokenize(piece)]


@functools.lru_cache(maxsize=16)
def _escaping(tokenizer) -> ContentEscapingTokenizer:
    return ContentEscapingTokenizer(tokenizer)


def prompt_tokenizer(tokenizer, special_tokens_in_content: str, model: str):
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
    tokenizer,
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
