"""This provider's own work, side by side with LiteLLM's floor making the same request (run by hand; writes
benchmarks/results/side_by_side.json).

At concurrency 1, in interleaved rounds (one request of each scenario per round, so a busy machine slows all of
them alike): the raw ``POST /generate`` with the prompt ids (``floor``), LiteLLM with a canned provider that makes
that raw request (``litellm_floor_io``), and this provider (``native``). Conversations are sent as plain OpenAI
dicts, without token metadata and without a session: a short tool-using chat, a 50-message chat whose assistant
turns this provider wrote (continued through the conversation ledger), and the same 50 messages with assistant
turns it never saw (rendered by the chat template, once). Own work = (native - litellm_floor_io) / floor.

Then the per-turn preparation of 50-turn rollouts without metadata or session (the first preparation of each
turn, as it happens inside the call): a chat the provider answers, and one whose assistant turns are foreign.
Usage: ``python benchmarks/side_by_side.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

import bench
import httpx
import litellm
from soak import emulator_process

import sglang_native_provider
from sglang_native_provider import provider
from sglang_native_provider.emulator import Emulator
from sglang_native_provider.request import prepare

RESULTS = Path(__file__).parent / "results" / "side_by_side.json"
SCENARIOS = ("floor", "litellm_floor_io", "native")
TURNS = 50
ROLLOUTS = 5


def foreign(messages: list[dict]) -> list[dict]:
    """The same conversation with assistant turns this provider never wrote."""
    return [
        {**message, "content": f"(foreign) {message['content']}"} if message["role"] == "assistant" else message
        for message in messages
    ]


async def side_by_side(url: str, messages: list[dict], rounds: int, client: httpx.AsyncClient) -> dict:
    options = {k: v for k, v in bench.native_settings(url).items() if k not in ("model", "api_base")}
    ids = prepare(model="qwen3", messages=messages, api_base=url, api_key=None, optional_params=options).prompt.ids
    requests = {
        name: request for name, request in bench.scenarios(url, messages, ids, client).items() if name in SCENARIOS
    }
    times: dict[str, list[float]] = {name: [] for name in SCENARIOS}
    for name in SCENARIOS:  # warm up connections and caches
        for _ in range(10):
            await requests[name]()
    for _ in range(rounds):
        for name in SCENARIOS:
            start = time.perf_counter()
            await requests[name]()
            times[name].append(time.perf_counter() - start)
    p50 = {name: statistics.median(values) * 1e3 for name, values in times.items()}
    return {
        "prompt_tokens": len(ids),
        "messages": len(messages),
        "p50_ms": p50,
        "own_work_ms": p50["native"] - p50["litellm_floor_io"],
        "own_work_over_floor": (p50["native"] - p50["litellm_floor_io"]) / p50["floor"],
    }


async def per_turn(foreign_turns: bool) -> dict:
    """Each turn's preparation, timed inside the call, over 50-turn chats without metadata or session: the
    median over ``ROLLOUTS`` rollouts (each opening differently, so nothing is shared between them)."""
    timed: list[float] = []

    def timing_prepare(**kwargs):
        start = time.perf_counter()
        try:
            return prepare(**kwargs)
        finally:
            timed.append(time.perf_counter() - start)

    provider.prepare = timing_prepare
    rollouts = []
    try:
        async with Emulator("qwen3") as emulator:
            settings = {**bench.native_settings(emulator.url), "max_tokens": 32}
            for rollout in range(ROLLOUTS):
                emulator.script(*(f"Step {turn} of the plan, in a few words." for turn in range(TURNS)))
                messages: list[dict] = [bench.SHORT[0], {"role": "user", "content": f"Plan trip {rollout}."}]
                timed.clear()
                for turn in range(TURNS):
                    response = await litellm.acompletion(messages=messages, **settings)
                    answer = response.choices[0].message.content
                    messages += [
                        {"role": "assistant", "content": f"(foreign) {answer}" if foreign_turns else answer},
                        {"role": "user", "content": f"Go on ({turn})."},
                    ]
                rollouts.append([value * 1e3 for value in timed])
    finally:
        provider.prepare = prepare
    ms = [statistics.median(values) for values in zip(*rollouts, strict=True)]
    early, late = statistics.median(ms[1:6]), statistics.median(ms[-5:])
    return {"prepare_ms": ms, "turns_2_to_6_ms": early, "turns_46_to_50_ms": late, "ratio": late / early}


async def run(rounds: int) -> dict:
    sglang_native_provider.register()
    litellm.custom_provider_map = [
        *litellm.custom_provider_map,
        {"provider": "canned_io", "custom_handler": bench.CANNED_WITH_IO},
    ]
    results: dict = {"machine": bench._machine(), "rounds": rounds, "conversations": {}}
    with emulator_process() as url:
        chat = bench.plain(await bench.long_conversation(url, 25))  # system + 49 messages, no metadata
        conversations = {"short": bench.SHORT, "chat_50_messages": chat, "chat_50_foreign_turns": foreign(chat)}
        async with httpx.AsyncClient(timeout=60) as client:
            for name, messages in conversations.items():
                results["conversations"][name] = await side_by_side(url, messages, rounds, client)
                print(name, json.dumps(results["conversations"][name]))
    results["per_turn"] = {"own_turns": await per_turn(False), "foreign_turns": await per_turn(True)}
    for name, row in results["per_turn"].items():
        print(name, f"{row['turns_2_to_6_ms']:.2f} -> {row['turns_46_to_50_ms']:.2f} ms ({row['ratio']:.2f}x)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    return results


def table(results: dict) -> list[str]:
    """The Markdown rows docs/benchmarks.md reports (``tests/test_benchmarks_doc.py`` checks they are there)."""
    rows = [
        "| conversation | prompt tokens | raw request p50 | LiteLLM floor with it | this provider | own work / raw |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in results["conversations"].items():
        p50 = row["p50_ms"]
        rows.append(
            f"| {name.replace('_', ' ')} | {row['prompt_tokens']} | {p50['floor']:.2f} ms |"
            f" {p50['litellm_floor_io']:.2f} ms | {p50['native']:.2f} ms | {row['own_work_over_floor']:.2f}x |"
        )
    rows += ["", "| 50-turn rollout, no metadata, no session | preparation, turns 2-6 | turns 46-50 | ratio |"]
    rows.append("|---|---|---|---|")
    for name, row in results["per_turn"].items():
        rows.append(
            f"| {name.replace('_', ' ')} | {row['turns_2_to_6_ms']:.2f} ms | {row['turns_46_to_50_ms']:.2f} ms |"
            f" {row['ratio']:.2f}x |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300, help="requests per scenario and conversation")
    asyncio.run(run(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
