"""Render once: what the chat template rendered is kept, content-addressed, and reused by the next call.

Agent loops send the whole conversation at every call, and the chat template renders it whole: Jinja time in
proportion to its length. Here every rendering is kept under a fingerprint of exactly what produced it (the
tokenizer, template, tools, template variables and each message in full), so a conversation sent again costs a
lookup, and a conversation that extends a kept prompt renders only a window: its opening (up to the first user
message), its last exchange before the newest user turn, and the new messages. The window's rendering with and
without the new messages shows where the old prompt's tail is replaced; the new ids are the kept ids up to
there, plus the ids of the new text.

The reuse is checked, never assumed: the kept prompt must end with the window's own rendering of its last
exchange (so that part renders the same without the earlier turns), the replaced tail must start after an added
token (so the ids split there exactly), and the window must begin at an exchange before the newest user turn
(templates rewrite turns after the last user message, e.g. dropping reasoning). When a check fails the whole
conversation is rendered. ``tests/test_render_cache.py`` holds every fixture template to a fresh rendering.

The cache is bounded (``SGLANG_NATIVE_RENDER_CACHE_MB``, 64 MiB by default: texts, and ids at 4 bytes each),
least recently used first out, and shared by the threads of one process.
"""

from __future__ import annotations

import array
import datetime
import hashlib
import json
import os
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import templating
from .fingerprints import common_prefix_length
from .templating import added_tokens, encode_text

__all__ = ["RenderCache", "render_cache", "render_prompt", "render_text"]

_DEFAULT_BUDGET_MB = 64


@dataclass(frozen=True)
class _KeptPrompt:
    text: str
    ids: array.array


class RenderCache:
    """Renderings (texts) and prompts (text and ids), least recently used first out beyond ``budget_bytes``."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._items: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: tuple, value: Any, size: int) -> None:
        if size > self.budget_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._size += size - (old[1] if old else 0)
            self._items[key] = (value, size)
            while self._size > self.budget_bytes:
                _, (_, evicted) = self._items.popitem(last=False)
                self._size -= evicted

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0

    @property
    def size_bytes(self) -> int:
        return self._size


render_cache = RenderCache(int(os.environ.get("SGLANG_NATIVE_RENDER_CACHE_MB", _DEFAULT_BUDGET_MB)) * 2**20)
"""The process's cache (its ``budget_bytes`` may be changed, ``clear()`` empties it)."""

_tokenizer_names: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_names_lock = threading.Lock()


def _tokenizer_name(tokenizer: Any) -> str:
    """A name for this tokenizer object that no other object gets (an ``id()`` may be reused)."""
    with _names_lock:
        name = _tokenizer_names.get(tokenizer)
        if name is None:
            name = _tokenizer_names[tokenizer] = uuid.uuid4().hex
        return name


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _settings(tokenizer: Any, render: Mapping[str, Any]) -> bytes:
    """What a rendering depends on besides the messages; templates that print today's date get the date."""
    template = render["chat_template"] or getattr(tokenizer, "chat_template", None) or ""
    today = datetime.date.today().isoformat() if "strftime_now" in template else ""
    described = [render["chat_template"], render["tools"], render["chat_template_kwargs"], today]
    text = json.dumps(described, sort_keys=True, ensure_ascii=False, default=repr)
    return _digest(f"{_tokenizer_name(tokenizer)}\0{text}".encode("utf-8", "surrogatepass"))


def _chain(settings: bytes, messages: Sequence[Mapping[str, Any]]) -> list[bytes]:
    """Fingerprints of every prefix of ``messages``: ``chain[k]`` names ``messages[:k]``."""
    chain = [settings]
    for message in messages:
        chain.append(_digest(chain[-1] + repr(message).encode("utf-8", "surrogatepass")))
    return chain


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
    """:func:`templating.render_text`, kept: the same messages and settings are rendered once."""
    render = {"tools": tools, "chat_template": chat_template, "chat_template_kwargs": chat_template_kwargs}
    key = (b"text", _chain(_settings(tokenizer, render), messages)[-1], add_generation_prompt, continue_final_message)
    text = render_cache.get(key)
    if text is None:
        text = templating.render_text(
            tokenizer,
            messages,
            add_generation_prompt=add_generation_prompt,
            continue_final_message=continue_final_message,
            **render,
        )
        render_cache.put(key, text, len(text))
    return text


