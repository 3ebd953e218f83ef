"""Every ``--tool-call-parser`` and ``--reasoning-parser`` name SGLang accepts is one we register.

The names are read from the pinned sglang wheel (downloaded once, as the conformance test does): SGLang keeps
them in two dependency-free modules, read here as Python literals (nothing from the wheel runs).
"""

from __future__ import annotations

import ast
import zipfile

import pytest
from _support import pinned_sglang_wheel

from sglang_native_provider.parsers import REASONING_PARSERS, TOOL_CALL_PARSERS

NAME_LISTS = {
    "tool_call": ("sglang/srt/function_call/parser_names.py", "TOOL_CALL_PARSER_NAMES", TOOL_CALL_PARSERS),
    "reasoning": ("sglang/srt/parser/reasoning_parser_names.py", "REASONING_PARSER_NAMES", REASONING_PARSERS),
}


def _assigned_list(source: str, variable: str) -> list[str]:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == variable for target in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{variable} is not assigned in SGLang's module")


@pytest.fixture(scope="module")
def sglang_names() -> dict[str, list[str]]:
    with zipfile.ZipFile(pinned_sglang_wheel()) as wheel:
        return {
            kind: _assigned_list(wheel.read(member).decode(), variable)
            for kind, (member, variable, _) in NAME_LISTS.items()
        }


def test_the_wheel_lists_sglangs_names(sglang_names):
    assert len(sglang_names["tool_call"]) == 44 and "qwen3_coder" in sglang_names["tool_call"]
    assert len(sglang_names["reasoning"]) == 36 and "qwen3" in sglang_names["reasoning"]


@pytest.mark.parametrize("kind", sorted(NAME_LISTS))
def test_every_sglang_parser_name_is_registered(sglang_names, kind):
    registry = NAME_LISTS[kind][2]
    missing = [name for name in sglang_names[kind] if name not in registry]
    assert not missing, f"SGLang {kind} parser names we do not register: {', '.join(missing)}"
