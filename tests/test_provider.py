"""``litellm.acompletion("sglang_native/...")`` against the emulator with the real Qwen3 tokenizer."""

from __future__ import annotations

import json
import logging
import socket

import litellm
import pytest
from _support import chat

import sglang_native_provider
from sglang_native_provider.demo import WEATHER_TOOL
from sglang_native_provider.emulator import Emulator

EOS = 151645
TOOL_CALL_TEXT = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
SECRET = "sk-provider-secret-987"


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


def expected_ids(tokenizer, messages, tools=None, **template_kwargs) -> list[int]:
    return list(
        tokenizer.apply_chat_template(
            messages, tools=tools, add_generation_prompt=True, tokenize=True, **template_kwargs
        )["input_ids"]
    )


async def test_prompt_ids_are_exactly_the_chat_template(emulator, qwen3_tokenizer):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather"}, {"type": "text", "text": "in Paris?"}]},
    ]
    emulator.script("Sunny.")
    await chat(emulator, messages=messages, tools=[WEATHER_TOOL])
    sent = emulator.requests[-1]
    assert "text" not in sent
    normalized = [messages[0], {"role": "user", "content": "Weather\nin Paris?"}]
    assert sent["input_ids"] == expected_ids(qwen3_tokenizer, normalized, tools=[WEATHER_TOOL])
    assert sent["return_logprob"] is True and len(sent["rid"]) == 32


async def test_plain_answer_usage_and_token_metadata(emulator, qwen3_tokenizer):
    emulator.script("It is sunny.")
    response = await chat(emulator)
    choice = response.choices[0]
    assert choice.message.content == "It is sunny."
    assert choice.finish_reason == "stop"
    fields = choice.message.provider_specific_fields
    answer_ids = [*qwen3_tokenizer.encode("It is sunny.", add_special_tokens=False), EOS]
    assert fields["completion_token_ids"] == answer_ids
    assert fields["prompt_token_ids"] == emulator.requests[-1]["input_ids"]
    assert len(fields["completion_logprobs"]) == len(answer_ids)
    assert all(value <= 0 for value in fields["completion_logprobs"])
    assert fields["sglang_finish_reason"] == {"type": "stop", "matched": EOS}
    assert fields["sglang_request_id"] == emulator.requests[-1]["rid"]
    assert fields["weight_version"] == "default" and fields["cached_tokens"] == 0
    assert response.usage.prompt_tokens == len(fields["prompt_token_ids"])
    assert response.usage.completion_tokens == len(answer_ids)
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
    assert getattr(choice, "logprobs", None) is None  # OpenAI logprobs only when asked


async def test_openai_logprobs_align_with_completion_ids(emulator, qwen3_tokenizer):
    emulator.script("天气 fine")
    response = await chat(emulator, logprobs=True, top_logprobs=3)
    choice = response.choices[0]
    fields = choice.message.provider_specific_fields
    content = choice.logprobs.content
    assert len(content) == len(fields["completion_token_ids"])
    joined = b"".join(bytes(entry.bytes) for entry in content)
    assert joined.decode() == "天气 fine<|im_end|>"
    for entry, token_id, logprob, top in zip(
        content,
        fields["completion_token_ids"],
        fields["completion_logprobs"],
        fields["completion_top_logprobs"],
        strict=True,
    ):
        assert entry.logprob == logprob
        assert len(entry.top_logprobs) == 3 and len(top) == 3
        assert [alt.logprob for alt in entry.top_logprobs] == [lp for _, lp in top]
        assert [token_id, logprob] in top
    assert emulator.requests[-1]["top_logprobs_num"] == 3


async def test_tool_call_and_reasoning_are_parsed(emulator):
    emulator.script("<think>\nThe user wants weather.\n</think>\n\n" + TOOL_CALL_TEXT)
    response = await chat(emulator, tools=[WEATHER_TOOL])
    message = response.choices[0].message
    assert response.choices[0].finish_reason == "tool_calls"
    assert message.reasoning_content == "The user wants weather."
    assert message.content is None
    (call,) = message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


async def test_parallel_tool_calls_with_content(emulator):
    second = TOOL_CALL_TEXT.replace("Paris", "Tokyo")
    emulator.script(f"Checking both.\n{TOOL_CALL_TEXT}\n{second}")
    response = await chat(emulator, tools=[WEATHER_TOOL])
    message = response.choices[0].message
    assert message.content == "Checking both."
    assert [json.loads(c.function.arguments)["city"] for c in message.tool_calls] == ["Paris", "Tokyo"]


