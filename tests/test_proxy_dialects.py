"""The LiteLLM proxy's three dialects (Chat Completions, Responses, Anthropic Messages) with the openai and
anthropic SDK clients, a session named by the ``X-Session-ID`` header: every session becomes one exact
trajectory in the ledger, streamed or not, though none of these clients sends our metadata back."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import anthropic
import openai
import pytest
from _support import litellm_proxy

from sglang_native_provider import Trajectory
from sglang_native_provider.emulator import Emulator

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EOS = 151645


def call(name: str, **arguments) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


# The blank line before each call re-renders as one newline: only the exact tokens keep it.
SCRIPT = [
    "Let me check.\n\n" + call("get_weather", city="Paris"),
    "And the time.\n\n" + call("get_time", zone="Europe/Paris"),
    "Sunny, and it is 10:00.",
]
PARAMETERS = {
    "get_weather": {"type": "object", "properties": {"city": {"type": "string"}}},
    "get_time": {"type": "object", "properties": {"zone": {"type": "string"}}},
}
QUESTION = "Weather and time in Paris?"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    store = f"sqlite://{tmp_path_factory.mktemp('ledger') / 'sessions.db'}"
    with Emulator("qwen3") as emulator:
        env = {"SGLANG_API_BASE": emulator.url, "SGLANG_NATIVE_SESSION_STORE": store}
        with litellm_proxy(EXAMPLES / "proxy_config.yaml", env) as (base, key):
            yield emulator, base, key, store


def chat_turn(client, messages, session_id, stream):
    tools = [{"type": "function", "function": {"name": name, "parameters": p}} for name, p in PARAMETERS.items()]
    kwargs = dict(model="qwen3", messages=messages, tools=tools, extra_headers={"X-Session-ID": session_id})
    if not stream:
        message = client.chat.completions.create(**kwargs).choices[0].message
        content, calls = (
            message.content,
            [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ()],
        )
    else:
        content, parts = "", {}
        for chunk in client.chat.completions.create(stream=True, **kwargs):
            for choice in chunk.choices:
                content += choice.delta.content or ""
                for delta in choice.delta.tool_calls or ():
                    part = parts.setdefault(delta.index, ["", "", ""])
                    part[0] += delta.id or ""
                    part[1] += delta.function.name or ""
                    part[2] += delta.function.arguments or ""
        calls = [tuple(parts[index]) for index in sorted(parts)]
    assistant = {"role": "assistant", "content": content or None}
    if calls:
        assistant["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls
        ]
    results = [{"role": "tool", "tool_call_id": i, "content": '{"ok": true}'} for i, _, _ in calls]
    return [*messages, assistant, *results], bool(calls)


def responses_turn(client, items, session_id, stream):
    tools = [{"type": "function", "name": name, "parameters": p} for name, p in PARAMETERS.items()]
    kwargs = dict(model="qwen3", input=items, tools=tools, extra_headers={"X-Session-ID": session_id})
    if stream:
        events = list(client.responses.create(stream=True, **kwargs))
        response = next(event.response for event in events if event.type == "response.completed")
    else:
        response = client.responses.create(**kwargs)
    outputs = [item.model_dump(exclude_none=True) for item in response.output]
    calls = [item for item in response.output if item.type == "function_call"]
    results = [{"type": "function_call_output", "call_id": c.call_id, "output": '{"ok": true}'} for c in calls]
    return [*items, *outputs, *results], bool(calls)


def messages_turn(client, messages, session_id, stream):
    tools = [{"name": name, "description": name, "input_schema": p} for name, p in PARAMETERS.items()]
    kwargs = dict(
        model="qwen3", max_tokens=256, messages=messages, tools=tools, extra_headers={"X-Session-ID": session_id}
    )
    if stream:
        with client.messages.stream(**kwargs) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    blocks = [block.model_dump(exclude_none=True) for block in message.content]
    uses = [block for block in message.content if block.type == "tool_use"]
    results = [{"type": "tool_result", "tool_use_id": use.id, "content": '{"ok": true}'} for use in uses]
    turn = [{"role": "assistant", "content": blocks}]
    if results:
        turn.append({"role": "user", "content": results})
    return [*messages, *turn], bool(uses)


DIALECTS = {
    "chat": (lambda base, key: openai.OpenAI(base_url=f"{base}/v1", api_key=key), chat_turn),
    "responses": (lambda base, key: openai.OpenAI(base_url=f"{base}/v1", api_key=key), responses_turn),
    "messages": (lambda base, key: anthropic.Anthropic(base_url=base, api_key=key), messages_turn),
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_each_dialect_gives_one_exact_trajectory(served, qwen3_tokenizer, dialect, stream):
    emulator, base, key, store = served
    make_client, turn = DIALECTS[dialect]
    client = make_client(base, key)
    session_id = f"{dialect}-{uuid.uuid4().hex[:8]}"
    emulator.script(*SCRIPT)
    first = len(emulator.requests)
    history, called = [{"role": "user", "content": QUESTION}], True
    while called:
        history, called = turn(client, history, session_id, stream)
    prompts = [body["input_ids"] for body in emulator.requests[first:]]
    assert len(prompts) == len(SCRIPT)
    assert all(body["session_id"] == session_id for body in emulator.requests[first:])
    for index in range(1, len(prompts)):
        sampled = [*qwen3_tokenizer.encode(SCRIPT[index - 1], add_special_tokens=False), EOS]
        assert prompts[index][: len(prompts[index - 1]) + len(sampled)] == prompts[index - 1] + sampled
    (trajectory,) = Trajectory.from_session(session_id, store=store)
    assert [t.prompt_ids for t in trajectory.turns] == prompts
    assert [t.continuation for t in trajectory.turns] == ["new", "ledger", "ledger"]
