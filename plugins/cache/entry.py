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
_FLAGS = struct.Struct(">BB").pack  # a reply's two flags octets
_join = b"".join

_NEVER = float("-inf")  # one shared float for "no hit yet"
# OPT records mirroring a client, by (buffer size, DO).
_opts: dict[tuple[int, bool], bytes] = {}


def opt_for(udp_size: int, do: bool) -> bytes:
    got = _opts.get((udp_size, do))
    if got is None:
        got = wire.opt_record(udp_size, do)
        if len(_opts) < 4096:
            _opts[(udp_size, do)] = got
    return got


class Shape:
    """What every entry of one reply shape shares: where its TTLs are, its header counts (with
    and without the client's OPT), RA and rcode, AD, and whether it answers its question.

    Reply shapes are few (an A answer, two AAAA answers, an NXDOMAIN with its SOA...), so entries
    keep one reference to a shared Shape instead of six fields of their own."""

    __slots__ = ("offsets", "counts", "counts_edns", "flags", "ad", "answering")

    def __init__(
        self, offsets: tuple[int, ...], counts: tuple[int, int, int, int], flags: int, ad: int, answering: bool
    ) -> None:
        self.offsets = offsets  # TTL field offsets within an entry's tail
        qd, an, ns, ar = counts
        self.counts = _COUNTS.pack(qd, an, ns, ar)
        self.counts_edns = _COUNTS.pack(qd, an, ns, ar + 1)
        self.flags = flags  # RA and rcode of the second flags byte
        self.ad = ad  # 0x20 when the upstream set AD
        self.answering = answering


_shapes: dict[tuple[object, ...], Shape] = {}


def shape_for(
    offsets: tuple[int, ...], counts: tuple[int, int, int, int], rcode: int, ra: bool, ad: bool, answering: bool
) -> Shape:
    """The shared :class:`Shape` for these fields (made once; the table is bounded)."""
    flags = (0x80 if ra else 0) | (rcode & 0xF)
    key = (offsets, counts, flags, ad, answering)
    got = _shapes.get(key)
    if got is None:
        got = Shape(offsets, counts, flags, 0x20 if ad else 0, answering)
        if len(_shapes) < 65536:  # reply shapes are few, but never let this grow without end
            _shapes[key] = got
    return got


# TTL values repeat (3600, 30, 5...): entries share one int object per value.
TTLS: dict[int, int] = {}


def shared_ttl(ttl: int) -> int:
    got = TTLS.get(ttl)
    if got is None:
        got = ttl
        if len(TTLS) < 65536:
            TTLS[ttl] = ttl
    return got


class RefreshState:
    """An entry's prefetch and refresh bookkeeping, made on first use (most entries never need it)."""

    __slots__ = ("hits", "last", "refreshing", "retry_after", "last_known_good")

    def __init__(self) -> None:
        self.hits = 0  # prefetch frequency (CoreDNS's freq.Freq)
        self.last = _NEVER
        self.refreshing = False
        self.retry_after = 0.0
        self.last_known_good: Entry | None = None


