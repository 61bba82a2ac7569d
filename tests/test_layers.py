"""Imports run one way: down through providers' layers (docs/design.md, "How it is built"), and fleet's writers
below the commands that use them. Read from the source's import statements, lazy ones included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.paths import REPO

# Highest first: a module may import its own layer and those after it, never one before.
LAYERS = (
    ("fleet",),
    ("fleet.writers",),
    ("fleet.outcome", "fleet.selection", "fleet.stacks"),  # a row, its exit code, the stacks and shards written about
    ("program", "providers"),  # the Pulumi resources, at the top of providers/
    ("providers.signin",),
    ("providers.config",),
    ("providers.graph",),
    ("providers.common",),
)


def layer(module: str) -> int:
    """The index in LAYERS of the most specific prefix that names `module`'s layer."""
    matches = [
        (len(prefix), index)
        for index, prefixes in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(f"{prefix}.")
    ]
    return max(matches)[1]


def modules() -> list[tuple[str, Path]]:
    found = [("program", REPO / "program.py")]
    for package in ("providers", "fleet"):
        for path in sorted((REPO / package).rglob("*.py")):
            found.append((".".join(path.relative_to(REPO).with_suffix("").parts), path))
    return found


def imported(path: Path, roots: tuple[str, ...] = ("providers", "fleet", "program")) -> list[str]:
    """The modules under `roots` that `path` imports, at any depth of its code."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return [name for name in names if name.split(".")[0] in roots]


def test_the_layers_cover_every_module() -> None:
    assert len(modules()) > 60  # the walk finds the modules (it would pass vacuously on none)


@pytest.mark.parametrize(("module", "path"), modules(), ids=[name for name, _ in modules()])
def test_no_import_runs_up_a_layer(module: str, path: Path) -> None:
    upward = [name for name in imported(path) if layer(name) < layer(module)]
    assert upward == [], f"{module} (layer {LAYERS[layer(module)]}) imports from a higher layer: {upward}"


# The product imports neither the emulator nor the tests (it knows the emulator only by its endpoint
# settings); the emulator and the benchmarks never import the tests.
CODE = sorted(
    path
    for place in ("providers", "fleet", "policy", "emulator", "bench", "program.py", "__main__.py")
    for path in ([REPO / place] if place.endswith(".py") else (REPO / place).rglob("*.py"))
    if "venv" not in path.parts
)


@pytest.mark.parametrize("path", CODE, ids=[str(path.relative_to(REPO)) for path in CODE])
def test_the_product_and_the_benchmarks_never_import_the_tests(path: Path) -> None:
    top = path.relative_to(REPO).parts[0]
    refused = ("tests",) if top in ("emulator", "bench") else ("emulator", "tests")
    assert imported(path, refused) == [], f"{path.relative_to(REPO)} imports {imported(path, refused)}"


TESTS = sorted(path for path in (REPO / "tests").rglob("*.py") if "support" not in path.parts)


@pytest.mark.parametrize("path", TESTS, ids=[str(path.relative_to(REPO)) for path in TESTS])
def test_a_test_module_imports_helpers_only_from_tests_support(path: Path) -> None:
    others = [name for name in imported(path, ("tests",)) if not name.startswith("tests.support")]
    others += [  # `from .test_x import y`: relative imports name no package to check, so none is allowed here
        f"{'.' * node.level}{node.module or ''}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert others == [], f"{path.relative_to(REPO)} imports {others}: move what it needs to tests/support/"
