"""Per-turn client cost over a 50-turn tool-using rollout (run by hand; writes benchmarks/results/).

Measures, for each turn, the provider's own preparation (message normalization, exact continuation with
its incremental rendering, the drift check's full re-render) and the whole ``litellm.acompletion`` call
against the in-process SGLang emulator with zero latency. Usage: ``python benchmarks/turn_cost.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import litellm

import sglang_native_provider
from sglang_native_provider.demo import WEATHER_TOOL
from sglang_native_provider.emulator import Emulator

TURNS = 50
REPEATS = 5
RESULTS = Path(__file__).parent / "results" / "turn_cost.json"
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


async def main() -> None:
    sglang_native_provider.register()
    handler = sglang_native_provider.handler
    rows = []
    async with Emulator("qwen3") as emulator:
        emulator.script(*([CALL] * TURNS))
        messages = [{"role": "user", "content": "Check the weather in Paris again and again."}]
        settings = {"api_base": emulator.url, "tokenizer": "offline:qwen3", "tools": [WEATHER_TOOL]}
        for turn in range(1, TURNS + 1):
            prepare: dict[bool, list[float]] = {True: [], False: []}
            for drift_check in (True, False):
                options = {"tokenizer": "offline:qwen3", "tools": [WEATHER_TOOL], "drift_check": drift_check}
                for _ in range(REPEATS):
                    start = time.perf_counter()
                    handler._prepare(  # the provider's work before any network I/O
                        model="qwen3", messages=messages, api_base=emulator.url, api_key=None, optional_params=options
                    )
                    prepare[drift_check].append(time.perf_counter() - start)
            start = time.perf_counter()
            response = await litellm.acompletion(model="sglang_native/qwen3", messages=messages, **settings)
            call_seconds = time.perf_counter() - start
            message = response.choices[0].message
            fields = message.provider_specific_fields
            rows.append(
                {
                    "turn": turn,
                    "prompt_tokens": len(fields["prompt_token_ids"]),
                    "prepare_ms": statistics.median(prepare[True]) * 1e3,
                    "prepare_ms_without_drift_check": statistics.median(prepare[False]) * 1e3,
                    "acompletion_ms": call_seconds * 1e3,
                    "cached_tokens": fields["cached_tokens"],
                    "continued": "template_drift" in fields,
                }
            )
            messages += [message, {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny"}]
    first, last = rows[0], rows[-1]
    summary = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "turns": TURNS,
        "prepare_ms_turn_1": first["prepare_ms"],
        "prepare_ms_turn_50": last["prepare_ms"],
        "prepare_ratio_50_to_1": last["prepare_ms"] / first["prepare_ms"],
        "prepare_ms_without_drift_check_turn_2": rows[1]["prepare_ms_without_drift_check"],
        "prepare_ms_without_drift_check_turn_50": last["prepare_ms_without_drift_check"],
        "prepare_ratio_50_to_2_without_drift_check": last["prepare_ms_without_drift_check"]
        / rows[1]["prepare_ms_without_drift_check"],
        "prompt_tokens_turn_50": last["prompt_tokens"],
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=1))
    for row in [*rows[:: TURNS // 10], last]:
        print(
            f"turn {row['turn']:>3}: {row['prompt_tokens']:>6} prompt tokens, prepare {row['prepare_ms']:6.2f} ms,"
            f" acompletion {row['acompletion_ms']:6.2f} ms, cached {row['cached_tokens']}"
        )
    print(f"prepare turn 50 / turn 1 = {summary['prepare_ratio_50_to_1']:.2f}  -> {RESULTS}")


if __name__ == "__main__":
    asyncio.run(main())
