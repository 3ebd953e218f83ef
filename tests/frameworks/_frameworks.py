"""What the agent-framework tests share: scripted Qwen3 turns, a spy on LiteLLM's entry points, and the two
checks of issue 13 (a session's trajectory equals what the emulator saw, or each call is its own sample)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import litellm

from sglang_native_provider import Trajectory
from sglang_native_provider.session import CONVERSATION_PREFIX
from sglang_native_provider.sessions import open_store

QWEN3_EOS = 151645  # <|im_end|>, which the emulator appends to every scripted text
MODEL = "sglang_native/qwen3"
TOKENIZER = "offline:qwen3"


def tool_call(name: str, **arguments: Any) -> str:
    """A call in Qwen3's markup, as the template itself writes it."""
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def compact_tool_call(name: str, **arguments: Any) -> str:
    """A call whose arguments are written without spaces: a re-render writes them back as ``{"k": "v"}``."""
    body = '{"name": ' + json.dumps(name) + ', "arguments": ' + json.dumps(arguments, separators=(",", ":")) + "}"
    return f"<tool_call>\n{body}\n</tool_call>"


def after_blank_line(text: str, name: str, **arguments: Any) -> str:
    """``text``, a blank line, then a call: Qwen3's template re-renders the blank line as one newline, so a
    re-rendered turn differs from the sampled tokens."""
    return f"{text}\n\n{tool_call(name, **arguments)}"


def sampled_ids(tokenizer, text: str) -> list[int]:
    """The ids the emulator samples for a scripted text."""
    return [*tokenizer.encode(text, add_special_tokens=False), QWEN3_EOS]


@dataclass
class Call:
    """One call a framework made into LiteLLM: its kwargs (copied at call time), the response, and for a
    stream the chunks the framework read."""

    kwargs: dict[str, Any]
    response: Any = None
    chunks: list[Any] = field(default_factory=list)

    @property
    def fields(self) -> dict[str, Any]:
        """Our metadata: on the message, or for a stream on the deltas that carry it."""
        if not self.chunks:
            return self.response.choices[0].message.provider_specific_fields or {}
        merged: dict[str, Any] = {}
        for chunk in self.chunks:
            if chunk.choices:
                merged.update(getattr(chunk.choices[0].delta, "provider_specific_fields", None) or {})
        return merged


class _RecordedStream:
    """A LiteLLM stream that keeps each chunk the framework reads (anything else is the stream's own)."""

    def __init__(self, stream: Any, chunks: list[Any]) -> None:
        self._stream, self._chunks = stream, chunks

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __iter__(self):
        for chunk in self._stream:
            self._chunks.append(chunk)
            yield chunk

    async def __aiter__(self):
        async for chunk in self._stream:
            self._chunks.append(chunk)
            yield chunk


@dataclass
class LiteLLMSpy:
    """Records every ``litellm.completion``/``acompletion`` call while installed (see the ``spy`` fixture)."""

    calls: list[Call] = field(default_factory=list)

    def install(self, monkeypatch) -> None:
        completion, acompletion = litellm.completion, litellm.acompletion

        def spied(*args, **kwargs):
            call = self._record(kwargs)
            call.response = completion(*args, **kwargs)
            return _RecordedStream(call.response, call.chunks) if kwargs.get("stream") else call.response

        async def aspied(*args, **kwargs):
            call = self._record(kwargs)
            call.response = await acompletion(*args, **kwargs)
            return _RecordedStream(call.response, call.chunks) if kwargs.get("stream") else call.response

        monkeypatch.setattr(litellm, "completion", spied)
        monkeypatch.setattr(litellm, "acompletion", aspied)

    def _record(self, kwargs: dict[str, Any]) -> Call:
        # LiteLLM writes its hidden params into the caller's metadata dict: copy what was sent
        sent = {key: value for key, value in kwargs.items() if key not in ("messages", "tools")}
        call = Call({**copy.deepcopy(sent), "messages": list(kwargs.get("messages") or [])})
        call.kwargs["tools"] = kwargs.get("tools")
        self.calls.append(call)
        return call

    def named(self) -> list[Any]:
        """The session each call named in its metadata (None when it named none)."""
        return [(call.kwargs.get("metadata") or {}).get("session_id") for call in self.calls]

    def recorded_session(self, session: str | None, store=None) -> str:
        """See :func:`recorded_session`."""
        return recorded_session(session, [call.fields for call in self.calls], store)

    def continuations(self) -> list[Any]:
        return [call.fields.get("continuation") for call in self.calls]

    def warnings(self) -> list[Any]:
        return [call.fields.get("continuation_warning") for call in self.calls]


