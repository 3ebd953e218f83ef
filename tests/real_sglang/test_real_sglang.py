"""The provider end to end against real SGLang 0.5.23 (CPU, tiny random-weights Qwen3; or ``--api-base``).

The model's weights are random, so its text is noise: checks are about the protocol (ids, logprobs, finish,
usage, streaming, aborts, errors), and where an exact ending is needed a grammar (SGLang's ``regex``, xgrammar
on CPU) makes the model write a known answer and then end its turn. No prompt holds an out-of-vocabulary id
(real SGLang's scheduler dies on one).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re

import golden
import httpx
import litellm
import pytest

import sglang_native_provider
from sglang_native_provider import Trajectory
from sglang_native_provider.emulator import Emulator, load_emulator_tokenizer

EOS_IDS = {151645, 151643}
IM_END = 151645
ANSWER = {"regex": "Paris is (sunny|rainy)\\."}
"""Constrains the answer to a short sentence; xgrammar then allows only EOS, so the turn ends."""
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["unit"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


@pytest.fixture(scope="module")
def tokenizer():
    return load_emulator_tokenizer("qwen3")


# Qwen3's embedding rows (every Qwen3 size, and the tiny model's config.json): the random model samples rows past
# the tokenizer's 151,669 tokens about once in 570 tokens, which the provider then takes as the model's own.
QWEN3_VOCAB_SIZE = 151936


def completion(target, **kwargs):
    """``litellm.acompletion`` of the served Qwen3 through this provider."""
    kwargs.setdefault("messages", [{"role": "user", "content": "Weather in Paris?"}])
    kwargs.setdefault("vocab_size", QWEN3_VOCAB_SIZE)
    kwargs.setdefault("max_tokens", 8)
    kwargs.setdefault("api_key", target.api_key)
    kwargs.setdefault("tokenizer", "offline:qwen3")
    kwargs.setdefault("timeout", 300)
    return litellm.acompletion(
        model="sglang_native/qwen3", api_base=target.url, incremental_streaming_output=target.incremental, **kwargs
    )


async def streamed(target, **kwargs):
    stream = await completion(target, stream=True, stream_options={"include_usage": True}, **kwargs)
    return [chunk async for chunk in stream]


def template_ids(tokenizer, messages, **kwargs) -> list[int]:
    rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, **kwargs)
    return list(rendered["input_ids"])


def generate(target, body, **kwargs) -> httpx.Response:
    return httpx.post(f"{target.url}/generate", json=body, headers=target.headers, timeout=300, **kwargs)


# ---- answers ----


async def test_plain_answer_sends_the_template_ids_and_reports_sglangs_tokens(server, tokenizer):
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    response = await completion(server, messages=messages, extra_body={"ignore_eos": True})
    choice = response.choices[0]
    fields = choice.message.provider_specific_fields
    assert fields["prompt_token_ids"] == template_ids(tokenizer, messages)
    assert len(fields["completion_token_ids"]) == 8
    assert len(fields["completion_logprobs"]) == 8 and all(lp <= 0 for lp in fields["completion_logprobs"])
    assert fields["sglang_finish_reason"] == {"type": "length", "length": 8}
    assert choice.finish_reason == "length"
    assert response.usage.prompt_tokens == len(fields["prompt_token_ids"])
    assert response.usage.completion_tokens == 8
    assert len(fields["sglang_request_id"]) == 32
    model_info = httpx.get(f"{server.url}/model_info", headers=server.headers, timeout=30).json()
    assert fields["weight_version"] == model_info["weight_version"]


async def test_a_grammar_constrained_answer_ends_with_eos(server):
    response = await completion(server, max_tokens=32, extra_body=ANSWER)
    choice = response.choices[0]
    fields = choice.message.provider_specific_fields
    assert choice.message.content in ("Paris is sunny.", "Paris is rainy.")
    assert choice.finish_reason == "stop"
    assert fields["completion_token_ids"][-1] in EOS_IDS
    assert fields["sglang_finish_reason"] == {"type": "stop", "matched": fields["completion_token_ids"][-1]}


async def test_max_tokens_is_the_length_finish(server):
    response = await completion(server, max_tokens=3, extra_body={"ignore_eos": True})
    fields = response.choices[0].message.provider_specific_fields
    assert len(fields["completion_token_ids"]) == 3 and response.choices[0].finish_reason == "length"


async def test_n_gives_independent_choices(server):
    response = await completion(server, n=2, max_tokens=4, extra_body={"ignore_eos": True})
    assert [choice.index for choice in response.choices] == [0, 1]
    ids = [choice.message.provider_specific_fields["completion_token_ids"] for choice in response.choices]
    assert all(len(choice_ids) == 4 for choice_ids in ids)
    rids = {choice.message.provider_specific_fields["sglang_request_id"] for choice in response.choices}
    assert len(rids) == 2
    assert response.usage.completion_tokens == 8


async def test_openai_logprobs_align_with_output_ids(server, tokenizer):
    response = await completion(server, logprobs=True, top_logprobs=3, temperature=0, max_tokens=6)
    choice = response.choices[0]
    fields = choice.message.provider_specific_fields
    entries = choice.logprobs.content
    assert len(entries) == len(fields["completion_token_ids"]) == len(fields["completion_top_logprobs"])
    for entry, token_id, logprob, top in zip(
        entries,
        fields["completion_token_ids"],
        fields["completion_logprobs"],
        fields["completion_top_logprobs"],
        strict=True,
    ):
        assert entry.logprob == logprob
        assert len(entry.top_logprobs) == 3 and [alt.logprob for alt in entry.top_logprobs] == [lp for _, lp in top]
        assert top[0][0] == token_id  # greedy: the sampled token is the most likely one
    joined = b"".join(bytes(entry.bytes) for entry in entries)
    assert joined == tokenizer.decode(fields["completion_token_ids"]).encode()


def test_raw_logprobs_are_one_per_output_id(server):
    body = {
        "input_ids": [1000, 2000, 3000, 4000],
        "sampling_params": {"max_new_tokens": 5, "ignore_eos": True},
        "return_logprob": True,
        "top_logprobs_num": 2,
        "logprob_start_len": 0,
    }
    out = generate(server, body).json()
    meta = out["meta_info"]
    assert [entry[1] for entry in meta["output_token_logprobs"]] == out["output_ids"]
    assert len(meta["output_top_logprobs"]) == len(out["output_ids"])
    assert [entry[1] for entry in meta["input_token_logprobs"]] == body["input_ids"]
    assert meta["input_token_logprobs"][0][0] is None  # the first prompt token has no logprob


async def test_stop_string_ends_the_answer_and_is_cut(server, tokenizer):
    """SGLang looks for a stop string in the last few tokens (its own token length + 1), so the stop is one
    letter that most random tokens contain, not a word a grammar may spell in odd pieces."""
    response = await completion(server, max_tokens=64, stop=["e"], extra_body={"ignore_eos": True})
    choice = response.choices[0]
    fields = choice.message.provider_specific_fields
    assert fields["sglang_finish_reason"] == {"type": "stop", "matched": "e"}
    assert choice.finish_reason == "stop"
    content = choice.message.content or ""
    assert "e" not in content
    written = tokenizer.decode(fields["completion_token_ids"])
    assert written.startswith(content + "e")


async def test_stop_token_id_ends_the_answer(server):
    """Greedy twice on the same cached prefix gives the same ids; the second run stops at the first's third."""
    messages = [{"role": "user", "content": "Name three colours."}]
    await completion(server, messages=messages, max_tokens=1, temperature=0)  # both runs below hit the cache
    greedy = {"messages": messages, "max_tokens": 6, "temperature": 0}
    first = await completion(server, **greedy, extra_body={"ignore_eos": True})
    ids = first.choices[0].message.provider_specific_fields["completion_token_ids"]
    stop = ids[2]
    second = await completion(server, **greedy, extra_body={"stop_token_ids": [stop]})
    fields = second.choices[0].message.provider_specific_fields
    assert fields["completion_token_ids"] == ids[: ids.index(stop) + 1]
    assert fields["sglang_finish_reason"] == {"type": "stop", "matched": stop}
    assert second.choices[0].finish_reason == "stop"


