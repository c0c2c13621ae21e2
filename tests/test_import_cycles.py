"""No module of the engine or the built-in plugins imports itself back, typing-only imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import pycoredns

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ((Path(pycoredns.__file__).resolve().parent, "pycoredns"), (ROOT / "plugins", "pycoredns.plugins"))


def _modules(sources: tuple[tuple[Path, str], ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for base, package in sources:
        for path in base.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules ``path`` imports; ``from pkg import sub`` needs ``pkg.sub``, not ``pkg``."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in modules else node.module)
    return {m for m in out if m in modules}


def cycles(sources: tuple[tuple[Path, str], ...] = SOURCES) -> list[list[str]]:
    """Groups of modules that import each other (strongly connected components of two or more)."""
    modules = _modules(sources)
    edges = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for name in modules:
        if name not in index:
            visit(name)
    return found


def test_no_import_cycles() -> None:
    assert cycles() == []


def test_the_check_finds_a_typing_only_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "cache"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "handler.py").write_text("from demo.cache.writer import write\n")
    (pkg / "writer.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from demo.cache.handler import Cache\n"
    )
    (pkg / "setup.py").write_text("from demo.cache import handler\n")  # a plain package import: no cycle
    assert cycles(((tmp_path, "demo"),)) == [["demo.cache.handler", "demo.cache.writer"]]
