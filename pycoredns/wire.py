"""Wire-level helpers for the hot path: read a query's question and EDNS without a full parse.

dnslib parses and builds whole messages where a plugin needs the structure; these functions only
read the few fields every query needs (ID, flags, question, EDNS buffer size and DO bit) and build
the tiny header-only error replies, so a cache hit never pays for a parse.
"""

from __future__ import annotations

import struct

# RCODEs used by the engine.
NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4
REFUSED = 5
BADVERS = 16

# The rcodes a handler returns to say "nothing written, the server writes the reply" (CoreDNS's
# plugin.ClientWrite rule).
SERVER_WRITES = frozenset((SERVFAIL, REFUSED, FORMERR, NOTIMP))

TYPE_OPT = 41
CLASS_IN = 1
OPCODE_QUERY = 0
OPCODE_NOTIFY = 4

_H = struct.Struct(">HBBHHHH")
_TC = struct.Struct(">HH")
_OPT_TAIL = struct.Struct(">HHBBHH")


class MalformedQuery(Exception):
    """The query could not be read; ``rcode`` says what to answer (or None: drop it)."""

    def __init__(self, rcode: int | None, question_end: int = 0) -> None:
        super().__init__(rcode)
        self.rcode = rcode
        self.question_end = question_end


class Question:
    """What the engine needs of a query, read straight from the wire.

    ``name_end`` is the offset just after the question name, ``end`` just after the question;
    ``labels`` holds the offset of every label start so zone matching can walk suffixes.
    """

    __slots__ = (
        "labels",
        "name_end",
        "end",
        "qtype",
        "qclass",
        "edns",
        "udp_size",
        "do",
        "edns_version",
        "opcode",
    )

    labels: list[int]
    name_end: int
    end: int
    qtype: int
    qclass: int
    edns: bool
    udp_size: int
    do: bool
    edns_version: int
    opcode: int


