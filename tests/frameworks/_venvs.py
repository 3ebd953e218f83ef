"""Virtual environments of their own for frameworks whose pins conflict with the project's (constraints.txt).

Built once from PyPI with pip, with this checkout installed editable, under
``$SGLANG_NATIVE_TEST_VENVS`` (default ``~/.cache/sglang-native-provider/venvs``); rebuilt when the
requirements, their constraints, the project's own requirements or the Python version change.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
VENVS = Path(os.environ.get("SGLANG_NATIVE_TEST_VENVS", Path.home() / ".cache" / "sglang-native-provider" / "venvs"))
INSTALL_TIMEOUT = 1800  # seconds: a cold install of a large framework on 2 busy cores
TASK_TIMEOUT = 600  # seconds: one scripted episode in a framework's venv


def framework_venv(name: str, constraints: Path, *requirements: str) -> Path:
    """The Python of venv ``name`` with ``requirements`` and ``PROJECT[emulator]`` installed under ``constraints``."""
    home = VENVS / name
    python = home / "bin" / "python"
    stamp = home / "sglang-native-stamp"
    wanted = _fingerprint(constraints, requirements)
    VENVS.mkdir(parents=True, exist_ok=True)
    with open(VENVS / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time, also across pytest processes
        if python.exists() and stamp.exists() and stamp.read_text() == wanted:
            return python
        shutil.rmtree(home, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(home)], f"creating the {name} venv")
        command = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", str(constraints)]
        _run([*command, *requirements, "-e", f"{PROJECT}[emulator]"], f"installing {' '.join(requirements)}")
        stamp.write_text(wanted)
    return python


def _fingerprint(constraints: Path, requirements: tuple[str, ...]) -> str:
    # what the venv installs of the project (its code is editable): its own and its emulator extra's requirements
    project = [r for r in requires("sglang-native-provider") or [] if "extra ==" not in r or "emulator" in r]
    parts = [sys.version, str(PROJECT), *requirements, constraints.read_text(), *project]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    if done.returncode != 0:
        raise AssertionError(f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def run_task(python: Path, script: Path, spec: dict, tmp_path: Path) -> dict:
    """Run ``script SPEC.json`` with the venv's ``python`` in ``tmp_path``; the report it writes to
    ``spec["out"]`` (set here)."""
    out = tmp_path / "out.json"
    (tmp_path / "spec.json").write_text(json.dumps({**spec, "out": str(out)}))
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error", "HOME": os.environ.get("HOME", str(tmp_path))}
    done = subprocess.run(
        [str(python), str(script), str(tmp_path / "spec.json")],
        capture_output=True,
        text=True,
        timeout=TASK_TIMEOUT,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(out.read_text())
