"""Per-turn client cost over a 50-turn tool-using rollout (run by hand; writes benchmarks/results/).

Measures, for each turn, the provider's own preparation (message normalization and history check, exact
continuation with its bounded rendering, the drift check) with each ``drift_check`` setting, and the whole
``litellm.acompletion`` call against the in-process SGLang emulator with zero latency.
Usage: ``python benchmarks/turn_cost.py``.
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
from sglang_native_provider.request import prepare as prepare_call

TURNS = 50
REPEATS = 5
DRIFT_CHECKS = ("incremental", "full", "off")
RESULTS = Path(__file__).parent / "results" / "turn_cost.json"
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


async def run() -> dict:
    """Measure every turn; writes ``benchmarks/results/turn_cost.json`` and returns its summary."""
    sglang_native_provider.register()
    rows = []
    async with Emulator("qwen3") as emulator:
        emulator.script(*([CALL] * TURNS))
        messages = [{"role": "user", "content": "Check the weather in Paris again and again."}]
        settings = {"api_base": emulator.url, "tokenizer": "offline:qwen3", "tools": [WEATHER_TOOL]}
        for turn in range(1, TURNS + 1):
            prepare: dict[str, list[float]] = {mode: [] for mode in DRIFT_CHECKS}
            for drift_check in DRIFT_CHECKS:
                options = {"tokenizer": "offline:qwen3", "tools": [WEATHER_TOOL], "drift_check": drift_check}
                for _ in range(REPEATS):
                    start = time.perf_counter()
                    prepare_call(  # the provider's work before any network I/O
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
                    **{f"prepare_ms_{mode}": statistics.median(prepare[mode]) * 1e3 for mode in DRIFT_CHECKS},
                    "acompletion_ms": call_seconds * 1e3,
                    "cached_tokens": fields["cached_tokens"],
                    "continued": "template_drift" in fields,
                }
            )
            messages += [message, {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny"}]
    first, second, last = rows[0], rows[1], rows[-1]
    summary = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "turns": TURNS,
        "prompt_tokens_turn_50": last["prompt_tokens"],
        "prepare_ms_turn_1": first["prepare_ms_incremental"],
        **{f"prepare_ms_turn_2_{mode}": second[f"prepare_ms_{mode}"] for mode in DRIFT_CHECKS},
        **{f"prepare_ms_turn_50_{mode}": last[f"prepare_ms_{mode}"] for mode in DRIFT_CHECKS},
        **{
            f"prepare_ratio_50_to_2_{mode}": last[f"prepare_ms_{mode}"] / second[f"prepare_ms_{mode}"]
            for mode in DRIFT_CHECKS
        },
        "acompletion_ms_median_turns_2_to_6": statistics.median(row["acompletion_ms"] for row in rows[1:6]),
        "acompletion_ms_median_turns_46_to_50": statistics.median(row["acompletion_ms"] for row in rows[-5:]),
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=1))
    return summary


async def main() -> None:
    summary = await run()
    rows = summary["rows"]
    for row in [*rows[:: TURNS // 10], rows[-1]]:
        print(
            f"turn {row['turn']:>3}: {row['prompt_tokens']:>5} prompt tokens, prepare (ms) "
            + ", ".join(f"{mode} {row[f'prepare_ms_{mode}']:5.2f}" for mode in DRIFT_CHECKS)
            + f"; acompletion {row['acompletion_ms']:6.2f} ms, cached {row['cached_tokens']}"
        )
    ratios = ", ".join(f"{mode} {summary[f'prepare_ratio_50_to_2_{mode}']:.2f}" for mode in DRIFT_CHECKS)
    print(f"prepare turn 50 / turn 2: {ratios}  -> {RESULTS}")


if __name__ == "__main__":
    asyncio.run(main())
