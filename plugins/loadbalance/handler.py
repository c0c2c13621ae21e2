"""The loadbalance handler: the reply coming back up the chain is reordered before it goes on.

CoreDNS wraps the ResponseWriter; here the handler reorders the wire bytes that the next handler
returns, synchronously for a synchronous answer (a cache hit stays free of coroutines). Only
NOERROR replies are touched, never zone transfers. A reply with fewer than two records in each
section cannot change and is returned as it is, without being read.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Sequence

from pycoredns.plugin import Handler, HandlerError, Plugin, Reply, Request, Result, then, wire
from pycoredns.plugins.loadbalance import policy
from pycoredns.plugins.loadbalance.reorder import TYPE_A, TYPE_AAAA, Record, read, rebuild
from pycoredns.plugins.loadbalance.weightfile import WeightFile

TYPE_SRV = 33
TYPE_IXFR = 251
TYPE_AXFR = 252
WEIGHTED_TYPES = (TYPE_A, TYPE_AAAA, TYPE_SRV)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The answer, authority and additional counts of a reply whose sections hold at most one record
# each: nothing in it can change order.
_NO_TWO = frozenset(bytes((0, an, 0, ns, 0, ar)) for an in (0, 1) for ns in (0, 1) for ar in (0, 1))


class LoadBalance(Plugin):
    name = "loadbalance"

    def __init__(self, next: Handler | None, weights: WeightFile | None, prefer: Sequence[Network]) -> None:
        super().__init__(next)
        self.weights = weights  # None: round_robin
        self.prefer = tuple(prefer)

    def serve(self, req: Request) -> Result:
        nxt = self.next
        if nxt is None:
            raise HandlerError(wire.SERVFAIL, "plugin/loadbalance: no next plugin found")
        result = nxt.serve(req)
        if type(result) is bytes:
            if result[6:12] in _NO_TWO:
                return result  # a cache hit with one address: one slice and one set lookup
            return self.reorder(result, req.q.qtype)
        if type(result) is int:
            return result
        return then(result, self._reordered, req.q.qtype)  # a miss: when the reply comes

    def _reordered(self, result: Reply, qtype: int) -> Reply:
        if isinstance(result, (bytes, bytearray)):
            return self.reorder(bytes(result), qtype)
        return result

    def reorder(self, data: bytes, qtype: int) -> bytes:
        """``data`` with its records in the policy's order (``data`` itself when none moved)."""
        if len(data) < 12 or data[3] & 0xF or qtype == TYPE_AXFR or qtype == TYPE_IXFR:
            return data
        if data[6:12] in _NO_TWO:
            return data  # no section holds two records: no order to change
        if self.weights is None:
            fast = _only_addresses(data, self.prefer)
            if fast is not None:
                return fast
        reply = read(data)
        if reply is None or reply.ext_rcode:
            return data  # unreadable, or an extended rcode: not a NOERROR reply
        answer, authority, additional = reply.sections
        if self.weights is None:
            answer = _round_robin(data, answer)
            authority = _round_robin(data, authority)
            additional = _round_robin(data, additional)
        elif qtype in WEIGHTED_TYPES:
            answer = _weighted(data, answer, self.weights)
            additional = _weighted(data, additional, self.weights)
        if self.prefer:
            answer = policy.prefer(data, answer, self.prefer)
            additional = policy.prefer(data, additional, self.prefer)
        return rebuild(reply, (answer, authority, additional))


_A_TYPE = b"\x00\x01"
_AAAA_TYPE = b"\x00\x1c"
_OPT_TYPE = b"\x00\x29"


def _only_addresses(data: bytes, prefer: Sequence[Network]) -> bytes | None:
    """round_robin for the usual shape, or None when the reply has another one.

    The usual shape: one question, an answer of A records only (or AAAA only) whose owner names
    are pointers back into the question, nothing in the authority section and at most an OPT in
    the additional one. Such records have the same size and nothing points into them, so they are
    shuffled as fixed-size slices without reading anything else.
    """
    if data[4] or data[5] != 1 or data[8] or data[9] or data[10] or data[11] > 1:
        return None
    try:
        qend = wire.skip_name(data, 12) + 4
    except (IndexError, wire.MalformedMessage):
        return None
    rtype = data[qend + 2 : qend + 4]
    if rtype == _A_TYPE:
        size, rdlen = 16, b"\x00\x04"
    elif rtype == _AAAA_TYPE:
        size, rdlen = 28, b"\x00\x10"
    else:
        return None
    end = qend + ((data[6] << 8) | data[7]) * size
    if data[11]:
        # The one additional record must be a bare-rooted OPT with no extended rcode, ending the reply.
        if (
            data[end : end + 1] != b"\x00"
            or data[end + 1 : end + 3] != _OPT_TYPE
            or data[end + 5 : end + 6] != b"\x00"
            or len(data) != end + 11 + int.from_bytes(data[end + 9 : end + 11], "big")
        ):
            return None
    elif len(data) != end:
        return None
    head = data[qend : qend + 4]  # the owner (a pointer into the question) and the type
    if head[0] < 0xC0 or ((head[0] & 0x3F) << 8 | head[1]) >= qend:
        return None
    for p in range(qend, end, size):
        if data[p : p + 4] != head or data[p + 10 : p + 12] != rdlen:
            return None
    chunks = [data[p : p + size] for p in range(qend, end, size)]
    if len(chunks) == 2:
        if random.random() < 0.5:
            chunks.reverse()
    else:
        random.shuffle(chunks)
    if prefer:
        chunks = [chunks[i] for i in policy.subnet_order([c[12:] for c in chunks], prefer)]
    return data[:qend] + b"".join(chunks) + data[end:]


def _round_robin(data: bytes, records: list[Record]) -> list[Record]:
    return policy.round_robin(data, records, policy.shuffle) if len(records) > 1 else records


def _weighted(data: bytes, records: list[Record], weights: WeightFile) -> list[Record]:
    return policy.weighted(data, records, weights.weights, weights.randrange) if records else records
