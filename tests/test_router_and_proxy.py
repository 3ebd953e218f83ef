"""The same model through a LiteLLM ``Router`` built from ``examples/router_config.yaml`` and through a real
``litellm --config examples/proxy_config.yaml`` proxy process queried with the ``openai`` client."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import litellm
import openai
import pytest
import yaml
from _support import litellm_proxy

import sglang_native_provider
from sglang_native_provider.demo import WEATHER_TOOL
from sglang_native_provider.emulator import Emulator

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TOKEN_KEYS = {"prompt_token_ids", "completion_token_ids", "completion_logprobs", "sglang_finish_reason"}


async def test_router_from_the_example_yaml(emulator, monkeypatch, qwen3_tokenizer):
    monkeypatch.setenv("SGLANG_API_BASE", emulator.url)
    sglang_native_provider.register()
    model_list = yaml.safe_load((EXAMPLES / "router_config.yaml").read_text())["model_list"]
    router = litellm.Router(model_list=model_list)
    emulator.script("Routed answer.")
    response = await router.acompletion(model="qwen3", messages=[{"role": "user", "content": "hi"}])
    message = response.choices[0].message
    assert message.content == "Routed answer."
    assert set(message.provider_specific_fields) >= TOKEN_KEYS
    sent = emulator.requests[-1]
    assert sent["sampling_params"] == {"max_new_tokens": 512}  # default_sampling_params from the YAML
    expected = qwen3_tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=True
    )["input_ids"]
    assert sent["input_ids"] == list(expected)


@pytest.fixture(scope="module")
def proxy_emulator():
    with Emulator("qwen3") as emu:
        yield emu


@pytest.fixture(scope="module")
def proxy(proxy_emulator, tmp_path_factory):
    """A real LiteLLM proxy process serving the example config (one per module), its ledger in a scratch file."""
    store = f"sqlite://{tmp_path_factory.mktemp('proxy-ledger') / 'ledger.db'}"
    env = {"SGLANG_API_BASE": proxy_emulator.url, "SGLANG_NATIVE_SESSION_STORE": store}
    with litellm_proxy(EXAMPLES / "proxy_config.yaml", env) as served:
        yield served


def test_proxy_serves_the_model_with_token_metadata(proxy, proxy_emulator):
    emulator = proxy_emulator
    base, master_key = proxy
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=master_key)
    emulator.script("Proxied answer.")
    response = client.chat.completions.create(
        model="qwen3", messages=[{"role": "user", "content": "hi"}], logprobs=True, top_logprobs=2
    )
    choice = response.choices[0]
    assert choice.message.content == "Proxied answer."
    fields = choice.message.model_extra["provider_specific_fields"]
    assert set(fields) >= TOKEN_KEYS
    assert fields["prompt_token_ids"] == emulator.requests[-1]["input_ids"]
    assert [entry.logprob for entry in choice.logprobs.content] == fields["completion_logprobs"]
    assert response.usage.completion_tokens == len(fields["completion_token_ids"])


def test_proxy_returns_bad_requests_as_400(proxy):
    base, master_key = proxy
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=master_key, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="unknown role"):
        client.chat.completions.create(model="qwen3", messages=[{"role": "wizard", "content": "hi"}])


@pytest.mark.parametrize(
    "setting",
    [
        {"tokenizer": "some/remote-model", "trust_remote_code": True},  # remote code on the proxy host
        {"chat_template": "/etc/passwd"},  # a local file read as a template, sent back as token ids
        {"session_store": "redis://10.0.0.1:6379/0"},  # the ledger written anywhere (never connected to)
    ],
    ids=["remote-code", "template-file", "session-store"],
)
def test_proxy_clients_cannot_set_deployment_settings(proxy, proxy_emulator, setting):
    base, master_key = proxy
    calls = len(proxy_emulator.requests)
    answer = httpx.post(
        f"{base}/v1/chat/completions",
        json={"model": "qwen3", "messages": [{"role": "user", "content": "hi"}], **setting},
        headers={"Authorization": f"Bearer {master_key}"},
        timeout=60,
    )
    assert answer.status_code == 400, answer.text[:300]
    assert all(name in answer.text for name in setting) and "deployment setting" in answer.text
    assert len(proxy_emulator.requests) == calls


def test_proxy_clients_may_set_per_request_switches(proxy, proxy_emulator):
    base, master_key = proxy
    proxy_emulator.script("Switched.")
    answer = httpx.post(
        f"{base}/v1/chat/completions",
        json={
            "model": "qwen3",
            "messages": [{"role": "user", "content": "hi"}],
            "chat_template_kwargs": {"enable_thinking": False},
        },
        headers={"Authorization": f"Bearer {master_key}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[:300]
    prompt = proxy_emulator.requests[-1]["input_ids"]
    assert prompt[-4:] == [151667, 271, 151668, 271]  # thinking switched off: an empty <think></think> block


def test_proxy_forces_a_named_tool_call(proxy, proxy_emulator):
    base, master_key = proxy
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=master_key)
    proxy_emulator.script('<tool_call>\n{"name":"get_weather", "arguments":{"city": "Paris"}}\n</tool_call>')
    response = client.chat.completions.create(
        model="qwen3",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    tag = json.loads(proxy_emulator.requests[-1]["sampling_params"]["structural_tag"])
    assert [structure["begin"] for structure in tag["structures"]] == [
        '<tool_call>\n{"name":"get_weather", "arguments":'
    ]
    (call,) = response.choices[0].message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})


async def test_router_streams(emulator, monkeypatch):
    monkeypatch.setenv("SGLANG_API_BASE", emulator.url)
    sglang_native_provider.register()
    model_list = yaml.safe_load((EXAMPLES / "router_config.yaml").read_text())["model_list"]
    router = litellm.Router(model_list=model_list)
    emulator.script("Streamed through the router.")
    stream = await router.acompletion(model="qwen3", messages=[{"role": "user", "content": "hi"}], stream=True)
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Streamed through the router."
    assert emulator.requests[-1]["stream"] is True


def test_proxy_streams_with_token_metadata(proxy, proxy_emulator):
    emulator = proxy_emulator
    base, master_key = proxy
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=master_key)
    emulator.script("Proxied stream.")
    stream = client.chat.completions.create(
        model="qwen3", messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Proxied stream."
    fields = [
        c.choices[0].delta.model_extra.get("provider_specific_fields")
        for c in chunks
        if c.choices and c.choices[0].delta.model_extra.get("provider_specific_fields")
    ]
    assert fields and set(fields[-1]) >= TOKEN_KEYS
    assert [c.usage for c in chunks if c.usage][-1].completion_tokens == len(fields[-1]["completion_token_ids"])


def test_proxy_continues_on_exact_tokens(proxy, proxy_emulator):
    """The metadata travels inside the message through the proxy's JSON and back."""
    base, master_key = proxy
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {master_key}"}, timeout=60)
    proxy_emulator.script("Paris.", "Tokyo.")
    messages = [{"role": "user", "content": "Where?"}]
    first = client.post("/v1/chat/completions", json={"model": "qwen3", "messages": messages}).json()
    assistant = first["choices"][0]["message"]
    messages += [assistant, {"role": "user", "content": "And then?"}]
    second = client.post("/v1/chat/completions", json={"model": "qwen3", "messages": messages}).json()
    fields = assistant["provider_specific_fields"]
    turn = fields["prompt_token_ids"] + fields["completion_token_ids"]
    assert proxy_emulator.requests[-1]["input_ids"][: len(turn)] == turn
    second_fields = second["choices"][0]["message"]["provider_specific_fields"]
    assert second_fields["template_drift"]["detected"] is False
    assert "continuation_warning" not in second_fields
