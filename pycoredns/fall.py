"""``fallthrough [ZONES...]``: when a plugin with no answer hands the query on (CoreDNS's pkg/fall).

A plugin that is authoritative for a name but has nothing for it normally answers itself
(NXDOMAIN, NODATA, SERVFAIL). With ``fallthrough`` it passes the query to the next plugin instead,
but only for names inside the listed zones; no zones means the root zone, i.e. every name.
"""

from __future__ import annotations

from collections.abc import Iterable

from pycoredns.corefile import normalize_zone
from pycoredns.dns import zone_match


class Fall:
    """The zones a plugin falls through for; empty means it never falls through."""

    __slots__ = ("zones",)

    def __init__(self, zones: Iterable[str] = ()) -> None:
        self.zones: list[str] = list(zones)

    @classmethod
    def from_args(cls, args: Iterable[str]) -> Fall:
        """The zones of a ``fallthrough`` line: normalised, or the root zone when none are given."""
        given = list(args)
        zones: list[str] = []
        for a in given:
            zones.extend(normalize_zone(a))
        return cls(zones if given else ["."])

    def through(self, name: str) -> bool:
        """True if the query for ``name`` (lower-case FQDN) should go to the next plugin."""
        return bool(self.zones) and zone_match(self.zones, name) != ""

    def __bool__(self) -> bool:
        return bool(self.zones)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fall) and self.zones == other.zones

    def __repr__(self) -> str:
        return f"Fall({self.zones!r})"