async def test_second_turn_reports_the_cached_prefix(server):
    messages = [{"role": "user", "content": "Weather in Lyon, please?"}]
    first = await completion(server, messages=messages, max_tokens=32, extra_body=ANSWER)
    fields = first.choices[0].message.provider_specific_fields
    messages += [first.choices[0].message, {"role": "user", "content": "And tomorrow?"}]
    second = await completion(server, messages=messages, max_tokens=32, extra_body=ANSWER)
    second_fields = second.choices[0].message.provider_specific_fields
    turn = fields["prompt_token_ids"] + fields["completion_token_ids"]
    assert second_fields["prompt_token_ids"][: len(turn)] == turn
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached == second_fields["cached_tokens"]
    assert len(fields["prompt_token_ids"]) <= cached < len(second_fields["prompt_token_ids"])


async def test_exact_continuation_over_three_turns(server):
    trajectory = Trajectory([{"role": "user", "content": "Weather in Paris?"}])
    responses = []
    for follow_up in ("And in Tokyo?", "Thanks!", None):
        response = await completion(server, messages=trajectory.messages, max_tokens=32, extra_body=ANSWER)
        responses.append(response)
        trajectory.add_response(response)
        if follow_up:
            trajectory.add_messages({"role": "user", "content": follow_up})
    assert len(trajectory.turns) == 3
    for previous, response in zip(trajectory.turns, responses[1:], strict=False):
        fields = response.choices[0].message.provider_specific_fields
        assert "continuation_warning" not in fields
        exact = previous.prompt_ids + previous.completion_ids
        assert fields["prompt_token_ids"][: len(exact)] == exact
        assert fields["cached_tokens"] >= len(previous.prompt_ids)
    last = trajectory.turns[-1]
    assert trajectory.token_ids == last.prompt_ids + last.completion_ids


