"""Load and a short soak (``benchmarks/soak.py`` runs the long one): no errors, bounded connections, flat
memory and file descriptors."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import pytest
from soak import burst, soak

from sglang_native_provider.emulator import Emulator
from sglang_native_provider.transport import sessions


@pytest.fixture
def long_keep_alive(monkeypatch):
    """An emulator and a client pool keeping idle connections far longer than the usual 5 s and 2 s. A burst
    of 256 can take longer than 2 s on a busy machine, and then the connections that finished first expire
    before the next burst (as they should): this test is about reuse, not expiry."""
    monkeypatch.setattr(sessions, "KEEPALIVE_SECONDS", 60.0)
    with Emulator("qwen3", keep_alive_seconds=120.0) as emulator:
        yield emulator


async def test_256_concurrent_requests_without_errors_over_bounded_connections(long_keep_alive):
    emulator = long_keep_alive
    await soak(emulator.url, 1, sample_every=1)  # load the tokenizer first, so the waves are quick
    opened = []
    for _ in range(2):
        result = await burst(emulator.url, 256)
        assert result["failed"] == 0, result["errors"]
        opened.append(len(emulator.faults.peers) - sum(opened))
    assert emulator.faults.calls == 1 + 512
    assert opened[0] <= 256
    assert opened[1] < 64  # pooled: the second wave reuses the first wave's kept-alive connections


async def test_short_soak_keeps_memory_and_descriptors_flat(emulator):
    await soak(emulator.url, 300, sample_every=300)  # warm up caches and the connection pool
    samples = await soak(emulator.url, 1500, sample_every=300)
    assert max(s["open_fds"] for s in samples) <= samples[0]["open_fds"] + 2
    assert samples[-1]["rss_mb"] - samples[0]["rss_mb"] < 10
    assert len(emulator.faults.peers) <= 2  # sequential requests share one kept-alive connection


def test_a_loops_clients_are_closed_when_the_loop_shuts_down(emulator):
    """asyncio.run closes the pooled connections this provider opened in its loop."""
    import asyncio

    from sglang_native_provider.config import load_config
    from sglang_native_provider.transport import GenerateClient

    pool = GenerateClient()
    config = load_config("m", {"api_base": emulator.url})

    async def one_request():
        await pool.agenerate(config, {"input_ids": [1, 2, 3], "sampling_params": {"max_new_tokens": 2}}, "m")
        return await pool._sessions.get(config.ssl_verify)

    client = asyncio.run(one_request())
    assert client.is_closed
    assert len(pool._sessions) == 0
