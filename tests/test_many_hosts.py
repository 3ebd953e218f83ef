"""The deployment recipe of docs/scale-out.md: two LiteLLM proxies (standing for two hosts) sharing a Redis
ledger, in front of SGLang's model gateway (smg, ``consistent_hashing``) over emulator workers. One rollout whose
turns alternate between the proxies continues exactly, with a session named (every turn on one worker) and
without one (the conversation's own id, shared by both proxies through Redis)."""

from __future__ import annotations

import contextlib
import itertools
import uuid
from pathlib import Path

import httpx
import openai
import pytest
from _gateway import gateway
from _redis import start_redis
from _support import litellm_proxy

from sglang_native_provider.emulator import Emulator
from sglang_native_provider.sessions import open_store

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TURNS = 4


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    """(workers, [(proxy base URL, key), (..)], store URL): one Redis, one gateway, two proxies."""
    redis_process, store = start_redis(str(tmp_path_factory.mktemp("redis")))
    try:
        with contextlib.ExitStack() as stack:
            workers = [stack.enter_context(Emulator("qwen3")) for _ in range(2)]
            url = stack.enter_context(gateway(workers, "consistent_hashing"))
            env = {"SGLANG_API_BASE": url, "SGLANG_NATIVE_SESSION_STORE": store}
            key = f"sk-{uuid.uuid4().hex}"  # one deployment: its proxies share the master key
            config = EXAMPLES / "proxy_config.yaml"
            proxies = [stack.enter_context(litellm_proxy(config, env, master_key=key)) for _ in range(2)]
            yield workers, proxies, store
    finally:
        redis_process.terminate()
        redis_process.wait(timeout=20)


def _rollout(proxies, workers, session_id: str | None) -> None:
    """TURNS turns, turn i through proxy i % 2, each answered by the worker that serves it."""
    for worker in workers:
        worker.script(*(f"Step {turn} of the answer.\n" for turn in range(TURNS)))
    headers = {"X-Session-ID": session_id} if session_id else {}
    messages = [{"role": "user", "content": f"Plan a trip ({uuid.uuid4().hex[:8]})."}]
    for turn in range(TURNS):
        base, key = proxies[turn % 2]
        with openai.OpenAI(base_url=f"{base}/v1", api_key=key, http_client=httpx.Client()) as client:
            answer = client.chat.completions.create(model="qwen3", messages=messages, extra_headers=headers)
        messages += [
            {"role": "assistant", "content": answer.choices[0].message.content},
            {"role": "user", "content": "Go on."},
        ]


def _assert_one_exact_chain(turns) -> None:
    assert [turn.continuation for turn in turns] == ["new", *["ledger"] * (TURNS - 1)]
    for previous, turn in itertools.pairwise(turns):
        exact = [*previous.fields["prompt_token_ids"], *previous.fields["completion_token_ids"]]
        assert turn.fields["prompt_token_ids"][: len(exact)] == exact
        assert turn.recorded_by != previous.recorded_by  # the other proxy process recorded it


def test_a_named_session_alternating_between_two_proxies_is_exact_and_stays_on_one_worker(hosts):
    workers, proxies, store = hosts
    session_id = f"hosts-{uuid.uuid4().hex[:8]}"
    _rollout(proxies, workers, session_id)
    _assert_one_exact_chain(open_store(store).turns(session_id))
    served = sorted(sum(body.get("routing_key") == session_id for body in worker.requests) for worker in workers)
    assert served == [0, TURNS]  # consistent hashing on the session's routing key


def test_a_conversation_naming_no_session_alternating_between_two_proxies_is_exact(hosts):
    workers, proxies, store = hosts
    ledger = open_store(store)
    known = set(ledger.sessions())
    _rollout(proxies, workers, None)
    (conversation,) = [s for s in ledger.sessions() if s not in known and s.startswith("conversation-")]
    _assert_one_exact_chain(ledger.turns(conversation))
