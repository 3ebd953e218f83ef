"""Start and stop a real SGLang 0.5.23 server on CPU (127.0.0.1, a free port) from the cached venv."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
from environment import SHIMS

STARTUP_TIMEOUT = 900.0
"""Seconds to wait for /health (about 3 minutes on 2 busy cores; twice that with two servers starting)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RealSGLang:
    """``python -m sglang.launch_server`` in its own process group, logging to ``log_path``."""

    def __init__(
        self,
        python: Path,
        model: Path,
        log_path: Path,
        *,
        incremental_streaming_output: bool = False,
        api_key: str | None = None,
    ) -> None:
        self.python = python
        self.model = model
        self.log_path = log_path
        self.incremental_streaming_output = incremental_streaming_output
        self.api_key = api_key
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def __repr__(self) -> str:
        return f"RealSGLang(url={self.url!r}, incremental={self.incremental_streaming_output})"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def command(self) -> list[str]:
        command = [
            str(self.python), "-m", "sglang.launch_server",
            "--model-path", str(self.model),
            "--device", "cpu",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--attention-backend", "torch_native",
            "--disable-cuda-graph",
            "--skip-server-warmup",
            "--tp", "1",
            "--max-total-tokens", "8192",
            "--mem-fraction-static", "0.1",
            "--sleep-on-idle",  # without it the scheduler busy-polls most of a core
        ]  # fmt: skip
        if self.incremental_streaming_output:
            command.append("--incremental-streaming-output")
        if self.api_key:
            command += ["--api-key", self.api_key]
        return command

    def start(self) -> RealSGLang:
        """Launch without waiting (see :meth:`wait_healthy`)."""
        env = dict(os.environ)
        env.update(
            SGLANG_USE_CPU_ENGINE="1",
            PYTHONPATH=os.pathsep.join([str(SHIMS), *filter(None, [env.get("PYTHONPATH")])]),
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
        )
        env.pop("VIRTUAL_ENV", None)
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        return self

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Poll /health until it answers 200; raise with the log's tail if the server exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"real SGLang exited during startup:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(2)
        raise RuntimeError(f"real SGLang did not answer /health within {timeout:.0f} s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM the whole process group (scheduler and detokenizer too), SIGKILL after 30 s."""
        if self.process is None:
            return
        for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):  # children that outlived the leader
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process = None
