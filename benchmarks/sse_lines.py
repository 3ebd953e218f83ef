"""The SSE line splitter on long lines: 1, 4 and 16 MB lines (and a 50 MB event, parsed) fed in 16 KB chunks.

The splitter joins a line's pieces once, when the line ends, so its time is linear in the line's length; the one
it replaced (kept below as ``quadratic_lines`` for the comparison) re-joined and re-scanned everything pending on
every chunk. Usage: ``python benchmarks/sse_lines.py``; results go to ``benchmarks/results/sse_lines.json``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from sglang_native_provider.transport import LineSplitter, sse_event

RESULTS = Path(__file__).parent / "results" / "sse_lines.json"
CHUNK = 16 * 1024
MB = 2**20


def chunks(data: bytes) -> list[bytes]:
    return [data[at : at + CHUNK] for at in range(0, len(data), CHUNK)]


def linear_lines(pieces: list[bytes]) -> list[str]:
    splitter = LineSplitter(cap=256 * MB)
    return [line for piece in pieces for line in splitter.feed(piece)] + splitter.close()


def quadratic_lines(pieces: list[bytes]) -> list[str]:
    """The splitter before: the pending text is joined with each chunk and split again."""
    pending, lines = "", []
    for piece in pieces:
        *done, pending = (pending + piece.decode("utf-8", "replace")).split("\n")
        lines += done
    return [*lines, pending] if pending else lines


def seconds(split, pieces: list[bytes]) -> float:
    start = time.perf_counter()
    split(pieces)
    return time.perf_counter() - start


def event_seconds(size: int) -> float:
    """Split and parse one ``data: {"text": ...}`` event of ``size`` bytes."""
    line = b'data: {"text": "' + b"x" * (size - 24) + b'", "output_ids": []}\n\n'
    start = time.perf_counter()
    for text in linear_lines(chunks(line)):
        sse_event(text, "m")
    return time.perf_counter() - start


def main() -> None:
    rows = []
    for size_mb in (1, 4, 16):
        pieces = chunks(b"data: " + b"x" * (size_mb * MB) + b"\n\n")
        assert linear_lines(pieces) == quadratic_lines(pieces)
        row = {"line_mb": size_mb, "seconds": seconds(linear_lines, pieces)}
        row["before_seconds"] = seconds(quadratic_lines, pieces)
        row["mb_per_second"] = size_mb / row["seconds"]
        rows.append(row)
        print(f"{size_mb:>2} MB line: {row['seconds'] * 1000:7.1f} ms (before: {row['before_seconds']:6.2f} s)")
    event = event_seconds(50 * MB)
    print(f"50 MB event, split and parsed: {event:.2f} s")
    summary = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "chunk_bytes": CHUNK,
        "lines": [{key: round(value, 4) for key, value in row.items()} for row in rows],
        "ratio_16_to_1_mb": round(rows[-1]["seconds"] / rows[0]["seconds"], 1),
        "before_ratio_16_to_1_mb": round(rows[-1]["before_seconds"] / rows[0]["before_seconds"], 1),
        "event_50_mb_seconds": round(event, 3),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"16 MB / 1 MB: {summary['ratio_16_to_1_mb']}x (before: {summary['before_ratio_16_to_1_mb']}x) -> {RESULTS}")


if __name__ == "__main__":
    main()
