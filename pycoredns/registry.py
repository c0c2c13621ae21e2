"""The directive registry: built-ins from plugin.cfg, third parties from entry points.

Modules are imported only when a Corefile uses their directive, so start-up stays fast.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

from pycoredns.errors import PyCoreDNSError
from pycoredns.plugin import Directive

ENTRY_POINT_GROUP = "pycoredns.plugins"
log = logging.getLogger("pycoredns")


@dataclass(frozen=True)
class Entry:
    name: str
    module: str | None  # None: placed in the order but not shipped
    external: Directive | None = None  # a third-party plugin, already loaded


def _read_cfg() -> list[Entry]:
    entries = []
    text = (Path(__file__).parent / "plugin.cfg").read_text()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, module = line.partition(":")
        entries.append(Entry(name.strip(), module.strip() or None))
    return entries


class Registry:
    """Every directive this build knows, in chain order."""

    def __init__(self, entries: list[Entry]) -> None:
        self._entries = entries
        self._loaded: dict[str, Directive] = {}

    @classmethod
    def default(cls, *, entry_points: bool = True) -> Registry:
        entries = _read_cfg()
        if entry_points:
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                try:
                    obj = ep.load()
                except Exception as e:  # a broken third-party plugin must not take the server down
                    log.error("[ERROR] plugin/%s: could not load entry point %s: %s", ep.name, ep.value, e)
                    continue
                directive = getattr(obj, "DIRECTIVE", obj)
                if not isinstance(directive, Directive):
                    log.error("[ERROR] plugin/%s: entry point %s is not a Directive", ep.name, ep.value)
                    continue
                entries = _place(entries, Entry(directive.name, None, directive))
        return cls(entries)

    def names(self) -> list[str]:
        """Directives that can be used, in chain order (a shipped module must be importable)."""
        return [e.name for e in self._entries if e.external or (e.module and _importable(e.module))]

    def entries(self) -> list[Entry]:
        return list(self._entries)

    def get(self, name: str) -> Directive:
        got = self._loaded.get(name)
        if got is not None:
            return got
        for e in self._entries:
            if e.name != name:
                continue
            if e.external is not None:
                got = e.external
            elif e.module:
                got = importlib.import_module(e.module).DIRECTIVE
            break
        if got is None:
            raise PyCoreDNSError(f"Unknown directive '{name}'")
        self._loaded[name] = got
        return got


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _place(entries: list[Entry], new: Entry) -> list[Entry]:
    assert new.external is not None
    names = [e.name for e in entries]
    if new.name in names:
        log.warning("[WARNING] plugin/%s: third-party plugin replaces the built-in directive", new.name)
        idx = names.index(new.name)
        return entries[:idx] + [new] + entries[idx + 1 :]
    anchor = new.external.before or new.external.after
    if anchor and anchor in names:
        idx = names.index(anchor) + (0 if new.external.before else 1)
        return entries[:idx] + [new] + entries[idx:]
    return [*entries, new]
