"""Client CPU of one long streamed generation, with SGLang's default cumulative stream events and with
``--incremental-streaming-output`` deltas.

Cumulative events repeat everything so far (text, ids, logprobs), so what is sent and parsed grows with the
square of the length. The emulator runs in its own process (``ignore_eos``, so every length is reached);
client CPU is this process's alone. Usage: ``python benchmarks/long_stream.py``; results go to
``benchmarks/results/long_stream.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import litellm
from soak import emulator_process

import sglang_native_provider

RESULTS = Path(__file__).parent / "results" / "long_stream.json"
LENGTHS = (500, 1000, 2000, 4000)


async def one_stream(url: str, tokens: int, incremental: bool) -> dict:
    cpu, wall = time.process_time(), time.perf_counter()
    stream = await litellm.acompletion(
        model="sglang_native/qwen3",
        api_base=url,
        tokenizer="offline:qwen3",
        messages=[{"role": "user", "content": "Go on."}],
        max_tokens=tokens,
        ignore_eos=True,
        stream=True,
        incremental_streaming_output=incremental,
    )
    chunks = [chunk async for chunk in stream]
    return {
        "tokens": tokens,
        "chunks": len(chunks),
        "client_cpu_s": round(time.process_time() - cpu, 3),
        "wall_s": round(time.perf_counter() - wall, 3),
    }


async def run() -> dict:
    sglang_native_provider.register()
    results = {}
    for mode, flags in (("cumulative", ()), ("incremental", ("--incremental-streaming-output",))):
        with emulator_process(*flags) as url:
            await one_stream(url, 8, mode == "incremental")  # warm up: tokenizer, connection
            results[mode] = [await one_stream(url, tokens, mode == "incremental") for tokens in LENGTHS]
            for row in results[mode]:
                print(mode, row)
    return results


def main() -> None:
    results = asyncio.run(run())
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