async def test_turns_cut_off_by_max_tokens_are_one_exact_trajectory(server, tokenizer):
    """The random model rarely ends a turn; with a 6-token budget each turn is cut off, and still continues on
    its exact ids, closed by the template's end-of-turn token as a prompt token (the assistant messages go back
    as plain dicts, so the session ledger finds them)."""
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    session = {"metadata": {"session_id": "real-cut-off"}}
    responses = []
    for follow_up in ("And in Tokyo?", "Thanks!", None):
        response = await completion(server, messages=messages, max_tokens=6, extra_body={"ignore_eos": True}, **session)
        responses.append(response)
        message = {"role": "assistant", "content": response.choices[0].message.content}
        messages = [*messages, message, *([{"role": "user", "content": follow_up}] if follow_up else [])]
    fields = [response.choices[0].message.provider_specific_fields for response in responses]
    assert [turn["sglang_finish_reason"]["type"] for turn in fields] == ["length"] * 3
    assert [turn["continuation"] for turn in fields] == ["new", "ledger", "ledger"], fields
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    for before, after in itertools.pairwise(fields):
        sampled = [*before["prompt_token_ids"], *before["completion_token_ids"]]
        assert after["prompt_token_ids"][: len(sampled) + 1] == [*sampled, end]
    (trajectory,) = Trajectory.from_session("real-cut-off")
    assert [turn.truncated for turn in trajectory.turns] == [True, True, True]
    assert sum(trajectory.loss_mask) == 18


# ---- streaming ----


async def _check_stream(target):
    chunks = await streamed(target, max_tokens=8, logprobs=True, extra_body={"ignore_eos": True})
    built = litellm.stream_chunk_builder(chunks)
    choice = built.choices[0]
    fields = next(
        chunk.choices[0].delta.provider_specific_fields
        for chunk in chunks
        if chunk.choices and getattr(chunk.choices[0].delta, "provider_specific_fields", None)
    )
    assert len(fields["completion_token_ids"]) == 8
    assert choice.finish_reason == "length"
    per_chunk = [entry for chunk in chunks if chunk.choices and chunk.choices[0].logprobs for entry in
                 chunk.choices[0].logprobs.content]  # fmt: skip
    assert [entry.logprob for entry in per_chunk] == fields["completion_logprobs"]
    usage = chunks[-1].usage
    assert usage.completion_tokens == 8 and usage.prompt_tokens == len(fields["prompt_token_ids"])


