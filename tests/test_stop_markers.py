"""A family's end marker that is a stop token, on every server setup: the answer does not depend on the flags the
SGLang server was started with.

SGLang trims the matched stop token from ``text`` unless the server runs the family's tool-call parser
(gpt-oss's ``<|call|>`` is kept only under ``--tool-call-parser gpt-oss``); ``output_ids`` and
``finish_reason.matched`` hold it either way. Most users start SGLang without parser flags to call ``/generate``.
"""

from __future__ import annotations

import json

import litellm
import pytest
from _harmony import HARMONY_SPECIALS, write_harmony_tokenizer

import sglang_native_provider
from sglang_native_provider.emulator import Emulator, ScriptedCompletion

SERVER_SETUPS = {
    "no-parser-flags": {},
    "gpt-oss-parsers": {"tool_call_parser": "gpt-oss", "reasoning_parser": "gpt-oss"},
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
GPT_OSS_VOCAB = 201_088
MESSAGES = [{"role": "user", "content": "Weather in Tokyo?"}]
ANALYSIS = "<|channel|>analysis<|message|>Need the weather.<|end|>"
CALL = '<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Tokyo"}'
FINAL = "<|channel|>final<|message|>It is sunny.<|return|>"


@pytest.fixture(scope="module")
def harmony(tmp_path_factory) -> str:
    return str(write_harmony_tokenizer(tmp_path_factory.mktemp("harmony")))


async def _answer(emulator: Emulator, harmony: str, *, stream: bool, **extra):
    """(content, [(name, arguments)], reasoning, finish_reason, metadata) of one call, whole or streamed."""
    sglang_native_provider.register()
    response = await litellm.acompletion(
        model="sglang_native/gpt-oss",
        api_base=emulator.url,
        tokenizer=harmony,
        vocab_size=GPT_OSS_VOCAB,  # the stand-in tokenizer's ids are sparse, as far as gpt-oss's
        messages=MESSAGES,
        tools=TOOLS,
        stream=stream,
        **extra,
    )
    if stream:
        chunks = [chunk async for chunk in response]
        response = litellm.stream_chunk_builder(chunks, messages=MESSAGES)
        fields = next(
            chunk.choices[0].delta.provider_specific_fields
            for chunk in reversed(chunks)
            if chunk.choices and chunk.choices[0].delta.provider_specific_fields
        )
    else:
        fields = response.choices[0].message.provider_specific_fields
    message = response.choices[0].message
    calls = [(call.function.name, json.loads(call.function.arguments)) for call in message.tool_calls or ()]
    reasoning = getattr(message, "reasoning_content", None)
    return message.content, calls, reasoning, response.choices[0].finish_reason, fields


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("setup", SERVER_SETUPS)
async def test_a_gpt_oss_call_is_returned_whatever_the_servers_parser_flags(harmony, setup, stream):
    with Emulator(harmony, **SERVER_SETUPS[setup]) as emulator:
        emulator.script(ScriptedCompletion(text=ANALYSIS + CALL + "<|call|>", end_with_eos=False))
        content, calls, reasoning, finish_reason, fields = await _answer(emulator, harmony, stream=stream)
    assert calls == [("get_weather", {"city": "Tokyo"})]
    assert (content or None, reasoning, finish_reason) == (None, "Need the weather.", "tool_calls")
    assert fields["completion_token_ids"][-1] == HARMONY_SPECIALS["<|call|>"]
    assert fields["sglang_finish_reason"] == {"type": "stop", "matched": HARMONY_SPECIALS["<|call|>"]}
    assert "unparsed_tool_markup" not in fields and "text_mismatch" not in fields


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("setup", SERVER_SETUPS)
async def test_a_gpt_oss_answer_is_the_same_whatever_the_servers_parser_flags(harmony, setup, stream):
    with Emulator(harmony, **SERVER_SETUPS[setup]) as emulator:
        emulator.script(ScriptedCompletion(text=ANALYSIS + FINAL, end_with_eos=False))
        content, calls, reasoning, finish_reason, fields = await _answer(emulator, harmony, stream=stream)
    assert (content, calls, reasoning, finish_reason) == ("It is sunny.", [], "Need the weather.", "stop")
    assert fields["completion_token_ids"][-1] == HARMONY_SPECIALS["<|return|>"]
    assert "unparsed_tool_markup" not in fields


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_a_call_cut_off_before_its_end_marker_is_still_not_shown(harmony, stream):
    """Only the matched stop token is given back: a call cut off by ``max_tokens`` stays unparsed markup."""
    with Emulator(harmony) as emulator:
        emulator.script(ScriptedCompletion(text=ANALYSIS + CALL + "<|call|>", end_with_eos=False))
        cut = len(emulator.tokenizer.encode(ANALYSIS + CALL, add_special_tokens=False)) - 3
        content, calls, _, finish_reason, fields = await _answer(emulator, harmony, stream=stream, max_tokens=cut)
    assert (calls, content or None, finish_reason) == ([], None, "length")
    assert fields["sglang_finish_reason"]["type"] == "length"
    assert fields["unparsed_tool_markup"]
