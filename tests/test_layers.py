"""The package layers (docs/DESIGN.md, Layers): which top-level package may import which, read from the source.

Every import is checked, function-local ones and ``importlib.import_module("...")`` with a literal name included,
so a lazy import cannot hide a dependency that points the wrong way.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package -> the project packages its modules may import (itself included)
ALLOWED = {
    "common": {"common"},
    "data": {"common", "data"},
    "main": {"common", "data", "main"},
    "demo": {"common", "data", "demo"},
    "tool": {"common", "data", "main", "tool"},
}
PROJECT = set(ALLOWED)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, at any depth."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]  # submodule imports
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def project_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_imported_modules_sees_local_relative_and_string_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "common" / "sub"
    pkg.mkdir(parents=True)
    source = pkg / "mod.py"
    source.write_text("import os\n\ndef f():\n    from data.records import PersonRecord\n    from . import x\n"
                      "    importlib.import_module('tool.benchmark')\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    names = {name for _, name in imported_modules(source)}
    assert {"os", "data.records", "common.sub", "common.sub.x", "tool.benchmark"} <= names
    assert violations("common", [source])


def violations(package: str, files: list[Path]) -> list[str]:
    out = []
    for path in files:
        for line, name in imported_modules(path):
            top = name.split(".")[0]
            if top in PROJECT and top not in ALLOWED[package]:
                out.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_lower_layers(package):
    files = project_files(package)
    assert files, package
    bad = violations(package, files)
    assert not bad, f"{package} may import only {sorted(ALLOWED[package])}:\n" + "\n".join(bad)


# Known cycle between subpackages, to be removed by issue 7 item 3 (one function reads weight files):
# common.models.sefd reads checkpoints through common.engine, and common.engine imports common.models.
KNOWN_SUBPACKAGE_CYCLES: list[set[str]] = []


def import_graph(level: int | None = None) -> dict[str, set[str]]:
    """Module -> project modules it imports (any depth); ``level`` folds names to that many dotted parts."""
    files = {module_name(p): p for package in ALLOWED for p in project_files(package)}

    def fold(name: str) -> str:
        return ".".join(name.split(".")[:level]) if level else name

    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        deps = graph.setdefault(fold(module), set())
        for _, name in imported_modules(path):
            while name and name not in files:  # 'pkg.mod.attr' -> 'pkg.mod'
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(name + "."):  # a package's own __init__
                deps.add(fold(name))
        deps.discard(fold(module))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in graph.get(node, ()):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_modules():
    assert cycles(import_graph()) == []


def test_no_new_import_cycles_between_subpackages():
    found = cycles(import_graph(level=2))
    assert [c for c in found if c not in KNOWN_SUBPACKAGE_CYCLES] == []
