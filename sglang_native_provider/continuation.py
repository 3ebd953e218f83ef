"""Token-in, token-out continuation: the next prompt reuses the exact ids the model saw and sampled.

When an assistant message in ``messages`` carries the token metadata this provider returned for it, the
next prompt is that turn's prompt ids + its sampled ids (+ the end-of-turn token when the model stopped on a
stop string) + the ids of the messages appended since, rendered incrementally (render with and without them,
tokenize only the new text). The model's own tokens are never re-tokenized.

Every such response also reports ``template_drift``: whether these ids differ from a fresh full re-render of
the conversation (templates that rewrite history, such as Qwen3 dropping earlier ``<think>`` blocks), and
where. A message whose metadata does not fit (edited text, another tokenizer, a cut-off turn, changed
history) falls back to re-rendering, with the reason in ``continuation_warning``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .templating import render_prompt, render_text

__all__ = ["Prompt", "build_prompt", "conversation_digest", "message_digest"]

RERENDER = "rerender"


@dataclass(frozen=True)
class Prompt:
    """The ids to send, and what the provider reports about how they were built."""

    ids: list[int]
    drift: dict[str, Any] | None = None
    warning: str | None = None


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:32]


def conversation_digest(messages: Sequence[Mapping[str, Any]], tools: Any, template_kwargs: Mapping[str, Any]) -> str:
    """A fingerprint of the normalized conversation a prompt was rendered from."""
    return _digest([list(messages), tools, dict(template_kwargs)])


def message_digest(content: str | None, reasoning: str | None, calls: Sequence[tuple[str, str]]) -> str:
    """A fingerprint of what an assistant message says (content, reasoning, tool calls)."""
    return _digest([content or "", reasoning or "", [list(call) for call in calls]])


def _incoming_digest(message: Mapping[str, Any]) -> str:
    calls = []
    for call in message.get("tool_calls") or ():
        call = call if isinstance(call, Mapping) else call.model_dump()
        function = call.get("function") or {}
        calls.append((function.get("name"), function.get("arguments")))
    content = message.get("content")
    return message_digest(content if isinstance(content, str) else None, message.get("reasoning_content"), calls)


def _metadata(message: Any) -> dict[str, Any] | None:
    fields = message.get("provider_specific_fields") if isinstance(message, Mapping) else None
    if fields is None and hasattr(message, "provider_specific_fields"):
        fields = message.provider_specific_fields
    if isinstance(fields, Mapping) and "completion_token_ids" in fields and "prompt_token_ids" in fields:
        return dict(fields)
    return None


def _first_difference(a: Sequence[int], b: Sequence[int]) -> int | None:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return None if len(a) == len(b) else min(len(a), len(b))


@functools.lru_cache(maxsize=16)
def _special_tokens(tokenizer) -> tuple[frozenset[int], re.Pattern[str]]:
    """The tokenizer's special ids and a pattern matching any special token's text."""
    special = {token_id: token.content for token_id, token in tokenizer.added_tokens_decoder.items() if token.special}
    texts = sorted(special.values(), key=len, reverse=True)
    return frozenset(special), re.compile("|".join(re.escape(text) for text in texts) or r"(?!)")


def _nth(text: str, needle: str, count: int) -> int:
    position = -1
    for _ in range(count):
        position = text.find(needle, position + 1)
        if position == -1:
            return -1
    return position


def _untrusted(
    raw_messages: Sequence[Any],
    messages: list[dict[str, Any]],
    index: int,
    fields: dict[str, Any],
    render: dict[str, Any],
    tokenizer_source: str,
) -> str | None:
    """Why the metadata on ``messages[index]`` cannot be continued from, or None if it can."""
    if fields.get("tokenizer") != tokenizer_source:
        return f"messages[{index}] was produced with tokenizer {fields.get('tokenizer')!r}, not {tokenizer_source!r}"
    expected = conversation_digest(messages[:index], render["tools"], render["chat_template_kwargs"])
    if fields.get("conversation_digest") != expected:
        return f"the conversation before messages[{index}] changed since that turn was generated"
    message = raw_messages[index]
    message = message if isinstance(message, Mapping) else message.model_dump()
    if fields.get("message_digest") != _incoming_digest(message):
        return f"messages[{index}] was edited after it was generated"
    finish = fields.get("sglang_finish_reason") or {}
    if finish.get("type") != "stop":
        return f"messages[{index}] was cut off ({finish.get('type')!r} finish), so its turn never ended"
    return None


def _bounded(messages: list[dict[str, Any]], index: int) -> tuple[list[dict[str, Any]], int]:
    """The conversation cut to what renders the new messages: the opening (up to the first user message,
    which some templates treat specially), the assistant turn, and what follows it."""
    first_user = next((i for i, message in enumerate(messages) if message["role"] == "user"), -1)
    opening = messages[: first_user + 1] if first_user < index else []
    return [*opening, *messages[index:]], len(opening)


def _new_message_ids(
    tokenizer, messages: list[dict[str, Any]], index: int, render: dict[str, Any]
) -> tuple[list[int], int] | str:
    """(ids of everything the template renders after assistant ``messages[index]``'s end-of-turn token,
    that token's id), or why they cannot be found."""
    special_pattern = _special_tokens(tokenizer)[1]
    history = render_text(tokenizer, messages[: index + 1], add_generation_prompt=False, **render)
    ends = list(special_pattern.finditer(history))
    if not ends:
        return "the chat template does not end assistant turns with a special token"
    # The new messages' text starts after the same occurrence of the end-of-turn token in the longer
    # rendering (templates may rewrite the insides of earlier turns, e.g. drop reasoning, but not how many
    # turns end). What follows the token in the turn (a newline) belongs to the new text.
    end = ends[-1].group(0)
    trailing = history[ends[-1].end() :]
    full = render_text(tokenizer, messages, add_generation_prompt=True, **render)
    position = _nth(full, end, history.count(end))
    new_text = full[position + len(end) :] if position != -1 else ""
    if position == -1 or not new_text.startswith(trailing):
        return "the chat template renders the end of that turn differently once new messages follow"
    return tokenizer.encode(new_text, add_special_tokens=False), tokenizer.convert_tokens_to_ids(end)


def _exact_turn(tokenizer, fields: dict[str, Any], end_id: int) -> list[int]:
    """The turn's prompt and sampled ids; a turn stopped by a stop string is closed with the end token."""
    completion = list(fields["completion_token_ids"])
    if not completion or completion[-1] not in _special_tokens(tokenizer)[0]:
        completion.append(end_id)
    return [*fields["prompt_token_ids"], *completion]


def build_prompt(
    tokenizer,
    raw_messages: Sequence[Any],
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None,
    chat_template: str | None,
    chat_template_kwargs: Mapping[str, Any],
    tokenizer_source: str,
    mode: str,
    drift_check: bool,
    model: str,
) -> Prompt:
    """The prompt ids for ``messages``: exact continuation when the last assistant turn carries our metadata.

    The new messages are rendered in a bounded context, so continuing costs the same at every turn; the
    drift check (a full re-render) makes it grow with the conversation and can be turned off.
    """
    render = {"tools": tools, "chat_template": chat_template, "chat_template_kwargs": chat_template_kwargs}
    last = next((i for i in range(len(raw_messages) - 1, -1, -1) if messages[i]["role"] == "assistant"), None)
    fields = _metadata(raw_messages[last]) if last is not None and last < len(messages) - 1 else None
    if fields is None:
        return Prompt(ids=render_prompt(tokenizer, messages, model=model, **render))
    reason = _untrusted(raw_messages, messages, last, fields, render, tokenizer_source)
    found = _new_message_ids(tokenizer, *_bounded(messages, last), render) if reason is None else reason
    if isinstance(found, str):
        return Prompt(
            ids=render_prompt(tokenizer, messages, model=model, **render),
            warning=f"re-rendered the conversation: {found}",
        )
    new_ids, end_id = found
    turn = _exact_turn(tokenizer, fields, end_id)
    continued = [*turn, *new_ids]
    if not drift_check and mode != RERENDER:
        return Prompt(ids=continued)
    rendered = render_prompt(tokenizer, messages, model=model, **render)
    position = _first_difference(continued, rendered)
    if position is not None and position >= len(turn):
        # The bounded context rendered the new messages differently from the whole conversation: use the
        # whole conversation's rendering of them.
        found = _new_message_ids(tokenizer, messages, last, render)
        if isinstance(found, str):
            return Prompt(ids=rendered, warning=f"re-rendered the conversation: {found}")
        continued = [*turn, *found[0]]
        position = _first_difference(continued, rendered)
    drift = {"detected": position is not None, "first_difference": position}
    return Prompt(ids=rendered if mode == RERENDER else continued, drift=drift)
