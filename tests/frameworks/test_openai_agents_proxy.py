"""The OpenAI Agents SDK's own OpenAI models (Chat Completions and Responses) against the LiteLLM proxy running
examples/proxy_config.yaml, the session named by an ``X-Session-ID`` header (``ModelSettings.extra_headers``).
Neither sends our metadata back; the proxy's ledger is a SQLite file, read back here."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from _frameworks import after_blank_line, assert_exact_session
from _support import litellm_proxy

from sglang_native_provider.emulator import Emulator
from sglang_native_provider.sessions import open_store

agents = pytest.importorskip("agents", reason="pip install -c constraints.txt -e '.[agents]'")
openai = pytest.importorskip("openai")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPT = [after_blank_line("I will look it up.", "get_weather", city="Paris"), "It is sunny in Paris."]
MODELS = {"chat": agents.OpenAIChatCompletionsModel, "responses": agents.OpenAIResponsesModel}


@agents.function_tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    store = f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'sessions.db'}"
    with Emulator("qwen3") as emulator:
        env = {"SGLANG_API_BASE": emulator.url, "SGLANG_NATIVE_SESSION_STORE": store}
        with litellm_proxy(EXAMPLES / "proxy_config.yaml", env) as (base, key):
            yield emulator, base, key, store


@pytest.mark.parametrize("api", list(MODELS))
async def test_agent_through_the_proxy_continues_on_the_exact_tokens(served, session_id, api):
    emulator, base, key, store = served
    emulator.script(*SCRIPT)
    first_request = len(emulator.requests)
    client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
    agent = agents.Agent(
        name="weather",
        instructions="Answer with the weather.",
        tools=[get_weather],
        model=MODELS[api](model="qwen3", openai_client=client),
        model_settings=agents.ModelSettings(extra_headers={"X-Session-ID": session_id}),
    )
    result = await agents.Runner.run(
        agent, "Weather in Paris?", max_turns=3, run_config=agents.RunConfig(tracing_disabled=True)
    )

    assert result.final_output == "It is sunny in Paris."
    seen = SimpleNamespace(requests=emulator.requests[first_request:], tokenizer=emulator.tokenizer)
    assert_exact_session(seen, session_id, SCRIPT, store=open_store(store))
    turns = open_store(store).turns(session_id)
    assert [turn.continuation for turn in turns] == ["new", "ledger"]
