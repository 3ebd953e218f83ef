"""A venv with this package installed as its main user installs it: ``pip install .``, no extras.

Its dependencies are installed once (under ``constraints.txt``) into ``$SGLANG_NATIVE_TEST_VENVS/plain-install``
(default ``~/.cache/sglang-native-provider/venvs``) and kept while the base requirements, the constraints and the
Python version stay the same; the package itself is rebuilt from this checkout (not editable) at every session,
so the venv holds exactly what a wheel of this checkout ships.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib

PROJECT = Path(__file__).resolve().parents[2]
VENVS = Path(os.environ.get("SGLANG_NATIVE_TEST_VENVS", Path.home() / ".cache" / "sglang-native-provider" / "venvs"))
INSTALL_TIMEOUT = 1800  # seconds: a cold install of litellm and transformers on 2 busy cores


def plain_venv() -> Path:
    """The Python of a venv holding this checkout installed with ``pip install .`` and nothing else."""
    home = VENVS / "plain-install"
    python = home / "bin" / "python"
    stamp = home / "sglang-native-stamp"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    VENVS.mkdir(parents=True, exist_ok=True)
    with open(VENVS / "plain-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time, also across pytest processes
        wanted = _fingerprint()
        if not (python.exists() and stamp.exists() and stamp.read_text() == wanted):
            shutil.rmtree(home, ignore_errors=True)
            _run([sys.executable, "-m", "venv", str(home)], "creating the plain-install venv")
            _run([*pip, "-c", str(PROJECT / "constraints.txt"), _source()], "pip install . (no extras)")
            stamp.write_text(wanted)
        else:  # the dependencies are there; this checkout's code replaces the last one's
            _run([*pip, "--no-deps", "--force-reinstall", _source()], "reinstalling this checkout")
    return python


def _source() -> str:
    """A copy of the checkout to build from (a build writes ``build/`` and ``*.egg-info`` into its source)."""
    source = VENVS / "plain-install-source"
    shutil.rmtree(source, ignore_errors=True)
    ignored = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "tests", ".*cache")
    shutil.copytree(PROJECT, source, ignore=ignored)
    return str(source)


def _fingerprint() -> str:
    """What the venv's dependencies depend on: the base requirements, their constraints, the Python."""
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    parts = [sys.version, project["dependencies"], (PROJECT / "constraints.txt").read_text()]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, cwd=PROJECT)
    if done.returncode != 0:
        raise AssertionError(f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
