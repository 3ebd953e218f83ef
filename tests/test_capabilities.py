"""What LiteLLM is told about sglang_native models, and a session's turns sticking to one worker."""

from __future__ import annotations

import uuid
from collections import Counter

import litellm
import pytest

import sglang_native_provider
from sglang_native_provider.emulator import Emulator


def unique_model() -> str:
    return f"qwen3-{uuid.uuid4().hex[:8]}"


def test_registered_models_support_tools_at_no_cost():
    model = unique_model()
    assert not litellm.supports_function_calling(f"sglang_native/{model}")
    sglang_native_provider.register(model)
    assert litellm.supports_function_calling(f"sglang_native/{model}")
    # Reasoning is not declared: frameworks would send reasoning_effort, which LiteLLM refuses for custom providers
    assert not litellm.supports_reasoning(f"sglang_native/{model}")
    assert litellm.supports_response_schema(f"sglang_native/{model}")
    assert litellm.get_model_info(f"sglang_native/{model}")["input_cost_per_token"] == 0.0


async def test_a_model_is_registered_at_its_first_call_and_costs_nothing(emulator):
    sglang_native_provider.register()
    model = unique_model()
    emulator.script("Hi.")
    response = await litellm.acompletion(
        model=f"sglang_native/{model}",
        api_base=emulator.url,
        tokenizer="offline:qwen3",
        messages=[{"role": "user", "content": "Hello"}],
    )
    assert litellm.completion_cost(response) == 0.0  # raised ModelNotMappedError for unmapped models
    assert litellm.supports_function_calling(f"sglang_native/{model}")


def test_the_users_own_pricing_is_kept():
    model = unique_model()
    litellm.register_model(
        {f"sglang_native/{model}": {"litellm_provider": "sglang_native", "mode": "chat", "input_cost_per_token": 2e-6}}
    )
    sglang_native_provider.register(model)
    assert litellm.get_model_info(f"sglang_native/{model}")["input_cost_per_token"] == 2e-6


async def test_a_router_deployment_gets_the_capabilities_too(emulator):
    # The Router puts each deployment in LiteLLM's map with every field None before any call.
    sglang_native_provider.register()
    model = unique_model()
    router = litellm.Router(
        model_list=[
            {
                "model_name": "m",
                "litellm_params": {
                    "model": f"sglang_native/{model}",
                    "api_base": emulator.url,
                    "tokenizer": "offline:qwen3",
                },
            }
        ]
    )
    emulator.script("Hi.")
    response = await router.acompletion(model="m", messages=[{"role": "user", "content": "Hello"}])
    assert litellm.supports_function_calling(f"sglang_native/{model}")
    assert litellm.completion_cost(response) == 0.0


@pytest.fixture
def workers():
    with Emulator("qwen3") as one, Emulator("qwen3") as two, Emulator("qwen3") as three:
        yield [one, two, three]


async def test_with_session_affinity_a_sessions_turns_stay_on_one_worker(workers):
    sglang_native_provider.register()
    router = litellm.Router(
        model_list=[
            {
                "model_name": "qwen3",
                "litellm_params": {
                    "model": "sglang_native/qwen3",
                    "api_base": worker.url,
                    "tokenizer": "offline:qwen3",
                },
            }
            for worker in workers
        ],
        optional_pre_call_checks=["session_affinity"],
    )
    sessions = [f"affinity-{index}-{uuid.uuid4().hex[:6]}" for index in range(12)]
    for _turn in range(3):
        for session_id in sessions:
            await router.acompletion(
                model="qwen3",
                messages=[{"role": "user", "content": f"Turn of {session_id}"}],
                metadata={"session_id": session_id},
            )
    placements = {
        session_id: Counter(
            index
            for index, worker in enumerate(workers)
            for body in worker.requests
            if body.get("session_id") == session_id
        )
        for session_id in sessions
    }
    assert all(sum(counts.values()) == 3 and len(counts) == 1 for counts in placements.values()), placements
    used = {next(iter(counts)) for counts in placements.values()}
    assert len(used) > 1, "sessions were not spread over the workers"
    assert all(body["routing_key"] == body["session_id"] for worker in workers for body in worker.requests)
