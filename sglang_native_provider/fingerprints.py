"""Fingerprints of a conversation, computed once per request and shared by exact continuation and the ledger.

A history is "the same" when every message says the same thing: its role and content, and for an assistant turn
its content with the ends stripped and its tool calls (names, arguments as JSON values). Reasoning and call ids
are left out, as frameworks drop or regenerate them. An assistant message is "as generated" when its content,
reasoning and calls are exactly what the provider returned (``message_digest``).
"""

from __future__ import annotations

import array
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "HistoryKeys",
    "common_prefix_length",
    "incoming_message_digest",
    "json_value",
    "message_digest",
    "packed_ids",
]

_CACHED_TEXT_CHARS = 16_384


def json_value(arguments: Any) -> Any:
    """Tool-call arguments as a JSON value (text that is not JSON is compared as written, stripped)."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return arguments.strip()
    return arguments


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


_cached_digest = functools.lru_cache(maxsize=4096)(_digest)


def _text_digest(text: str) -> bytes:
    """A text's digest; frameworks send the same history strings at every turn, so short ones are cached."""
    return _cached_digest(text) if len(text) <= _CACHED_TEXT_CHARS else _digest(text)


def _value_digest(value: Any) -> bytes:
    if isinstance(value, str):
        return _text_digest(value.strip())
    return _text_digest(json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str))


def _history_digest(message: Mapping[str, Any]) -> bytes:
    """What must not change in a message for the history to be the same (see the module docstring)."""
    role = message["role"]
    if role != "assistant":
        content = message.get("content") or ""
        return role.encode() + (_text_digest(content) if isinstance(content, str) else _value_digest(content))
    parts = [b"assistant", _text_digest((message.get("content") or "").strip())]
    for call in message.get("tool_calls") or ():
        parts += [_text_digest(call["function"]["name"]), _value_digest(call["function"]["arguments"])]
    return hashlib.sha256(b"\0".join(parts)).digest()


@dataclass(frozen=True)
class HistoryKeys:
    """Fingerprints of a conversation (normalized messages, with the tools and template switches they are
    rendered with): the whole of it, and the part before its last assistant turn (None without one)."""

    whole: str
    before_last_assistant: str | None
    opening: str
    """The part before the first assistant turn (all of it without one): what every turn of one conversation
    shares, so it names the conversation when the caller names no session."""

    @classmethod
    def of(
        cls, messages: Sequence[Mapping[str, Any]], tools: Any, template_kwargs: Mapping[str, Any], index: int | None
    ) -> HistoryKeys:
        """One pass over the messages; ``index`` is the last assistant turn's position, if any."""
        running = hashlib.sha256(_value_digest([tools, dict(template_kwargs)]))
        before = opening = None
        for position, message in enumerate(messages):
            if position == index:
                before = running.hexdigest()[:32]
            if opening is None and message["role"] == "assistant":
                opening = running.hexdigest()[:32]
            running.update(_history_digest(message))
        whole = running.hexdigest()[:32]
        return cls(whole, before, opening or whole)


def message_digest(content: str | None, reasoning: str | None, calls: Sequence[tuple[Any, Any]]) -> str:
    """A fingerprint of exactly what an assistant message says (content, reasoning, tool calls)."""
    value = [content or "", reasoning or "", [list(call) for call in calls]]
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:32]


def incoming_message_digest(message: Any) -> str:
    """:func:`message_digest` of an assistant message as the caller sent it back (a dict or a LiteLLM message)."""
    message = message if isinstance(message, Mapping) else message.model_dump()
    calls = []
    for call in message.get("tool_calls") or ():
        call = call if isinstance(call, Mapping) else call.model_dump()
        function = call.get("function") or {}
        calls.append((function.get("name"), function.get("arguments")))
    content = message.get("content")
    return message_digest(content if isinstance(content, str) else None, message.get("reasoning_content"), calls)


def packed_ids(ids: Sequence[int]) -> bytes:
    """Token ids as bytes (8 per id), for :func:`common_prefix_length`."""
    return array.array("q", ids).tobytes()


def common_prefix_length(a: Sequence[Any] | bytes, b: Sequence[Any] | bytes) -> int:
    """How many leading items ``a`` and ``b`` share: two texts, or two sequences of token ids (compared packed
    as bytes; already packed by :func:`packed_ids` when given as bytes). A binary search over slices, so the
    comparing runs in C: long prompts are compared at every turn."""
    if isinstance(a, str) and isinstance(b, str):
        return _shared_units(a, b, min(len(a), len(b)), 1)
    packed_a = a if isinstance(a, bytes) else packed_ids(a)
    packed_b = b if isinstance(b, bytes) else packed_ids(b)
    return _shared_units(packed_a, packed_b, min(len(packed_a), len(packed_b)) // 8, 8)


def _shared_units(a: str | bytes, b: str | bytes, length: int, unit: int) -> int:
    low, high = 0, length
    while low < high:
        middle = (low + high + 1) // 2
        if a[: middle * unit] == b[: middle * unit]:
            low = middle
        else:
            high = middle - 1
    return low
