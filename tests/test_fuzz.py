"""Property-based fuzzing of what an untrusted server or caller can feed the provider: only documented
exceptions (LiteLLM's, each naming the problem) may escape."""

from __future__ import annotations

import json

import litellm
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from litellm.types.utils import ModelResponse

from sglang_native_provider.messages import normalize_messages
from sglang_native_provider.response import ResponseContext, build_model_response
from sglang_native_provider.templating import added_tokens, encode_text
from sglang_native_provider.transport import DONE, LineSplitter, sse_event

DOCUMENTED = (
    litellm.BadRequestError,
    litellm.InternalServerError,
    litellm.ServiceUnavailableError,
    litellm.AuthenticationError,
    litellm.NotFoundError,
    litellm.RateLimitError,
    litellm.Timeout,
    litellm.ContextWindowExceededError,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)


@given(st.text(max_size=60) | json_values.map(lambda v: "data: " + json.dumps(v)))
def test_sse_lines_parse_or_raise_documented_errors(line):
    try:
        event = sse_event(line, "m")
    except DOCUMENTED:
        return
    assert event is None or event is DONE or isinstance(event, dict)


def test_a_minus_infinity_logprob_decodes():
    line = 'data: {"text": "a", "meta_info": {"output_token_logprobs": [[-Infinity, 64, null]]}}'
    assert sse_event(line, "m")["meta_info"]["output_token_logprobs"] == [[float("-inf"), 64, None]]


@given(st.lists(st.binary(max_size=40), max_size=8))
def test_line_splitter_never_loses_bytes(chunks):
    splitter = LineSplitter(cap=10_000)
    lines = [line for chunk in chunks for line in splitter.feed(chunk)] + splitter.close()
    expected = b"".join(chunks).decode("utf-8", "replace").split("\n")
    expected = [line.removesuffix("\r") for line in expected]
    if expected and expected[-1] == "":
        expected.pop()
    assert lines == expected


finish_reasons = st.sampled_from(
    [
        {"type": "stop", "matched": 151645},
        {"type": "stop", "matched": "END"},
        {"type": "length", "length": 3},
        {"type": "abort", "message": "gone", "status_code": None, "err_type": None},
        None,
        {"type": "weird"},
    ]
)
logprob_entry = st.tuples(st.floats(max_value=0, allow_nan=False) | st.none(), st.integers(0, 151_000), st.none())
VOCAB = 151_669  # the Qwen3 tokenizer's ids


@st.composite
def outputs(draw):
    ids = draw(st.lists(st.integers(0, VOCAB + 2), max_size=6))
    meta = {
        "id": draw(st.text(max_size=8)),
        "finish_reason": draw(finish_reasons),
        "prompt_tokens": 3,
        "completion_tokens": len(ids),
        "cached_tokens": draw(st.integers(0, 3)),
    }
    aligned = [[draw(st.floats(max_value=0, allow_nan=False)), token_id, None] for token_id in ids]
    meta["output_token_logprobs"] = draw(st.none() | st.just(aligned) | st.lists(logprob_entry, max_size=6))
    return {"text": draw(st.text(max_size=40)), "output_ids": ids, "meta_info": meta}


def _consistent(item, logprobs: bool) -> bool:
    """What validation.py accepts: an expected finish type, known ids, one logprob per id naming it."""
    ids, meta = item["output_ids"], item["meta_info"]
    entries = meta.get("output_token_logprobs")
    if (meta["finish_reason"] or {}).get("type") not in ("stop", "length") or any(i >= VOCAB for i in ids):
        return False
    if entries is None:
        return not logprobs
    return len(entries) == len(ids) and all(
        lp is not None and token_id == own for (lp, token_id, _), own in zip(entries, ids, strict=True)
    )


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(outputs(), min_size=1, max_size=3), logprobs=st.booleans(), n=st.integers(1, 3))
def test_response_builder_accepts_exactly_the_consistent_outputs(qwen3_tokenizer, items, logprobs, n):
    from sglang_native_provider.parsers import REASONING_PARSERS, TOOL_CALL_PARSERS
    from sglang_native_provider.protocol import GenerateOutput

    context = ResponseContext(
        model="m",
        prompt_ids=[1, 2, 3],
        tokenizer=qwen3_tokenizer,
        tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        tool_parser=TOOL_CALL_PARSERS["qwen25"](),
        reasoning_parser=REASONING_PARSERS["qwen3"](),
        reasoning_opened=False,
        logprobs=logprobs,
        top_logprobs=0,
        sampling_params={"n": n},
    )
    parsed = [GenerateOutput.model_validate(item) for item in items]
    consistent = len(items) == n and all(_consistent(item, logprobs) for item in items)
    try:
        response = build_model_response(ModelResponse(), parsed, context)
    except litellm.InternalServerError as error:
        assert not consistent, str(error)
        return
    assert consistent
    assert len(response.choices) == len(items)
    for choice, item in zip(response.choices, items, strict=True):
        assert choice.message.provider_specific_fields["completion_token_ids"] == item["output_ids"]


