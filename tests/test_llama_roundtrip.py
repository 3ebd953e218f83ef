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


def chat(emulator, messages, **kwargs):
    sglang_native_provider.register()
    return litellm.acompletion(
        model="sglang_native/llama3.1",
        api_base=emulator.url,
        tokenizer="offline:llama3.1",
        messages=messages,
        tools=[WEATHER_TOOL],
        **kwargs,
    )


@pytest.mark.parametrize("continuation", ["exact", "rerender"])
async def test_llama_tool_call_round_trip(llama_emulator, llama_tokenizer, continuation):
    call = '{"name": "get_weather", "parameters": {"city": "Paris"}}'
    llama_emulator.script(
        [PYTHON_TAG, *llama_tokenizer.encode(call, add_special_tokens=False), EOM], "It is 24 degrees in Paris."
    )
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = await chat(llama_emulator, messages, continuation=continuation)
    sent = llama_emulator.requests[-1]
    assert sent["sampling_params"]["skip_special_tokens"] is False  # <|python_tag|> is a special token
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    messages += [message, {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": '{"temp": 24}'}]
    second = await chat(llama_emulator, messages, continuation=continuation)
    assert second.choices[0].message.content == "It is 24 degrees in Paris."
    sent = llama_emulator.requests[-1]["input_ids"]
    first_fields = message.provider_specific_fields
    turn = first_fields["prompt_token_ids"] + first_fields["completion_token_ids"]
    # Llama's template re-renders the call without <|python_tag|> and ends it with <|eot_id|>, not the
    # <|eom_id|> the model sampled: the exact continuation keeps the model's tokens and reports the drift.
    drift = second.choices[0].message.provider_specific_fields["template_drift"]
    assert drift["detected"] is True and drift["first_difference"] == len(first_fields["prompt_token_ids"])
    rendered = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": '{"temp": 24}'},
    ]
    rerendered = llama_tokenizer.apply_chat_template(rendered, tools=[WEATHER_TOOL], add_generation_prompt=True)
    if continuation == "exact":
        assert sent[: len(turn)] == turn
        assert llama_tokenizer.decode(sent[len(turn) :]).startswith("<|start_header_id|>ipython<|end_header_id|>")
    else:
        assert sent == list(rerendered["input_ids"])
