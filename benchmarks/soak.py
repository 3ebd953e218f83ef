"""Soak and load: the client's memory and file descriptors over many requests, and a burst of concurrent ones.

The emulator runs in its own process (so the figures are the client's alone); requests go through
``litellm.acompletion`` with the ``sglang_native`` provider. Usage:
``python benchmarks/soak.py [--requests 10000] [--concurrency 256]``; results go to
``benchmarks/results/soak.json``. ``tests/test_soak.py`` runs a short version of the same functions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import httpx
import litellm

import sglang_native_provider

RESULTS = Path(__file__).parent / "results" / "soak.json"


def rss_mb() -> float:
    """This process's resident memory now (Linux /proc), in MiB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def emulator_process(*args: str) -> Iterator[str]:
    """``sglang-native emulate`` in its own process on a free loopback port; yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "sglang_native_provider.cli", "emulate", "--port", str(port), *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start (exit code {process.poll()})")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def settings(url: str) -> dict:
    return {"model": "sglang_native/qwen3", "api_base": url, "tokenizer": "offline:qwen3", "max_tokens": 8}


async def soak(url: str, requests: int, sample_every: int) -> list[dict]:
    """``requests`` sequential completions; RSS and open fds sampled every ``sample_every``."""
    sglang_native_provider.register()
    samples = []
    start = time.perf_counter()
    for number in range(1, requests + 1):
        await litellm.acompletion(messages=[{"role": "user", "content": f"soak {number}"}], **settings(url))
        if number % sample_every == 0:
            samples.append(
                {
                    "requests": number,
                    "rss_mb": round(rss_mb(), 1),
                    "open_fds": open_fds(),
                    "seconds": round(time.perf_counter() - start, 2),
                }
            )
    return samples


async def burst(url: str, concurrency: int) -> dict:
    """``concurrency`` completions at once; how many failed and how long it took."""
    sglang_native_provider.register()
    start = time.perf_counter()
    results = await asyncio.gather(
        *(
            litellm.acompletion(messages=[{"role": "user", "content": f"burst {i}"}], **settings(url))
            for i in range(concurrency)
        ),
        return_exceptions=True,
    )
    errors = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
    return {
        "concurrency": concurrency,
        "errors": errors[:5],
        "failed": len(errors),
        "seconds": time.perf_counter() - start,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=256)
    args = parser.parse_args()
    with emulator_process() as url:
        bursts = [await burst(url, args.concurrency) for _ in range(3)]
        samples = await soak(url, args.requests, sample_every=max(args.requests // 20, 1))
    first, last = samples[0], samples[-1]
    summary = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "bursts": bursts,
        "requests": args.requests,
        "rss_mb_first_sample": first["rss_mb"],
        "rss_mb_last_sample": last["rss_mb"],
        "rss_growth_mb": round(last["rss_mb"] - first["rss_mb"], 1),
        "open_fds_first_sample": first["open_fds"],
        "open_fds_last_sample": last["open_fds"],
        "requests_per_second": round(args.requests / last["seconds"], 1),
        "samples": samples,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=1))
    for item in bursts:
        print(f"burst of {item['concurrency']}: {item['failed']} failed, {item['seconds']:.2f} s")
    print(
        f"{args.requests} sequential requests: RSS {first['rss_mb']} -> {last['rss_mb']} MiB"
        f" (after {first['requests']} -> {last['requests']}), fds {first['open_fds']} -> {last['open_fds']},"
        f" {summary['requests_per_second']} req/s -> {RESULTS}"
    )


if __name__ == "__main__":
    asyncio.run(main())
