"""Record real SGLang's answers to the golden requests into ``tests/fixtures/real_sglang/<server>.json``.

By hand: ``python tests/real_sglang/record.py`` builds the cached environment, starts the two servers the golden
set needs (cumulative streaming; incremental streaming with an API key), records, and stops them.
``--cumulative URL`` and/or ``--incremental-api-key URL`` record from servers already running instead (only
those given).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import environment
import golden
import httpx
from server import RealSGLang

_SHOWN_BODY = 2000
"""Longer request bodies (the context-length ones) are named, not copied, in the fixtures."""
PROVENANCE = (
    "Recorded from real SGLang {version} on CPU (tests/real_sglang/record.py) serving the tiny random-weights "
    "Qwen3 of tests/real_sglang/environment.py with: {flags}. Values are random; tests compare shapes."
)


def record(server: str, url: str, flags: list[str]) -> dict[str, Any]:
    """The fixture for one server: provenance, flags, and each exchange's request and answer."""
    exchanges: dict[str, Any] = {}
    with httpx.Client(base_url=url, timeout=120) as client:
        for exchange in golden.exchanges_for(server):
            request: dict[str, Any] = {"method": exchange.method, "path": exchange.path}
            if exchange.raw_body is not None:
                request["raw_body"] = exchange.raw_body.decode()
            elif exchange.json_body is not None and len(json.dumps(exchange.json_body)) <= _SHOWN_BODY:
                request["json"] = exchange.json_body
            elif exchange.json_body is not None:
                request["json"] = f"(see {exchange.name!r} in tests/real_sglang/golden.py)"
            exchanges[exchange.name] = {"request": request, "response": golden.send(client, exchange)}
    return {
        "provenance": PROVENANCE.format(version=environment.SGLANG_VERSION, flags=" ".join(flags)),
        "sglang_version": environment.SGLANG_VERSION,
        "exchanges": exchanges,
    }


def write(server: str, fixture: dict[str, Any]) -> Path:
    path = golden.fixture_path(server)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    return path


def _server_flags(incremental: bool, api_key: str | None) -> list[str]:
    flags = ["--device cpu", "--attention-backend torch_native", "--sleep-on-idle"]
    if incremental:
        flags.append("--incremental-streaming-output")
    if api_key:
        flags.append("--api-key <key>")
    return flags


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for server in golden.SERVERS:
        parser.add_argument(f"--{server.replace('_', '-')}", metavar="URL", help=f"a running {server} server")
    args = parser.parse_args(argv)
    given = {server: getattr(args, server) for server in golden.SERVERS}
    if any(given.values()):  # record only the servers given
        given = {server: url for server, url in given.items() if url}
    started: list[RealSGLang] = []
    try:
        if not all(given.values()):
            python, model = environment.ensure()
            logs = Path(tempfile.mkdtemp(prefix="real-sglang-logs-"))
            for server, (incremental, api_key) in golden.SERVERS.items():
                if not given[server]:
                    process = RealSGLang(
                        python, model, logs / f"{server}.log", incremental_streaming_output=incremental, api_key=api_key
                    ).start()
                    started.append(process)
                    given[server] = process.url
            for process in started:
                process.wait_healthy()
        for server in given:
            incremental, api_key = golden.SERVERS[server]
            print(write(server, record(server, given[server], _server_flags(incremental, api_key))))
    finally:
        for process in started:
            process.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
