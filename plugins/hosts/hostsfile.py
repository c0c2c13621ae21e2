"""The hosts data: parsing hosts(5) text into lookup maps, and re-reading the file when it changes.

A reload swaps one immutable :class:`HostsMap` for another, so the handler (on the event loop)
never sees a half-built map while a large file is parsed in a worker thread.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

from pycoredns.plugin import plugin_log, zone_match
from pycoredns.plugins.hosts import metrics

log = plugin_log("hosts")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass
class HostsMap:
    """Lower-case FQDN -> addresses (as text, in file order), and address -> names for PTR."""

    name4: dict[str, list[str]] = field(default_factory=dict)
    name6: dict[str, list[str]] = field(default_factory=dict)
    wild4: dict[str, list[str]] = field(default_factory=dict)  # "*.example.com." owners
    wild6: dict[str, list[str]] = field(default_factory=dict)
    addr: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        """Every address of every name plus every reverse name (CoreDNS's Map.Len)."""
        maps = (self.name4, self.name6, self.wild4, self.wild6, self.addr)
        return sum(len(v) for m in maps for v in m.values())


def parse_ip(text: str) -> IPAddress | None:
    """An address as Go's net.ParseIP reads it, any IPv6 zone dropped; IPv4-mapped is IPv4."""
    text = text.split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def parse(text: str, origins: list[str], auto_reverse: bool) -> HostsMap:
    """Parse hosts(5) text: ``ADDRESS NAME [ALIASES...]``, ``#`` comments, bad lines skipped.

    Names outside ``origins`` are left out; wildcard owners get no PTR.
    """
    m = HostsMap()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0]
        fields = line.split()
        if len(fields) < 2:
            continue
        ip = parse_ip(fields[0])
        if ip is None:
            continue
        v4 = ip.version == 4
        addr = str(ip)
        for host in fields[1:]:
            name = host.lower() if host.endswith(".") else host.lower() + "."
            if zone_match(origins, name) == "":
                continue
            if name.startswith("*."):
                (m.wild4 if v4 else m.wild6).setdefault(name, []).append(addr)
                continue
            (m.name4 if v4 else m.name6).setdefault(name, []).append(addr)
            if auto_reverse:
                m.addr.setdefault(addr, []).append(name)
    return m


def _wildcard_of(name: str) -> str:
    """``*.`` plus ``name`` without its first label, or "" for a one-label name or the root."""
    dot = name.find(".")
    if dot < 0 or dot + 1 >= len(name):
        return ""
    return "*." + name[dot + 1 :]


def _lookup(exact: dict[str, list[str]], wild: dict[str, list[str]], name: str) -> list[str]:
    got = exact.get(name)
    if got is not None:
        return got
    pattern = _wildcard_of(name)
    if pattern:
        return wild.get(pattern, [])
    return []


class Hostsfile:
    """The file's entries plus the Corefile's inline entries, re-read when the file changes."""

    def __init__(self, path: str, origins: list[str], auto_reverse: bool, inline: HostsMap) -> None:
        self.path = path
        self.origins = origins
        self.auto_reverse = auto_reverse
        self.inline = inline
        self.hmap = HostsMap()
        # Only the reload path reads and writes these (one task at a time).
        self._mtime_ns = -1
        self._size = -1

    # -- lookups (event loop) -----------------------------------------------------------------
    def lookup_v4(self, name: str) -> list[str]:
        hmap, inline = self.hmap, self.inline
        return _lookup(hmap.name4, hmap.wild4, name) + _lookup(inline.name4, inline.wild4, name)

    def lookup_v6(self, name: str) -> list[str]:
        hmap, inline = self.hmap, self.inline
        return _lookup(hmap.name6, hmap.wild6, name) + _lookup(inline.name6, inline.wild6, name)

    def lookup_addr(self, addr: str) -> list[str]:
        ip = parse_ip(addr)
        if ip is None:
            return []
        key = str(ip)
        return self.hmap.addr.get(key, []) + self.inline.addr.get(key, [])

    # -- reading -------------------------------------------------------------------------------
    def changed(self) -> os.stat_result | None:
        """The file's stat if its size or modification time changed since the last read."""
        try:
            st = os.stat(self.path)
        except OSError:
            return None  # setup already warned; keep serving what we have
        if st.st_mtime_ns == self._mtime_ns and st.st_size == self._size:
            return None
        return st

    def read_text(self) -> str | None:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return None

    def install(self, st: os.stat_result, hmap: HostsMap) -> None:
        """Swap in a freshly parsed map and update the metrics (CoreDNS's readHosts tail)."""
        log.debug("Parsed hosts file into %d entries", len(hmap))
        self.hmap = hmap
        self._mtime_ns = st.st_mtime_ns
        self._size = st.st_size
        metrics.set_entries(self.path, len(self.inline) + len(hmap))
        metrics.set_reload_timestamp(st.st_mtime_ns / 1e9)

    def read(self) -> None:
        """Re-read the file now if it changed (blocking; see ``reload_loop`` for the async path)."""
        st = self.changed()
        if st is None:
            return
        text = self.read_text()
        if text is not None:
            self.install(st, parse(text, self.origins, self.auto_reverse))
