"""``stream=True`` through LiteLLM: deltas add up to the non-streaming answer, in both SGLang streaming modes."""

from __future__ import annotations

import asyncio
import json

import litellm
import openai
import pytest

import sglang_native_provider
from sglang_native_provider.demo import WEATHER_TOOL
from sglang_native_provider.emulator import Emulator

litellm.suppress_debug_info = True

CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
SCRIPTS = {
    "plain": "It is sunny in Paris.",
    "multibyte": "天气很好 🌤️ — 24 °C.",
    "reasoning_and_call": "<think>\nThe user wants weather.\n</think>\n\nLet me check.\n" + CALL,
    "parallel_calls": CALL + "\n" + CALL.replace("Paris", "Tokyo"),
    "malformed_call": '<tool_call>\n{"name": "get_weather", "arguments": {"city": \n</tool_call>',
    "mention": "You could use <tool_call> markup, but I answer directly.",
    "unknown_function": CALL.replace("get_weather", "launch_rocket"),
}
VOLATILE = {"sglang_request_id", "e2e_latency", "cached_tokens"}


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


@pytest.fixture(params=[False, True], ids=["cumulative", "incremental"])
def mode_emulator(request):
    with Emulator("qwen3", incremental_streaming_output=request.param) as emu:
        emu.incremental = request.param
        yield emu


def kwargs(emulator, **extra):
    return {
        "model": "sglang_native/qwen3",
        "api_base": emulator.url,
        "tokenizer": "offline:qwen3",
        "incremental_streaming_output": getattr(emulator, "incremental", False),
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [WEATHER_TOOL],
        **extra,
    }


async def collect(emulator, **extra):
    stream = await litellm.acompletion(stream=True, **kwargs(emulator, **extra))
    return [chunk async for chunk in stream]


def joined(chunks):
    """Content, reasoning, tool calls (name, arguments), finish reason and token metadata of a stream."""
    content, reasoning, calls, finish, fields = "", "", {}, None, None
    for chunk in chunks:
        for choice in chunk.choices:
            delta = choice.delta
            content += delta.content or ""
            reasoning += getattr(delta, "reasoning_content", None) or ""
            for call in delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"name": "", "arguments": ""})
                entry["name"] += call.function.name or ""
                entry["arguments"] += call.function.arguments or ""
            finish = choice.finish_reason or finish
            fields = getattr(delta, "provider_specific_fields", None) or fields
    return content, reasoning, [calls[i] for i in sorted(calls)], finish, fields


async def stream_error(awaitable) -> Exception:
    """The exception a stream raised; LiteLLM wraps errors after the first chunk in MidStreamFallbackError
    (a ServiceUnavailableError) that keeps the provider's exception as ``original_exception``."""
    with pytest.raises(openai.APIError) as caught:
        await awaitable
    error = caught.value
    if isinstance(error, litellm.exceptions.MidStreamFallbackError):
        return error.original_exception
    return error


def non_streaming(response):
    message = response.choices[0].message
    calls = [{"name": c.function.name, "arguments": c.function.arguments} for c in message.tool_calls or []]
    reasoning = getattr(message, "reasoning_content", None) or ""
    return message.content or "", reasoning, calls, response.choices[0].finish_reason, message.provider_specific_fields


def stable(fields):
    return {key: value for key, value in fields.items() if key not in VOLATILE}


@pytest.mark.parametrize("name", SCRIPTS)
async def test_stream_adds_up_to_the_non_streaming_answer(mode_emulator, name):
    mode_emulator.script(SCRIPTS[name], SCRIPTS[name])
    whole = non_streaming(await litellm.acompletion(**kwargs(mode_emulator)))
    chunks = await collect(mode_emulator)
    content, reasoning, calls, finish, fields = joined(chunks)
    assert (content, reasoning, calls, finish) == whole[:4]
    assert stable(fields) == stable(whole[4])
    assert len({chunk.id for chunk in chunks}) == 1
    assert "<tool_call>" not in content or name in ("malformed_call", "mention")


async def test_usage_chunk_and_chunk_builder(mode_emulator):
    mode_emulator.script("<think>\nok\n</think>\n\n" + CALL, "<think>\nok\n</think>\n\n" + CALL)
    whole = await litellm.acompletion(**kwargs(mode_emulator))
    chunks = await collect(mode_emulator, stream_options={"include_usage": True})
    usage_chunks = [chunk for chunk in chunks if getattr(chunk, "usage", None) is not None]
    assert usage_chunks, "no usage chunk"
    streamed_usage = usage_chunks[-1].usage
    assert streamed_usage.prompt_tokens == whole.usage.prompt_tokens
    assert streamed_usage.completion_tokens == whole.usage.completion_tokens
    assert streamed_usage.prompt_tokens_details.cached_tokens is not None
    built = litellm.stream_chunk_builder(chunks)
    message = built.choices[0].message
    assert message.tool_calls[0].function.arguments == whole.choices[0].message.tool_calls[0].function.arguments
    assert message.reasoning_content == "ok"
    assert stable(message.provider_specific_fields) == stable(whole.choices[0].message.provider_specific_fields)