async def test_detected_parsers_are_logged_and_configuration_wins(emulator, caplog):
    caplog.set_level(logging.INFO, logger="sglang_native_provider")
    emulator.script(TOOL_CALL_TEXT, TOOL_CALL_TEXT)
    detected = await chat(emulator, tools=[WEATHER_TOOL], model="sglang_native/qwen3-detect-log")
    assert detected.choices[0].message.tool_calls
    assert "tool_call_parser for 'qwen3-detect-log' detected from its chat template: qwen25" in caplog.text
    configured = await chat(emulator, tools=[WEATHER_TOOL], tool_call_parser="pythonic")
    assert configured.choices[0].message.content == TOOL_CALL_TEXT  # pythonic does not read Hermes markup


async def test_unknown_function_is_kept_and_flagged(emulator):
    emulator.script(TOOL_CALL_TEXT.replace("get_weather", "launch_rocket"))
    response = await chat(emulator, tools=[WEATHER_TOOL])
    message = response.choices[0].message
    assert [call.function.name for call in message.tool_calls] == ["launch_rocket"]
    assert message.provider_specific_fields["unknown_tool_calls"] == ["launch_rocket"]


async def test_malformed_tool_json_is_reported_not_content(emulator):
    broken = '<tool_call>\n{"name": "get_weather", "arguments": {"city": \n</tool_call>'
    emulator.script(broken)
    response = await chat(emulator, tools=[WEATHER_TOOL])
    assert response.choices[0].finish_reason == "stop"
    assert response.choices[0].message.content == ""
    assert response.choices[0].message.provider_specific_fields["unparsed_tool_markup"] == [broken]
    assert not response.choices[0].message.tool_calls


async def test_tool_choice_none_leaves_markup_as_content(emulator):
    emulator.script(TOOL_CALL_TEXT)
    response = await chat(emulator, tools=[WEATHER_TOOL], tool_choice="none")
    assert response.choices[0].message.content == TOOL_CALL_TEXT
    assert response.choices[0].finish_reason == "stop"


async def test_two_turn_tool_conversation(emulator, qwen3_tokenizer):
    emulator.script(TOOL_CALL_TEXT, "It is 24 °C in Paris.")
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = await chat(emulator, messages=messages, tools=[WEATHER_TOOL])
    assistant = first.choices[0].message
    messages += [assistant, {"role": "tool", "tool_call_id": assistant.tool_calls[0].id, "content": '{"temp": 24}'}]
    second = await chat(emulator, messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "It is 24 °C in Paris."
    rendered = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": '{"temp": 24}'},
    ]
    sent = emulator.requests[-1]["input_ids"]
    assert sent == expected_ids(qwen3_tokenizer, rendered, tools=[WEATHER_TOOL])
    assert f"<|im_start|>assistant\n{TOOL_CALL_TEXT}<|im_end|>" in qwen3_tokenizer.decode(sent)


async def test_prefill_continues_the_final_assistant_message(emulator, qwen3_tokenizer):
    messages = [{"role": "user", "content": "Count"}, {"role": "assistant", "content": "One, two,"}]
    emulator.script(" three.")
    await chat(emulator, messages=messages)
    expected = qwen3_tokenizer.apply_chat_template(messages, continue_final_message=True, tokenize=True)["input_ids"]
    assert emulator.requests[-1]["input_ids"] == list(expected)


async def test_chat_template_kwargs_reach_the_template(emulator, qwen3_tokenizer):
    emulator.script("Hi.")
    messages = [{"role": "user", "content": "hi"}]
    await chat(emulator, messages=messages, chat_template_kwargs={"enable_thinking": False})
    assert emulator.requests[-1]["input_ids"] == expected_ids(qwen3_tokenizer, messages, enable_thinking=False)


@pytest.mark.parametrize(("effort", "thinking"), [("none", False), ("low", True), ("high", True)])
async def test_reasoning_effort_switches_thinking(emulator, qwen3_tokenizer, effort, thinking):
    messages = [{"role": "user", "content": "hi"}]
    await chat(emulator, messages=messages, reasoning_effort=effort, allowed_openai_params=["reasoning_effort"])
    expected = expected_ids(qwen3_tokenizer, messages, enable_thinking=thinking)
    assert emulator.requests[-1]["input_ids"] == expected
    assert "reasoning_effort" not in emulator.requests[-1]["sampling_params"]


