"""The real-SGLang tier: the provider against SGLang 0.5.23 itself (not collected by the main ``pytest`` run).

``pytest tests/real_sglang`` builds (once, cached) a venv with real SGLang on CPU and a tiny random-weights
Qwen3, starts two servers on free loopback ports (cumulative streaming; ``--incremental-streaming-output`` with
``--api-key``) and stops them at the end. ``--api-base URL`` (and ``--api-key KEY`` if it needs one) runs the
same checks against a server you started, e.g. a GPU server with a Qwen3 model; checks that need the other
streaming mode or a key are skipped with the reason. An install that cannot reach the package index fails the
tier; it never passes silently.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import environment
import golden
import httpx
import pytest
from server import RealSGLang

API_KEY = golden.API_KEY


def pytest_addoption(parser):
    group = parser.getgroup("real-sglang")
    group.addoption("--api-base", help="run against this SGLang server instead of starting real SGLang on CPU")
    group.addoption("--api-key", help="the --api-base server's API key, if it has one")


@dataclass
class Target:
    """A server the checks run against."""

    url: str
    api_key: str | None
    incremental: bool
    process: RealSGLang | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


def _given(config) -> Target:
    url = config.getoption("--api-base").rstrip("/")
    api_key = config.getoption("--api-key")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    info = httpx.get(f"{url}/server_info", headers=headers, timeout=30).raise_for_status().json()
    return Target(url, api_key, bool(info.get("incremental_streaming_output")))


@pytest.fixture(scope="session")
def targets(request):
    """``{"cumulative": Target | None, "incremental": Target | None}``; local servers start in parallel."""
    if request.config.getoption("--api-base"):
        given = _given(request.config)
        yield {"cumulative": None if given.incremental else given, "incremental": given if given.incremental else None}
        return
    python, model = environment.ensure()
    logs = Path(tempfile.mkdtemp(prefix="real-sglang-logs-"))
    processes = {
        "cumulative": RealSGLang(python, model, logs / "cumulative.log"),
        "incremental": RealSGLang(
            python, model, logs / "incremental.log", incremental_streaming_output=True, api_key=API_KEY
        ),
    }
    try:
        for process in processes.values():
            process.start()
        for process in processes.values():
            process.wait_healthy()
        yield {
            name: Target(process.url, process.api_key, process.incremental_streaming_output, process)
            for name, process in processes.items()
        }
    finally:
        for process in processes.values():
            process.stop()


@pytest.fixture
def server(targets) -> Target:
    """The server for checks that do not depend on the streaming mode (the cumulative one when both run)."""
    return targets["cumulative"] or targets["incremental"]


@pytest.fixture
def cumulative(targets) -> Target:
    if targets["cumulative"] is None:
        pytest.skip("the --api-base server streams incrementally; this check needs cumulative events")
    return targets["cumulative"]


@pytest.fixture
def incremental(targets) -> Target:
    if targets["incremental"] is None:
        pytest.skip("the --api-base server streams cumulatively; this check needs --incremental-streaming-output")
    return targets["incremental"]


@pytest.fixture
def keyed(targets) -> Target:
    """A server that requires an API key."""
    for target in targets.values():
        if target is not None and target.api_key:
            return target
    pytest.skip("no server with an API key (pass --api-key with --api-base)")


@pytest.fixture
def local(targets) -> dict[str, Target]:
    """The servers this tier started (the golden recording needs their exact configuration)."""
    if any(target is None or target.process is None for target in targets.values()):
        pytest.skip("compares with fixtures recorded from the tiny CPU model; not for an --api-base server")
    return targets


@pytest.fixture(autouse=True)
def servers_survive(targets):
    """Every check leaves the servers alive (real SGLang's scheduler dies on some bad inputs)."""
    yield
    for name, target in targets.items():
        if target is not None and target.process is not None and not target.process.alive():
            pytest.fail(f"real SGLang ({name}) died during this test:\n{target.process.log_tail()}")
