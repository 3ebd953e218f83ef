"""What ``sglang-native verify`` costs on CPU (run by hand with a python that has the ``verify`` extra; writes
benchmarks/results/verify_cost.json).

Synthetic trajectories of the tiny random Qwen3 of the real-SGLang tier (2 layers, hidden 64, a 151,936-token
vocabulary, bf16) at several lengths, half of their tokens sampled (loss mask 1, spread over 8 turns): the time
of :func:`verify_trajectories` per 1,000 tokens of trajectory, per dtype and chunk size, and the process's peak
RSS. With so small a model the cost is the vocabulary: each compared token's row of logits (the LM head, slow in
bfloat16 on a CPU without bf16 matrix units) and its log-softmax; a real model adds its forward pass. Usage::

    python benchmarks/verify_cost.py --model ~/.cache/sglang-native-provider/real-sglang/model-qwen3-tiny-*
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np
import torch

from sglang_native_provider.verify import load_model, verify_trajectories

LENGTHS = (512, 1024, 2048, 4000)  # the tiny model's context is 4,096 tokens
RUNS = (("float32", 256), ("float32", 1024), ("bfloat16", 512))  # (dtype, chunk size)
TURNS = 8
REPEATS = 2
RESULTS = Path(__file__).parent / "results" / "verify_cost.json"


def trajectory(length: int, seed: int) -> dict:
    """``length`` tokens in 8 turns: each turn's prompt part and sampled part half and half."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 151_000, size=length).tolist()
    span = length // TURNS
    mask, turns = [0] * length, []
    for turn in range(TURNS):
        start = turn * span + span // 2
        end = (turn + 1) * span if turn < TURNS - 1 else length
        mask[start:end] = [1] * (end - start)
        turns.append({"prompt_length": start, "completion_length": end - start, "sampling": {"temperature": 0.7}})
    logprobs = [-5.0 if flag else None for flag in mask]
    return {"schema": "sglang-native-trajectory/3", "token_ids": ids, "loss_mask": mask, "logprobs": logprobs,
            "turns": turns}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    rows = []
    for dtype, chunk in RUNS:
        model = load_model(args.model, dtype=dtype)
        verify_trajectories([trajectory(256, 0)], model)  # warm-up
        for length in LENGTHS:
            times = []
            for repeat in range(REPEATS):
                line = trajectory(length, repeat)
                started = time.perf_counter()
                verify_trajectories([line], model, chunk_size=chunk)
                times.append(time.perf_counter() - started)
            seconds = statistics.median(times)
            rows.append(
                {
                    "dtype": dtype,
                    "chunk_size": chunk,
                    "tokens": length,
                    "compared_tokens": sum(line["loss_mask"]),
                    "seconds": round(seconds, 3),
                    "seconds_per_1k_tokens": round(seconds * 1000 / length, 3),
                }
            )
            print(rows[-1], flush=True)
    result = {
        "model": "tiny random Qwen3 (2 layers, hidden 64, vocabulary 151,936, bf16), tests/real_sglang",
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rows": rows,
    }
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
