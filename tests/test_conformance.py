"""Conformance with SGLang's own published JSON contract.

SGLang 0.5.23 ships ``sglang/api/v1/api_types.py``, generated from its proto schema, which its HTTP
server uses to admit ``/generate`` bodies. This test downloads the pinned wheel once (cached), loads
that one file by path (importing ``sglang`` itself would need torch) and checks that:
- every request body the emulator received in a broad session is admitted by the contract,
- every response, stream event and error event the emulator sent decodes under the contract,
- our re-implemented contract rejects bad bodies with exactly SGLang's error text.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import sys
import zipfile

import httpx
import litellm
import pytest
from _support import pinned_sglang_wheel

import sglang_native_provider
from sglang_native_provider.contract import SAMPLING_PARAM_FIELDS, ContractError, check_generate_request
from sglang_native_provider.demo import SCRIPTED_TURNS, WEATHER_TOOL, run_demo
from sglang_native_provider.emulator import SGLANG_VERSION, Emulator
from sglang_native_provider.offline_tokenizers import cache_root

pytestmark = pytest.mark.conformance

CONTRACT_MEMBER = "sglang/api/v1/api_types.py"


@pytest.fixture(scope="session")
def api_types():
    pytest.importorskip("msgspec", reason="the contract module needs msgspec (in the test extra)")
    target = cache_root() / "sglang-wheel"
    target.mkdir(parents=True, exist_ok=True)
    contract_file = target / f"api_types-{SGLANG_VERSION}.py"
    if not contract_file.is_file():
        with zipfile.ZipFile(pinned_sglang_wheel()) as wheel:
            contract_file.write_bytes(wheel.read(CONTRACT_MEMBER))
    spec = importlib.util.spec_from_file_location("sglang_api_types_contract", contract_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_sampling_param_keys_match_the_contract(api_types):
    assert api_types._FIELDS_SamplingParams == SAMPLING_PARAM_FIELDS


BAD_BODIES = [
    [],
    "text",
    {"text": 5},
    {"text": ["a", 1]},
    {"input_ids": "abc"},
    {"input_ids": [1, "2"]},
    {"input_ids": [[1], [2, None]]},
    {"rid": 7, "text": "x"},
    {"stream": "yes", "text": "x"},
    {"stream": 1, "text": "x"},
    {"return_logprob": "true", "text": "x"},
    {"return_logprob": [True, 1], "text": ["x", "y"]},
    {"top_logprobs_num": 1.5, "text": "x"},
    {"logprob_start_len": "0", "text": "x"},
    {"return_text_in_logprobs": 1, "text": "x"},
    {"return_prompt_token_ids": None, "text": "x"},
    {"max_thinking_tokens": -1, "text": "x"},
    {"sampling_params": "greedy", "text": "x"},
    {"sampling_params": [{"n": 1}, 3], "text": ["x", "y"]},
    {"sampling_params": {"foo": 1}, "text": "x"},
    {"sampling_params": {"max_tokens": 5}, "text": "x"},
    {"sampling_params": {"temperature": "hot"}, "text": "x"},
    {"sampling_params": {"temperature": True}, "text": "x"},
    {"sampling_params": {"max_new_tokens": 1.5}, "text": "x"},
    {"sampling_params": {"stop": 3}, "text": "x"},
    {"sampling_params": {"stop": ["a", None]}, "text": "x"},
    {"sampling_params": {"stop_token_ids": 3}, "text": "x"},
    {"sampling_params": {"logit_bias": {"1": "x"}}, "text": "x"},
    {"sampling_params": {"logit_bias": [1]}, "text": "x"},
    {"sampling_params": {"json_schema": {"type": "object"}}, "text": "x"},
    {"sampling_params": {"watermark": {"enabled": True, "strength": 2}}, "text": "x"},
    {"sampling_params": {"choice": "a"}, "text": "x"},
    {"custom_labels": {"a": 1}, "text": "x"},
]


@pytest.mark.parametrize("body", BAD_BODIES, ids=[json.dumps(b)[:60] for b in BAD_BODIES])
def test_contract_errors_have_sglangs_text(api_types, body):
    with pytest.raises(api_types.JsonContractError) as theirs:
        api_types.GenerateRequest.from_json_value(body)
    with pytest.raises(ContractError) as ours:
        check_generate_request(body)
    assert str(ours.value) == str(theirs.value)


async def _sse_events(http: httpx.AsyncClient, body: dict) -> list[dict]:
    events = []
    async with http.stream("POST", "/generate", json=body) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(json.loads(line[6:]))
    return events


async def _exercise(emulator: Emulator) -> tuple[list, list, dict]:
    """A broad session: returns (responses, stream events, info endpoint bodies)."""
    rendered = emulator.tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True)
    prompt_ids = list(rendered["input_ids"])
    logprobs = {"return_logprob": True, "top_logprobs_num": 3, "return_text_in_logprobs": True}
    bodies = [
        {"input_ids": prompt_ids, "sampling_params": {"max_new_tokens": 100, "temperature": 0}},
        {"input_ids": prompt_ids, "sampling_params": {"max_new_tokens": 8}, **logprobs, "logprob_start_len": 0},
        {"text": "hello", "sampling_params": {"n": 2, "max_new_tokens": 4, "stop": ["."], "sampling_seed": 3}},
        {
            "text": ["a", "b"],
            "rid": ["x1", "x2"],
            "return_prompt_token_ids": True,
            "sampling_params": [{"max_new_tokens": 3}, {"max_new_tokens": 5, "stop_token_ids": [13]}],
        },
        {"input_ids": [[1, 2], [3]], "sampling_params": {"max_new_tokens": 2, "ignore_eos": True}},
        {"input_ids": prompt_ids, "sampling_params": {"max_new_tokens": 0}},
    ]
    responses, events = [], []
    async with httpx.AsyncClient(base_url=emulator.url, timeout=30) as http:
        for body in bodies:
            responses.append((await http.post("/generate", json=body)).json())
            events.extend(await _sse_events(http, {**body, "stream": True}))
        events.extend(await _sse_events(http, {"text": "x", "stream": True, "sampling_params": {"top_p": 5}}))
        long_body = {"text": "x", "rid": "abort-me", "stream": True, "sampling_params": {"ignore_eos": True}}
        streaming = asyncio.create_task(_sse_events(http, long_body))
        while "abort-me" not in emulator.running_rids:
            await asyncio.sleep(0.01)
        await http.post("/abort_request", json={"rid": "abort-me"})
        events.extend(await streaming)
        info = {
            "model_info": (await http.get("/model_info")).json(),
            "server_info": (await http.get("/server_info")).json(),
            "models": (await http.get("/v1/models")).json(),
        }
    return responses, events, info


async def test_emulator_traffic_conforms_to_the_contract(api_types):
    async with Emulator("qwen3", token_delay=0.001) as emulator:
        responses, events, info = await _exercise(emulator)
    for body in emulator.requests:
        api_types.GenerateRequest.from_json_value(body)
    flat = [item for response in responses for item in (response if isinstance(response, list) else [response])]
    for item in flat + [event for event in events if "error" not in event]:
        decoded = api_types.GenerateResponse.from_json_value(item)
        assert decoded.meta_info is not None and decoded.meta_info.id == item["meta_info"]["id"]
        if "output_token_logprobs" in item["meta_info"]:
            assert [e.token_id for e in decoded.meta_info.output_token_logprobs] == [
                e[1] for e in item["meta_info"]["output_token_logprobs"]
            ]
    finish_types = {
        type(api_types.GenerateResponse.from_json_value(e).meta_info.finish_reason).__name__
        for e in flat + events
        if "error" not in e
    }
    assert {"FinishStop", "FinishLength", "FinishAbort"} <= finish_types
    errors = [event for event in events if "error" in event]
    assert len(errors) == 1
    assert api_types.GenerateStreamError.from_json_value(errors[0]).error.code == 400
    api_types.GetModelInfoResponse.from_json_value(info["model_info"])
    api_types.GetServerInfoResponse.from_json_value(info["server_info"])
    api_types.ListModelsResponse.from_json_value(info["models"])


def test_the_providers_requests_are_admitted_by_the_contract(api_types):
    with Emulator("qwen3") as emulator:
        emulator.script(*SCRIPTED_TURNS)
        assert run_demo(api_base=emulator.url, api_key=None, out=io.StringIO()) == 0
        sglang_native_provider.register()
        litellm.completion(  # a forced call: structural tag and require_reasoning
            model="sglang_native/qwen3",
            api_base=emulator.url,
            tokenizer="offline:qwen3",
            messages=[{"role": "user", "content": "Weather?"}],
            tools=[WEATHER_TOOL],
            tool_choice="required",
        )
    assert len(emulator.requests) == 3
    for body in emulator.requests:
        decoded = api_types.GenerateRequest.from_json_value(body)
        assert decoded.input_ids == body["input_ids"] and decoded.return_logprob is True
    assert decoded.require_reasoning is True and json.loads(decoded.sampling_params.structural_tag)["at_least_one"]
