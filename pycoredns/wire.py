"""Wire-level helpers for the hot path: read a query's question and EDNS without a full parse.

dnslib parses and builds whole messages where a plugin needs the structure; these functions only
read the few fields every query needs (ID, flags, question, EDNS buffer size and DO bit) and build
the tiny header-only error replies, so a cache hit never pays for a parse.
"""

from __future__ import annotations

import struct

# The wire errors live in the one hierarchy; they are named here too, where they are raised.
from pycoredns.errors import MalformedMessage as MalformedMessage
from pycoredns.errors import MalformedQuery as MalformedQuery
from pycoredns.errors import ShortQuestion as ShortQuestion

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


class Question:
    """What the engine needs of a query, read straight from the wire.

    ``name_end`` is the offset just after the question name, ``end`` just after the question;
    ``labels`` holds the offset of every label start so zone matching can walk suffixes.
    """

    __slots__ = (
        "labels",
        "lname",
        "key",
        "dkey",
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
    lname: bytes  # the name lower-cased, wire form
    key: bytes  # lname + type + class: the question as a lookup key
    # key + one byte holding the DO (2) and CD (1) bits: the key of a cache that keeps DNSSEC and
    # checking-disabled answers apart. Made once per distinct query, so its hash is kept too.
    dkey: bytes
    name_end: int
    end: int
    qtype: int
    qclass: int
    edns: bool
    udp_size: int
    do: bool
    edns_version: int
    opcode: int


# A query's first flags octet, then its four counts as one 64-bit integer; its question's
# type and class.
_FLAGS_COUNTS = struct.Struct(">BxQ").unpack_from
_TYPE_CLASS = struct.Struct(">HH").unpack_from
# The counts of the two usual queries: one question; one question and one additional record.
_ONE_QUESTION = 1 << 48
_ONE_QUESTION_ONE_EXTRA = 1 << 48 | 1


# Parsed questions by the query's bytes after its ID. A node cache sees the same few thousand
# questions over and over with new IDs; reusing the parse makes reading a repeated query one dict
# lookup. Bounded: cleared when full. Questions are never changed once read. The dispatcher
# reads it in place (every query does), as read_question does.
QUESTIONS_MAX = 8192
QUESTIONS: dict[bytes, Question] = {}


def read_question(data: bytes) -> Question:
    """:func:`parse_question`, remembered by everything after the ID (repeat queries are free)."""
    tail = data[2:]
    q = QUESTIONS.get(tail)
    if q is None:
        q = parse_question(data)
        if len(QUESTIONS) >= QUESTIONS_MAX:
            QUESTIONS.clear()
        QUESTIONS[tail] = q
    return q


def parse_question(data: bytes) -> Question:
    """Read the header, the single question and any OPT record of a query.

    Follows miekg/dns's accept rules (what CoreDNS runs on): responses are dropped, opcodes other
    than QUERY and NOTIFY get NOTIMP, a count out of range or a packet that does not unpack gets
    FORMERR. Raises :class:`MalformedQuery` for all of these. The two shapes nearly every query
    has (a question alone, or a question and a bare OPT) are read without a general walk.
    """
    # The first flags octet and the four counts as one integer, in one unpack: a byte read by
    # index costs about a quarter of a whole unpack in CPython, a bytes method call more than one.
    try:
        f1, counts = _FLAGS_COUNTS(data, 2)
    except struct.error:
        raise MalformedQuery(None) from None  # shorter than a header
    if f1 & 0x80:
        raise MalformedQuery(None)  # a response, not a query: ignored as miekg/dns does
    opcode = (f1 >> 3) & 0xF
    if opcode and opcode != OPCODE_NOTIFY:
        raise MalformedQuery(NOTIMP)
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
        q.qtype, q.qclass = _TYPE_CLASS(data, pos + 1)
    except (IndexError, struct.error):
        _short_question(data, pos)
        raise MalformedQuery(FORMERR) from None
    end = pos + 5
    q.labels = labels
    q.name_end = pos + 1
    q.end = end
    q.lname = lname = data[12 : pos + 1].lower()
    q.key = lname + data[pos + 1 : end]
    cd = (data[3] >> 4) & 1
    if counts == _ONE_QUESTION:
        q.edns = False
        q.udp_size = 512
        q.do = False
        q.edns_version = 0
        q.dkey = q.key + _DNSSEC_BITS[cd]
        return q
    if counts == _ONE_QUESTION_ONE_EXTRA and len(data) == end + 11 and data[end] == 0:
        rtype, size, _ext, version, flags, rdlen = _OPT_TAIL.unpack_from(data, end + 1)
        if rtype == TYPE_OPT and rdlen == 0:
            q.edns = True
            q.udp_size = size if size > 512 else 512
            q.do = flags & 0x8000 != 0
            q.edns_version = version
            q.dkey = q.key + _DNSSEC_BITS[(2 if q.do else 0) | cd]
            return q
    _read_rest(data, q)
    q.dkey = q.key + _DNSSEC_BITS[(2 if q.do else 0) | cd]
    return q


# The last byte of Question.dkey, by DO << 1 | CD.
_DNSSEC_BITS = (b"\x00", b"\x01", b"\x02", b"\x03")


def _accepted(data: bytes) -> bool:
    """miekg/dns's default accept rule on the counts: one question, at most 1, 1 and 2 records."""
    _id, _f1, _f2, qd, an, ns, ar = _H.unpack_from(data)
    return qd == 1 and an <= 1 and ns <= 1 and ar <= 2


def _short_question(data: bytes, name_end: int) -> None:
    """A query that ends before its question does: raise what CoreDNS answers, if not FORMERR.

    miekg/dns reads a message that ends right after the header as one with no question, which
    CoreDNS answers SERVFAIL (its server has nothing to route). A question cut right after its
    name, or after its type, unpacks with the missing fields zero; the query then goes on as
    that question (class 0 is refused unless a block takes every class), and
    :class:`ShortQuestion` carries it whole. Anything else that ends early is FORMERR (the
    caller's).
    """
    if not _accepted(data):
        return
    n = len(data)
    if n == 12:
        raise MalformedQuery(SERVFAIL)
    if name_end < n and data[name_end] == 0 and n - (name_end + 1) in (0, 2):
        raise ShortQuestion(data + b"\x00" * (name_end + 5 - n))


def _read_rest(data: bytes, q: Question) -> None:
    """The general case: check the counts and walk every other record for an OPT.

    Records are checked as miekg/dns unpacks them (names, pointers, lengths, rdata), so whatever
    it would answer FORMERR gets FORMERR here, before any plugin sees the query; as there, records
    that a count promises but the message does not hold are simply absent.
    """
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
        for i in range(an + ns + ar):
            if pos == n:
                break
            start = pos
            pos = _name_after(data, pos)
            rtype, size, _ext, version, flags, rdlen = _OPT_TAIL.unpack_from(data, pos)
            rdata = pos + 10
            pos = rdata + rdlen
            if pos > n:
                raise MalformedQuery(FORMERR)
            if rdlen:
                _check_rdata(data, rtype, rdata, pos)
            if rtype == TYPE_OPT and i >= an + ns and data[start] == 0:
                if q.edns:
                    raise MalformedQuery(FORMERR)  # two OPT records
                q.edns = True
                q.udp_size = max(size, 512)
                q.do = bool(flags & 0x8000)
                q.edns_version = version
    except (MalformedMessage, struct.error):
        raise MalformedQuery(FORMERR, q.end) from None


def find_opt(data: bytes, question_end: int) -> int:
    """The offset of the OPT record of a message whose question ends at ``question_end``, or -1.

    The record's class field (the buffer size) is at the returned offset + 3 (the OPT's owner is
    the root, one octet). The usual query shape (a question and a bare OPT) is found without a walk.
    """
    try:
        an, ns, ar = struct.unpack_from(">HHH", data, 6)
        if ar == 0:
            return -1
        pos = question_end
        if an == 0 and ns == 0 and data[pos] == 0 and data[pos + 1 : pos + 3] == b"\x00\x29":
            return pos
        for i in range(an + ns + ar):
            start = pos
            pos = skip_name(data, pos)
            rtype, _cls, _ttl, rdlen = _RR_HEAD.unpack_from(data, pos)
            if rtype == TYPE_OPT and i >= an + ns:
                return start
            pos += 10 + rdlen
    except (IndexError, struct.error, MalformedMessage):
        pass
    return -1


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


# A compression pointer to the question's name (offset 12): the owner of an answer record built
# ahead of time for whatever name, in whatever letter case, the client asks.
QUESTION_NAME = b"\xc0\x0c"


def record(owner: bytes, rtype: int, ttl: int, rdata: bytes, rclass: int = CLASS_IN) -> bytes:
    """One resource record in wire form: ``owner`` (a wire name, or :data:`QUESTION_NAME`), type,
    class, TTL and ``rdata`` (wire form, names in it uncompressed)."""
    return owner + _RR_HEAD.pack(rtype, rclass, ttl, len(rdata)) + rdata


def answer_reply(
    query: bytes, q: Question, rcode: int, answers: bytes = b"", count: int = 0, authoritative: bool = False
) -> bytes:
    """A reply built from the query's own bytes, without a parse: header (ID, opcode, RD and CD
    copied; QR set; AA if ``authoritative``), the question as asked, ``count`` answer records given
    in wire form (see :func:`record`), and an OPT mirroring the client's when it sent one."""
    f1 = 0x80 | (query[2] & 0x79) | (0x04 if authoritative else 0)
    f2 = (query[3] & 0x10) | (rcode & 0xF)
    head = struct.pack(">BBHHHH", f1, f2, 1, count, 0, 1 if q.edns else 0)
    body = query[:2] + head + query[12 : q.end] + answers
    if q.edns:
        body += b"\x00\x00\x29" + struct.pack(">HBBHH", q.udp_size, rcode >> 4, 0, 0x8000 if q.do else 0, 0)
    return body


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


def question_tail(qtype: int, qclass: int) -> bytes:
    """The four octets after a question's name: type and class."""
    return _TC.pack(qtype, qclass)


# miekg/dns's limits: a name is at most 255 octets and follows at most 126 compression pointers,
# which also ends any pointer loop.
_MAX_NAME_OCTETS = 255
_MAX_POINTERS = (_MAX_NAME_OCTETS + 1) // 2 - 2
# Record types whose rdata holds names (octets before the first name, how many names, octets after
# them) and types whose rdata has a fixed length: rdata that does not unpack to exactly its length
# is malformed for miekg/dns too ("bad rdlength").
_RDATA_NAMES = {2: (0, 1, 0), 5: (0, 1, 0), 6: (0, 2, 20), 12: (0, 1, 0), 15: (2, 1, 0), 33: (6, 1, 0),
                39: (0, 1, 0)}
_RDATA_LENGTH = {1: 4, 28: 16}
_COUNTS = struct.Struct(">HHHH")
_RR_HEAD = struct.Struct(">HHIH")
# A record's type and rdata length, after its owner: the class and TTL skipped (no int made
# for the TTL); and the same after an owner that is a 2-octet pointer, with the pointer.
_TYPE_RDLEN = struct.Struct(">H6xH").unpack_from
_POINTER_TYPE_RDLEN = struct.Struct(">HH6xH").unpack_from


def skip_name(data: bytes, pos: int) -> int:
    """The offset after the name at ``pos`` without following pointers (a pointer ends a name).

    For messages already checked (:func:`check_reply`) or walks that tolerate damage: raises
    IndexError past the end and :class:`MalformedMessage` on a reserved label type.
    """
    while True:
        length = data[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            return pos + 2
        if length & 0xC0:
            raise MalformedMessage("dns: bad rdata")
        pos += 1 + length


def _name_after(data: bytes, pos: int) -> int:
    """The offset after the name at ``pos``, checked as miekg/dns's UnpackDomainName does."""
    n = len(data)
    end = -1
    pointers = 0
    octets = 1  # the root label
    while True:
        if pos >= n:
            raise MalformedMessage("dns: buffer size too small")
        c = data[pos]
        kind = c & 0xC0
        if kind == 0:
            if c == 0:
                return end if end >= 0 else pos + 1
            octets += c + 1
            if octets > _MAX_NAME_OCTETS:
                raise MalformedMessage("dns: domain name exceeded 255 wire-format octets")
            pos += c + 1
        elif kind == 0xC0:
            if pos + 1 >= n:
                raise MalformedMessage("dns: buffer size too small")
            pointers += 1
            if pointers > _MAX_POINTERS:
                raise MalformedMessage("dns: too many compression pointers")
            if end < 0:
                end = pos + 2
            pos = ((c & 0x3F) << 8) | data[pos + 1]
            if pos < 12:
                # Into the header, which holds no name: miekg/dns follows it, but such a name
                # changes whenever the counts or flags do (in every reply we derive: truncated,
                # an OPT added, found by fuzzing), and no real server writes one.
                raise MalformedMessage("dns: compression pointer into the header")
        else:
            raise MalformedMessage("dns: bad rdata")


class _NotPlain(Exception):
    """Raised by :func:`check_answer`'s one-pass read when the reply needs the general walk."""


def check_reply(data: bytes, question_end: int = 0) -> bytes:
    """Check that ``data`` unpacks as a DNS message; return it with its counts made true.

    The walk is structural (names, pointers, record lengths, the rdata of the types that carry
    names or have a fixed size) and cheap, so a forwarded reply is never handed to the cache or a
    client in a shape that a resolver cannot read. As miekg/dns, a section that ends exactly at
    the end of the message ends the message even if its count promised more ("the count is a
    lie"), and the counts are set to what is there; anything else that runs past the end raises
    :class:`MalformedMessage`.

    ``question_end``, when given, says the caller already knows the message holds one question
    ending there whose name has no pointer (forward compared it with its own query's).

    A response with one question whose name has no pointer is read by :func:`check_answer`'s
    one pass, as its own question's answer; anything else by the general walk.
    """
    if not question_end:
        try:
            p = 12
            octets = 1
            c = data[12]
            while c:
                if c & 0xC0:
                    raise _NotPlain
                octets += c + 1
                if octets > _MAX_NAME_OCTETS:
                    raise _NotPlain
                p += c + 1
                c = data[p]
        except (_NotPlain, IndexError):
            return _check_reply_walk(data)
        question_end = p + 5
    if question_end > len(data):
        return _check_reply_walk(data)  # cut inside the question (check_answer would take it whole)
    checked = check_answer(data, data[12:question_end])
    return _check_reply_walk(data) if checked is None else checked


# A reply's first flags octet and its four counts, in one unpack.
_FLAGS_FOUR_COUNTS = struct.Struct(">BxHHHH").unpack_from


def check_answer(data: bytes, question: bytes) -> bytes | None:
    """:func:`check_reply` for the reply a forwarded query nearly always gets: a response (QR)
    with one question, ``question`` byte for byte (the query's as a lookup key: its name
    lower-cased, type and class). ``data`` with its counts made true when it is that and unpacks;
    None, with nothing more read, when it is not that (not a response, no or more questions,
    another question, the name in other case or another class, cut inside the question): the
    caller then judges it as any reply, CoreDNS's request.Match and :func:`check_reply`. Raises
    :class:`MalformedMessage` as check_reply does.

    What forward asked of every reply, in one unpack of the header and one comparison of the
    question: the QR bit, the question count (there and in check_reply), the name and the type,
    and check_reply's counts.

    The records are read here in one pass: records whose owners are the root, a pointer to the
    question (known good once it is) or any name that checks out, the counts true and nothing
    after the last record. Anything else (:class:`_NotPlain` or an error on the way) is read and
    judged by the general walk.
    """
    try:
        f1, qd, an, ns, ar = _FLAGS_FOUR_COUNTS(data, 2)
    except struct.error:
        return None  # shorter than a header
    pos = 12 + len(question)
    if qd != 1 or not f1 & 0x80 or data[12:pos] != question:
        return None
    try:
        n = len(data)
        left = an + ns + ar  # counted down: a range() costs more than a usual reply's records
        while left:
            left -= 1
            # Owner (as a pointer), type and length in one unpack: the usual answer's owner
            # points at the question. Any other owner (the root of a last OPT, 11 octets,
            # included) is read as a name, then the rest.
            if pos + 12 <= n:
                owner, rtype, rdlen = _POINTER_TYPE_RDLEN(data, pos)
            else:
                owner = -1
            if owner == 0xC00C:
                rdata = pos + 12
            else:
                if pos >= n:
                    raise _NotPlain
                pos = _name_after(data, pos) if data[pos] else pos + 1
                rtype, rdlen = _TYPE_RDLEN(data, pos)
                rdata = pos + 10
            pos = rdata + rdlen
            if pos > n:
                raise _NotPlain
            if rdlen:
                if rtype == 1:
                    if rdlen != 4:
                        raise _NotPlain
                else:
                    _check_rdata(data, rtype, rdata, pos)
        if pos == n:
            return data
    except (_NotPlain, IndexError, MalformedMessage, struct.error):
        pass
    return _check_reply_walk(data)


def _check_reply_walk(data: bytes) -> bytes:
    """:func:`check_reply`'s general walk: every section, every count, every error."""
    n = len(data)
    if n < 12:
        raise MalformedMessage("dns: overflow unpacking uint16")
    counts = _COUNTS.unpack_from(data, 4)
    found = [0, 0, 0, 0]
    pos = 12
    try:
        for _ in range(counts[0]):
            if pos == n:
                break
            pos = _name_after(data, pos) + 4
            if pos > n:
                raise MalformedMessage("dns: overflow unpacking uint16")
            found[0] += 1
        for section in (1, 2, 3):
            if pos == n:
                break
            for _ in range(counts[section]):
                if pos == n:
                    break
                pos = _name_after(data, pos)
                rtype, _cls, _ttl, rdlen = _RR_HEAD.unpack_from(data, pos)
                rdata = pos + 10
                pos = rdata + rdlen
                if pos > n:
                    raise MalformedMessage("dns: bad rdlength")
                if rdlen:
                    _check_rdata(data, rtype, rdata, pos)
                found[section] += 1
    except struct.error:
        raise MalformedMessage("dns: overflow unpacking uint16") from None
    if tuple(found) != counts:
        return data[:4] + _COUNTS.pack(*found) + data[12:]
    return data


def check_edns_options(data: bytes, start: int, end: int) -> None:
    """Each EDNS option of an OPT rdata has its code and length and fits in the rdata."""
    pos = start
    while pos < end:
        if pos + 4 > end:
            raise MalformedMessage("dns: overflow unpacking opt")
        pos += 4 + ((data[pos + 2] << 8) | data[pos + 3])
        if pos > end:
            raise MalformedMessage("dns: overflow unpacking opt")


def _check_rdata(data: bytes, rtype: int, start: int, end: int) -> None:
    if rtype == TYPE_OPT:
        check_edns_options(data, start, end)
        return
    size = _RDATA_LENGTH.get(rtype)
    if size is not None:
        if end - start != size:
            raise MalformedMessage("dns: bad rdlength")
        return
    names = _RDATA_NAMES.get(rtype)
    if names is None:
        return
    before, count, after = names
    pos = start + before
    for _ in range(count):
        if pos >= end:
            raise MalformedMessage("dns: bad rdlength")
        pos = _name_after(data, pos)
    if pos + after != end:
        raise MalformedMessage("dns: bad rdlength")


def truncate_reply(data: bytes, size: int) -> bytes:
    """Cut a reply to at most ``size`` octets as miekg/dns's Msg.Truncate does, on the wire.

    Records are kept in wire order (answer, authority, additional) as long as they fit, with the
    OPT record kept (moved to the end when the cut falls before it); TC is set when an answer or
    authority record had to go. Cutting at a record boundary keeps every compression pointer valid
    (pointers only reach back), so no record is re-encoded: this is one walk, however many
    records the reply holds. A reply that cannot be walked becomes its header (and question when
    that reads) with TC set.
    """
    qd, an, ns, ar = _COUNTS.unpack_from(data, 4)
    n = len(data)
    spans: list[tuple[int, int]] = []  # (start, end) of every record, in wire order
    opt_index = -1
    question_end = 0
    try:
        pos = 12
        for _ in range(qd):
            pos = _name_after(data, pos) + 4
        question_end = pos
        if question_end > n:
            raise MalformedMessage("question past the end")
        for i in range(an + ns + ar):
            start = pos
            pos = _name_after(data, pos)
            rtype, _cls, _ttl, rdlen = _RR_HEAD.unpack_from(data, pos)
            pos += 10 + rdlen
            if pos > n:
                raise MalformedMessage("record past the end")
            if rtype == TYPE_OPT and i >= an + ns and opt_index < 0:
                opt_index = len(spans)
            spans.append((start, pos))
    except (MalformedMessage, struct.error):
        return _header_and_question(data, qd, question_end if 12 < question_end <= n else 12)
    opt = data[spans[opt_index][0] : spans[opt_index][1]] if opt_index >= 0 else b""
    keep = len(spans)
    while keep > 0:
        end = spans[keep - 1][1]
        extra = len(opt) if opt_index >= keep else 0
        if end + extra <= size:
            break
        keep -= 1
    else:
        end = question_end
        if end + len(opt) > size:
            opt = b""  # not even the OPT fits: header and question only
    kept_an = min(keep, an)
    kept_ns = min(max(keep - an, 0), ns)
    kept_ar = max(keep - an - ns, 0)
    body = data[12:end]
    if opt_index >= keep and opt:
        body += opt
        kept_ar += 1
    f1 = data[2]
    if kept_an < an or kept_ns < ns:
        f1 |= 0x02
    out = data[:2] + bytes((f1, data[3])) + _COUNTS.pack(qd, kept_an, kept_ns, kept_ar) + body
    try:
        check_reply(out)
    except MalformedMessage:
        # A kept name points past the cut: a forward pointer, which miekg/dns follows (and
        # packs anew) but no real server writes. Found by fuzzing; as for a reply that cannot
        # be walked, only the header and question are sent.
        return _header_and_question(data, qd, question_end)
    return out


def _header_and_question(data: bytes, qd: int, end: int) -> bytes:
    """The reply's header with TC set and its question up to ``end`` (none when 12, or when
    the question does not read on its own)."""
    out = data[:2] + bytes((data[2] | 0x02, data[3])) + _COUNTS.pack(qd if end > 12 else 0, 0, 0, 0) + data[12:end]
    if end > 12:
        try:
            check_reply(out)
        except MalformedMessage:
            return out[:4] + _COUNTS.pack(0, 0, 0, 0)
    return out
