"""The session ledger's cost, for a client that drops our metadata (run by hand; writes benchmarks/results/).

Plays a 50-turn tool rollout the way most agent frameworks do (each assistant message sent back as the
framework's own dict, without ``provider_specific_fields``) against the in-process emulator, with a session
id, and measures for each turn:
- the provider's preparation with the session (the ledger finds the last turn, the prompt continues on its
  exact tokens), without it (the whole conversation re-rendered, as before the ledger), and for a client
  that keeps our metadata on the messages (exact continuation without the ledger), for comparison;
- the ledger's own work per call (lookup + classification + recording one choice) in each store: in process,
  SQLite (a file in a temporary directory) and Redis (a ``redis-server`` on loopback, if installed).
Usage: ``python benchmarks/ledger_cost.py``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import litellm

import sglang_native_provider
from sglang_native_provider.continuation import last_assistant
from sglang_native_provider.demo import WEATHER_TOOL
from sglang_native_provider.emulator import Emulator
from sglang_native_provider.fingerprints import HistoryKeys
from sglang_native_provider.ledger import Ledger
from sglang_native_provider.messages import normalize_messages
from sglang_native_provider.request import prepare as prepare_call
from sglang_native_provider.sessions import open_store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _redis import start_redis, stop_redis  # the tests' redis-server launcher

TURNS = 50
REPEATS = 5
LEDGER_REPEATS = 50
RESULTS = Path(__file__).parent / "results" / "ledger_cost.json"
CALL = 'Checking.\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
TOOLS = [WEATHER_TOOL]


def plain(message) -> dict:
    return {
        "role": "assistant",
        "content": message.content,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
            for c in message.tool_calls
        ],
    }


def median_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def ledger_call_ms(store, session_id: str, messages: list) -> float:
    """One call's ledger work at this point of the session: find the last turn, classify, record a choice."""
    ledger = Ledger(store)
    normalized = normalize_messages(messages, "qwen3")
    index = last_assistant(normalized)
    scratch = f"scratch-{uuid.uuid4().hex[:8]}"

    def work() -> None:
        keys = HistoryKeys.of(normalized, TOOLS, {}, index)
        fields = ledger.find(session_id, normalized, index, keys)
        recording = ledger.recording(
            scratch,
            keys.whole,
            fields["prompt_token_ids"],
            continued_from=fields,
            source="ledger",
            rerendered=False,
            has_history=True,
        )
        ledger.record(recording, [(fields, "Checking.", None, [("get_weather", '{"city": "Paris"}')])])

    return median_ms(work, LEDGER_REPEATS)


async def run() -> dict:
    sglang_native_provider.register()
    session_id = f"bench-{uuid.uuid4().hex[:8]}"
    rows = []
    checkpoints: dict[int, list] = {}
    async with Emulator("qwen3") as emulator:
        emulator.script(*([CALL] * TURNS))
        messages = [{"role": "user", "content": "Check the weather in Paris again and again."}]
        options = {"tokenizer": "offline:qwen3", "tools": TOOLS}
        session = {"metadata": {"session_id": session_id}}
        exact_messages = list(messages)  # the same conversation, our metadata kept on each message
        for turn in range(1, TURNS + 1):

            def prepare(litellm_params, messages=messages):
                prepare_call(
                    model="qwen3",
                    messages=messages,
                    api_base=emulator.url,
                    api_key=None,
                    optional_params=dict(options),
                    litellm_params=litellm_params,
                )

            with_ledger = median_ms(lambda: prepare(session), REPEATS)
            rerendered = median_ms(lambda: prepare({}), REPEATS)
            exact = median_ms(functools.partial(prepare, {}, exact_messages), REPEATS)
            response = await litellm.acompletion(
                model="sglang_native/qwen3",
                api_base=emulator.url,
                messages=messages,
                metadata=session["metadata"],
                **options,
            )
            message = response.choices[0].message
            fields = message.provider_specific_fields
            rows.append(
                {
                    "turn": turn,
                    "prompt_tokens": len(fields["prompt_token_ids"]),
                    "continuation": fields["continuation"],
                    "prepare_ms_ledger": with_ledger,
                    "prepare_ms_rerendered": rerendered,
                    "prepare_ms_metadata_kept": exact,
                }
            )
            result = {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny"}
            messages = [*messages, plain(message), result]
            exact_messages = [*exact_messages, message, result]
            if turn in (2, TURNS):
                checkpoints[turn] = list(messages)
    memory = open_store("memory")
    turns = memory.turns(session_id)
    stores = {"memory": memory}
    with tempfile.TemporaryDirectory() as directory:
        stores["sqlite"] = open_store(f"sqlite://{Path(directory) / 'ledger.db'}")
        redis_process = None
        try:
            redis_process, redis_url = start_redis(directory)
            stores["redis"] = open_store(redis_url)
        except BaseException as exc:  # no redis-server here: pytest.skip raises a BaseException
            print(f"Redis not measured: {exc}")
        try:
            for name, store in stores.items():
                if name != "memory":
                    for turn in turns:
                        store.add(turn)
            ledger = {
                f"ledger_ms_turn_{turn}_{name}": ledger_call_ms(store, session_id, checkpoints[turn])
                for turn in (2, TURNS)
                for name, store in stores.items()
            }
        finally:
            if redis_process is not None:
                stop_redis(redis_process)
    second, last = rows[1], rows[-1]
    summary = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "turns": TURNS,
        "prompt_tokens_turn_50": last["prompt_tokens"],
        "continued_turns": sum(row["continuation"] == "ledger" for row in rows),
        "prepare_ms_turn_2_ledger": second["prepare_ms_ledger"],
        "prepare_ms_turn_50_ledger": last["prepare_ms_ledger"],
        "prepare_ms_turn_2_rerendered": second["prepare_ms_rerendered"],
        "prepare_ms_turn_50_rerendered": last["prepare_ms_rerendered"],
        "prepare_ms_turn_2_metadata_kept": second["prepare_ms_metadata_kept"],
        "prepare_ms_turn_50_metadata_kept": last["prepare_ms_metadata_kept"],
        "prepare_ratio_50_to_2_ledger": last["prepare_ms_ledger"] / second["prepare_ms_ledger"],
        "prepare_ratio_50_to_2_metadata_kept": last["prepare_ms_metadata_kept"] / second["prepare_ms_metadata_kept"],
        "prepare_ratio_50_to_2_rerendered": last["prepare_ms_rerendered"] / second["prepare_ms_rerendered"],
        **ledger,
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=1))
    return summary


def main() -> None:
    summary = asyncio.run(run())
    for key, value in summary.items():
        if key != "rows":
            print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main()
