"""The import rules of docs/architecture.md, read from the code: a request flows through the stages in order
and never back, the emulator is a server beside the product, parsers are plain text processing, and every
module is small enough to read."""

from __future__ import annotations

import ast
import graphlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sglang_native_provider"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports at run time (module level or inside functions; not under TYPE_CHECKING),
    relative imports resolved to absolute names."""
    package = _module_name(path).split(".") if path.name == "__init__.py" else _module_name(path).split(".")[:-1]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
IMPORTS = {name: _imports(path) for name, path in MODULES.items()}


def _stage_table() -> list[tuple[int, list[str]]]:
    """docs/architecture.md's table of stages: (stage number, the package's modules and packages in it)."""
    rows = re.findall(r"^\| (\d+) \| [^|]+ \| ([^|]+) \|", ARCHITECTURE.read_text(), re.M)
    assert rows, "docs/architecture.md lost its table of stages"
    return [(int(number), re.findall(r"`([\w/.]+?)(?:\.py|/)?`", cell)) for number, cell in rows]


def _stage_of() -> dict[str, int]:
    stages: dict[str, int] = {}
    for number, names in _stage_table():
        for name in names:
            stages["sglang_native_provider." + name.replace("/", ".")] = number
    return stages


def _home(module: str, stages: dict[str, int]) -> str | None:
    """The stage-table entry a module belongs to (itself, or the package holding it)."""
    parts = module.split(".")
    for length in range(len(parts), 1, -1):
        candidate = ".".join(parts[:length])
        if candidate in stages:
            return candidate
    return None


def test_every_module_has_a_stage_in_docs_architecture():
    stages = _stage_of()
    homeless = [name for name in MODULES if name != "sglang_native_provider" and _home(name, stages) is None]
    assert not homeless, f"modules missing from docs/architecture.md's stage table: {homeless}"
    unknown = [name for name in stages if name not in MODULES]
    assert not unknown, f"docs/architecture.md names modules that do not exist: {unknown}"


def test_a_stage_imports_only_its_own_and_earlier_stages():
    """A request is read top-down: no module reaches forward into a later stage (no return trips)."""
    stages = _stage_of()
    backwards = []
    for name, imported in IMPORTS.items():
        home = _home(name, stages)
        if home is None:
            continue
        for target in imported:
            target_home = _home(target, stages)
            if target_home is not None and target_home != home and stages[target_home] > stages[home]:
                backwards.append(f"{name} (stage {stages[home]}) imports {target} (stage {stages[target_home]})")
    assert not backwards, "\n".join(sorted(backwards))


def test_only_the_emulator_the_cli_and_the_demo_import_the_emulator():
    outside = {"sglang_native_provider.cli", "sglang_native_provider.demo"}
    offenders = sorted(
        name
        for name, imported in IMPORTS.items()
        if not name.startswith("sglang_native_provider.emulator")
        and name not in outside
        and any(target.startswith("sglang_native_provider.emulator") for target in imported)
    )
    assert not offenders, f"modules importing the emulator: {offenders}"


def test_the_emulator_imports_only_the_wire_contract_tokenizers_and_parsers_of_the_package():
    """Its OpenAI endpoint parses what it generates with the same parsers, as SGLang's server runs its own."""
    shared = ("emulator", "contract", "offline_tokenizers", "parsers", "messages")
    allowed = tuple(f"sglang_native_provider.{name}" for name in shared)
    offenders = sorted(
        f"{name} imports {target}"
        for name, imported in IMPORTS.items()
        if name.startswith("sglang_native_provider.emulator")
        for target in imported
        if target.startswith("sglang_native_provider.") and not target.startswith(allowed)
    )
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("forbidden", ["litellm", "httpx", "aiohttp", "pydantic", "sglang_native_provider.emulator"])
def test_parsers_are_plain_text_processing(forbidden):
    offenders = sorted(
        name
        for name, imported in IMPORTS.items()
        if name.startswith("sglang_native_provider.parsers")
        and any(target == forbidden or target.startswith(forbidden + ".") for target in imported)
    )
    assert not offenders, f"parsers importing {forbidden}: {offenders}"


def test_no_import_cycles_between_modules():
    """A package's ``__init__`` re-exporting its own modules is not counted (they import it half-made)."""
    graph = {
        name: {target for target in imported if target in MODULES and not name.startswith(target)}
        for name, imported in IMPORTS.items()
    }
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_modules_and_functions_stay_small():
    """No module over 500 lines; no function over 60 lines outside the emulator."""
    sizes = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    long_modules = [f"{name}: {size} lines" for name, size in sizes.items() if size > 500]
    long_functions = []
    for name, path in MODULES.items():
        if name.startswith("sglang_native_provider.emulator"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long_functions.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not long_modules and not long_functions, (long_modules, long_functions)
