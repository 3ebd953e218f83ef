"""smolagents' ToolCallingAgent over LiteLLMModel: it rebuilds its history as text ("Calling tools: [...]",
observations as user messages), so each call is its own exact sample and the boundary is marked."""

from __future__ import annotations

import pytest
from _frameworks import MODEL, TOKENIZER, after_blank_line, assert_per_call_samples, session_metadata, tool_call

smolagents = pytest.importorskip("smolagents", reason="pip install -c constraints.txt -e '.[agents]'")
tool = smolagents.tool

SCRIPT = [
    after_blank_line("I will look it up.", "get_weather", city="Paris"),
    tool_call("final_answer", answer="Sunny in Paris."),
]


@tool
def get_weather(city: str) -> str:
    """Current weather for a city.

    Args:
        city: the city's name
    """
    return f"sunny in {city}"


def test_tool_calling_agent_gets_one_exact_sample_per_call(emulator, spy, session):
    emulator.script(*SCRIPT)
    # LiteLLMModel forwards its extra kwargs to every litellm.completion call
    model = smolagents.LiteLLMModel(MODEL, api_base=emulator.url, tokenizer=TOKENIZER, **session_metadata(session))
    agent = smolagents.ToolCallingAgent(tools=[get_weather], model=model, max_steps=3, verbosity_level=0)

    assert agent.run("Weather in Paris?") == "Sunny in Paris."

    assert spy.named() == [session] * 2
    assert [call.kwargs["tool_choice"] for call in spy.calls] == ["required"] * 2
    second = spy.calls[1].kwargs["messages"]
    assert not any(message.get("tool_calls") for message in second)  # the call came back as text
    assert "Calling tools:" in str(second[-2]["content"])
    assert_per_call_samples(emulator, spy.recorded_session(session), SCRIPT)
    assert spy.continuations() == ["new", "rerendered"]
    assert spy.warnings()[0] is None
    assert spy.warnings()[1], "a re-rendered turn of a named session must say why"
