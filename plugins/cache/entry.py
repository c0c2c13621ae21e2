"""A cached answer stored as wire bytes, and the hit-path builder that turns it into a reply.

An entry keeps the reply *after* its question name (type, class and every record, OPT removed)
with all TTL fields patched to one value, plus the offsets of those fields. A hit copies the
query's ID and question name (its letter case kept), computes the header flags as CoreDNS's
``toMsg`` does, re-patches the TTLs only when the remaining TTL changed since the last hit (so most
hits patch nothing), and appends an OPT mirroring the client's. No dnslib, no coroutine.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from pycoredns.plugin import wire

if TYPE_CHECKING:
    from pycoredns.plugin import Request

_TTL = struct.Struct(">I")
_COUNTS = struct.Struct(">HHHH")

# Header count blocks and TTL offset tuples repeat across entries; share them to save memory.
_interned: dict[object, object] = {}
_NEVER = float("-inf")  # one shared float for "no hit yet" (saves 24 bytes per entry)
# OPT records mirroring a client, by (buffer size, DO).
_opts: dict[tuple[int, bool], bytes] = {}


def _intern(value: object) -> object:
    got = _interned.get(value)
    if got is not None:
        return got
    if len(_interned) < 65536:  # bounded: reply shapes are few, but never let this grow without end
        _interned[value] = value
    return value


def opt_for(udp_size: int, do: bool) -> bytes:
    got = _opts.get((udp_size, do))
    if got is None:
        got = wire.opt_record(udp_size, do)
        if len(_opts) < 4096:
            _opts[(udp_size, do)] = got
    return got


class Entry:
    """One cached reply (CoreDNS's ``item``) with its prefetch and refresh state."""

    __slots__ = (
        "tail",
        "tail_ttl",
        "offsets",
        "orig_ttl",
        "stored",
        "flags",
        "ad",
        "counts",
        "counts_edns",
        "answering",
        "hits",
        "last",
        "refreshing",
        "retry_after",
        "last_known_good",
    )

    def __init__(
        self,
        tail: bytes,
        offsets: tuple[int, ...],
        ttl: int,
        stored: float,
        *,
        rcode: int,
        ra: bool,
        ad: bool,
        counts: tuple[int, int, int, int],
        answering: bool,
    ) -> None:
        self.tail = tail  # bytes after the question name, TTLs patched to tail_ttl
        self.tail_ttl = ttl
        self.offsets = offsets  # TTL field offsets within tail
        self.orig_ttl = ttl
        self.stored = stored  # monotonic seconds
        self.flags = (0x80 if ra else 0) | (rcode & 0xF)  # RA and rcode of the second flags byte
        self.ad = 0x20 if ad else 0
        qd, an, ns, ar = counts
        self.counts: bytes = _intern(_COUNTS.pack(qd, an, ns, ar))  # type: ignore[assignment]
        self.counts_edns: bytes = _intern(_COUNTS.pack(qd, an, ns, ar + 1))  # type: ignore[assignment]
        self.answering = answering
        self.hits = 0  # prefetch frequency (CoreDNS's freq.Freq)
        self.last = _NEVER
        self.refreshing = False
        self.retry_after = 0.0
        self.last_known_good: Entry | None = None

    # -- time -----------------------------------------------------------------------------------
    def ttl(self, now: float) -> int:
        """Remaining TTL: the original minus the whole seconds since it was stored (may be <= 0)."""
        return self.orig_ttl - int(now - self.stored)

    def update_hits(self, window: float, now: float) -> int:
        """Count a hit; a gap longer than ``window`` since the last one restarts the count."""
        if self.last < now - window:
            self.hits = 1
        else:
            self.hits += 1
        self.last = now
        return self.hits

    def begin_refresh(self, now: float, recheck: float) -> bool:
        """At most one refresh in flight; after a failed one, none until ``retry_after``."""
        if recheck > 0 and now < self.retry_after:
            return False
        if self.refreshing:
            return False
        self.refreshing = True
        return True

    def end_refresh(self, now: float, recheck: float, refreshed: bool) -> None:
        self.retry_after = now + recheck if recheck > 0 and not refreshed else 0.0
        self.refreshing = False

    def answering_item(self) -> Entry | None:
        """This entry if it answers its question, else the last one that did (prefer_positive)."""
        if self.answering:
            return self
        kept = self.last_known_good
        return kept if kept is not None and kept.answering else None

    # -- the hit path ---------------------------------------------------------------------------
    def render(self, req: Request, ttl: int) -> bytes:
        """The reply to ``req`` with every TTL set to ``ttl``."""
        if ttl != self.tail_ttl:
            self._patch(ttl)
        w = req.wire
        q = req.q
        f2 = w[3]
        # QR and AA set, opcode and RD from the query; RA and rcode stored; CD from the query; AD only
        # when the client asked for DNSSEC (DO) or set AD itself (RFC 6840 5.7-5.8); TC and Z clear.
        flags = bytes(
            (0x84 | (w[2] & 0x79), self.flags | (f2 & 0x10) | (self.ad if (q.do or f2 & 0x20) else 0))
        )
        if q.edns:
            return w[:2] + flags + self.counts_edns + w[12 : q.name_end] + self.tail + opt_for(q.udp_size, q.do)
        return w[:2] + flags + self.counts + w[12 : q.name_end] + self.tail

    def _patch(self, ttl: int) -> None:
        buf = bytearray(self.tail)
        packed = _TTL.pack(ttl if ttl > 0 else 0)
        for off in self.offsets:
            buf[off : off + 4] = packed
        self.tail = bytes(buf)
        self.tail_ttl = ttl


def intern_offsets(offsets: tuple[int, ...]) -> tuple[int, ...]:
    return _intern(offsets)  # type: ignore[return-value]
