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