class Entry:
    """One cached reply (CoreDNS's ``item``) with its prefetch and refresh state."""

    __slots__ = ("tail", "tail_ttl", "orig_ttl", "stored", "shape", "state")

    def __init__(self, tail: bytes, shape: Shape, ttl: int, stored: float) -> None:
        ttl = TTLS.get(ttl) or shared_ttl(ttl)  # a call only for a TTL not seen yet (or 0)
        self.tail = tail  # bytes after the question name, TTLs patched to tail_ttl
        self.tail_ttl = ttl
        self.orig_ttl = ttl
        self.stored = stored  # monotonic seconds
        self.shape = shape
        self.state: RefreshState | None = None

    @classmethod
    def of(
        cls, tail: bytes, offsets: tuple[int, ...], ttl: int, stored: float, *, rcode: int, ra: bool, ad: bool,
        counts: tuple[int, int, int, int], answering: bool,
    ) -> Entry:
        """An entry from its fields, its shape shared with the entries alike."""
        return cls(tail, shape_for(offsets, counts, rcode, ra, ad, answering), ttl, stored)

    # -- the shape, by name -------------------------------------------------------------------------
    @property
    def offsets(self) -> tuple[int, ...]:
        return self.shape.offsets

    @property
    def flags(self) -> int:
        return self.shape.flags

    @property
    def answering(self) -> bool:
        return self.shape.answering

    # -- refresh state --------------------------------------------------------------------------
    def _state(self) -> RefreshState:
        st = self.state
        if st is None:
            st = self.state = RefreshState()
        return st

    @property
    def hits(self) -> int:
        return 0 if self.state is None else self.state.hits

    @hits.setter
    def hits(self, value: int) -> None:
        self._state().hits = value

    @property
    def last(self) -> float:
        return _NEVER if self.state is None else self.state.last

    @last.setter
    def last(self, value: float) -> None:
        self._state().last = value

    @property
    def last_known_good(self) -> Entry | None:
        return None if self.state is None else self.state.last_known_good

    @last_known_good.setter
    def last_known_good(self, value: Entry | None) -> None:
        self._state().last_known_good = value

    # -- time -----------------------------------------------------------------------------------
    def ttl(self, now: float) -> int:
        """Remaining TTL: the original minus the whole seconds since it was stored (may be <= 0)."""
        return self.orig_ttl - int(now - self.stored)

    def update_hits(self, window: float, now: float) -> int:
        """Count a hit; a gap longer than ``window`` since the last one restarts the count."""
        st = self._state()
        if st.last < now - window:
            st.hits = 1
        else:
            st.hits += 1
        st.last = now
        return st.hits

    def begin_refresh(self, now: float, recheck: float) -> bool:
        """At most one refresh in flight; after a failed one, none until ``retry_after``."""
        st = self._state()
        if recheck > 0 and now < st.retry_after:
            return False
        if st.refreshing:
            return False
        st.refreshing = True
        return True

    def end_refresh(self, now: float, recheck: float, refreshed: bool) -> None:
        st = self._state()
        st.retry_after = now + recheck if recheck > 0 and not refreshed else 0.0
        st.refreshing = False

    def answering_item(self) -> Entry | None:
        """This entry if it answers its question, else the last one that did (prefer_positive)."""
        if self.shape.answering:
            return self
        kept = self.last_known_good
        return kept if kept is not None and kept.shape.answering else None

    # -- the hit path ---------------------------------------------------------------------------
    def render(self, req: Request, ttl: int) -> bytes:
        """The reply to ``req`` with every TTL set to ``ttl``."""
        if ttl != self.tail_ttl:
            self._patch(ttl)
        w = req.wire
        q = req.q
        sh = self.shape
        f2 = w[3]
        # QR and AA set, opcode and RD from the query; RA and rcode stored; CD from the query; AD only
        # when the client asked for DNSSEC (DO) or set AD itself (RFC 6840 5.7-5.8); TC and Z clear.
        flags = _FLAGS(0x84 | (w[2] & 0x79), sh.flags | (f2 & 0x10) | (sh.ad if (q.do or f2 & 0x20) else 0))
        # One join, not four concatenations (each a new bytes object): measured, about 700
        # instructions fewer per hit; the flags packed, not built as bytes of a tuple (500).
        if q.edns:
            return _join((w[:2], flags, sh.counts_edns, w[12 : q.name_end], self.tail, opt_for(q.udp_size, q.do)))
        return _join((w[:2], flags, sh.counts, w[12 : q.name_end], self.tail))

    def _patch(self, ttl: int) -> None:
        buf = bytearray(self.tail)
        packed = _TTL.pack(ttl if ttl > 0 else 0)
        for off in self.shape.offsets:
            buf[off : off + 4] = packed
        self.tail = bytes(buf)
        self.tail_ttl = ttl