def _skip_name(data: bytes, pos: int) -> int:
    """Return the offset after a (possibly compressed) name starting at ``pos``."""
    n = len(data)
    while True:
        if pos >= n:
            raise IndexError(pos)
        length = data[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            if pos + 2 > n:
                raise IndexError(pos)
            return pos + 2
        if length & 0xC0:
            raise ValueError("bad label type")
        pos += 1 + length


_ONE_QUESTION = b"\x00\x01\x00\x00\x00\x00\x00\x00"
_ONE_QUESTION_ONE_EXTRA = b"\x00\x01\x00\x00\x00\x00\x00\x01"


def read_question(data: bytes) -> Question:
    """Read the header, the single question and any OPT record of a query.

    Follows miekg/dns's accept rules (what CoreDNS runs on): responses are dropped, opcodes other
    than QUERY and NOTIFY get NOTIMP, a count out of range or a packet that does not unpack gets
    FORMERR. Raises :class:`MalformedQuery` for all of these. The two shapes nearly every query
    has (a question alone, or a question and a bare OPT) are read without a general walk.
    """
    if len(data) < 12:
        raise MalformedQuery(None)
    f1 = data[2]
    if f1 & 0x80:
        raise MalformedQuery(None)  # a response, not a query: ignored as miekg/dns does
    opcode = (f1 >> 3) & 0xF
    if opcode and opcode != OPCODE_NOTIFY:
        raise MalformedQuery(NOTIMP)
    counts = data[4:12]
    q = Question()
    q.opcode = opcode
    labels: list[int] = []
    pos = 12
    try:
        length = data[12]
        while length:
            if length > 63:
                raise MalformedQuery(FORMERR)  # compression or a bad label in a question
            labels.append(pos)
            pos += length + 1
            length = data[pos]
        if pos > 266:  # the name is longer than 255 octets
            raise MalformedQuery(FORMERR)
        q.qtype, q.qclass = _TC.unpack_from(data, pos + 1)
    except (IndexError, struct.error):
        raise MalformedQuery(FORMERR) from None
    end = pos + 5
    q.labels = labels
    q.name_end = pos + 1
    q.end = end
    if counts == _ONE_QUESTION:
        q.edns = False
        q.udp_size = 512
        q.do = False
        q.edns_version = 0
        return q
    if counts == _ONE_QUESTION_ONE_EXTRA and len(data) == end + 11 and data[end] == 0:
        rtype, size, _ext, version, flags, rdlen = _OPT_TAIL.unpack_from(data, end + 1)
        if rtype == TYPE_OPT and rdlen == 0:
            q.edns = True
            q.udp_size = size if size > 512 else 512
            q.do = flags & 0x8000 != 0
            q.edns_version = version
            return q
    _read_rest(data, q)
    return q


def _read_rest(data: bytes, q: Question) -> None:
    """The general case: check the counts and walk every other record for an OPT."""
    _id, _f1, _f2, qd, an, ns, ar = _H.unpack_from(data)
    if qd != 1 or an > 1 or ns > 1 or ar > 2:
        raise MalformedQuery(FORMERR)
    q.edns = False
    q.udp_size = 512
    q.do = False
    q.edns_version = 0
    n = len(data)
    pos = q.end
    try:
        for _ in range(an + ns):
            pos = _skip_name(data, pos)
            rdlen = struct.unpack_from(">H", data, pos + 8)[0]
            pos += 10 + rdlen
        for _ in range(ar):
            start = pos
            pos = _skip_name(data, pos)
            rtype, size, _ext, version, flags, rdlen = _OPT_TAIL.unpack_from(data, pos)
            if rtype == TYPE_OPT and data[start] == 0:
                if q.edns:
                    raise MalformedQuery(FORMERR)  # two OPT records
                q.edns = True
                q.udp_size = max(size, 512)
                q.do = bool(flags & 0x8000)
                q.edns_version = version
            pos += 10 + rdlen
        if pos > n:
            raise MalformedQuery(FORMERR)
    except (IndexError, ValueError, struct.error):
        raise MalformedQuery(FORMERR, q.end) from None


def opt_record(udp_size: int, do: bool) -> bytes:
    """An OPT pseudo-record mirroring the client's EDNS (CoreDNS's scrub writer does the same)."""
    return b"\x00\x00\x29" + struct.pack(">HBBHH", udp_size, 0, 0, 0x8000 if do else 0, 0)


def error_reply(query: bytes, rcode: int, question_end: int, edns: bool, udp_size: int, do: bool) -> bytes:
    """A header-and-question reply with ``rcode``, as miekg/dns's SetRcode builds it.

    ID, opcode, RD and CD are copied from the query; QR is set; the question is kept when it was
    readable (``question_end`` > 12); an OPT mirroring the client's is added when it sent one.
    """
    f1 = 0x80 | (query[2] & 0x79)  # QR + opcode + RD
    f2 = (query[3] & 0x10) | (rcode & 0xF)  # CD + rcode
    ext = rcode >> 4
    qd = 1 if question_end > 12 else 0
    body = query[12:question_end] if qd else b""
    if edns:
        opt = b"\x00\x00\x29" + struct.pack(">HBBHH", udp_size, ext, 0, 0x8000 if do else 0, 0)
        return query[:2] + struct.pack(">BBHHHH", f1, f2, qd, 0, 0, 1) + body + opt
    return query[:2] + struct.pack(">BBHHHH", f1, f2, qd, 0, 0, 0) + body


def rcode_of(reply: bytes) -> int:
    """The (4-bit header) rcode of a reply."""
    return reply[3] & 0xF


def name_to_text(data: bytes, labels: list[int]) -> str:
    """The question name as presentation text with a trailing dot (case kept)."""
    if not labels:
        return "."
    parts = []
    for off in labels:
        raw = data[off + 1 : off + 1 + data[off]]
        parts.append(_escape_label(raw))
    return ".".join(parts) + "."


def _escape_label(raw: bytes) -> str:
    if all(33 <= b < 127 and b not in b'.\\"();@$' for b in raw):
        return raw.decode("ascii")
    out = []
    for b in raw:
        if b in b'.\\"();@$':
            out.append("\\" + chr(b))
        elif 33 <= b < 127:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03d}")
    return "".join(out)
