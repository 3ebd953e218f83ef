"""Load and a short soak (``benchmarks/soak.py`` runs the long one): no errors, bounded connections, flat
memory and file descriptors."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from soak import burst, soak


async def test_256_concurrent_requests_without_errors_over_bounded_connections(emulator):
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


async def test_requests_take_the_least_busy_connection_pool():
    from sglang_native_provider.client import _Pools

    pools = _Pools(verify=True)
    async with pools.lease() as first, pools.lease() as second, pools.lease() as third:
        assert len({id(first), id(second), id(third)}) == 3  # concurrent requests spread out
    async with pools.lease() as again:
        assert again is first  # a sequential caller keeps the first pool (and its connection)
    for client in (first, second, third):
        await client.aclose()


async def test_idle_extra_pools_are_closed(monkeypatch):
    from sglang_native_provider import client as client_module

    monkeypatch.setattr(client_module, "_IDLE_POOL_SECONDS", 0.0)
    pools = client_module._Pools(verify=True)
    async with pools.lease() as first, pools.lease() as second:
        pass
    assert second.is_closed and not first.is_closed  # the first pool stays for the next caller
    await first.aclose()
