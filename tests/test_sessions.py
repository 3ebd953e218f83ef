"""Rollout sessions: the ledger continues turns on their exact tokens for callers that drop our metadata,
in each store (in-process, SQLite, Redis), and builds the session's trajectories."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import uuid

import litellm
import pytest
from _redis import redis_url  # noqa: F401  (fixture)
from _support import free_port

import sglang_native_provider
from sglang_native_provider import Trajectory, sessions
from sglang_native_provider.demo import WEATHER_TOOL
from sglang_native_provider.session import how_to_name_a_session
from sglang_native_provider.sessions import LedgerTurn, MemoryStore, UnknownSessionError, open_store

EOS = 151645
TIME_TOOL = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}},
}
TOOLS = [WEATHER_TOOL, TIME_TOOL]


def call(name: str, **arguments) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


# Each output re-renders differently from what was sampled: Qwen3's template writes one newline between
# content and a tool call, and drops the reasoning of earlier turns.
SCRIPT = [
    "I will look it up.\n\n" + call("get_weather", city="Paris", days=3),
    "<think>\nNow the time.\n</think>\n\nChecking.\n\n" + call("get_time", zone="Europe/Paris"),
    "It is sunny in Paris and 10:00.",
]


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_url(request, tmp_path):
    if request.param == "memory":
        return "memory"
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'sessions.db'}"
    return request.getfixturevalue("redis_url")


def new_session() -> str:
    return f"session-{uuid.uuid4().hex[:12]}"


def reserialized(arguments: str) -> str:
    """What a framework sends back: arguments parsed and dumped again, keys re-ordered, ASCII-escaped."""
    value = json.loads(arguments)
    return json.dumps(dict(reversed(list(value.items()))), ensure_ascii=True, indent=1)


def plain(message, *, arguments=reserialized, keep_reasoning=False, content=lambda text: text) -> dict:
    """An assistant message as frameworks keep it: their own dict, without provider_specific_fields."""
    entry = {"role": "assistant", "content": content(message.content) if message.content is not None else None}
    if keep_reasoning and getattr(message, "reasoning_content", None):
        entry["reasoning_content"] = message.reasoning_content
    if message.tool_calls:
        entry["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.function.name, "arguments": arguments(c.function.arguments)},
            }
            for c in message.tool_calls
        ]
    return entry


async def play(
    emulator, session_id: str, *, store: str = "memory", stream: bool = False, sampling=None, **plain_options
):
    """Run SCRIPT as a metadata-dropping framework would (with the OpenAI ``sampling`` parameters given);
    returns the responses' messages' metadata."""
    emulator.script(*SCRIPT)
    messages = [{"role": "user", "content": "Weather and time in Paris?"}]
    fields = []
    for _ in SCRIPT:
        kwargs = dict(
            model="sglang_native/qwen3",
            api_base=emulator.url,
            tokenizer="offline:qwen3",
            messages=messages,
            tools=TOOLS,
            metadata={"session_id": session_id},
            session_store=store,
            **(sampling or {}),
        )
        if stream:
            chunks = [chunk async for chunk in await litellm.acompletion(stream=True, **kwargs)]
            message = litellm.stream_chunk_builder(chunks, messages=messages).choices[0].message
        else:
            message = (await litellm.acompletion(**kwargs)).choices[0].message
        fields.append(message.provider_specific_fields)
        messages = [*messages, plain(message, **plain_options)]
        for tool_call in message.tool_calls or ():
            messages.append({"role": "tool", "tool_call_id": tool_call.id, "content": '{"ok": true}'})
    return fields


def sampled(qwen3_tokenizer, text: str) -> list[int]:
    return [*qwen3_tokenizer.encode(text, add_special_tokens=False), EOS]


def assert_exact_chain(emulator, qwen3_tokenizer):
    prompts = [body["input_ids"] for body in emulator.requests]
    assert len(prompts) == len(SCRIPT)
    for turn in range(1, len(SCRIPT)):
        previous = prompts[turn - 1] + sampled(qwen3_tokenizer, SCRIPT[turn - 1])
        assert prompts[turn][: len(previous)] == previous, f"turn {turn} does not continue turn {turn - 1}"
    return prompts


async def test_a_metadata_dropping_client_continues_on_exact_tokens(emulator, qwen3_tokenizer, store_url):
    session_id = new_session()
    fields = await play(emulator, session_id, store=store_url)
    prompts = assert_exact_chain(emulator, qwen3_tokenizer)
    assert [f["continuation"] for f in fields] == ["new", "ledger", "ledger"]
    assert all(f["session_id"] == session_id for f in fields)
    assert all("continuation_warning" not in f for f in fields)
    (trajectory,) = Trajectory.from_session(session_id, store=store_url)
    assert [turn.prompt_ids for turn in trajectory.turns] == prompts
    assert trajectory.token_ids == prompts[-1] + sampled(qwen3_tokenizer, SCRIPT[-1])
    mask = trajectory.loss_mask
    assert sum(mask) == sum(len(sampled(qwen3_tokenizer, text)) for text in SCRIPT)
    assert [turn.continuation for turn in trajectory.turns] == ["new", "ledger", "ledger"]


async def test_a_client_naming_no_session_continues_on_exact_tokens_too(emulator, qwen3_tokenizer):
    """The ledger records every turn under the conversation's own id (a fingerprint of its opening), so a
    framework that names nothing and drops the metadata still continues on the exact tokens."""
    emulator.script(*SCRIPT[:2])
    messages = [{"role": "user", "content": f"Weather and time in Paris? ({new_session()})"}]
    kwargs = dict(model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", tools=TOOLS)
    first = (await litellm.acompletion(messages=messages, **kwargs)).choices[0].message
    messages += [plain(first), {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "{}"}]
    second = (await litellm.acompletion(messages=messages, **kwargs)).choices[0].message
    fields = [first.provider_specific_fields, second.provider_specific_fields]
    assert "continuation_warning" not in fields[1]
    assert [f["continuation"] for f in fields] == ["new", "ledger"]
    conversation = fields[0]["conversation_id"]
    assert conversation.startswith("conversation-") and fields[1]["conversation_id"] == conversation
    assert all("session_id" not in f for f in fields)
    first_prompt, second_prompt = (body["input_ids"] for body in emulator.requests)
    previous = first_prompt + sampled(qwen3_tokenizer, SCRIPT[0])
    assert second_prompt[: len(previous)] == previous
    assert all("session_id" not in body and "routing_key" not in body for body in emulator.requests)
    (trajectory,) = Trajectory.from_session(conversation)
    assert trajectory.token_ids == second_prompt + sampled(qwen3_tokenizer, SCRIPT[1])


async def test_an_edited_message_without_a_session_is_re_rendered_and_told_so(emulator, qwen3_tokenizer):
    emulator.script(*SCRIPT[:2])
    messages = [{"role": "user", "content": f"Weather and time in Paris? ({new_session()})"}]
    kwargs = dict(model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", tools=TOOLS)
    first = (await litellm.acompletion(messages=messages, **kwargs)).choices[0].message
    edited = {**plain(first), "content": "I looked it up."}
    messages += [edited, {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "{}"}]
    second = (await litellm.acompletion(messages=messages, **kwargs)).choices[0].message
    warning = second.provider_specific_fields["continuation_warning"]
    assert "no turn of this conversation (no session named) wrote messages[1]" in warning
    first_prompt, second_prompt = (body["input_ids"] for body in emulator.requests)
    previous = first_prompt + sampled(qwen3_tokenizer, SCRIPT[0])
    assert second_prompt[: len(previous)] != previous


async def test_two_unrelated_conversations_with_the_same_opening_each_continue_on_their_own_turns(
    emulator, qwen3_tokenizer
):
    """A GRPO group: rollouts of one task share the opening (one conversation id), answer differently, and each
    continues on its own exact turn; the conversation exports one trajectory per rollout."""
    opening = [{"role": "user", "content": f"Weather in Paris? ({new_session()})"}]
    kwargs = dict(model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", tools=TOOLS)
    answers = ["It is sunny.", "<think>\nHm.\n</think>\n\nIt rains."]
    emulator.script(*answers)
    firsts = [(await litellm.acompletion(messages=opening, **kwargs)).choices[0].message for _ in answers]
    emulator.script("Tomorrow too.", "Tomorrow too.")
    seconds = []
    for first in firsts:
        messages = [*opening, plain(first), {"role": "user", "content": "And tomorrow?"}]
        seconds.append((await litellm.acompletion(messages=messages, **kwargs)).choices[0].message)
    assert [m.provider_specific_fields["continuation"] for m in seconds] == ["ledger", "ledger"]
    prompts = [body["input_ids"] for body in emulator.requests]
    for first_prompt, answer, second_prompt in zip(prompts[:2], answers, prompts[2:], strict=True):
        previous = first_prompt + sampled(qwen3_tokenizer, answer)
        assert second_prompt[: len(previous)] == previous
    conversation = {m.provider_specific_fields["conversation_id"] for m in [*firsts, *seconds]}
    assert len(conversation) == 1
    trajectories = Trajectory.from_session(conversation.pop())
    assert sorted(t.token_ids for t in trajectories) == sorted(
        prompt + sampled(qwen3_tokenizer, "Tomorrow too.") for prompt in prompts[2:]
    )


async def test_equal_samples_with_different_tokens_are_not_guessed(emulator, qwen3_tokenizer):
    """n = 2 samples that read the same but were sampled as different tokens: the returned message could be
    either, so the next turn is re-rendered with a warning saying why; equal tokens continue exactly."""
    text = "Paris is sunny."
    ids = qwen3_tokenizer.encode(text, add_special_tokens=False)
    split = [*qwen3_tokenizer.encode("Paris", add_special_tokens=False)]
    other = [*[qwen3_tokenizer.convert_tokens_to_ids(piece) for piece in ("P", "aris")], *ids[len(split) :]]
    assert qwen3_tokenizer.decode(other) == text and other != ids
    end = qwen3_tokenizer.convert_tokens_to_ids("<|im_end|>")
    kwargs = dict(model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3")
    for second_sample, expected in ((other, "2 recorded turns wrote messages[1] with different tokens"), (ids, None)):
        emulator.script([*ids, end], [*second_sample, end], "ok")
        messages = [{"role": "user", "content": f"Weather? ({new_session()})"}]
        first = await litellm.acompletion(messages=messages, n=2, **kwargs)
        assert {choice.message.content for choice in first.choices} == {text}
        messages += [plain(first.choices[0].message), {"role": "user", "content": "Sure?"}]
        fields = (await litellm.acompletion(messages=messages, **kwargs)).choices[0].message.provider_specific_fields
        warning = fields.get("continuation_warning")
        assert warning is None if expected is None else expected in warning, warning
        if expected is not None:  # the fix, as an SDK caller makes it
            assert "pass metadata={'session_id': ...} or litellm_session_id=..." in warning


def test_the_hint_to_name_a_session_fits_the_callers_path():
    through_proxy = {"proxy_server_request": {"headers": {"authorization": "Bearer sk-1"}}, "metadata": {}}
    assert "X-Session-ID header" in how_to_name_a_session(through_proxy)
    assert "metadata={'session_id'" in how_to_name_a_session({"metadata": None})
    assert "metadata={'session_id'" in how_to_name_a_session(None)


async def test_a_streaming_client_continues_on_exact_tokens(emulator, qwen3_tokenizer):
    session_id = new_session()
    fields = await play(emulator, session_id, stream=True)
    assert_exact_chain(emulator, qwen3_tokenizer)
    assert [f["continuation"] for f in fields] == ["new", "ledger", "ledger"]
    assert len(Trajectory.from_session(session_id)) == 1


@pytest.mark.parametrize(
    "options",
    [
        {"arguments": lambda text: json.dumps(json.loads(text), separators=(",", ":"))},  # whitespace
        {"arguments": reserialized},  # key order, ensure_ascii, indentation
        {"keep_reasoning": False},  # reasoning dropped
        {"keep_reasoning": True},  # reasoning kept as the model wrote it
        {"content": lambda text: text.rstrip("\n")},  # final newline stripped
        {"content": lambda text: text.strip() + "\n"},  # whitespace at the ends changed
    ],
    ids=["compact-arguments", "reordered-arguments", "reasoning-dropped", "reasoning-kept", "stripped", "padded"],
)
async def test_ledger_matching_survives_reserialization(emulator, qwen3_tokenizer, options):
    fields = await play(emulator, new_session(), **options)
    assert_exact_chain(emulator, qwen3_tokenizer)
    assert [f["continuation"] for f in fields] == ["new", "ledger", "ledger"]


@pytest.mark.parametrize(
    "options, reason",
    [
        ({"content": lambda text: text + " (edited)"}, "no turn of session"),
        ({"arguments": lambda text: json.dumps({**json.loads(text), "extra": 1})}, "no turn of session"),
    ],
    ids=["content-edited", "arguments-edited"],
)
async def test_an_edited_message_is_re_rendered_with_a_reason(emulator, qwen3_tokenizer, options, reason):
    session_id = new_session()
    fields = await play(emulator, session_id, **options)
    assert [f["continuation"] for f in fields] == ["new", "rerendered", "rerendered"]
    assert reason in fields[1]["continuation_warning"]
    assert isinstance(fields[1]["session_first_difference"], int)
    trajectories = Trajectory.from_session(session_id)
    assert len(trajectories) == 3  # each re-rendered call is its own exact sample
    assert [t.turns[0].continuation for t in trajectories] == ["new", "rerendered", "rerendered"]
    assert [t.branch for t in trajectories] == [0, 1, 2]


async def test_a_retried_step_branches_and_trains_each_token_once(emulator, qwen3_tokenizer):
    session_id = new_session()
    emulator.script(SCRIPT[0], "First try.", "Second try.")
    kwargs = dict(
        model="sglang_native/qwen3",
        api_base=emulator.url,
        tokenizer="offline:qwen3",
        tools=TOOLS,
        metadata={"session_id": session_id},
    )
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = (await litellm.acompletion(messages=messages, **kwargs)).choices[0].message
    messages += [plain(first), {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "{}"}]
    for _ in range(2):  # the framework retries the step
        await litellm.acompletion(messages=messages, **kwargs)
    one, two = Trajectory.from_session(session_id)
    assert [turn.trained for turn in one.turns] == [True, True]
    assert [turn.trained for turn in two.turns] == [False, True]
    assert one.turns[0].prompt_ids == two.turns[0].prompt_ids
    first_sampled = len(sampled(qwen3_tokenizer, SCRIPT[0]))
    shared = len(one.turns[0].prompt_ids) + first_sampled
    assert sum(one.loss_mask[:shared]) == first_sampled and sum(two.loss_mask[:shared]) == 0
    assert sum(two.loss_mask) == len(sampled(qwen3_tokenizer, "Second try."))


async def test_the_session_id_can_come_from_litellm_session_id_or_a_header(emulator):
    emulator.script("One.", "Two.")
    common = dict(model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3")
    messages = [{"role": "user", "content": "Hi"}]
    by_kwarg = await litellm.acompletion(messages=messages, litellm_session_id="from-kwarg", **common)
    by_header = await litellm.acompletion(messages=messages, extra_headers={"X-Session-ID": "from-header"}, **common)
    assert by_kwarg.choices[0].message.provider_specific_fields["session_id"] == "from-kwarg"
    assert by_header.choices[0].message.provider_specific_fields["session_id"] == "from-header"
    assert [body.get("session_id") for body in emulator.requests] == ["from-kwarg", "from-header"]
    assert [body.get("routing_key") for body in emulator.requests] == ["from-kwarg", "from-header"]
    assert emulator.request_headers[-1]["x-smg-routing-key"] == "from-header"


async def test_without_a_session_the_conversation_is_recorded_and_nothing_is_sent(emulator):
    emulator.script("Hello.")
    response = await litellm.acompletion(
        model="sglang_native/qwen3",
        api_base=emulator.url,
        tokenizer="offline:qwen3",
        messages=[{"role": "user", "content": f"Hi ({new_session()})"}],
    )
    fields = response.choices[0].message.provider_specific_fields
    assert "session_id" not in fields and fields["continuation"] == "new"
    assert fields["conversation_id"].startswith("conversation-")
    assert [turn.fields["sglang_request_id"] for turn in open_store().turns(fields["conversation_id"])] == [
        fields["sglang_request_id"]
    ]
    assert "session_id" not in emulator.requests[0] and "routing_key" not in emulator.requests[0]


def test_store_contract(store_url):
    store = open_store(store_url)
    session_id = new_session()
    turns = [
        LedgerTurn(
            session_id,
            f"t{index}",
            "h1" if index < 2 else "h2",
            {"content": str(index), "reasoning": None, "tool_calls": []},
            {"prompt_token_ids": [1], "completion_token_ids": [2], "completion_logprobs": [-0.1234567890123]},
            "new",
        )
        for index in range(3)
    ]
    for turn in turns:
        store.add(turn)
    assert [turn.turn_id for turn in store.answers(session_id, "h1")] == ["t0", "t1"]
    assert [turn.turn_id for turn in store.turns(session_id)] == ["t0", "t1", "t2"]
    assert [turn.turn_id for turn in store.recent(session_id, 2)] == ["t1", "t2"]
    assert store.turns(session_id)[0].fields["completion_logprobs"] == [-0.1234567890123]  # kept exactly
    sequences = [turn.sequence for turn in store.turns(session_id)]
    assert sequences == sorted(sequences) and len(set(sequences)) == 3
    assert session_id in store.sessions()
    assert store.answers(session_id, "nothing") == [] and store.recent("unknown-session", 3) == []
    with pytest.raises(UnknownSessionError, match="unknown-session"):
        store.turns("unknown-session")


def test_sqlite_turns_are_committed_as_they_are_recorded(tmp_path):
    url = f"sqlite://{tmp_path / 'ledger.db'}"
    open_store(url).add(
        LedgerTurn("crash-test", "t0", "h", {"content": "", "reasoning": None, "tool_calls": []}, {}, "new")
    )
    # Another process reads the file at once: nothing waits for a clean exit.
    path = str(tmp_path / "ledger.db")
    script = f"from sglang_native_provider.sessions import SQLiteStore; print(SQLiteStore({path!r}).sessions())"
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert output.stdout.strip() == "['crash-test']"


async def test_an_unreachable_store_fails_the_request_naming_it(emulator):
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    common = dict(model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3")
    messages = [{"role": "user", "content": "Hi"}]
    with pytest.raises(litellm.APIConnectionError, match=f"session store redis://127.0.0.1:{url.split(':')[2]}"):
        await litellm.acompletion(messages=messages, metadata={"session_id": "s"}, session_store=url, **common)
    emulator.script("Still here.")
    response = await litellm.acompletion(
        messages=messages, metadata={"session_id": "s"}, session_store=url, session_store_errors="rerender", **common
    )
    assert response.choices[0].message.content == "Still here."
    assert "session_id" not in response.choices[0].message.provider_specific_fields
    assert "not in the ledger" in response.choices[0].message.provider_specific_fields["session_warning"]


class GatedStore(MemoryStore):
    """A store doing I/O (as SQLite and Redis do) that answers nothing until its gate opens."""

    blocking = True

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.gate = threading.Event(), threading.Event()

    def _wait(self) -> None:
        self.entered.set()
        if not self.gate.wait(timeout=30):
            raise sessions.StoreError("the gate never opened: the event loop was held by the store")

    def add(self, turn: LedgerTurn) -> None:
        self._wait()
        super().add(turn)

    def recent(self, session_id: str, count: int) -> list[LedgerTurn]:
        self._wait()
        return super().recent(session_id, count)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_slow_store_holds_up_only_its_own_request(emulator, monkeypatch, stream):
    store = GatedStore()
    url = "redis://gated.invalid:6379/0"
    monkeypatch.setitem(sessions._opened, url, store)
    emulator.script("Done.", "Done.")
    common = dict(model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", stream=stream)
    messages = [{"role": "user", "content": "Hi"}]
    finished: list[str] = []

    async def complete(**kwargs) -> None:
        response = await litellm.acompletion(messages=messages, **common, **kwargs)
        if stream:
            assert "".join([chunk.choices[0].delta.content or "" async for chunk in response]) == "Done."
        else:
            assert response.choices[0].message.content == "Done."

    async def in_session() -> None:
        await complete(metadata={"session_id": session_id}, session_store=url)
        finished.append("in session")

    async def plain() -> None:
        assert await asyncio.to_thread(store.entered.wait, 30)  # the session's request is waiting on the store
        await complete()
        finished.append("plain")
        store.gate.set()  # only now can the session's request read and record its turn

    session_id = new_session()
    await asyncio.gather(in_session(), plain())
    assert finished == ["plain", "in session"]
    assert [turn.continuation for turn in store.turns(session_id)] == ["new"]


async def test_a_bad_store_url_is_a_bad_request(emulator):
    with pytest.raises(litellm.BadRequestError, match="session_store"):
        await litellm.acompletion(
            model="sglang_native/qwen3",
            api_base=emulator.url,
            tokenizer="offline:qwen3",
            messages=[{"role": "user", "content": "Hi"}],
            metadata={"session_id": "s"},
            session_store="postgres://x",
        )


def test_unknown_session_export_is_a_clear_error(tmp_path, capsys):
    from sglang_native_provider.cli import main

    url = f"sqlite://{tmp_path / 'empty.db'}"
    assert main(["sessions", "export", "no-such-session", "--store", url, "--out", str(tmp_path / "out.jsonl")]) == 2
    assert "no session 'no-such-session'" in capsys.readouterr().err


async def test_sessions_cli_lists_and_exports(emulator, qwen3_tokenizer, tmp_path, capsys):
    from sglang_native_provider.cli import main

    url = f"sqlite://{tmp_path / 'cli.db'}"
    session_id = new_session()
    await play(emulator, session_id, store=url)
    main(["sessions", "list", "--store", url])
    assert session_id in capsys.readouterr().out
    out = tmp_path / "export.jsonl"
    main(["sessions", "export", session_id, "--store", url, "--out", str(out)])
    (line,) = out.read_text().splitlines()
    record = json.loads(line)
    assert record["schema"] == "sglang-native-trajectory/3" and record["session_id"] == session_id
    assert record["token_ids"] == emulator.requests[-1]["input_ids"] + sampled(qwen3_tokenizer, SCRIPT[-1])
    assert [turn["continuation"] for turn in record["turns"]] == ["new", "ledger", "ledger"]


def _sized_turn(session_id: str, turn_id: str, tokens: int) -> LedgerTurn:
    fields = {"prompt_token_ids": [1] * (tokens - 1), "completion_token_ids": [2]}
    return LedgerTurn(session_id, turn_id, "h", {"content": "", "reasoning": None, "tool_calls": []}, fields, "new")


def test_the_memory_store_keeps_to_its_token_budget_dropping_the_least_recently_used():
    store = MemoryStore(max_tokens=1_000)
    for name in ("a", "b", "c"):
        store.add(_sized_turn(name, f"{name}0", 300))
    store.answers("a", "h")  # a lookup makes "a" the most recently used
    store.add(_sized_turn("d", "d0", 300))  # 1,200 tokens: the least recently used session goes
    assert store.sessions() == ["c", "a", "d"] and store.tokens == 900
    store.add(_sized_turn("d", "d1", 800))  # one session over the budget on its own keeps its newest turns
    assert store.sessions() == ["d"] and [turn.turn_id for turn in store.turns("d")] == ["d1"]
    assert store.tokens == 800


def test_the_memory_budget_is_a_setting_of_the_environment(monkeypatch):
    monkeypatch.setenv("SGLANG_NATIVE_MEMORY_LEDGER_TOKENS", "500")
    store = MemoryStore()
    store.add(_sized_turn("a", "a0", 300))
    store.add(_sized_turn("b", "b0", 300))
    assert store.sessions() == ["b"]


async def test_through_a_proxy_each_keys_turns_are_its_own(emulator, qwen3_tokenizer):
    """The proxy writes the caller's key hash into the request's metadata: a turn is continued only for the key
    that made it, and the same opening sent with two keys makes two conversations."""
    emulator.script("Paris is sunny.", "ok", "ok")
    kwargs = dict(model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3")
    messages = [{"role": "user", "content": f"Weather? ({new_session()})"}]
    first = await litellm.acompletion(messages=messages, metadata={"user_api_key_hash": "key-a"}, **kwargs)
    messages += [plain(first.choices[0].message), {"role": "user", "content": "Sure?"}]
    fields = {}
    for key in ("key-b", "key-a"):
        answer = await litellm.acompletion(messages=messages, metadata={"user_api_key_hash": key}, **kwargs)
        fields[key] = answer.choices[0].message.provider_specific_fields
    assert "no turn of this conversation" in fields["key-b"]["continuation_warning"]
    assert fields["key-a"]["continuation"] == "ledger" and "continuation_warning" not in fields["key-a"]
    assert fields["key-a"]["conversation_id"] != fields["key-b"]["conversation_id"]
    (turn, _) = open_store().turns(fields["key-a"]["conversation_id"])
    assert turn.user_api_key_hash == "key-a"


async def test_the_ledger_keeps_how_each_turn_was_sampled(emulator, store_url):
    """The sampling parameters reach the ledger's record and the session's exported trajectory; a record made
    before they were kept still reads."""
    session_id = new_session()
    await play(emulator, session_id, store=store_url, sampling={"temperature": 0.7, "logit_bias": {"42": 1.5}})
    store = open_store(store_url)
    recorded = [turn.fields["sampling"] for turn in store.turns(session_id)]
    assert recorded == [{"temperature": 0.7, "logit_bias": {"42": 1.5}}] * 3
    (trajectory,) = Trajectory.from_session(session_id, store=store_url)
    assert [turn["sampling"] for turn in trajectory.to_dict()["turns"]] == recorded
    older = LedgerTurn.from_json(store.turns(session_id)[0].to_json().replace('"sampling":', '"former_sampling":'))
    assert Trajectory._from_chain(session_id, 0, [(older, True)]).turns[0].sampling is None