message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool", "developer", "wizard", 3, None])},
    optional={
        "content": st.none() | st.text(max_size=10) | st.lists(json_values, max_size=2),
        "tool_calls": st.lists(json_values, max_size=2) | json_values,
        "name": st.text(max_size=5),
        "tool_call_id": st.text(max_size=5),
    },
)


@settings(max_examples=400)
@given(st.lists(message | json_values, max_size=4))
def test_message_normalization_raises_only_bad_requests(messages):
    try:
        normalized = normalize_messages(messages, "m")
    except litellm.BadRequestError as error:
        assert "messages" in str(error)
        return
    assert all(entry["role"] in ("system", "user", "assistant", "tool") for entry in normalized)
    # text, or the parts of a user message with images
    for entry in normalized:
        content = entry["content"]
        if not isinstance(content, str):
            assert entry["role"] == "user" and any(part["type"] == "image" for part in content)


@pytest.mark.parametrize(
    "messages",
    [
        None,
        "hi",
        [["user", "hi"]],
        [{"role": "assistant", "tool_calls": "x"}],
        [{"role": "assistant", "tool_calls": [3]}],
        [{"role": "assistant", "tool_calls": {"a": 1}}],
        [{"role": "assistant", "tool_calls": [{"function": 5}]}],
    ],
)
def test_message_shapes_that_are_not_lists_of_objects(messages):
    with pytest.raises(litellm.BadRequestError):
        normalize_messages(messages, "m")


MARKUP = ["<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", "<think>", "<|eot_id|>", "<|python_tag|>"]
glued_text = st.lists(
    st.sampled_from([*MARKUP, "\n", "\n\n", " ", "  ", "e\u0301", "\u0301", "<|im", "|>", "🙂"]) | st.text(max_size=10),
    max_size=12,
).map("".join)


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=glued_text)
def test_piecewise_encoding_equals_encoding_the_whole_text(qwen3_tokenizer, llama_tokenizer, text):
    for tokenizer in (qwen3_tokenizer, llama_tokenizer):
        assert added_tokens(tokenizer) is not None  # the piecewise path, not the fallback
        assert encode_text(tokenizer, text) == tokenizer.encode(text, add_special_tokens=False)


