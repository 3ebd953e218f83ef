"""The emulator's OpenAI-compatible endpoint (SGLang's ``/v1/chat/completions``), used by the benchmarks to
measure LiteLLM's own ``openai/`` and ``hosted_vllm/`` providers against the native path."""

from __future__ import annotations

import json

import litellm
import pytest

import sglang_native_provider
from sglang_native_provider.demo import WEATHER_TOOL

CALL = (
    '<think>\nWeather.\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
)
MESSAGES = [{"role": "user", "content": "Weather in Paris?"}]


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


def peer(emulator, provider: str = "openai") -> dict:
    return {"model": f"{provider}/qwen3", "api_base": f"{emulator.url}/v1", "api_key": "unused"}


@pytest.mark.parametrize("provider", ["openai", "hosted_vllm"])
async def test_same_answer_and_tokens_as_the_native_path(emulator, provider):
    emulator.script(CALL, CALL)
    native = await litellm.acompletion(
        model="sglang_native/qwen3",
        api_base=emulator.url,
        tokenizer="offline:qwen3",
        messages=MESSAGES,
        tools=[WEATHER_TOOL],
    )
    other = await litellm.acompletion(
        **peer(emulator, provider),
        messages=MESSAGES,
        tools=[WEATHER_TOOL],
        extra_body={"return_prompt_token_ids": True, "return_token_ids": True},
    )
    ours, theirs = native.choices[0], other.choices[0]
    assert theirs.finish_reason == ours.finish_reason == "tool_calls"
    assert theirs.message.reasoning_content == ours.message.reasoning_content == "Weather."
    call = theirs.message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})
    fields = ours.message.provider_specific_fields
    # the server rendered the same template with the same tokenizer, and sampled the same ids
    assert len(emulator.requests) == 1  # the OpenAI endpoint renders and generates without /generate
    assert other.usage.prompt_tokens == len(fields["prompt_token_ids"])
    assert other.usage.completion_tokens == len(fields["completion_token_ids"])


async def test_returned_token_ids_and_logprobs(emulator, qwen3_tokenizer):
    import httpx

    emulator.script("Sunny.")
    body = {
        "model": "qwen3",
        "messages": MESSAGES,
        "logprobs": True,
        "top_logprobs": 2,
        "return_prompt_token_ids": True,
        "return_token_ids": True,
    }
    answer = httpx.post(f"{emulator.url}/v1/chat/completions", json=body).json()
    choice = answer["choices"][0]
    expected = qwen3_tokenizer.apply_chat_template(
        MESSAGES, add_generation_prompt=True, tokenize=True, return_dict=False
    )
    assert choice["prompt_token_ids"] == list(expected)
    assert qwen3_tokenizer.decode(choice["response_token_ids"]) == "Sunny.<|im_end|>"
    assert len(choice["logprobs"]["content"]) == len(choice["response_token_ids"])
    assert all(len(entry["top_logprobs"]) == 2 for entry in choice["logprobs"]["content"])
    assert answer["usage"]["completion_tokens"] == len(choice["response_token_ids"])


async def test_streaming_through_the_openai_provider(emulator):
    emulator.script(CALL)
    stream = await litellm.acompletion(
        **peer(emulator), messages=MESSAGES, tools=[WEATHER_TOOL], stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    built = litellm.stream_chunk_builder(chunks)
    assert built.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert built.choices[0].message.reasoning_content == "Weather."
    assert built.choices[0].finish_reason == "tool_calls"
    assert built.usage.completion_tokens > 0


async def test_bad_requests_are_400s(emulator):
    with pytest.raises(litellm.BadRequestError, match="unknown role"):
        await litellm.acompletion(**peer(emulator), messages=[{"role": "robot", "content": "hi"}])
