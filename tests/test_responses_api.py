"""``litellm.responses`` / ``aresponses`` through this provider: the caller's ``metadata`` names the session
(LiteLLM's Responses bridge kept it to itself; ``responses_bridge.py``), whole and streamed, and a multi-turn
Responses conversation continues exactly in that session."""

from __future__ import annotations

import litellm
import pytest
from litellm.responses.litellm_completion_transformation.transformation import LiteLLMCompletionResponsesConfig

import sglang_native_provider
from sglang_native_provider import Trajectory
from sglang_native_provider.responses_bridge import install

SETTINGS = {"model": "sglang_native/qwen3", "tokenizer": "offline:qwen3"}


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


async def test_metadata_session_id_names_the_session_and_turns_continue_in_it(emulator):
    emulator.script("Paris is sunny.", "Tomorrow too.")
    first = await litellm.aresponses(
        input="Weather in Paris?", api_base=emulator.url, metadata={"session_id": "responses-1"}, **SETTINGS
    )
    assert emulator.requests[-1]["routing_key"] == "responses-1"
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": first.output[0].content[0].text},
        {"role": "user", "content": "And tomorrow?"},
    ]
    await litellm.aresponses(input=history, api_base=emulator.url, metadata={"session_id": "responses-1"}, **SETTINGS)
    (trajectory,) = Trajectory.from_session("responses-1")
    assert [turn.continuation for turn in trajectory.turns] == ["new", "ledger"]
    first_turn = trajectory.turns[0]
    second_prompt = emulator.requests[-1]["input_ids"]
    assert second_prompt[: len(first_turn.prompt_ids) + len(first_turn.completion_ids)] == [
        *first_turn.prompt_ids,
        *first_turn.completion_ids,
    ]


async def test_a_streamed_response_names_the_session_too(emulator):
    emulator.script("Streamed.")
    stream = await litellm.aresponses(
        input="Hello", api_base=emulator.url, metadata={"session_id": "responses-2"}, stream=True, **SETTINGS
    )
    events = [event async for event in stream]
    assert events and emulator.requests[-1]["routing_key"] == "responses-2"
    assert len(Trajectory.from_session("responses-2")) == 1


def test_other_providers_requests_are_left_as_litellm_makes_them():
    install()
    transform = LiteLLMCompletionResponsesConfig.transform_responses_api_request_to_chat_completion_request
    asked = {"metadata": {"session_id": "s"}}
    ours = transform(model="qwen3", input="Hi", responses_api_request=asked, custom_llm_provider="sglang_native")
    theirs = transform(model="gpt-x", input="Hi", responses_api_request=asked, custom_llm_provider="openai")
    assert ours["metadata"] == {"session_id": "s"}
    assert theirs.get("metadata") is None


def test_installing_twice_wraps_once():
    install()
    wrapped = LiteLLMCompletionResponsesConfig.transform_responses_api_request_to_chat_completion_request
    assert install() is True
    assert LiteLLMCompletionResponsesConfig.transform_responses_api_request_to_chat_completion_request is wrapped
