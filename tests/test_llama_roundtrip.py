"""A two-turn tool conversation with Llama 3.1's real tokenizer and template through the emulator."""

from __future__ import annotations

import json

import litellm
import pytest

import sglang_native_provider
from sglang_native_provider.demo import WEATHER_TOOL
from sglang_native_provider.emulator import Emulator

PYTHON_TAG, EOM, EOT = 128010, 128008, 128009


@pytest.fixture
def llama_emulator():
    with Emulator("llama3.1", eos_token_ids=[EOT, EOM]) as emu:
        yield emu


def chat(emulator, messages):
    sglang_native_provider.register()
    return litellm.acompletion(
        model="sglang_native/llama3.1",
        api_base=emulator.url,
        tokenizer="offline:llama3.1",
        messages=messages,
        tools=[WEATHER_TOOL],
    )


async def test_llama_tool_call_round_trip(llama_emulator, llama_tokenizer):
    call = '{"name": "get_weather", "parameters": {"city": "Paris"}}'
    llama_emulator.script(
        [PYTHON_TAG, *llama_tokenizer.encode(call, add_special_tokens=False), EOM], "It is 24 degrees in Paris."
    )
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = await chat(llama_emulator, messages)
    sent = llama_emulator.requests[-1]
    assert sent["sampling_params"]["skip_special_tokens"] is False  # <|python_tag|> is a special token
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    messages += [message, {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": '{"temp": 24}'}]
    second = await chat(llama_emulator, messages)
    assert second.choices[0].message.content == "It is 24 degrees in Paris."
    rendered = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": '{"temp": 24}'},
    ]
    expected = llama_tokenizer.apply_chat_template(rendered, tools=[WEATHER_TOOL], add_generation_prompt=True)
    assert llama_emulator.requests[-1]["input_ids"] == list(expected["input_ids"])
