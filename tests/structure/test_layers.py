"""The layering rule: features -> training -> serving's artifact format; experiments on top.

Read with ``ast`` from every source file, module-level and function-level imports alike:

- ``features`` imports none of ``training``, ``serving``, ``experiments``;
- ``training`` does not import ``experiments``;
- ``serving`` imports neither ``training`` nor ``experiments``;

and a fresh interpreter that imports every ``serving`` module has loaded no mlflow, optuna,
implicit or lightfm (the server process stays light).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "features": ("training", "serving", "experiments"),
    "training": ("experiments",),
    "serving": ("training", "experiments"),
}
HEAVY = ("mlflow", "optuna", "implicit", "lightfm")


def module_name(path: Path, root: Path) -> str:
    """Dotted module name of a source file under ``root`` (``pkg/__init__.py`` -> ``pkg``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, at any depth (relative resolved)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            yield node.lineno, target
            if not node.module:  # ``from . import x``: x is a module too
                for alias in node.names:
                    yield node.lineno, ".".join(filter(None, [target, alias.name]))


def layer_violations(root: Path, rules: dict[str, tuple[str, ...]] = FORBIDDEN) -> list[str]:
    """``file:line: layer imports target`` for every import that breaks ``rules``."""
    out = []
    for layer, banned in rules.items():
        for path in sorted((root / layer).rglob("*.py")):
            mod = module_name(path, root)
            source = path.read_text(encoding="utf-8")
            for line, target in imported_modules(source, mod, path.name == "__init__.py"):
                top = target.split(".")[0]
                if top in banned:
                    out.append(f"{path.relative_to(root)}:{line}: {layer} imports {target}")
    return out


def test_no_layer_imports_upwards() -> None:
    violations = layer_violations(ROOT)
    assert not violations, "imports against the layering rule:\n" + "\n".join(violations)


def test_the_checker_sees_module_function_and_relative_imports(tmp_path: Path) -> None:
    """The check is not vacuous: module- and function-level forbidden imports are found, allowed
    ones (relative imports stay inside their top-level package) are not."""
    files = {
        "features/__init__.py": "",
        "features/a.py": "import numpy\nfrom features import schema\n",
        "features/b.py": "def f():\n    from serving.ranking import top_k\n    return top_k\n",
        "features/c.py": "import experiments.report as r\n",
        "training/__init__.py": "",
        "training/d.py": "from features.matrix import IdMap\nfrom serving import artifacts\n",
        "training/sub/__init__.py": "",
        "training/sub/e.py": "from .. import d\nfrom .f import g\n",
        "serving/__init__.py": "",
        "serving/f.py": "class S:\n    def g(self):\n        import training.tracking\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    found = layer_violations(tmp_path)
    assert found == [
        "features/b.py:2: features imports serving.ranking",
        "features/c.py:1: features imports experiments.report",
        "serving/f.py:3: serving imports training.tracking",
    ]


@pytest.mark.parametrize(
    ("source", "module", "is_package", "expected"),
    [
        (
            "from .. import tracking",
            "training.models.base",
            False,
            ["training", "training.tracking"],
        ),
        ("from .base import top_k", "training.models", True, ["training.models.base"]),
        ("import serving.ranking as r", "features.x", False, ["serving.ranking"]),
    ],
)
def test_imports_resolve_to_absolute_names(
    source: str, module: str, is_package: bool, expected: list[str]
) -> None:
    assert [t for _, t in imported_modules(source, module, is_package)] == expected


def test_the_server_process_loads_no_training_libraries() -> None:
    """Importing every serving module (the service included) loads none of the heavy libraries."""
    modules = sorted(
        module_name(p, ROOT) for p in (ROOT / "serving").rglob("*.py") if p.name != "__main__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        f"bad = sorted({{k.split('.')[0] for k in sys.modules}} & set({HEAVY!r}))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
        cwd=ROOT,
    )
    assert "serving.service" in modules
    assert out.stdout.strip() == "", f"the server process loaded {out.stdout.strip()}"
