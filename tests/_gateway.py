"""SGLang's model gateway (PyPI ``smg``, the successor of ``sglang-router``) in front of emulator workers, for
tests and benchmarks: started on free loopback ports, ready once it counts every worker healthy, stopped after."""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

import httpx
from _support import free_port, output_tail, stop_process

from sglang_native_provider.emulator import Emulator

__all__ = ["SMG_SERIES", "gateway", "healthy_workers", "smg_command", "wait_for_healthy"]

SMG_SERIES = "1.13."


def smg_command() -> list[str]:
    """``python -m smg`` of the installed ``smg`` distribution (the ``test`` extra). Not the ``smg`` script on
    ``PATH``: ``sglang-router`` installs one of that name too, which launches its own older router."""
    try:
        version = importlib.metadata.version("smg")
    except importlib.metadata.PackageNotFoundError:
        version = None
    if importlib.util.find_spec("smg") is None or (version is not None and not version.startswith(SMG_SERIES)):
        raise AssertionError(f"smg {SMG_SERIES}x is not installed: pip install -c constraints.txt -e '.[test]'")
    return [sys.executable, "-m", "smg"]


def healthy_workers(url: str) -> int | None:
    """How many workers the gateway counts healthy (its ``/readiness``), or None when it does not answer."""
    try:
        answer = httpx.get(f"{url}/readiness", timeout=2)
        return int(answer.json().get("healthy_workers", 0))
    except (httpx.TransportError, ValueError, AttributeError):
        return None


def wait_for_healthy(url: str, count: int, process: subprocess.Popen, timeout: float = 60) -> None:
    """Poll the gateway until it counts ``count`` workers healthy; fail with its output if it exits or takes
    longer than ``timeout``."""
    deadline = time.monotonic() + timeout
    while healthy_workers(url) != count:
        if process.poll() is not None:
            raise AssertionError(f"smg exited: {''.join(output_tail(process))[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"smg at {url} did not count {count} healthy workers within {timeout} s")
        time.sleep(0.2)


@contextlib.contextmanager
def gateway(pool: Sequence[Emulator], policy: str, *args: str) -> Iterator[str]:
    """``smg launch`` over ``pool`` with ``policy`` (more flags in ``args``); yields its base URL. Workers are
    health-checked every second and one failed check marks a worker unhealthy, so a stopped worker leaves the
    draw within seconds."""
    port = free_port()
    command = [
        *smg_command(),
        *("launch", "--host", "127.0.0.1", "--port", str(port)),
        *("--worker-urls", *(emulator.url for emulator in pool), "--policy", policy),
        *("--prometheus-host", "127.0.0.1", "--prometheus-port", str(free_port()), "--log-level", "warn"),
        *("--health-check-interval-secs", "1", "--health-failure-threshold", "1", "--health-success-threshold", "1"),
        *args,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        output_tail(process)
        wait_for_healthy(url, len(pool), process)
        yield url
    finally:
        stop_process(process)
