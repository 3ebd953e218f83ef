"""docs/benchmarks.md reports the committed run in benchmarks/results/bench.json: its targets are the ones the
raw rows give, and every scenario and target figure appears in the document; likewise the gateway run
(benchmarks/results/gateway_cache.json)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench  # noqa: E402
import gateway_cache  # noqa: E402
import report  # noqa: E402
import side_by_side  # noqa: E402


def test_the_document_reports_the_committed_run():
    results = json.loads((ROOT / "benchmarks" / "results" / "bench.json").read_text())
    assert bench.targets(results) == results["targets"]
    document = (ROOT / "docs" / "benchmarks.md").read_text()
    for conversation in results["conversations"].values():
        assert set(conversation["scenarios"]) == set(report.SCENARIOS)
        for line in report._table(conversation)[2:]:
            assert line in document
    short = results["targets"]["short"]
    assert f"| {short['native_over_openai_throughput_c64']:.2f}x |" in document
    assert f"| {results['targets']['rss_growth_mb_over_soak']:.1f} MB |" in document
    assert (ROOT / "docs" / "benchmarks.png").stat().st_size > 10_000
    assert "docs/benchmarks.md" in (ROOT / "README.md").read_text()


def test_the_document_reports_the_committed_gateway_run():
    results = json.loads((ROOT / "benchmarks" / "results" / "gateway_cache.json").read_text())
    assert [row["scenario"] for row in results["scenarios"]] == [name for name, _, _ in gateway_cache.SCENARIOS]
    document = (ROOT / "docs" / "benchmarks.md").read_text()
    for line in gateway_cache.table(results):
        assert line in document


def test_the_document_reports_the_committed_side_by_side_run():
    results = json.loads((ROOT / "benchmarks" / "results" / "side_by_side.json").read_text())
    document = (ROOT / "docs" / "benchmarks.md").read_text()
    for line in side_by_side.table(results):
        assert line in document