async def test_stream_with_cumulative_events(cumulative):
    await _check_stream(cumulative)


async def test_stream_with_incremental_events(incremental):
    await _check_stream(incremental)


async def test_grammar_answer_streams_to_the_same_text(incremental):
    chunks = await streamed(incremental, max_tokens=32, extra_body=ANSWER)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text in ("Paris is sunny.", "Paris is rainy.")


async def test_cancelled_stream_is_aborted_on_the_server(server):
    """/flush_cache refuses (400) while any request runs: it shows the cancelled request really stopped."""
    first_chunk = asyncio.Event()

    async def consume():
        stream = await completion(server, stream=True, max_tokens=3000, extra_body={"ignore_eos": True})
        async for _ in stream:
            first_chunk.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_chunk.wait(), 120)
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=30) as http:
        assert (await http.post("/flush_cache")).status_code == 400  # busy: the probe works
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(120):
            if (await http.post("/flush_cache")).status_code == 200:
                break
            await asyncio.sleep(0.5)
        else:
            pytest.fail("the cancelled generation was still running on real SGLang after 60 s")


# ---- a forced tool call (structural tag, xgrammar on CPU) ----


async def test_tool_choice_required_makes_sglang_write_the_call(server, tokenizer):
    """The structural tag forces the call's frame and (for a strict function) its arguments' schema; xgrammar
    allows JSON whitespace anywhere, which the random model pads with, so the call is still open after a few
    tokens: SGLang wrote the frame the random model never would, and the provider shows no half-written call."""
    strict_tool = {**WEATHER_TOOL, "function": {**WEATHER_TOOL["function"], "strict": True}}
    response = await completion(server, tools=[strict_tool], tool_choice="required", max_tokens=24, temperature=0)
    choice = response.choices[0]
    written = tokenizer.decode(choice.message.provider_specific_fields["completion_token_ids"])
    frame = re.match(r'<tool_call>\n\{"name": ?"get_weather", "arguments": ?(.*)', written, re.DOTALL)
    assert frame, f"not the forced call's frame: {written!r}"
    arguments = frame.group(1)
    assert re.fullmatch(r'\s*(\{\s*("(u(n(i(t("\s*(:.*)?)?)?)?)?)?)?)?', arguments, re.DOTALL), arguments
    if "</tool_call>" in written:  # a real model may finish the call within these tokens
        (call,) = choice.message.tool_calls
        assert call.function.name == "get_weather"
        assert json.loads(call.function.arguments)["unit"] in ("celsius", "fahrenheit")
    else:
        assert not choice.message.tool_calls  # never a half-written call


# ---- errors ----


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [  # the client-side refusals of tests/test_provider.py: raised before anything reaches the server
        ({"messages": []}, "messages must be a non-empty list"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0] has unknown role 'wizard'"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "content[0]: image_url must be"),
        ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
        ({"tools": [{"name": "x"}]}, "tools[0] must be"),
        ({"tokenizer": "/no/such/tokenizer"}, "Could not load tokenizer '/no/such/tokenizer'"),
        ({"chat_template": "{{ messages[0]['content'] }}", "tools": [WEATHER_TOOL]}, "does not support tools"),
        ({"timeout": -1}, "timeout"),
        ({"tool_call_parser": "nope"}, "Unknown tool_call_parser 'nope'"),
        ({"frobnicate": 3}, "Unsupported parameter 'frobnicate'"),
        ({"tool_choice": "required"}, "tool_choice 'required' needs tools"),
        ({"tool_choice": "sometimes", "tools": [WEATHER_TOOL]}, "tool_choice must be 'auto', 'none', 'required'"),
        (
            {"tool_choice": {"type": "function", "function": {"name": "nope"}}, "tools": [WEATHER_TOOL]},
            "tool_choice names 'nope', which is not among the tools",
        ),
        (
            {"tool_choice": "required", "tools": [WEATHER_TOOL], "tool_call_parser": "pythonic"},
            "the pythonic tool-call parser has none",
        ),
        (
            {"tool_choice": "required", "tools": [WEATHER_TOOL], "response_format": {"type": "json_object"}},
            "cannot be combined with json_schema",
        ),
        ({"default_sampling_params": {"bogus": 1}}, "unknown SGLang sampling parameter(s) ['bogus']"),
        ({"top_logprobs": 2}, "top_logprobs requires logprobs=True"),
        ({"reasoning_effort": "extreme", "allowed_openai_params": ["reasoning_effort"]}, "reasoning_effort must be"),
        # refused by real SGLang itself, with its own message
        ({"temperature": -1}, "temperature must be a non-negative finite number, got -1."),
        ({"top_p": 0}, "top_p must be in (0, 1], got 0."),
    ],
)
async def test_bad_input_is_a_bad_request_naming_the_problem(server, kwargs, fragment):
    with pytest.raises(litellm.BadRequestError) as caught:
        await completion(server, **kwargs)
    assert fragment in str(caught.value)


