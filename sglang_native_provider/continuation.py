"""Token-in, token-out continuation: the next prompt reuses the exact ids the model saw and sampled.

When an assistant message in ``messages`` carries the token metadata this provider returned for it, the
next prompt is that turn's prompt ids + its sampled ids (+ the end-of-turn token when the model stopped on a
stop string) + the ids of the messages appended since, rendered incrementally (render with and without them,
tokenize only the new text). The model's own tokens are never re-tokenized.

Every such response also reports ``template_drift``: whether these ids differ from the template's own
rendering (templates that rewrite history, such as Qwen3 dropping earlier ``<think>`` blocks), and where;
by default only the bounded window is compared (constant cost), ``drift_check="full"`` re-renders it all.
A message whose metadata does not fit (edited text, another tokenizer, a cut-off turn, changed history)
falls back to re-rendering, with the reason in ``continuation_warning``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .fingerprints import incoming_message_digest
from .render_cache import render_prompt, render_text
from .templating import encode_text, token_pattern

__all__ = ["PreviousTurn", "Prompt", "build_prompt", "last_assistant", "previous_turn"]

RERENDER = "rerender"


@dataclass(frozen=True)
class PreviousTurn:
    """The token metadata of the assistant message the new prompt continues."""

    index: int
    """The message's position in ``messages``."""
    fields: dict[str, Any]
    source: str
    """``message`` (the metadata came back on the message) or ``ledger`` (found in the session ledger)."""


@dataclass(frozen=True)
class Prompt:
    """The ids to send, and what the provider reports about how they were built."""

    ids: list[int]
    drift: dict[str, Any] | None = None
    warning: str | None = None
    continued: bool = False
    """Whether ``ids`` continue the previous turn's exact tokens."""


def last_assistant(messages: Sequence[Mapping[str, Any]]) -> int | None:
    """The index of the last assistant message that new messages follow (not a final one being continued)."""
    last = next((i for i in range(len(messages) - 1, -1, -1) if messages[i]["role"] == "assistant"), None)
    return last if last is not None and last < len(messages) - 1 else None


def previous_turn(raw_messages: Sequence[Any], messages: Sequence[Mapping[str, Any]]) -> PreviousTurn | None:
    """The last assistant message's token metadata, when it came back on the message."""
    index = last_assistant(messages)
    fields = _metadata(raw_messages[index]) if index is not None else None
    return PreviousTurn(index, fields, "message") if fields is not None else None


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
    return frozenset(special), token_pattern(special.values())


def _nth(text: str, needle: str, count: int) -> int:
    position = -1
    for _ in range(count):
        position = text.find(needle, position + 1)
        if position == -1:
            return -1
    return position


def _untrusted(
    raw_messages: Sequence[Any], previous: PreviousTurn, history_key: str | None, tokenizer_source: str
) -> str | None:
    """Why the metadata of ``messages[index]`` cannot be continued from, or None if it can. The ledger
    matched its turns itself by the same history key, so only metadata that came back on a message is checked
    against the history (``history_key``: ``HistoryKeys.before_last_assistant``) and the message's digest."""
    fields = previous.fields
    index = previous.index
    if fields.get("tokenizer") != tokenizer_source:
        return f"messages[{index}] was produced with tokenizer {fields.get('tokenizer')!r}, not {tokenizer_source!r}"
    if previous.source == "message":
        if fields.get("conversation_digest") != history_key:
            return f"the conversation before messages[{index}] changed since that turn was generated"
        if fields.get("message_digest") != incoming_message_digest(raw_messages[index]):
            return f"messages[{index}] was edited after it was generated"
    finish = fields.get("sglang_finish_reason") or {}
    if finish.get("type") not in ("stop", "length"):
        return f"messages[{index}] ended with a {finish.get('type')!r} finish, not one the model or its budget made"
    return None


@dataclass(frozen=True)
class _Window:
    """The bounded context new messages are rendered in: the opening (up to the first user message, which
    some templates treat specially), the assistant turn, and what follows it."""

    messages: list[dict[str, Any]]
    opening: int
    """How many messages the opening has: the assistant turn's index in ``messages``."""


def _bounded(messages: list[dict[str, Any]], index: int) -> _Window:
    first_user = next((i for i, message in enumerate(messages) if message["role"] == "user"), -1)
    opening = messages[: first_user + 1] if first_user < index else []
    return _Window([*opening, *messages[index:]], len(opening))


@dataclass(frozen=True)
class _NewMessages:
    ids: list[int]
    end_id: int
    rendered: str
    """The whole context rendered with the generation prompt."""


def _new_message_ids(
    tokenizer, messages: list[dict[str, Any]], index: int, render: dict[str, Any]
) -> _NewMessages | str:
    """The ids of everything the template renders after assistant ``messages[index]``'s end-of-turn token,
    or why they cannot be found."""
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
    return _NewMessages(encode_text(tokenizer, new_text), tokenizer.convert_tokens_to_ids(end), full)


