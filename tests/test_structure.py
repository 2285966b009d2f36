"""The shape of the code: small modules, no import cycle, adapters on the kit only.

The layers themselves are import-linter contracts (pyproject.toml, ``lint-imports`` in ``make
test``); these checks cover what a contract does not say.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 500
# What adapter code (algorithms/) may import from the harness: the kit, datasets and folders;
# never the runner, the result files or the report (an adapter runs inside the worker).
ADAPTER_MAY_IMPORT = ("harness.kit", "harness.data", "harness.paths")


def python_files() -> list[Path]:
    return sorted(p for folder in ("harness", "algorithms", "tests", "benchmarks", "scripts")
                  for p in (ROOT / folder).rglob("*.py"))


def test_no_python_module_is_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in python_files()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def find_cycle(imports: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the directed graph ``imports`` (module → modules it imports), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for other in sorted(imports.get(module, ())):
            if state.get(other) == 1:
                return path[path.index(other):] + [other]
            if other not in state and (cycle := visit(other)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(imports):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_harness_has_no_import_cycle():
    """Every import in harness/, at module level or inside a function, between its modules."""
    graph = grimp.build_graph("harness")
    imports = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    # A package's __init__ re-exporting its own modules is not a cycle between modules.
    imports = {m: {o for o in found if not m.startswith(o + ".")} for m, found in imports.items()}
    assert len(imports) > 30
    assert find_cycle(imports) is None, find_cycle(imports)


def harness_imports(source: str) -> list[str]:
    """Every harness module a file imports (``from harness import paths`` counts as harness.paths)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [f"harness.{alias.name}" if node.module == "harness" else node.module for alias in node.names]
    return [m for m in found if m == "harness" or m.startswith("harness.")]


def test_harness_imports_are_read_as_modules():
    assert harness_imports("from harness import paths\nimport harness.kit\nfrom harness.run import runner") == \
        ["harness.paths", "harness.kit", "harness.run"]


@pytest.mark.parametrize("path", sorted((ROOT / "algorithms").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_adapters_import_only_the_kit_and_data(path):
    found = harness_imports(path.read_text(encoding="utf-8"))
    wrong = [m for m in found if not any(m == a or m.startswith(a + ".") for a in ADAPTER_MAY_IMPORT)]
    assert not wrong, f"{path.relative_to(ROOT)} imports {wrong}; adapters may import {ADAPTER_MAY_IMPORT}"
