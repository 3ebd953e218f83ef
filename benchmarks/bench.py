"""The client's cost: the raw floor, LiteLLM's own floor, this provider, and LiteLLM's OpenAI path to SGLang.

One run, the emulator in its own process with zero artificial latency, the same model and outputs:

1. ``floor``: raw ``httpx.AsyncClient`` POST ``/generate`` with pre-tokenized ids;
2. ``litellm_floor``: ``litellm.acompletion`` to a ``CustomLLM`` returning a canned response (and
   ``litellm_floor_io``: one that first makes the raw floor's request);
3. ``native``: ``litellm.acompletion("sglang_native/...")`` (and ``native_stream``);
4. ``openai``: ``litellm.acompletion("openai/...")`` against the emulator's ``/v1/chat/completions`` (and
   ``openai_stream``), which renders the template server-side as SGLang's OpenAI server does; asking for
   what this provider returns (logprobs, prompt and response token ids).

Each at concurrency 1 (p50/p99 latency, client CPU per request), 64 and 256 (throughput), for a short
tool-using conversation and a 50-turn one; time to first streamed token; the per-turn cost of a 50-turn
rollout (``turn_cost.py``, in-process) and memory/descriptors over 10,000 requests (``soak.py``). Writes
``benchmarks/results/bench.json``, ``docs/benchmarks.md`` and ``docs/benchmarks.png``.
Usage: ``python benchmarks/bench.py [--quick]`` (needs ``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import httpx
import litellm
import turn_cost
from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import Usage
from soak import emulator_process, open_fds, rss_mb, soak

import sglang_native_provider
from sglang_native_provider.demo import WEATHER_TOOL
from sglang_native_provider.request import prepare as prepare_call

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "bench.json"
DOCS = ROOT / "docs"
MAX_TOKENS = 16
TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
SHORT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 21, "sky": "sunny"}'},
]

Request = Callable[[], Awaitable[float | None]]
"""One request; returns its time to first token when it streams."""


class CannedLLM(CustomLLM):
    """LiteLLM's own cost: a provider that answers at once, with the same shape of answer (content and usage;
    LiteLLM prices every answer with usage, which for a model missing from its cost map is a slow search)."""

    async def acompletion(self, *args, model_response, **kwargs):
        model_response.choices[0].message.content = "Canned answer."
        model_response.usage = Usage(prompt_tokens=190, completion_tokens=MAX_TOKENS, total_tokens=190 + MAX_TOKENS)
        return model_response


class CannedWithIO(CannedLLM):
    """LiteLLM's cost plus the raw floor's request: what is left of ``native`` beyond it is this provider's
    own work (rendering, parsing, building the response)."""

    def __init__(self) -> None:
        super().__init__()
        self.request: Callable[[], Awaitable[None]] | None = None

    async def acompletion(self, *args, model_response, **kwargs):
        await self.request()
        return await super().acompletion(*args, model_response=model_response, **kwargs)


async def long_conversation(url: str, turns: int) -> list:
    """A 50-turn conversation produced by this provider (assistant messages carry its token metadata)."""
    messages: list = [SHORT[0], {"role": "user", "content": "Tell me about Paris, step by step."}]
    for _ in range(turns - 1):
        response = await litellm.acompletion(messages=messages, **{**native_settings(url), "max_tokens": 64})
        messages += [response.choices[0].message, {"role": "user", "content": "Go on."}]
    return messages


def native_settings(url: str) -> dict:
    return {
        "model": "sglang_native/qwen3",
        "api_base": url,
        "tokenizer": "offline:qwen3",
        "tools": [WEATHER_TOOL],
        "max_tokens": MAX_TOKENS,
    }


def plain(messages: list) -> list[dict]:
    """The conversation as OpenAI dicts (what the OpenAI path sends; no provider metadata)."""
    result = []
    for message in messages:
        entry = message if isinstance(message, dict) else message.model_dump(exclude_none=True)
        result.append({key: entry[key] for key in ("role", "content", "tool_calls", "tool_call_id") if key in entry})
    return result


CANNED_WITH_IO = CannedWithIO()


def scenarios(url: str, messages: list, prompt_ids: list[int], client: httpx.AsyncClient) -> dict[str, Request]:
    native = native_settings(url)
    peer = {  # what an RL user of the OpenAI path asks for: the same token ids and logprobs
        "model": "openai/qwen3",
        "api_base": f"{url}/v1",
        "api_key": "unused",
        "max_tokens": MAX_TOKENS,
        "logprobs": True,
        "extra_body": {"return_prompt_token_ids": True, "return_token_ids": True},
    }
    peer_messages = plain(messages)
    generate = {"input_ids": prompt_ids, "sampling_params": {"max_new_tokens": MAX_TOKENS}, "return_logprob": True}

    async def floor() -> None:
        try:
            response = await client.post(f"{url}/generate", json=generate)
        except (httpx.ReadError, httpx.RemoteProtocolError):  # a kept-alive connection the server just closed
            response = await client.post(f"{url}/generate", json=generate)
        response.raise_for_status()
        response.json()

    async def floor_stream() -> float:
        start = time.perf_counter()
        first = None
        async with client.stream("POST", f"{url}/generate", json={**generate, "stream": True}) as response:
            async for line in response.aiter_lines():
                if first is None and line.startswith("data: {"):
                    first = time.perf_counter() - start
        return first

    async def litellm_floor() -> None:
        await litellm.acompletion(model="canned/qwen3", messages=messages, tools=[WEATHER_TOOL], max_tokens=MAX_TOKENS)

    CANNED_WITH_IO.request = floor

    async def litellm_floor_io() -> None:
        await litellm.acompletion(
            model="canned_io/qwen3", messages=messages, tools=[WEATHER_TOOL], max_tokens=MAX_TOKENS
        )

    async def native_call() -> None:
        await litellm.acompletion(messages=messages, **native)

    async def openai_call() -> None:
        await litellm.acompletion(messages=peer_messages, tools=[WEATHER_TOOL], **peer)

    async def first_token(stream) -> float:
        start = time.perf_counter()
        first = None
        async for chunk in await stream:
            if first is None and chunk.choices and (chunk.choices[0].delta.content or "").strip():
                first = time.perf_counter() - start
        return first

    async def native_stream() -> float:
        return await first_token(litellm.acompletion(messages=messages, stream=True, **native))

    async def openai_stream() -> float:
        return await first_token(litellm.acompletion(messages=peer_messages, tools=[WEATHER_TOOL], stream=True, **peer))

    return {
        "floor": floor,
        "litellm_floor": litellm_floor,
        "litellm_floor_io": litellm_floor_io,
        "native": native_call,
        "openai": openai_call,
        "floor_stream": floor_stream,
        "native_stream": native_stream,
        "openai_stream": openai_stream,
    }


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


async def measure(request: Request, concurrency: int, count: int) -> dict:
    """``count`` requests, ``concurrency`` at a time: latency percentiles, throughput, client CPU."""
    for _ in range(min(20, count)):  # warm up connections and caches
        await request()
    latencies: list[float] = []
    first_tokens: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            start = time.perf_counter()
            first = await request()
            latencies.append(time.perf_counter() - start)
            if first is not None:
                first_tokens.append(first)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    result = {
        "concurrency": concurrency,
        "requests": count,
        "p50_ms": statistics.median(latencies) * 1e3,
        "p99_ms": _percentile(latencies, 0.99) * 1e3,
        "throughput_rps": count / wall,
        "client_cpu_ms_per_request": cpu / count * 1e3,
    }
    if first_tokens:
        result["ttft_p50_ms"] = statistics.median(first_tokens) * 1e3
    return result


async def run(quick: bool) -> dict:
    sglang_native_provider.register()
    litellm.custom_provider_map = [
        *litellm.custom_provider_map,
        {"provider": "canned", "custom_handler": CannedLLM()},
        {"provider": "canned_io", "custom_handler": CANNED_WITH_IO},
    ]
    counts = {1: 100 if quick else 300, 64: 256 if quick else 640, 256: 512 if quick else 1024}
    results: dict = {"machine": _machine(), "max_tokens": MAX_TOKENS, "conversations": {}}
    with emulator_process() as url:
        long = await long_conversation(url, 50)
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=1024), timeout=60) as client:
            for name, messages in (("short", SHORT), ("long_50_turns", long)):
                options = {k: v for k, v in native_settings(url).items() if k not in ("model", "api_base")}
                call = prepare_call(
                    model="qwen3", messages=messages, api_base=url, api_key=None, optional_params=options
                )
                rows = {}
                for scenario, request in scenarios(url, messages, call.prompt.ids, client).items():
                    streaming = scenario.endswith("_stream")
                    levels = (1,) if streaming else (1, 64, 256)
                    rows[scenario] = [await measure(request, level, counts[level]) for level in levels]
                    print(name, scenario, [f"{r['p50_ms']:.2f}ms {r['throughput_rps']:.0f}/s" for r in rows[scenario]])
                results["conversations"][name] = {"prompt_tokens": len(call.prompt.ids), "scenarios": rows}
        samples = await soak(url, 1000 if quick else 10_000, sample_every=500)
        results["soak"] = {"requests": samples[-1]["requests"], "samples": samples, "fds_now": open_fds()}
        results["soak"]["rss_growth_mb"] = samples[-1]["rss_mb"] - samples[0]["rss_mb"]
        results["rss_mb"] = rss_mb()
    turns = await turn_cost.run()  # one 50-turn rollout, turn by turn (in-process emulator)
    results["turn_cost"] = {key: value for key, value in turns.items() if key != "rows"}
    results["targets"] = targets(results)
    return results


def _at(rows: list[dict], concurrency: int) -> dict:
    return next(row for row in rows if row["concurrency"] == concurrency)


def targets(results: dict) -> dict:
    """The ratios issue #8 sets targets for, per conversation."""
    out = {}
    for name, conversation in results["conversations"].items():
        rows = conversation["scenarios"]
        floor, canned, canned_io, native = (
            _at(rows[s], 1)["p50_ms"] for s in ("floor", "litellm_floor", "litellm_floor_io", "native")
        )
        out[name] = {
            "provider_overhead_over_floor": (native - canned) / floor,
            "own_work_over_floor": (native - canned_io) / floor,
            "litellm_floor_io_ms_p50": canned_io,
            "native_over_openai_throughput_c64": _at(rows["native"], 64)["throughput_rps"]
            / _at(rows["openai"], 64)["throughput_rps"],
            "native_ms_p50": native,
            "floor_ms_p50": floor,
            "litellm_floor_ms_p50": canned,
        }
    short, long = (results["conversations"][n]["scenarios"] for n in ("short", "long_50_turns"))
    out["turn_50_over_short_native_p50"] = _at(long["native"], 1)["p50_ms"] / _at(short["native"], 1)["p50_ms"]
    # the client's part: what the raw floor (server work and transfer, which grow with the prompt) leaves
    client_ms = [_at(rows["native"], 1)["p50_ms"] - _at(rows["floor"], 1)["p50_ms"] for rows in (long, short)]
    out["turn_50_over_short_client_ms"] = client_ms[0] / client_ms[1]
    out["rss_growth_mb_over_soak"] = results["soak"]["rss_growth_mb"]
    return out


def _machine() -> str:
    from importlib.metadata import version

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    return f"{cpu}; {os.cpu_count()} cores; Python {platform.python_version()}; litellm {version('litellm')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    args = parser.parse_args()
    results = asyncio.run(run(args.quick))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    from report import write_report  # the benchmarks directory is on sys.path when run as a script

    write_report(results, DOCS)
    print(json.dumps(results["targets"], indent=1))


if __name__ == "__main__":
    main()
