"""The OpenAI Agents SDK's own OpenAI models (Chat Completions and Responses) against the LiteLLM proxy running
examples/proxy_config.yaml: one worker with the ledger in a SQLite file, and two workers (``--num_workers 2``)
sharing the Redis store, each turn on a new connection so that either worker may serve it. The session is named
by an ``X-Session-ID`` header (``ModelSettings.extra_headers``), or not at all: the proxy records the turns
under the conversation's own session. Neither model sends our metadata back; the ledger is read back here."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from _frameworks import after_blank_line, assert_exact_session
from _redis import start_redis, stop_redis
from _support import TWO_PROXY_WORKERS, litellm_proxy

from sglang_native_provider.emulator import Emulator
from sglang_native_provider.session import CONVERSATION_PREFIX
from sglang_native_provider.sessions import open_store

agents = pytest.importorskip("agents", reason="pip install -c constraints.txt -e '.[agents]'")
openai = pytest.importorskip("openai")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPT = [after_blank_line("I will look it up.", "get_weather", city="Paris"), "It is sunny in Paris."]
MODELS = {"chat": agents.OpenAIChatCompletionsModel, "responses": agents.OpenAIResponsesModel}
# two workers each import LiteLLM and the provider: on 2 busy cores the proxy took 163 s to answer
TWO_WORKERS_STARTUP = 400  # seconds


@agents.function_tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


@pytest.fixture(scope="module", params=["sqlite", "redis-2-workers"])
def served(request, tmp_path_factory):
    redis = None
    if request.param == "sqlite":
        store, args, timeout = f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'sessions.db'}", (), 120
    else:
        redis, store = start_redis(str(tmp_path_factory.mktemp("redis")))
        args, timeout = TWO_PROXY_WORKERS, TWO_WORKERS_STARTUP
    try:
        with Emulator("qwen3") as emulator:
            env = {"SGLANG_API_BASE": emulator.url, "SGLANG_NATIVE_SESSION_STORE": store}
            with litellm_proxy(EXAMPLES / "proxy_config.yaml", env, *args, startup_timeout=timeout) as (base, key):
                yield emulator, base, key, store
    finally:
        if redis is not None:
            stop_redis(redis)


def conversation_recorded(store, before: set[str]) -> str:
    """The one session the run added to ``store``: its conversation's own (the question is new to the store)."""
    added = [session for session in store.sessions() if session not in before]
    assert len(added) == 1 and added[0].startswith(CONVERSATION_PREFIX), f"sessions added: {added}"
    return added[0]


@pytest.mark.parametrize("api", list(MODELS))
async def test_agent_through_the_proxy_continues_on_the_exact_tokens(served, session, api):
    emulator, base, key, url = served
    store = open_store(url)
    before = set(store.sessions())
    emulator.script(*SCRIPT)
    first_request = len(emulator.requests)
    # no keep-alive: each request is a new connection, accepted by either worker of a two-worker proxy
    http = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0))
    client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, http_client=http)
    agent = agents.Agent(
        name="weather",
        instructions="Answer with the weather.",
        tools=[get_weather],
        model=MODELS[api](model="qwen3", openai_client=client),
        model_settings=agents.ModelSettings(extra_headers={"X-Session-ID": session} if session else None),
    )
    # a question of its own: a conversation that names no session is known by its opening
    question = f"Weather in Paris? ({uuid.uuid4().hex[:8]})"
    result = await agents.Runner.run(agent, question, max_turns=3, run_config=agents.RunConfig(tracing_disabled=True))
    await http.aclose()

    assert result.final_output == "It is sunny in Paris."
    recorded = session if session is not None else conversation_recorded(store, before)
    seen = SimpleNamespace(requests=emulator.requests[first_request:], tokenizer=emulator.tokenizer)
    assert_exact_session(seen, recorded, SCRIPT, store=store)
    turns = store.turns(recorded)
    assert [turn.continuation for turn in turns] == ["new", "ledger"]
    # either worker may serve either turn (not asserted: nothing guarantees a turn to each; see pytest -s)
    print(f"workers that recorded the turns: {[turn.recorded_by for turn in turns]}")
