"""Every library import is a declared dependency, and conda users get the same list."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {_norm(re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0]) for d in project["dependencies"]}


def _imported_modules() -> set[str]:
    names = set()
    for path in (ROOT / "winback_study").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"winback_study", "__future__"}


def test_every_third_party_import_is_declared():
    dists = packages_distributions()
    declared = _declared()
    missing = {}
    for mod in sorted(_imported_modules()):
        owners = {_norm(d) for d in dists.get(mod, [mod])}
        if not owners & declared:
            missing[mod] = sorted(owners)
    assert not missing, f"imported by winback_study but not in pyproject dependencies: {missing}"


def test_environment_yml_lists_the_same_dependencies():
    text = (ROOT / "environment.yml").read_text(encoding="utf-8")
    listed = {_norm(m) for m in re.findall(r"^\s*-\s*([A-Za-z][\w.-]*)", text, re.M)}
    assert _declared() <= listed, f"missing from environment.yml: {_declared() - listed}"