def session_metadata(session: str | None) -> dict[str, Any]:
    """The metadata a test passes: ``{"session_id": session}``, or nothing when it names no session."""
    return {} if session is None else {"metadata": {"session_id": session}}


def recorded_session(session: str | None, reported: Sequence[Mapping[str, Any]], store=None) -> str:
    """The session every call was recorded under, from the fields each answer ``reported``: the one named
    (``session_id``), or with ``session`` None the conversation's own: every call reports the same
    ``conversation_id`` (and no ``session_id``), the only conversation session in the test's own ``store``."""
    if session is not None:
        assert [fields.get("session_id") for fields in reported] == [session] * len(reported)
        assert [fields.get("conversation_id") for fields in reported] == [None] * len(reported)
        return session
    assert [fields.get("session_id") for fields in reported] == [None] * len(reported)
    conversations = [fields.get("conversation_id") for fields in reported]
    assert conversations and conversations[0], f"no conversation id reported: {conversations}"
    assert conversations == [conversations[0]] * len(reported), "one conversation reported under several ids"
    assert conversations[0].startswith(CONVERSATION_PREFIX)
    in_store = [s for s in (store or open_store()).sessions() if s.startswith(CONVERSATION_PREFIX)]
    assert in_store == [conversations[0]], f"the store holds the conversations {in_store}"
    return conversations[0]


def prompts_of(emulator) -> list[list[int]]:
    return [body["input_ids"] for body in emulator.requests]


def assert_prompts_continue(emulator, texts: Sequence[str]) -> None:
    """Each prompt the emulator saw starts with the previous prompt + the ids sampled for it."""
    prompts = prompts_of(emulator)
    assert len(prompts) == len(texts), f"{len(prompts)} generations for a script of {len(texts)}"
    for number in range(1, len(prompts)):
        exact = prompts[number - 1] + sampled_ids(emulator.tokenizer, texts[number - 1])
        assert prompts[number][: len(exact)] == exact, f"turn {number} does not continue turn {number - 1}"


def assert_exact_session(emulator, session_id: str, texts: Sequence[str], store=None) -> Trajectory:
    """The framework sent back what the model wrote: one trajectory, token for token what the emulator saw."""
    assert_prompts_continue(emulator, texts)
    trajectories = Trajectory.from_session(session_id, store=store)
    assert len(trajectories) == 1, f"{len(trajectories)} branches for one unbroken conversation"
    (trajectory,) = trajectories
    prompts = prompts_of(emulator)
    assert [turn.prompt_ids for turn in trajectory.turns] == prompts
    assert [turn.completion_ids for turn in trajectory.turns] == [sampled_ids(emulator.tokenizer, t) for t in texts]
    assert trajectory.token_ids == prompts[-1] + sampled_ids(emulator.tokenizer, texts[-1])
    assert sum(trajectory.loss_mask) == sum(len(sampled_ids(emulator.tokenizer, t)) for t in texts)
    return trajectory


def assert_rerender_differs(call: Call) -> None:
    """The script really tests something: a fresh rendering of this continued turn's prompt differs."""
    drift = call.fields.get("template_drift") or {}
    assert drift.get("detected") is True, f"the re-render equals the sampled tokens: {drift}"


def assert_per_call_samples(emulator, session_id: str, texts: Sequence[str], store=None) -> list[Trajectory]:
    """The framework rewrote the assistant turns: each call is its own exact sample, one trajectory each."""
    prompts = prompts_of(emulator)
    assert len(prompts) == len(texts)
    trajectories = Trajectory.from_session(session_id, store=store)
    assert len(trajectories) == len(texts), f"{len(trajectories)} trajectories for {len(texts)} rewritten calls"
    samples = sorted((tuple(t.turns[0].prompt_ids), tuple(t.turns[0].completion_ids)) for t in trajectories)
    pairs = zip(prompts, texts, strict=True)
    expected = sorted((tuple(prompt), tuple(sampled_ids(emulator.tokenizer, text))) for prompt, text in pairs)
    assert [len(t.turns) for t in trajectories] == [1] * len(texts)
    assert samples == expected
    return trajectories


def tool_messages_sent(call: Call) -> list[dict[str, Any]]:
    """The ``role: tool`` messages of a call (native tool results, as opposed to tool output pasted as text)."""
    return [_as_dict(m) for m in call.kwargs["messages"] if _as_dict(m).get("role") == "tool"]


def assistant_messages_sent(call: Call) -> list[dict[str, Any]]:
    return [_as_dict(m) for m in call.kwargs["messages"] if _as_dict(m).get("role") == "assistant"]


def _as_dict(message: Any) -> dict[str, Any]:
    return message if isinstance(message, dict) else message.model_dump()
