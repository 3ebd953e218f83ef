"""The emulator answers the golden requests with the same shapes as real SGLang 0.5.23 did.

The real answers are fixtures (tests/fixtures/real_sglang/, recorded by tests/real_sglang/record.py from real SGLang
on CPU serving a tiny random-weights Qwen3); this test needs no real SGLang. Values are random, so shapes are
compared: keys and their order, JSON types, status, header names (content-type and vary by value), stream
event sequences, and error texts. The one allowed difference: real /server_info dumps all ~550 server args, the
emulator only the keys it knows (each must exist in real SGLang's answer with the same type).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from real_sglang import golden

from sglang_native_provider.emulator import Emulator

MODEL_CONFIG = Path(__file__).parent / "fixtures" / "real_sglang" / "tiny-qwen3"


@pytest.fixture(scope="module", params=sorted(golden.SERVERS))
def emulated(request):
    """(server kind, the emulator configured like that real server, a client)."""
    incremental, api_key = golden.SERVERS[request.param]
    emulator = Emulator("qwen3", model_config=MODEL_CONFIG, incremental_streaming_output=incremental, api_key=api_key)
    with emulator, httpx.Client(base_url=emulator.url, timeout=30) as client:
        yield request.param, client


def test_every_exchange_is_recorded():
    for server in golden.SERVERS:
        recorded = golden.load_fixture(server)["exchanges"]
        assert sorted(recorded) == sorted(exchange.name for exchange in golden.exchanges_for(server))


def test_emulator_matches_real_sglang_shapes(emulated):
    server, client = emulated
    recorded = golden.load_fixture(server)["exchanges"]
    problems = []
    for exchange in golden.exchanges_for(server):
        problems += golden.differences(exchange, recorded[exchange.name]["response"], golden.send(client, exchange))
    assert not problems, "\n".join(problems)


def test_the_comparison_sees_a_difference():
    """The comparison itself is not vacuous: a missing key, a changed type and another error text are caught."""
    exchange = next(e for e in golden.EXCHANGES if e.name == "bad_temperature")
    real = golden.load_fixture("cumulative")["exchanges"]["plain"]["response"]
    changed = {**real, "body": {**real["body"], "meta_info": dict(real["body"]["meta_info"])}}
    del changed["body"]["meta_info"]["dp_rank"]
    changed["body"]["meta_info"]["prompt_tokens"] = 6.0
    plain = next(e for e in golden.EXCHANGES if e.name == "plain")
    problems = golden.differences(plain, real, changed)
    assert any("dp_rank" in problem for problem in problems)
    error = golden.load_fixture("cumulative")["exchanges"]["bad_temperature"]["response"]
    reworded = {**error, "body": {"error": {"message": "temperature must be a non-negative finite number, got -1.0."}}}
    assert golden.differences(exchange, error, reworded)
