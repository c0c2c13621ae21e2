"""The directive registry: built-ins from plugin.cfg, third parties from entry points.

Built-in modules are imported only when a Corefile uses their directive, so start-up stays fast.
Third-party plugins are imported when the registry is built (their ``before``/``after`` place
them); one that fails to import, is not a :class:`Directive`, or names a place that does not
exist is kept aside as :class:`BrokenPlugin`: ``-plugins`` still lists everything else and reports
it, and loading a Corefile fails with a message naming the plugin and its distribution.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pycoredns.errors import PluginLoadError, PyCoreDNSError
from pycoredns.plugin import Directive

ENTRY_POINT_GROUP = "pycoredns.plugins"
log = logging.getLogger("pycoredns")


@dataclass(frozen=True)
class Entry:
    name: str
    module: str | None  # None: placed in the order but not shipped
    external: Directive | None = None  # a third-party plugin, already loaded
    dist: str = ""  # the distribution that supplied a third-party plugin: "pycoredns-sqlite 0.1.0"


@dataclass(frozen=True)
class BrokenPlugin:
    """A third-party plugin that cannot be used, and why."""

    name: str  # the entry point's name (the directive's, when it loaded)
    dist: str
    reason: str

    def __str__(self) -> str:
        origin = f" ({self.dist})" if self.dist else ""
        return f"plugin/{self.name}{origin}: {self.reason}"


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
    """Every directive this build knows, in chain order, and the third-party plugins that broke."""

    def __init__(self, entries: list[Entry], broken: Iterable[BrokenPlugin] = ()) -> None:
        self._entries = entries
        self._loaded: dict[str, Directive] = {}
        self.broken: list[BrokenPlugin] = list(broken)

    @classmethod
    def default(cls, *, entry_points: bool = True) -> Registry:
        """plugin.cfg's directives, plus (``entry_points``) the installed third-party plugins."""
        entries = _read_cfg()
        if not entry_points:
            return cls(entries)
        loaded: list[Entry] = []
        broken: list[BrokenPlugin] = []
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            got = _load_entry_point(ep)
            if isinstance(got, BrokenPlugin):
                broken.append(got)
            else:
                loaded.append(got)
        placed, misplaced = place(entries, loaded)
        return cls(placed, [*broken, *misplaced])

    def with_directives(self, directives: Iterable[Directive]) -> Registry:
        """This registry plus ``directives``, placed by their ``before``/``after`` as third-party
        plugins are (a test's own plugins). Raises :class:`PluginLoadError` if one cannot be placed."""
        placed, misplaced = place(self._entries, [Entry(d.name, None, d) for d in directives])
        if misplaced:
            raise PluginLoadError("\n".join(str(b) for b in misplaced))
        return Registry(placed, self.broken)

    def check(self) -> None:
        """Raise :class:`PluginLoadError` naming every broken third-party plugin, if any."""
        if self.broken:
            raise PluginLoadError("\n".join(str(b) for b in self.broken))

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


def _distribution(ep: importlib.metadata.EntryPoint) -> str:
    dist = ep.dist
    if dist is None:
        return ""
    return f"{dist.metadata['Name'] or dist.name} {dist.version}"


def _load_entry_point(ep: importlib.metadata.EntryPoint) -> Entry | BrokenPlugin:
    dist = _distribution(ep)
    try:
        obj = ep.load()
    except Exception as e:  # whatever the import raised: reported, never a traceback
        return BrokenPlugin(ep.name, dist, f"cannot load entry point '{ep.name} = {ep.value}': {type(e).__name__}: {e}")
    directive = getattr(obj, "DIRECTIVE", obj)
    if not isinstance(directive, Directive):
        return BrokenPlugin(
            ep.name, dist,
            f"entry point '{ep.name} = {ep.value}' is a {type(directive).__name__}, not a pycoredns.plugin.Directive",
        )
    if not callable(directive.setup):
        return BrokenPlugin(directive.name, dist, "the Directive's setup is not callable")
    return Entry(directive.name, None, directive, dist)


def place(entries: list[Entry], new: list[Entry]) -> tuple[list[Entry], list[BrokenPlugin]]:
    """``entries`` with the third-party ``new`` ones placed by their ``before``/``after``.

    An anchor may be another new plugin, so placing repeats until nothing more can be placed
    (new plugins are taken in name order, so the result does not depend on the order in which the
    entry points were found). A plugin with neither goes last. One that names an unknown
    directive, gives both, or shares its name with another third-party plugin is returned as
    broken; one with a built-in's name replaces the built-in, with a warning.
    """
    out = list(entries)
    broken: list[BrokenPlugin] = []
    by_name: dict[str, list[Entry]] = {}
    for e in new:
        by_name.setdefault(e.name, []).append(e)
    pending: list[Entry] = []
    for name, group in sorted(by_name.items()):
        if len(group) > 1:
            dists = ", ".join(sorted(e.dist or "(no distribution)" for e in group))
            broken += [BrokenPlugin(name, e.dist, f"the directive is provided more than once: {dists}") for e in group]
            continue
        e = group[0]
        assert e.external is not None
        if e.external.before and e.external.after:
            broken.append(BrokenPlugin(name, e.dist, f"sets both before '{e.external.before}' and after "
                                       f"'{e.external.after}': give one"))
            continue
        pending.append(e)
    while pending:
        names = [e.name for e in out]
        waiting: list[Entry] = []
        for e in pending:
            d = e.external
            assert d is not None
            anchor = d.before or d.after
            if e.name in names:
                idx = names.index(e.name)
                if out[idx].external is not d:  # the same Directive again (installed, and given to a test)
                    replaced = f"the plugin from {out[idx].dist}" if out[idx].external else "the built-in directive"
                    log.warning("[WARNING] plugin/%s: third-party plugin from %s replaces %s",
                                e.name, e.dist or "(no distribution)", replaced)
                    out[idx] = e
            elif anchor is None:
                out.append(e)
            elif anchor in names:
                idx = names.index(anchor) + (0 if d.before else 1)
                out.insert(idx, e)
            else:
                waiting.append(e)
                continue
            names = [x.name for x in out]
        if len(waiting) == len(pending):
            for e in waiting:
                d = e.external
                assert d is not None
                word, anchor = ("before", d.before) if d.before else ("after", d.after)
                broken.append(BrokenPlugin(e.name, e.dist, f"{word} '{anchor}' names no known directive"))
            break
        pending = waiting
    return out, broken


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False