async def test_chunk_logprobs_add_up(mode_emulator):
    mode_emulator.script("Hello world, again.", "Hello world, again.")
    whole = await litellm.acompletion(**kwargs(mode_emulator, logprobs=True, top_logprobs=2))
    chunks = await collect(mode_emulator, logprobs=True, top_logprobs=2)
    streamed = [
        entry for chunk in chunks for c in chunk.choices if getattr(c, "logprobs", None) for entry in c.logprobs.content
    ]
    expected = whole.choices[0].logprobs.content
    assert [(e.token, e.logprob, len(e.top_logprobs)) for e in streamed] == [
        (e.token, e.logprob, len(e.top_logprobs)) for e in expected
    ]


def test_sync_streaming(emulator):
    emulator.script("Sync stream.")
    stream = litellm.completion(stream=True, **kwargs(emulator))
    content, _, _, finish, fields = joined(list(stream))
    assert (content, finish) == ("Sync stream.", "stop")
    assert fields["completion_token_ids"][-1] == 151645


async def _wait_until_idle(emulator, timeout=10.0):
    for _ in range(int(timeout / 0.02)):
        if not emulator.running_rids:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"still running on the server: {emulator.running_rids}")


async def test_cancelled_stream_is_aborted_on_the_server(slow_emulator):
    first_chunk = asyncio.Event()

    async def consume():
        stream = await litellm.acompletion(stream=True, **kwargs(slow_emulator, extra_body={"ignore_eos": True}))
        async for _ in stream:
            first_chunk.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_chunk.wait(), 30)
    assert slow_emulator.running_rids
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert slow_emulator.engine.abort_requests == [slow_emulator.requests[-1]["rid"]]
    await _wait_until_idle(slow_emulator)


async def test_abandoned_handler_stream_sends_abort(slow_emulator):
    from litellm.types.utils import ModelResponse

    stream = sglang_native_provider.handler.astreaming(
        model="qwen3",
        messages=[{"role": "user", "content": "hi"}],
        api_base=slow_emulator.url,
        model_response=ModelResponse(),
        api_key=None,
        optional_params={"tokenizer": "offline:qwen3", "extra_body": {"ignore_eos": True}},
    )
    await anext(stream)
    await stream.aclose()
    assert slow_emulator.engine.abort_requests == [slow_emulator.requests[-1]["rid"]]
    await _wait_until_idle(slow_emulator)


async def test_mode_mismatch_fails_clearly():
    async with Emulator("qwen3", incremental_streaming_output=True) as emu:
        emu.script("one two three four")
        error = await stream_error(collect(emu))  # configured cumulative (the default)
        assert isinstance(error, litellm.InternalServerError)
        assert "incremental_streaming_output=True" in str(error)
    async with Emulator("qwen3") as emu:
        emu.script("one two three four")
        emu.incremental = True
        error = await stream_error(collect(emu))
        assert isinstance(error, litellm.InternalServerError)
        assert "incremental_streaming_output=False" in str(error)


async def test_error_event_raises_the_mapped_exception(emulator):
    error = await stream_error(collect(emulator, temperature=-1))
    assert isinstance(error, litellm.BadRequestError)
    assert "temperature must be a non-negative finite number" in str(error)


async def test_server_abort_mid_stream_raises(slow_emulator):
    async def consume():
        return await collect(slow_emulator, extra_body={"ignore_eos": True})

    task = asyncio.create_task(consume())
    for _ in range(500):
        if slow_emulator.running_rids:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    slow_emulator.engine.abort(abort_all=True)
    error = await stream_error(task)
    assert isinstance(error, litellm.InternalServerError) and "SGLang aborted the request" in str(error)


def _event(text, ids, finish=None):
    meta = {"id": "r", "finish_reason": finish, "prompt_tokens": 3, "completion_tokens": len(ids), "cached_tokens": 0}
    return b"data: " + json.dumps({"text": text, "output_ids": ids, "meta_info": meta}).encode() + b"\n\n"


@pytest.mark.parametrize(
    ("body", "exception", "fragment"),
    [
        (_event("Hi", [13048]), litellm.APIConnectionError, "ended before [DONE]"),
        (_event("Hi", [13048]) + b"data: [DONE]\n\n", litellm.InternalServerError, "0 of 1 sequences finished"),
        (b"data: {not json\n\n", litellm.InternalServerError, "malformed SSE event"),
        (b"garbage line\n\n", litellm.InternalServerError, "malformed SSE line"),
        (
            b'data: {"error": {"message": "boom", "code": 503}}\n\ndata: [DONE]\n\n',
            litellm.ServiceUnavailableError,
            "boom",
        ),
        (b'data: {"text": 5}\n\n', litellm.InternalServerError, "malformed stream event"),
    ],
)
async def test_broken_streams_raise(emulator, body, exception, fragment):
    emulator.inject_stream(body)
    error = await stream_error(collect(emulator))
    assert isinstance(error, exception) and fragment in str(error)


async def test_complete_injected_stream_is_accepted(emulator):
    finish = {"type": "stop", "matched": 151645}
    emulator.inject_stream(_event("Hi", [13048]) + _event("Hi", [13048, 151645], finish) + b"data: [DONE]\n\n")
    content, _, _, finish_reason, fields = joined(await collect(emulator))
    assert (content, finish_reason) == ("Hi", "stop")
    assert fields["completion_token_ids"] == [13048, 151645]


async def test_unicode_line_separators_inside_events_are_not_line_breaks(emulator):
    text = "one\u2028two\u2029three\x85four"
    emulator.script(text, text)
    whole = await litellm.acompletion(**kwargs(emulator))
    content, *_ = joined(await collect(emulator))
    assert content == whole.choices[0].message.content == text