def _window_drift(
    tokenizer, window: _Window, new: _NewMessages, previous_prompt: list[int], tail: list[int], render: dict[str, Any]
) -> int | str | None:
    """Where the exact ids first differ from the template's rendering of the bounded window (as a position in
    the whole prompt), None if nowhere, or why the window cannot be compared.

    After its opening, the window's exact ids are the assistant header the previous prompt ended with, the
    sampled ids and the new messages' ids; the template renders the same from text. Text that starts with a
    special token tokenizes the same alone as after other text, so the opening itself is not tokenized."""
    opening = window.messages[: window.opening]
    opening_text = render_text(tokenizer, opening, add_generation_prompt=False, **render) if opening else ""
    prompted_text = render_text(tokenizer, opening, add_generation_prompt=True, **render) if opening else ""
    special = _special_tokens(tokenizer)[1]
    split = len(opening_text)
    if not (opening and prompted_text.startswith(opening_text) and new.rendered.startswith(opening_text)):
        return "the window does not start with its opening"
    if not (special.match(prompted_text, split) and special.match(new.rendered, split)):
        return "the window does not continue its opening with a special token"
    header = encode_text(tokenizer, prompted_text[split:])
    if previous_prompt[len(previous_prompt) - len(header) :] != header:
        return "the previous prompt does not end with the template's assistant header"
    position = _first_difference([*header, *tail], encode_text(tokenizer, new.rendered[split:]))
    return None if position is None else len(previous_prompt) - len(header) + position


def _full_drift(
    tokenizer,
    messages: list[dict[str, Any]],
    index: int,
    turn: list[int],
    new: _NewMessages,
    render: dict[str, Any],
    model: str,
) -> tuple[list[int], list[int], int | None] | str:
    """(continued ids, fresh full rendering, first difference), or why the new messages cannot be found in
    the whole conversation's rendering."""
    rendered = render_prompt(tokenizer, messages, model=model, **render)
    continued = [*turn, *new.ids]
    position = _first_difference(continued, rendered)
    if position is not None and position >= len(turn):
        # The bounded context rendered the new messages differently from the whole conversation: use the
        # whole conversation's rendering of them.
        found = _new_message_ids(tokenizer, messages, index, render)
        if isinstance(found, str):
            return found
        continued = [*turn, *found.ids]
        position = _first_difference(continued, rendered)
    return continued, rendered, position


def _exact_turn(tokenizer, fields: dict[str, Any], end_id: int) -> list[int]:
    """The turn's prompt and sampled ids, as sampled; a turn that did not end on a special token (cut off by
    ``max_tokens``, or stopped by a stop string) is closed with the template's end-of-turn token, a prompt token
    of the next turn, as RL trainers build multi-turn sequences."""
    completion = list(fields["completion_token_ids"])
    if not completion or completion[-1] not in _special_tokens(tokenizer)[0]:
        completion.append(end_id)
    return [*fields["prompt_token_ids"], *completion]


def build_prompt(
    tokenizer,
    raw_messages: Sequence[Any],
    messages: list[dict[str, Any]],
    previous: PreviousTurn | None,
    *,
    tools: list[dict[str, Any]] | None,
    chat_template: str | None,
    chat_template_kwargs: Mapping[str, Any],
    tokenizer_source: str,
    history_key: str | None,
    mode: str,
    drift_check: str,
    model: str,
    unmatched: str | None = None,
) -> Prompt:
    """The prompt ids for ``messages``: exact continuation when the last assistant turn's metadata is known
    (``previous``: from the message or the session ledger); otherwise a fresh rendering, with ``unmatched``
    as the warning when an earlier assistant turn could not be continued. ``history_key`` fingerprints the
    messages before that turn (``HistoryKeys.before_last_assistant``).

    The new messages are rendered in a bounded context and the default drift check compares only that
    context, so continuing costs the same at every turn; ``drift_check="full"`` re-renders everything.
    """
    render = {"tools": tools, "chat_template": chat_template, "chat_template_kwargs": chat_template_kwargs}

    def rerendered(reason: str) -> Prompt:
        return Prompt(
            ids=render_prompt(tokenizer, messages, model=model, **render),
            warning=f"re-rendered the conversation: {reason}",
        )

    if previous is None:
        if unmatched is not None:
            return rerendered(unmatched)
        return Prompt(ids=render_prompt(tokenizer, messages, model=model, **render))
    last, fields = previous.index, previous.fields
    reason = _untrusted(raw_messages, previous, history_key, tokenizer_source)
    if reason is not None:
        return rerendered(reason)
    window = _bounded(messages, last)
    new = _new_message_ids(tokenizer, window.messages, window.opening, render)
    if isinstance(new, str):
        return rerendered(new)
    turn = _exact_turn(tokenizer, fields, new.end_id)
    continued = [*turn, *new.ids]
    if drift_check == "off" and mode != RERENDER:
        return Prompt(ids=continued, continued=True)
    if drift_check == "incremental" and mode != RERENDER:
        tail = continued[len(fields["prompt_token_ids"]) :]
        position = _window_drift(tokenizer, window, new, fields["prompt_token_ids"], tail, render)
        if not isinstance(position, str):
            return Prompt(ids=continued, drift=_drift_report(position, fields.get("template_drift")), continued=True)
    checked = _full_drift(tokenizer, messages, last, turn, new, render, model)
    if isinstance(checked, str):
        return rerendered(checked)
    continued, rendered, position = checked
    if mode == RERENDER:
        return Prompt(ids=rendered, drift=_drift_report(position, None))
    return Prompt(ids=continued, drift=_drift_report(position, None), continued=True)


def _drift_report(position: int | None, previous: Any) -> dict[str, Any]:
    """This turn's drift report; drift an earlier turn reported stays in the exact ids, so it is carried on."""
    if isinstance(previous, Mapping) and previous.get("detected") and isinstance(previous.get("first_difference"), int):
        position = previous["first_difference"] if position is None else min(position, previous["first_difference"])
    return {"detected": position is not None, "first_difference": position}
