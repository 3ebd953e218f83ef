"""The README's two commands (and the real-SGLang one) are the ones users and CI run; the family table it links
(docs/model-families.md) lists every parser and offline tokenizer."""

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


def test_ci_runs_the_readme_real_sglang_tier_after_the_tests():
    command = _command("real-sglang-command")
    assert command.endswith("pytest tests/real_sglang")
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("test-command") < ci.index("real-sglang-command")


def test_demo_command_installs_and_runs_the_demo():
    command = _command("demo-command")
    assert "'.[emulator]'" in command and command.endswith("sglang-native demo")


def _family_table() -> tuple[list[str], list[list[str]]]:
    """The header cells and the rows' cells of the model-family table in docs/model-families.md, which the README
    links (``\\|`` is a pipe in a cell)."""
    assert "docs/model-families.md" in (ROOT / "README.md").read_text(), "README.md lost its link to the family table"
    page = (ROOT / "docs" / "model-families.md").read_text()
    assert page.startswith("# Model families\n"), "docs/model-families.md lost its Model families title"
    section = page.split("# Model families", 1)[1]
    match = re.search(r"^\| family \|.*\n(?:\|.*\n)+", section, re.M)
    assert match, "docs/model-families.md lost its model-family table"
    header, separator, *rows = (
        [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in match.group(0).splitlines()
    )
    assert set("".join(separator)) == {"-"} and rows
    return header, rows


def test_family_table_lists_every_parser_name_template_and_offline_tokenizer():
    from sglang_native_provider.offline_tokenizers import RECIPES
    from sglang_native_provider.parsers import REASONING_PARSERS, TOOL_CALL_PARSERS

    header, rows = _family_table()
    assert header[4:] == ["chat template in the tests", "tokenizer"], f"unexpected columns: {header}"
    assert all(len(row) == len(header) and all(row) for row in rows), "a family row lacks a cell"
    tool_cells = " ".join(row[1] for row in rows)
    reasoning_cells = " ".join(row[3] for row in rows)
    missing = [name for name in TOOL_CALL_PARSERS if f"`{name}`" not in tool_cells]
    missing += [name for name in REASONING_PARSERS if f"`{name}`" not in reasoning_cells]
    assert not missing, f"parser names missing from the family table (docs/model-families.md): {missing}"
    tokenizer_cells = " ".join(row[5] for row in rows)
    unlisted = [name for name in RECIPES if f"`offline:{name}`" not in tokenizer_cells]
    assert not unlisted, f"offline tokenizers missing from the family table (docs/model-families.md): {unlisted}"