async def test_sampling_parameters_are_mapped(emulator):
    await chat(
        emulator,
        max_tokens=7,
        temperature=0.5,
        top_p=0.9,
        stop=["\n\n"],
        seed=11,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        logit_bias={"9707": 1.5},
        extra_body={"top_k": 20, "min_p": 0.05},
        min_tokens=1,
        response_format={"type": "json_object"},
    )
    assert emulator.requests[-1]["sampling_params"] == {
        "max_new_tokens": 7,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": ["\n\n"],
        "sampling_seed": 11,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "logit_bias": {"9707": 1.5},
        "top_k": 20,
        "min_p": 0.05,
        "min_new_tokens": 1,
        "json_schema": '{"type": "object"}',
    }


async def test_n_gives_n_choices(emulator):
    response = await chat(emulator, n=3, max_tokens=5, temperature=1.0)
    assert [choice.index for choice in response.choices] == [0, 1, 2]
    assert response.usage.completion_tokens == sum(
        len(c.message.provider_specific_fields["completion_token_ids"]) for c in response.choices
    )


async def test_length_finish(emulator):
    response = await chat(emulator, max_tokens=3, extra_body={"ignore_eos": True})
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 3


async def test_cached_tokens_in_usage(emulator):
    first = await chat(emulator, max_tokens=2)
    second = await chat(emulator, max_tokens=2)
    prompt = first.choices[0].message.provider_specific_fields["prompt_token_ids"]
    assert second.usage.prompt_tokens_details.cached_tokens == len(prompt) - 1


def test_sync_completion(emulator):
    emulator.script("Sync works.")
    response = litellm.completion(
        model="sglang_native/qwen3",
        api_base=emulator.url,
        tokenizer="offline:qwen3",
        messages=[{"role": "user", "content": "hi"}],
    )
    assert response.choices[0].message.content == "Sync works."


def test_register_is_idempotent():
    sglang_native_provider.register()
    sglang_native_provider.register()
    entries = [e for e in litellm.custom_provider_map if e["provider"] == "sglang_native"]
    assert entries == [{"provider": "sglang_native", "custom_handler": sglang_native_provider.handler}]


# ---- errors ----


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
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
    ],
)
async def test_bad_input_is_a_bad_request_naming_the_problem(emulator, kwargs, fragment):
    with pytest.raises(litellm.BadRequestError) as caught:
        await chat(emulator, **kwargs)
    assert fragment in str(caught.value)
    assert emulator.requests == []


async def test_unsupported_parameter_is_dropped_with_drop_params(emulator):
    await chat(emulator, frobnicate=3, drop_params=True, max_tokens=2)
    assert emulator.requests[-1]["sampling_params"] == {"max_new_tokens": 2}


async def test_sglang_400_keeps_sglangs_message(emulator):
    with pytest.raises(litellm.BadRequestError, match="temperature must be a non-negative finite number"):
        await chat(emulator, temperature=-1)


async def test_context_overflow():
    async with Emulator("qwen3", context_length=16) as emu:
        with pytest.raises(litellm.ContextWindowExceededError, match="longer than the model's context length"):
            await chat(emu, messages=[{"role": "user", "content": "word " * 40}])


@pytest.mark.parametrize(
    ("status", "exception", "litellm_status"),
    [
        (401, litellm.AuthenticationError, 401),
        (404, litellm.NotFoundError, 404),
        (429, litellm.RateLimitError, 429),
        (500, litellm.InternalServerError, 500),
        (503, litellm.ServiceUnavailableError, 503),
        (504, litellm.Timeout, 408),  # LiteLLM's Timeout always carries 408
    ],
)
async def test_http_errors_map_to_litellm_exceptions(emulator, status, exception, litellm_status):
    emulator.inject_error(status, f"injected {status}")
    with pytest.raises(exception, match=f"injected {status}") as caught:
        await chat(emulator)
    assert caught.value.status_code == litellm_status


async def test_connection_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(litellm.APIConnectionError, match="Could not reach SGLang"):
        await litellm.acompletion(
            model="sglang_native/qwen3",
            api_base=f"http://127.0.0.1:{port}",
            tokenizer="offline:qwen3",
            messages=[{"role": "user", "content": "hi"}],
        )


async def test_timeout(slow_emulator):
    with pytest.raises(litellm.Timeout):
        await chat(slow_emulator, timeout=0.1, extra_body={"ignore_eos": True}, max_tokens=100)


async def test_server_abort_is_an_error(slow_emulator):
    import asyncio

    pending = asyncio.create_task(chat(slow_emulator, max_tokens=100, extra_body={"ignore_eos": True}))
    for _ in range(500):
        if slow_emulator.running_rids:
            break
        await asyncio.sleep(0.01)
    slow_emulator.engine.abort(abort_all=True)
    with pytest.raises(litellm.InternalServerError, match="SGLang aborted the request: Aborted"):
        await pending


