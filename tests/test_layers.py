"""The package's import graph: no circles, and every import points down the layers.

Imports are read from the source (module level and inside functions), so a deferred
import that hides a circle at run time is still found.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "winback_study"

#: Layer of each top-level part of the package: a module may import only from its own
#: layer or a lower one (plotting may read the data layer's descriptive tables).
LAYERS: dict[str, int] = {
    "errors": 0, "design": 0, "core": 0,
    "data": 1,
    "plotting": 2,
    "models": 3,
    "analysis": 4,
    "reporting": 5, "scale": 5, "cli": 5,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in its source)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, node, path.name == "__init__.py")
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                if t in modules and t != name:
                    graph[name].add(t)
    return graph


def _part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_the_import_graph_has_no_circle():
    graph = import_graph()
    # the package's __init__ files re-export their children; importing a child imports
    # its parent package first, so edges *into* an __init__ from below are the circles
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycle = stack[stack.index(n):] + [n]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if state.get(n) is None:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if state.get(m) is None:
            visit(m)


def test_every_import_points_down_the_layers():
    graph = import_graph()
    wrong = []
    for m, targets in graph.items():
        src = _part(m)
        if src is None:  # winback_study/__init__.py: the public face, imports every layer
            continue
        assert src in LAYERS, f"{m}: add its folder to LAYERS"
        for t in targets:
            dst = _part(t)
            if dst is not None and LAYERS[dst] > LAYERS[src]:
                wrong.append(f"{m} (layer {LAYERS[src]}) imports {t} (layer {LAYERS[dst]})")
    assert not wrong, "\n".join(wrong)


def test_the_graph_sees_function_level_imports():
    """The check would be worthless if deferred imports were invisible to it."""
    graph = import_graph()
    # cli.cmd_analyze imports the analyze module inside the function only
    assert "winback_study.reporting.analyze" in graph["winback_study.cli"]


def test_import_is_cheap_and_draws_nothing():
    code = ("import sys, winback_study; "
            "print('matplotlib.pyplot' in sys.modules, 'winback_study.reporting' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"], "import winback_study must not import pyplot or reporting"


def test_the_tests_mirror_the_package():
    """Every test folder is a part of the package, and every model and every analysis
    module (a subpackage such as ``analysis/targeting/`` counts as one) has its test file."""
    tests = Path(__file__).resolve().parent
    for folder in (p for p in tests.iterdir() if p.is_dir() and p.name not in (
            "fixtures", "__pycache__")):
        assert folder.name in LAYERS, f"tests/{folder.name}/ mirrors no part of the package"
    for module in (PACKAGE / "models").glob("*.py"):
        if module.name in ("__init__.py", "base.py"):
            continue
        assert (tests / "models" / f"test_{module.name}").exists(), module.name
    analysis = PACKAGE / "analysis"
    names = [m.stem for m in analysis.glob("*.py") if not m.name.startswith("_")]
    names += [d.name for d in analysis.iterdir() if (d / "__init__.py").exists()]
    for name in names:
        assert (tests / "analysis" / f"test_{name}.py").exists(), f"analysis/{name}"