def render_prompt(
    tokenizer: Any,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None,
    chat_template: str | None,
    chat_template_kwargs: Mapping[str, Any],
    model: str,
) -> list[int]:
    """:func:`templating.render_prompt`, rendered once: a conversation sent again is looked up, one that extends
    a kept prompt renders only its window (see the module docstring). A final assistant message (prefill) is
    rendered whole."""
    render = {"tools": tools, "chat_template": chat_template, "chat_template_kwargs": chat_template_kwargs}
    if messages and messages[-1]["role"] == "assistant":
        return templating.render_prompt(tokenizer, messages, model=model, **render)
    chain = _chain(_settings(tokenizer, render), messages)
    kept = render_cache.get((b"prompt", chain[-1]))
    if kept is None:
        kept = _extended(tokenizer, messages, chain, render)
    if kept is None:
        ids = templating.render_prompt(tokenizer, messages, model=model, **render)
        text = templating.render_text(tokenizer, messages, add_generation_prompt=True, **render)
        kept = _KeptPrompt(text, array.array("i", ids))
    render_cache.put((b"prompt", chain[-1]), kept, len(kept.text) + 4 * len(kept.ids))
    return kept.ids.tolist()


def _window_start(messages: Sequence[Mapping[str, Any]], kept: int) -> tuple[int, int] | None:
    """(opening length, first message after it in the window) for extending ``messages[:kept]``: the window
    starts at the assistant turn before the kept conversation's last user message (with the tool results between
    them); None when that is inside the opening (the window would be the whole conversation)."""
    first_user = next((i for i, message in enumerate(messages) if message["role"] == "user"), None)
    last_user = next((i for i in range(kept - 1, -1, -1) if messages[i]["role"] == "user"), None)
    if first_user is None or last_user is None:
        return None
    opening, start = first_user + 1, last_user
    while start - 1 >= opening and messages[start - 1]["role"] == "tool":
        start -= 1
    if start - 1 >= opening and messages[start - 1]["role"] == "assistant":
        start -= 1
    return (opening, start) if start > opening else None


def _extended(
    tokenizer: Any, messages: list[dict[str, Any]], chain: list[bytes], render: dict[str, Any]
) -> _KeptPrompt | None:
    """The prompt for ``messages`` built on the longest kept prompt of a conversation they extend, or None
    when there is none or a check fails (see the module docstring)."""
    splitter = added_tokens(tokenizer)
    found = next(
        ((k, kept) for k in range(len(messages) - 1, 0, -1) if (kept := render_cache.get((b"prompt", chain[k])))),
        None,
    )
    if splitter is None or found is None:
        return None
    count, kept = found
    window = _window_start(messages, count)
    if window is None:
        return None
    opening_length, start = window
    opening = messages[:opening_length]
    opening_text = render_text(tokenizer, opening, add_generation_prompt=False, **render)
    before = render_text(tokenizer, [*opening, *messages[start:count]], add_generation_prompt=True, **render)
    after = render_text(tokenizer, [*opening, *messages[start:]], add_generation_prompt=True, **render)
    exchange = before[len(opening_text) :]
    if not (before.startswith(opening_text) and after.startswith(opening_text) and kept.text.endswith(exchange)):
        return None
    pattern, ids_of = splitter
    shared = common_prefix_length(before, after)
    tokens = list(pattern.finditer(after, len(opening_text), shared))
    last = tokens[-1] if tokens else None
    if last is None or last.end() <= len(opening_text):
        return None
    cut = last.end()
    kept_length = len(kept.ids) - len(encode_text(tokenizer, before[cut:]))
    if kept_length <= 0 or kept.ids[kept_length - 1] != ids_of[last.group(0)]:
        return None  # the kept ids do not split at that token
    ids = kept.ids[:kept_length]
    ids.extend(encode_text(tokenizer, after[cut:]))
    return _KeptPrompt(kept.text[: len(kept.text) - len(before) + cut] + after[cut:], ids)
