"""The cost of routing replay on the client (run by hand; writes benchmarks/results/routing_cost.json).

A 48-layer, top-8, 128-expert model (Qwen3-235B-A22B's shape), rollouts of 8k and 32k tokens in 8 turns. Each
turn's answer carries what SGLang sends for it (base64 int32 rows of only the positions no earlier turn covered,
``routed_experts_start_len``), and for each turn the client's work is timed:
- decode + validate: base64 -> int32 -> checked -> uint8 array -> the compact encoding on the choice;
- record: the turn recorded in the session ledger (in process, and SQLite in a temporary file);
and per rollout the export (the ledger's turns -> one ``(tokens - 1, 48, 8)`` array -> ``Trajectory.write``,
JSONL + ``.npz``), with the peak of Python's allocations (tracemalloc) over the whole rollout.
Usage: ``python benchmarks/routing_cost.py``.
"""

from __future__ import annotations

import base64
import json
import platform
import statistics
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

import numpy as np

from sglang_native_provider import Trajectory
from sglang_native_provider.config import MoeLayout
from sglang_native_provider.ledger import Ledger, Recording
from sglang_native_provider.rollout_signals import RoutedExpertsAsk
from sglang_native_provider.sessions import MemoryStore, SQLiteStore

LAYOUT = MoeLayout(layers=48, top_k=8, experts=128)
TURNS = 8
RESULTS = Path(__file__).resolve().parent / "results" / "routing_cost.json"


def _server_rows(rng: np.random.Generator, rows: int) -> str:
    """What SGLang sends: base64 of int32 (rows, layers, top_k)."""
    ids = rng.integers(0, LAYOUT.experts, size=(rows, LAYOUT.layers, LAYOUT.top_k), dtype=np.int32)
    return base64.b64encode(ids.tobytes()).decode()


def _turns(total: int) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, completion ids) of each turn: every turn adds a tool result of 3/4 and an answer of 1/4."""
    step = total // TURNS
    prompt: list[int] = list(range(step * 3 // 4))
    turns = []
    for _ in range(TURNS):
        completion = list(range(step - step * 3 // 4))
        turns.append((list(prompt), completion))
        prompt = prompt + completion + list(range(step * 3 // 4))
    return turns


def _rollout(total: int, store, directory: Path) -> dict:
    rng = np.random.default_rng(0)
    ledger, session = Ledger(store), f"bench-{uuid.uuid4().hex[:8]}"
    decode_ms, record_ms, parent, end = [], [], None, 0
    for number, (prompt, completion) in enumerate(_turns(total)):
        seqlen = len(prompt) + len(completion)
        ask = RoutedExpertsAsk(end, LAYOUT)
        encoded = _server_rows(rng, seqlen - 1 - end)
        started = time.perf_counter()
        fields = ask.fields(encoded, seqlen, "bench")
        decode_ms.append((time.perf_counter() - started) * 1000)
        fields.update(prompt_token_ids=prompt, completion_token_ids=completion, sglang_request_id=f"t{number}")
        fields["sglang_finish_reason"] = {"type": "stop", "matched": 0}
        recording = Recording(session, f"h{number}", "exact" if parent else "new", parent)
        started = time.perf_counter()
        ledger.record(recording, [(fields, "answer", None, [])])
        record_ms.append((time.perf_counter() - started) * 1000)
        parent, end = f"t{number}", seqlen - 1
    started = time.perf_counter()
    (trajectory,) = Trajectory.from_session(session, store)
    path = trajectory.write(directory / f"{session}.jsonl")
    export_ms = (time.perf_counter() - started) * 1000
    return {
        "decode_validate_ms_per_turn": round(statistics.mean(decode_ms), 2),
        "decode_validate_ms_last_turn": round(decode_ms[-1], 2),
        "record_ms_per_turn": round(statistics.mean(record_ms), 2),
        "export_ms": round(export_ms, 1),
        "npz_mb": round(path.stat().st_size / 2**20, 1),
        "jsonl_kb": round((directory / f"{session}.jsonl").stat().st_size / 1024, 1),
    }


def _store(name: str, directory: Path):
    return MemoryStore(max_tokens=10**9) if name == "memory" else SQLiteStore(directory / f"{uuid.uuid4().hex}.db")


def main() -> None:
    results: dict = {
        "machine": f"{platform.processor() or platform.machine()}; Python {platform.python_version()}",
        "model": {"layers": LAYOUT.layers, "top_k": LAYOUT.top_k, "experts": LAYOUT.experts},
        "turns": TURNS,
        "rollouts": {},
    }
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        for total in (8192, 32768):
            entry = {}
            for name in ("memory", "sqlite"):
                entry[name] = _rollout(total, _store(name, directory), directory)
                tracemalloc.start()  # a second rollout for the peak: tracing slows every allocation
                _rollout(total, _store(name, directory), directory)
                entry[name]["peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
                tracemalloc.stop()
            entry["routing_mb_uint8"] = round((total - 1) * LAYOUT.layers * LAYOUT.top_k / 2**20, 1)
            results["rollouts"][str(total)] = entry
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