async def test_context_overflow_is_a_context_window_error(server):
    models = httpx.get(f"{server.url}/v1/models", headers=server.headers, timeout=30).json()
    context_length = models["data"][0]["max_model_len"]  # 4096 for the tiny CPU model
    with pytest.raises(litellm.ContextWindowExceededError, match="longer than the model's context length"):
        await completion(server, messages=[{"role": "user", "content": "word " * (context_length + 100)}])


async def test_a_refusal_on_a_stream_raises_with_sglangs_message(server):
    """Real SGLang answers a bad value on a stream with a 200 and an error event; iterating raises it."""
    try:
        await streamed(server, temperature=-1)
    except Exception as exc:  # LiteLLM may wrap it in a MidStreamFallbackError keeping it as original_exception
        error = getattr(exc, "original_exception", None) or exc
    else:
        pytest.fail("the stream ended without raising")
    assert isinstance(error, litellm.BadRequestError)
    assert "temperature must be a non-negative finite number, got -1." in str(error)


def _contract_bodies():
    from test_conformance import BAD_BODIES

    return BAD_BODIES


@pytest.fixture(scope="module")
def emulator():
    with Emulator("qwen3") as emulator:
        yield emulator


@pytest.mark.parametrize("body", _contract_bodies(), ids=lambda body: json.dumps(body)[:60])
def test_contract_errors_match_the_emulator(server, emulator, body):
    """Every body SGLang's JSON contract refuses gets the same status and text from real SGLang and the emulator."""
    real = generate(server, body)
    emulated = httpx.post(f"{emulator.url}/generate", json=body, timeout=30)
    assert real.status_code == emulated.status_code == 400
    assert golden.error_text(real.json()) == golden.error_text(emulated.json())


# ---- API key ----


async def test_api_key_is_required_and_never_leaks(keyed):
    response = await completion(keyed, max_tokens=2)
    assert response.choices[0].message.provider_specific_fields["completion_token_ids"]
    for wrong in (None, "not-the-key"):
        with pytest.raises(litellm.AuthenticationError) as caught:
            await completion(keyed, api_key=wrong, max_tokens=2)
        assert keyed.api_key not in str(caught.value)


# ---- the golden recording still describes the live server ----


@pytest.mark.parametrize("recording", sorted(golden.SERVERS))
def test_real_sglang_still_answers_like_the_recording(local, recording):
    """The fixtures tests/test_emulator_golden.py holds the emulator to are what this real server answers."""
    target = local["cumulative" if recording == "cumulative" else "incremental"]
    recorded = golden.load_fixture(recording)["exchanges"]
    with httpx.Client(base_url=target.url, timeout=300) as client:
        assert client.post("/flush_cache", headers=target.headers).status_code == 200  # the cache starts empty
        problems = [
            problem
            for exchange in golden.exchanges_for(recording)
            for problem in golden.differences(
                exchange, recorded[exchange.name]["response"], golden.send(client, exchange)
            )
        ]
    assert not problems, "\n".join(problems)
