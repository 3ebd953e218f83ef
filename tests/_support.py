"""Helpers shared by tests that start server processes on loopback."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import litellm
import pytest

from sglang_native_provider.emulator import SGLANG_VERSION, Emulator
from sglang_native_provider.offline_tokenizers import cache_root


def pinned_sglang_wheel() -> Path:
    """The pinned sglang wheel, downloaded once (no dependencies) into the offline cache; skips the test with
    pip's error when the package registry is unreachable."""
    target = cache_root() / "sglang-wheel"
    target.mkdir(parents=True, exist_ok=True)
    wheels = sorted(target.glob(f"sglang-{SGLANG_VERSION}-*.whl"))
    if wheels:
        return wheels[0]
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.11",
        "--platform",
        "manylinux_2_34_x86_64",
        "--dest",
        str(target),
        f"sglang=={SGLANG_VERSION}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    wheels = sorted(target.glob(f"sglang-{SGLANG_VERSION}-*.whl"))
    if result.returncode != 0 or not wheels:
        pytest.skip(
            f"the sglang=={SGLANG_VERSION} wheel could not be downloaded (registry unreachable?): "
            f"{result.stderr.strip()[-300:]}"
        )
    return wheels[0]


def without_distribution(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """``importlib.metadata`` answers as if the ``name`` distribution were not installed (for the rest of a test)."""
    installed = importlib.metadata.distribution

    def distribution(asked: str) -> importlib.metadata.Distribution:
        if asked == name:
            raise importlib.metadata.PackageNotFoundError(asked)
        return installed(asked)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)


TWO_PROXY_WORKERS = ("--num_workers", "2", "--timeout_worker_healthcheck", "60")
"""A proxy with two worker processes. uvicorn's supervisor kills a worker that does not answer its health ping
within 5 s (its default), and loading a tokenizer holds the GIL for about 1.3 s on an idle core (the Rust
tokenizer's ``from_file``), so on a busy machine a worker's first request could be killed mid-answer ("Server
disconnected without sending a response"). docs/router-and-proxy.md gives users the same setting."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def output_tail(process: subprocess.Popen) -> deque:
    """The last lines ``process`` wrote to its stdout pipe, read as they come by a thread started on first call:
    a pipe nobody reads fills up (64 KB: a few of LiteLLM's logged tracebacks) and then blocks the process."""
    tail = getattr(process, "output_tail", None)
    if tail is None:
        tail = process.output_tail = deque(maxlen=300)
        if process.stdout is not None:
            threading.Thread(target=tail.extend, args=(process.stdout,), daemon=True).start()
    return tail


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float) -> None:
    """Poll ``url`` until it answers 200; fail with the process output if it exits or takes too long. The
    process's output is drained from then on (see :func:`output_tail`)."""
    tail = output_tail(process)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            process.wait()
            time.sleep(0.2)  # the reader thread takes the last lines
            raise AssertionError(f"{process.args[0]} exited: {''.join(tail)[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer within {timeout} s")
        time.sleep(0.3)


@contextlib.contextmanager
def litellm_proxy(
    config: Path,
    env: Mapping[str, str],
    *args: str,
    master_key: str | None = None,
    startup_timeout: float = 120,
) -> Iterator[tuple[str, str]]:
    """A real ``litellm --config`` proxy process on a free loopback port (more command-line ``args`` after
    the config); yields its base URL and master key (a new one unless given: proxies of one deployment share it)
    once it answers (within ``startup_timeout`` seconds)."""
    port = free_port()
    master_key = master_key or f"sk-{secrets.token_hex(8)}"
    environment = {
        **os.environ,
        **env,
        "LITELLM_MASTER_KEY": master_key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "TRANSFORMERS_VERBOSITY": "error",
    }
    litellm_cli = Path(sys.executable).with_name("litellm")
    command = [str(litellm_cli), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), *args]
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{base}/health/liveliness", process, timeout=startup_timeout)
        yield base, master_key
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen) -> None:
    """Terminate ``process`` and wait for it (killed after 20 s)."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)


def chat(emulator, **kwargs):
    """``litellm.acompletion`` of the Qwen3 model served by ``emulator``; asks about Paris's weather unless
    ``messages`` is given."""
    kwargs.setdefault("messages", [{"role": "user", "content": "Weather in Paris?"}])
    kwargs.setdefault("tokenizer", "offline:qwen3")
    kwargs.setdefault("model", "sglang_native/qwen3")
    return litellm.acompletion(api_base=emulator.url, **kwargs)


class PathCounter:
    """ASGI wrapper of an emulator's app counting the requests per path at the server; ``gateway`` answers as
    SGLang's model gateway (smg 1.13) does: ``/model_info`` is unknown, ``/v1/tokenize`` wants a ``model`` and
    then a tokenizer of the gateway's own (``/get_model_info`` and ``/generate`` pass through to the worker)."""

    def __init__(self, app, *, gateway: bool = False) -> None:
        self.app, self.gateway = app, gateway
        self.seen: Counter[str] = Counter()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            self.seen[scope["path"]] += 1
            answer = await self._gateway_answer(scope, receive) if self.gateway else None
            if answer is not None:
                status, body = answer
                await send(
                    {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _gateway_answer(scope, receive) -> tuple[int, bytes] | None:
        if scope["path"] in ("/model_info", "/tokenize"):
            return 404, b'{"error":{"code":"unknown_url"}}'
        if scope["path"] != "/v1/tokenize":
            return None
        message = await receive()
        if "model" not in json.loads(message.get("body") or b"{}"):
            return 422, b"Failed to deserialize the JSON body into the target type: missing field `model`"
        return 400, b'{"error":{"message":"No tokenizers available.","type":"tokenizer_not_found"}}'


def counted(emulator: Emulator, *, gateway: bool = False) -> Counter[str]:
    """Count ``emulator``'s requests per path (call before it starts)."""
    emulator.app = counter = PathCounter(emulator.app, gateway=gateway)
    return counter.seen
