"""The built-in plugins live by the public API, and the engine names no plugin.

A built-in may import the standard library, third-party packages, ``pycoredns.plugin`` (the one
public module) and its own package; nothing else of pycoredns, no other plugin, and no engine
state reached around the API.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pycoredns
from pycoredns import plugin
from pycoredns.server import config

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "plugins"
ENGINE = Path(pycoredns.__file__).resolve().parent
PRIVATE_ATTRIBUTES = {"process", "_block", "_load", "instance", "config"}


def _plugin_files() -> list[Path]:
    return sorted(p for p in PLUGINS.rglob("*.py") if p.parent != PLUGINS)


def _violations(path: Path, base: Path = PLUGINS) -> list[str]:
    own = f"pycoredns.plugins.{path.relative_to(base).parts[0]}"
    tree = ast.parse(path.read_text(), str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            if node.module == "pycoredns":
                modules = [f"pycoredns.{a.name}" for a in node.names]
        for m in modules:
            if m.split(".")[0] != "pycoredns":
                continue
            if m == "pycoredns.plugin" or m == own or m.startswith(own + "."):
                continue
            found.append(f"line {node.lineno}: imports {m}")
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES:
            found.append(f"line {node.lineno}: touches .{node.attr}")
    return found


@pytest.mark.parametrize("path", _plugin_files(), ids=lambda p: str(p.relative_to(PLUGINS)))
def test_builtin_uses_only_the_public_api(path: Path) -> None:
    assert _violations(path) == []


def test_the_check_catches_a_violation(tmp_path: Path) -> None:
    # The rule itself, on files written to break it (so the check above cannot pass vacuously).
    bad = tmp_path / "cache" / "probe.py"
    bad.parent.mkdir()
    bad.write_text(
        "from pycoredns.server.config import Instance\n"
        "from pycoredns import wire\n"
        "from pycoredns.plugins.forward import metrics\n"
        "def f(c): return c.process\n"
    )
    assert _violations(bad, tmp_path) == [
        "line 1: imports pycoredns.server.config",
        "line 2: imports pycoredns.wire",
        "line 3: imports pycoredns.plugins.forward",
        "line 4: touches .process",
    ]


def test_every_public_name_exists() -> None:
    for name in plugin.__all__:
        assert getattr(plugin, name) is not None, name


def _directive_names() -> set[str]:
    cfg = (ENGINE / "plugin.cfg").read_text().splitlines()
    return {line.split(":")[0].strip() for line in cfg if line.strip() and not line.startswith("#")}


def _string_constants(path: Path) -> list[tuple[int, str]]:
    """String literals that could decide something: not docstrings, not ``__slots__`` (attribute
    names), not the labels of typed keys."""
    tree = ast.parse(path.read_text(), str(path))
    skip: set[int] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and n.body:
            first = n.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))
        elif isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__slots__" for t in n.targets):
            skip.update(id(c) for c in ast.walk(n.value))
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "Key":
            skip.update(id(a) for a in n.args)
    return [
        (n.lineno, n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip
    ]


def test_the_query_engine_names_no_plugin() -> None:
    """The server, the registry and the API decide nothing by a plugin's name.

    CoreDNS's own built-in default Corefile (whoami, log) is the one place a name is written.
    """
    names = _directive_names()
    files = [*sorted((ENGINE / "server").glob("*.py")), ENGINE / "registry.py", ENGINE / "plugin.py"]
    found = []
    for path in files:
        for line, text in _string_constants(path):
            if text in names and not (path.name == "config.py" and text in config.DEFAULT_COREFILE):
                found.append(f"{path.name}:{line}: {text!r}")
    assert found == []
