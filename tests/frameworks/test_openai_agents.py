"""The OpenAI Agents SDK over LitellmModel, run and streamed: it keeps the conversation as Responses items and
converts them back to chat messages on each turn (text + tool calls, results as tool messages), without our
metadata."""

from __future__ import annotations

import pytest
from _frameworks import (
    MODEL,
    TOKENIZER,
    after_blank_line,
    assert_exact_session,
    assert_rerender_differs,
    assistant_messages_sent,
    session_metadata,
    tool_messages_sent,
)

agents = pytest.importorskip("agents", reason="pip install -c constraints.txt -e '.[agents]'")
litellm_model = pytest.importorskip("agents.extensions.models.litellm_model")

SCRIPT = [after_blank_line("I will look it up.", "get_weather", city="Paris"), "It is sunny in Paris."]


@agents.function_tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


async def run(agent, streamed: bool):
    config = agents.RunConfig(tracing_disabled=True)
    if not streamed:
        return await agents.Runner.run(agent, "Weather in Paris?", max_turns=3, run_config=config)
    result = agents.Runner.run_streamed(agent, "Weather in Paris?", max_turns=3, run_config=config)
    async for _ in result.stream_events():
        pass
    return result


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
async def test_litellm_model_continues_on_the_exact_tokens(emulator, spy, session, streamed):
    emulator.script(*SCRIPT)
    agent = agents.Agent(
        name="weather",
        instructions="Answer with the weather.",
        tools=[get_weather],
        model=litellm_model.LitellmModel(MODEL, base_url=emulator.url),
        # ModelSettings.metadata becomes litellm's metadata; extra_args are passed to litellm as they are
        model_settings=agents.ModelSettings(**session_metadata(session), extra_args={"tokenizer": TOKENIZER}),
    )
    result = await run(agent, streamed)

    assert result.final_output == "It is sunny in Paris."
    assert [call.kwargs.get("metadata") for call in spy.calls] == [session_metadata(session).get("metadata")] * 2
    assert [call.kwargs["stream"] for call in spy.calls] == [streamed] * 2
    (sent_back,) = assistant_messages_sent(spy.calls[1])
    assert sent_back["content"] == "I will look it up." and "provider_specific_fields" not in sent_back
    (result_sent,) = tool_messages_sent(spy.calls[1])
    assert result_sent["tool_call_id"] == sent_back["tool_calls"][0]["id"]
    assert_exact_session(emulator, spy.recorded_session(session), SCRIPT)
    assert_rerender_differs(spy.calls[1])
    assert spy.continuations()[1] == "ledger"
    assert spy.warnings() == [None, None]
