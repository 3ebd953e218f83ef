"""A LiteLLM proxy with two worker processes and the Redis session store: a session's consecutive turns
served by different workers still continue on the exact tokens (the ledger is shared, not per process)."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

import httpx
import openai
from _redis import redis_url  # noqa: F401  (fixture)
from _support import TWO_PROXY_WORKERS, litellm_proxy

from sglang_native_provider.emulator import Emulator
from sglang_native_provider.sessions import open_store

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EOS = 151645
MAX_SESSIONS = 8  # enough for consecutive turns to land on both workers (each new connection is accepted by either)


def test_turns_on_different_workers_continue_exactly(redis_url, qwen3_tokenizer):  # noqa: F811
    store = open_store(redis_url)
    crossings = 0
    with Emulator("qwen3") as emulator:
        env = {"SGLANG_API_BASE": emulator.url, "SGLANG_NATIVE_SESSION_STORE": redis_url}
        with litellm_proxy(EXAMPLES / "proxy_config.yaml", env, *TWO_PROXY_WORKERS) as (base, key):
            for number in range(MAX_SESSIONS):
                session_id = f"workers-{number}-{uuid.uuid4().hex[:6]}"
                first = len(emulator.requests)
                messages = [{"role": "user", "content": "Hello"}]
                for turn in range(3):
                    emulator.script(f"Answer number {turn}.\n")
                    # A new connection per turn, so that either worker may accept it.
                    with openai.OpenAI(base_url=f"{base}/v1", api_key=key, http_client=httpx.Client()) as client:
                        answer = client.chat.completions.create(
                            model="qwen3", messages=messages, extra_headers={"X-Session-ID": session_id}
                        )
                    content = answer.choices[0].message.content
                    messages += [{"role": "assistant", "content": content}, {"role": "user", "content": "More?"}]
                turns = store.turns(session_id)
                assert [t.continuation for t in turns] == ["new", "ledger", "ledger"]
                prompts = [body["input_ids"] for body in emulator.requests[first:]]
                for index in range(1, 3):
                    sampled = [*qwen3_tokenizer.encode(f"Answer number {index - 1}.\n", add_special_tokens=False), EOS]
                    assert prompts[index][: len(prompts[index - 1]) + len(sampled)] == prompts[index - 1] + sampled
                workers = [t.recorded_by for t in turns]
                crossings += sum(a != b for a, b in itertools.pairwise(workers))
                if crossings >= 2 and number >= 2:
                    break
    assert crossings >= 1, "every turn landed on the same worker: the test showed nothing"
