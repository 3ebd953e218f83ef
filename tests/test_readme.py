"""The README's two commands are the ones users and CI run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _command(name: str) -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {name} -->\n```bash\n(.+?)\n```\n<!-- /{name} -->", readme, re.S)
    assert match, f"README.md lost its {name} block"
    return match.group(1)


def test_ci_runs_the_readme_test_command():
    command = _command("test-command")
    assert command.endswith("ruff check . && pytest")
    assert "'.[test]'" in command and "-c constraints.txt" in command
    assert "test-command" in (ROOT / ".ci" / "run").read_text()


def test_demo_command_installs_and_runs_the_demo():
    command = _command("demo-command")
    assert "'.[emulator]'" in command and command.endswith("sglang-native demo")