async def test_api_key_is_sent_and_never_leaks(caplog):
    caplog.set_level(logging.DEBUG)
    async with Emulator("qwen3", api_key=SECRET) as emu:
        emu.script("Authorized.")
        response = await chat(emu, api_key=SECRET)
        assert response.choices[0].message.content == "Authorized."
        with pytest.raises(litellm.AuthenticationError) as caught:
            await chat(emu, api_key="sk-wrong-key")
    assert SECRET not in caplog.text
    assert "sk-wrong-key" not in str(caught.value)
    config = sglang_native_provider.DeploymentConfig(api_key=SECRET)
    assert SECRET not in repr(config) and SECRET not in str(config.model_dump())


async def test_remote_code_tokenizer_is_refused_unless_trusted(emulator, tmp_path):
    import shutil

    from sglang_native_provider.offline_tokenizers import build_tokenizer

    remote = tmp_path / "remote-tokenizer"
    shutil.copytree(build_tokenizer("qwen3"), remote)
    config = json.loads((remote / "tokenizer_config.json").read_text())
    config.update(auto_map={"AutoTokenizer": ["custom_tok.CustomTokenizer", None]}, tokenizer_class="CustomTokenizer")
    (remote / "tokenizer_config.json").write_text(json.dumps(config))
    marker = tmp_path / "remote-code-ran"
    (remote / "custom_tok.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    with pytest.raises(litellm.BadRequestError, match="needs remote code; set trust_remote_code=True"):
        await chat(emulator, tokenizer=str(remote))
    assert not marker.exists()


async def test_reasoning_and_tool_call_render_back_as_the_model_wrote_them(emulator, qwen3_tokenizer):
    model_output = "<think>\nThe user wants weather.\n</think>\n\n" + TOOL_CALL_TEXT
    emulator.script(model_output, "Done.")
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = await chat(emulator, messages=messages, tools=[WEATHER_TOOL])
    message = first.choices[0].message
    assert message.reasoning_content == "The user wants weather."
    messages += [message, {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny"}]
    await chat(emulator, messages=messages, tools=[WEATHER_TOOL])
    second_prompt = qwen3_tokenizer.decode(emulator.requests[-1]["input_ids"])
    assert f"<|im_start|>assistant\n{model_output}<|im_end|>" in second_prompt


async def test_response_size_is_capped(emulator):
    emulator.script("A long answer " * 50)
    with pytest.raises(litellm.InternalServerError, match="exceeds max_response_bytes"):
        await chat(emulator, max_response_bytes=500)


async def test_stream_line_length_is_capped(emulator):
    from test_streaming import stream_error

    emulator.inject_stream(b"data: " + b"x" * 5000 + b"\n\n")
    error = await stream_error(_stream(emulator, max_response_bytes=1000))
    assert isinstance(error, litellm.InternalServerError) and "exceeds max_response_bytes" in str(error)


async def _stream(emulator, **kwargs):
    stream = await chat(emulator, stream=True, **kwargs)
    return [chunk async for chunk in stream]


def test_tls_settings(tmp_path):
    from sglang_native_provider.config import load_config

    assert load_config("m", {}).ssl_verify is True
    assert load_config("m", {"ssl_verify": False}).ssl_verify is False
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert load_config("m", {"ssl_verify": str(bundle)}).ssl_verify == str(bundle)
    with pytest.raises(litellm.BadRequestError) as caught:
        load_config("m", {"ssl_verify": "/no/ca.pem"})
    assert "ssl_verify: Value error, CA bundle '/no/ca.pem' is not a file" in str(caught.value)


def test_drift_check_settings():
    from sglang_native_provider.config import load_config

    assert load_config("m", {}).drift_check == "incremental"
    assert load_config("m", {"drift_check": True}).drift_check == "incremental"
    assert load_config("m", {"drift_check": False}).drift_check == "off"
    assert load_config("m", {"drift_check": "full"}).drift_check == "full"
    with pytest.raises(litellm.BadRequestError, match="drift_check: Input should be 'incremental', 'full' or 'off'"):
        load_config("m", {"drift_check": "sometimes"})


def test_a_ca_bundle_becomes_a_tls_context_trusting_it():
    import ssl

    import certifi

    from sglang_native_provider.transport.sessions import tls

    assert tls(False) is False
    for setting in (True, certifi.where()):  # True: certifi's CA store, as httpx's default
        context = tls(setting)
        assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
        assert context.get_ca_certs()