# What a caller can send straight to the provider (``handler.completion`` is what LiteLLM calls, with its own
# checks of ``messages`` bypassed): anything wrong is a BadRequestError with a plain message, never a raw
# Python error (LiteLLM would wrap that in an APIConnectionError, which Routers retry).
small_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 4) | st.floats(-2, 3) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=5), inner, max_size=2),
    max_leaves=4,
)
odd_text = st.lists(
    st.sampled_from(["hi", "\ud800", "\udfff", "🙂", "<|im_end|>", "\x00"]) | st.text(max_size=4), max_size=4
).map("".join)
caller_message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "user", "system", "assistant", "tool", 7]),
        "content": odd_text
        | st.integers()
        | st.none()
        | st.lists(small_values | st.just({"type": "text", "text": 3}), max_size=2),
    },
    optional={
        "tool_calls": st.lists(
            st.fixed_dictionaries(
                {"function": st.fixed_dictionaries({"name": odd_text, "arguments": odd_text | small_values})}
            )
            | small_values,
            max_size=2,
        ),
        "name": odd_text | small_values,
        "reasoning_content": odd_text | small_values,
    },
)
PARAMETERS = [
    *("n", "logprobs", "top_logprobs", "temperature", "top_p", "stop", "seed", "max_tokens", "tools"),
    *("tool_choice", "response_format", "extra_body", "logit_bias", "presence_penalty", "chat_template_kwargs"),
]
response_formats = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "json_object", "json_schema", "xml"])},
    optional={"json_schema": small_values | st.fixed_dictionaries({"schema": small_values})},
)
caller_params = st.dictionaries(st.sampled_from(PARAMETERS), small_values, max_size=4) | st.fixed_dictionaries(
    {"response_format": response_formats | small_values}
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(caller_message, min_size=1, max_size=3), params=caller_params)
def test_bad_caller_input_is_only_ever_a_plain_bad_request(fuzz_emulator, messages, params):
    from sglang_native_provider.provider import handler

    kwargs = {
        "model": "qwen3",
        "messages": messages,
        "api_base": fuzz_emulator.url,
        "api_key": None,
        "optional_params": {"tokenizer": "offline:qwen3", "max_tokens": 2, **params},
        "litellm_params": {},
        "model_response": ModelResponse(),
        "timeout": 30,
    }
    try:
        response = handler.completion(**kwargs)
    except litellm.BadRequestError as error:
        message = str(error)
        assert "Traceback" not in message and len(message) < 2_000, message
        event("refused")
        return
    event("answered")
    assert response.choices and all(choice.message.role == "assistant" for choice in response.choices)


@pytest.fixture(scope="module")
def fuzz_emulator():
    from sglang_native_provider.emulator import Emulator

    with Emulator("qwen3") as emu:
        yield emu


@st.composite
def stream_events(draw):
    """A sequence of SGLang stream events, cumulative or incremental, mostly consistent, sometimes not."""
    incremental = draw(st.booleans())
    n = draw(st.integers(1, 2))
    ids = draw(st.lists(st.integers(0, VOCAB + 1), min_size=1, max_size=5))
    cuts = sorted([*draw(st.lists(st.integers(0, len(ids)), max_size=3)), len(ids)])
    events, previous = [], 0
    for number, cut in enumerate(cuts):
        part = ids[previous:cut] if incremental else ids[:cut]
        entries = [[draw(st.floats(max_value=0, allow_nan=False)), token_id, None] for token_id in part]
        last = number == len(cuts) - 1
        meta = {
            "id": "r",
            "finish_reason": draw(finish_reasons) if last else None,
            "prompt_tokens": 3,
            "completion_tokens": cut,
            "cached_tokens": draw(st.integers(-1, 3)),
            "output_token_logprobs": draw(st.just(entries) | st.lists(logprob_entry, max_size=3)),
        }
        event = {"text": draw(st.text(max_size=6)), "output_ids": part, "meta_info": meta}
        if draw(st.booleans()):
            event["index"] = draw(st.integers(0, n))
        events.append(event)
        previous = cut
    return incremental, n, events


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=stream_events(), logprobs=st.booleans())
def test_stream_assembler_raises_only_documented_errors(qwen3_tokenizer, case, logprobs):
    from sglang_native_provider.parsers import REASONING_PARSERS, TOOL_CALL_PARSERS
    from sglang_native_provider.streaming import StreamAssembler

    incremental, n, events = case
    context = ResponseContext(
        model="m",
        prompt_ids=[1, 2, 3],
        tokenizer=qwen3_tokenizer,
        tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        tool_parser=TOOL_CALL_PARSERS["qwen25"](),
        reasoning_parser=REASONING_PARSERS["qwen3"](),
        reasoning_opened=False,
        logprobs=logprobs,
        top_logprobs=0,
        sampling_params={"n": n},
    )
    assembler = StreamAssembler(context, "r", incremental=incremental)
    try:
        chunks = [chunk for event in events for chunk in assembler.event(event)]
        assembler.done()
    except DOCUMENTED:
        event("refused")
        return
    event("accepted")
    finals = [chunk for chunk in chunks if chunk.choices and chunk.choices[0].delta.provider_specific_fields]
    assert len(finals) == n
    for chunk in finals:
        ids = chunk.choices[0].delta.provider_specific_fields["completion_token_ids"]
        assert all(0 <= token_id < VOCAB for token_id in ids)
