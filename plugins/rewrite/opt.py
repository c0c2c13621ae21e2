"""The OPT record on the wire: find it, read its options, pack it again.

The query rules of ``edns0`` edit the query's OPT through :class:`QueryOpt`; the response rules
they leave (``revert``) edit the reply's with :func:`revert_opt`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from pycoredns.plugin import Request, wire

_OPT_HEAD = struct.Struct(">HHIH")  # type, class (UDP size), TTL (ext rcode, version, flags), rdlen


@dataclass
class Option:
    code: int
    data: bytes


@dataclass
class Opt:
    """An OPT record's fields and options, to edit and pack again."""

    udp_size: int = 4096
    ttl: int = 0  # extended rcode, version and flags (DO is 0x8000)
    options: list[Option] = field(default_factory=list)

    def remove(self, code: int) -> None:
        self.options = [o for o in self.options if o.code != code]

    def pack(self) -> bytes:
        rdata = b"".join(struct.pack(">HH", o.code, len(o.data)) + o.data for o in self.options)
        return b"\x00" + _OPT_HEAD.pack(wire.TYPE_OPT, self.udp_size, self.ttl, len(rdata)) + rdata


def _options(data: bytes, start: int, end: int) -> list[Option]:
    out = []
    pos = start
    while pos + 4 <= end:
        code, length = struct.unpack_from(">HH", data, pos)
        out.append(Option(code, data[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    return out


def find_opt(data: bytes, start: int) -> tuple[int, int]:
    """(start, end) of the OPT record in a message's additional section, or (-1, -1).

    ``start`` is the offset just after the question. The message has been checked already (a
    query by the listener, a reply by whoever made it), so the walk trusts the lengths.
    """
    an, ns, ar = struct.unpack_from(">HHH", data, 6)
    pos = start
    for i in range(an + ns + ar):
        begin = pos
        pos = wire.skip_name(data, pos)
        rtype, _cls, _ttl, rdlen = _OPT_HEAD.unpack_from(data, pos)
        pos += 10 + rdlen
        if rtype == wire.TYPE_OPT and i >= an + ns:
            return begin, pos
    return -1, -1


def read_opt(data: bytes, begin: int, end: int) -> Opt:
    name_end = wire.skip_name(data, begin)
    _rtype, size, ttl, rdlen = _OPT_HEAD.unpack_from(data, name_end)
    rdata = name_end + 10
    return Opt(size, ttl, _options(data, rdata, rdata + rdlen))


def with_opt(data: bytes, begin: int, end: int, opt: Opt) -> bytes:
    """``data`` with the OPT record at ``begin:end`` replaced by ``opt``."""
    return data[:begin] + opt.pack() + data[end:]


class QueryOpt:
    """The query's OPT while the rules run: read on first use, packed once at the end.

    ``begin`` and ``end`` are relative to the end of the question, which a name rule may move.
    """

    __slots__ = ("begin", "end", "opt")

    def __init__(self, req: Request) -> None:
        data = req.wire
        begin, end = find_opt(data, req.q.end) if req.q.edns else (-1, -1)
        if begin < 0:
            self.begin = self.end = -1
            self.opt = Opt()
        else:
            self.begin, self.end = begin - req.q.end, end - req.q.end
            self.opt = read_opt(data, begin, end)

    def apply(self, head: bytes, rest: bytes) -> bytes:
        """The query from its header and question (``head``) and what followed the question
        (``rest``), with this OPT in place of the client's (or added)."""
        if self.begin < 0:
            ar = struct.unpack_from(">H", head, 10)[0] + 1
            return head[:10] + struct.pack(">H", ar) + head[12:] + rest + self.opt.pack()
        return head + rest[: self.begin] + self.opt.pack() + rest[self.end :]


# -- response rules ----------------------------------------------------------------------------
class RemoveOption:
    """Revert an added option: drop the first option with this code from the reply's OPT."""

    def __init__(self, code: int) -> None:
        self.code = code

    def apply_opt(self, opt: Opt) -> None:
        for i, o in enumerate(opt.options):
            if o.code == self.code:
                del opt.options[i]
                return


class RestoreOption:
    """Revert an overwritten option: the first option with this code gets the client's value."""

    def __init__(self, code: int, data: bytes) -> None:
        self.code, self.data = code, data

    def apply_opt(self, opt: Opt) -> None:
        for o in opt.options:
            if o.code == self.code:
                o.data = self.data
                return


OptRule = RemoveOption | RestoreOption


def revert_opt(reply: bytes, rules: list[OptRule]) -> bytes:
    """Apply the EDNS0 response rules to the reply's OPT, as CoreDNS's reverter does: the rules,
    last first, once for every record of the reply (so a reply without records is left alone)."""
    try:
        qd, an, ns, ar = struct.unpack_from(">HHHH", reply, 4)
        pos = 12
        for _ in range(qd):
            pos = wire.skip_name(reply, pos) + 4
        begin, end = find_opt(reply, pos)
        if begin < 0:
            return reply
        opt = read_opt(reply, begin, end)
    except (IndexError, struct.error, wire.MalformedMessage):
        return reply
    for _ in range(an + ns + ar):
        for rule in reversed(rules):
            rule.apply_opt(opt)
    return with_opt(reply, begin, end, opt)


