"""Prefix-cache hits behind SGLang's model gateway (``smg``), per routing policy (run by hand; writes
benchmarks/results/gateway_cache.json).

64 sessions x 10 turns over 4 emulator workers behind ``smg launch``: each session runs its turns in order, the
sessions concurrently. Each worker's emulator keeps its own prefix cache (a token trie of the prompts and outputs
it served), so ``cached_tokens`` counts what that worker already held. Measured per scenario: the fraction of
prompt tokens served from cache (all turns, and turns 6-10: after the kill where a worker is killed after turn 5),
requests/s, and the turns that failed.
Usage: ``python benchmarks/gateway_cache.py`` (needs the ``test`` extra's ``smg``).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import litellm
from _gateway import gateway, healthy_workers

import sglang_native_provider
from sglang_native_provider.emulator import Emulator

SESSIONS, TURNS, WORKERS, KILL_AFTER = 64, 10, 4, 5
RESULTS = Path(__file__).parent / "results" / "gateway_cache.json"
SCENARIOS = (  # (name, policy, a worker killed after turn KILL_AFTER)
    ("consistent_hashing + routing key", "consistent_hashing", False),
    ("round_robin", "round_robin", False),
    ("consistent_hashing + routing key, worker killed", "consistent_hashing", True),
    ("round_robin, worker killed", "round_robin", True),
)


@dataclass
class Outcome:
    """One scenario's figures."""

    scenario: str
    requests: int
    failed: int
    prompt_tokens: int
    cached_tokens: int
    cached_fraction: float
    cached_fraction_turns_6_10: float
    requests_per_second: float


class Tally:
    """Prompt and cached tokens of the answered turns, before and after the kill."""

    def __init__(self) -> None:
        self.prompt = [0, 0]
        self.cached = [0, 0]
        self.requests = self.failed = 0

    def add(self, fields: dict, late: bool) -> None:
        self.requests += 1
        self.prompt[late] += len(fields["prompt_token_ids"])
        self.cached[late] += fields.get("cached_tokens") or 0


async def turns(url: str, session: int, span: range, history: list, tally: Tally, late: bool) -> None:
    """The session's turns in ``span``; a failed turn is counted and sent once more."""
    for turn in span:
        history.append({"role": "user", "content": f"Turn {turn} of session {session}: what next, and why?"})
        for _attempt in range(2):
            try:
                response = await litellm.acompletion(
                    model="sglang_native/qwen3",
                    api_base=url,
                    tokenizer="offline:qwen3",
                    messages=history,
                    max_tokens=24,
                    metadata={"session_id": f"bench-{session}"},
                )
            except litellm.exceptions.APIError:
                tally.failed += 1
                continue
            message = response.choices[0].message
            tally.add(message.provider_specific_fields, late)
            history.append(message.model_dump())
            break
        else:
            history.pop()  # unanswered: the next turn asks again


async def wait_for_healthy(url: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while await asyncio.to_thread(healthy_workers, url) != count and time.monotonic() < deadline:
        await asyncio.sleep(0.2)


async def scenario(name: str, policy: str, kill: bool, sessions: int = SESSIONS) -> Outcome:
    pool = [Emulator("qwen3", seed=index).start() for index in range(WORKERS)]
    tally = Tally()
    try:
        with gateway(pool, policy) as url:
            histories: list[list] = [[] for _ in range(sessions)]
            start = time.perf_counter()
            first, rest = range(1, KILL_AFTER + 1), range(KILL_AFTER + 1, TURNS + 1)
            await asyncio.gather(*(turns(url, s, first, histories[s], tally, False) for s in range(sessions)))
            if kill:
                await asyncio.to_thread(pool[0].stop)  # the gateway learns it from its next health check or call
            await asyncio.gather(*(turns(url, s, rest, histories[s], tally, True) for s in range(sessions)))
            elapsed = time.perf_counter() - start
    finally:
        for emulator in pool:
            emulator.stop()
    prompt, cached = sum(tally.prompt), sum(tally.cached)
    return Outcome(
        scenario=name,
        requests=tally.requests,
        failed=tally.failed,
        prompt_tokens=prompt,
        cached_tokens=cached,
        cached_fraction=cached / prompt,
        cached_fraction_turns_6_10=tally.cached[1] / tally.prompt[1],
        requests_per_second=tally.requests / elapsed,
    )


def table(results: dict) -> list[str]:
    """The Markdown table docs/benchmarks.md shows for these results."""
    lines = [
        "| scenario | prompt tokens from cache | turns 6-10 (after the kill) | req/s | failed turns (retried) |",
        "|---|---|---|---|---|",
    ]
    for row in results["scenarios"]:
        lines.append(
            f"| {row['scenario']} | {row['cached_fraction']:.1%} | {row['cached_fraction_turns_6_10']:.1%} "
            f"| {row['requests_per_second']:.0f} | {row['failed']} |"
        )
    return lines


async def run() -> dict:
    sglang_native_provider.register()
    await scenario("warm-up", "round_robin", False, sessions=4)  # loads what the first call loads, not timed
    outcomes = [await scenario(*spec) for spec in SCENARIOS]
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "sessions": SESSIONS,
        "turns": TURNS,
        "workers": WORKERS,
        "kill_after_turn": KILL_AFTER,
        "scenarios": [asdict(outcome) for outcome in outcomes],
    }
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    print("\n".join(table(asyncio.run(run()))))
