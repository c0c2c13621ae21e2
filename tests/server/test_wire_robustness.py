"""Regressions found by test_fuzz: the engine's wire reading, truncation and dnslib fallback."""

from __future__ import annotations

import functools
import struct

import dnslib
import pytest

from pycoredns import wire
from pycoredns.request import Request
from pycoredns.testing import FakeUpstream, query, raw_query, running_server


def _query(name: bytes, counts: tuple[int, int, int, int] = (1, 0, 0, 0), tail: bytes = b"") -> bytes:
    return struct.pack(">HHHHHH", 0x1234, 0x0100, *counts) + name + b"\x00\x01\x00\x01" + tail


def _rr(owner: bytes, rtype: int, rdata: bytes) -> bytes:
    return owner + struct.pack(">HHIH", rtype, 1, 60, len(rdata)) + rdata


def _pointer_chain(name: bytes, depth: int) -> bytes:
    """An additional record whose owner is ``depth`` pointers deep (the chain sits in an answer)."""
    head = _query(name, counts=(1, 1, 0, 1))
    rdata_at = len(head) + 11
    chain = bytearray(b"\x00")
    prev = rdata_at
    for _ in range(depth):
        here = rdata_at + len(chain)
        chain += struct.pack(">H", 0xC000 | prev)
        prev = here
    return head + _rr(b"\x00", 65280, bytes(chain)) + _rr(struct.pack(">H", 0xC000 | prev), 1, b"\x01\x02\x03\x04")


NAME = b"\x07example\x03org\x00"


@pytest.mark.parametrize(
    "packet",
    [
        pytest.param(_pointer_chain(NAME, 1500), id="pointer-chain-1500"),
        pytest.param(_query(NAME, (1, 0, 0, 1), b"\xc0\x1d" + struct.pack(">HHIH", 1, 1, 60, 0)), id="pointer-loop"),
        pytest.param(_query(NAME, (1, 0, 0, 1), b"\xff\xff" + struct.pack(">HHIH", 1, 1, 60, 0)),
                     id="pointer-past-end"),
        pytest.param(_query(NAME, (1, 0, 0, 1), b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x07\x00\x0a\x00\x20abc"),
                     id="opt-option-overruns"),
        pytest.param(_query(NAME, (1, 0, 0, 1), _rr(b"\xc0\x0c", 1, b"\x01\x02\x03")), id="a-rdata-3-octets"),
    ],
)
def test_queries_miekg_cannot_unpack_are_formerr(packet: bytes) -> None:
    with pytest.raises(wire.MalformedQuery) as e:
        wire.parse_question(packet)
    assert e.value.rcode == wire.FORMERR


def test_count_promising_absent_records_is_read_as_miekg_does() -> None:
    # miekg/dns stops at the end of the message when a count "is a lie": no OPT, no error.
    q = wire.parse_question(_query(NAME, (1, 0, 0, 1)))
    assert not q.edns


@pytest.mark.parametrize(
    "packet",
    [
        pytest.param(_query(NAME, (1, 0, 0, 1), _rr(b"\xc0\x0c", 1, b"")), id="empty-rdata"),
        pytest.param(_query(b"\x02\xc8\xff" + NAME), id="label-not-utf8"),
    ],
)
def test_query_dnslib_cannot_parse_still_gets_a_reply_built(packet: bytes) -> None:
    req = Request(packet, wire.read_question(packet), "udp", ("127.0.0.1", 5300), ("127.0.0.1", 53), "dns://:53")
    reply = req.make_reply()
    assert reply.header.id == 0x1234
    out = req.pack(reply)
    assert out[12 : req.q.end] == packet[12 : req.q.end]  # the question as the client sent it


def _big_reply(records: int, opt: bool = True) -> bytes:
    q = dnslib.DNSRecord.question("many.example.org", "A")
    r = q.reply()
    for i in range(records):
        r.add_answer(dnslib.RR("many.example.org", dnslib.QTYPE.A, rdata=dnslib.A(f"10.0.{i // 256}.{i % 256}")))
    r.add_ar(dnslib.RR("ns.example.org", dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.53")))
    if opt:
        r.add_ar(dnslib.EDNS0(udp_len=1232))
    return bytes(r.pack())


@pytest.mark.parametrize("size", [512, 700, 1232])
def test_truncate_keeps_a_record_prefix_the_opt_and_sets_tc(size: int) -> None:
    data = _big_reply(400)
    out = wire.truncate_reply(data, size)
    assert len(out) <= size
    msg = dnslib.DNSRecord.parse(out)
    assert msg.header.tc == 1
    assert 0 < len(msg.rr) < 400
    assert [rr.rtype for rr in msg.ar] == [dnslib.QTYPE.OPT]
    assert str(msg.rr[-1].rdata) == f"10.0.{(len(msg.rr) - 1) // 256}.{(len(msg.rr) - 1) % 256}"


def test_truncate_drops_extra_records_without_tc() -> None:
    data = _big_reply(20, opt=False)
    out = wire.truncate_reply(data, len(data) - 1)
    msg = dnslib.DNSRecord.parse(out)
    assert len(msg.rr) == 20 and msg.ar == [] and msg.header.tc == 0


def test_truncate_of_a_name_dnslib_cannot_read() -> None:
    rr = _rr(b"\xc0\x0c", 1, b"\x01\x02\x03\x04")
    data = struct.pack(">HHHHHH", 1, 0x8180, 1, 60, 0, 0) + b"\x02\xc8\xff" + NAME + b"\x00\x01\x00\x01" + rr * 60
    out = wire.truncate_reply(data, 512)
    assert len(out) <= 512 and out[2] & 0x02
    assert wire.check_reply(out) == out


def test_big_cached_answer_to_many_udp_clients_is_answered() -> None:
    """A 400-record answer from the cache, truncated per UDP query, used to take seconds each."""

    def answer(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
        r = q.reply()
        for i in range(400):
            r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A(f"10.0.{i // 256}.{i % 256}"), ttl=60))
        return r

    with FakeUpstream(answer) as up, running_server(f".:0 {{\n    cache\n    forward . {up.address}\n}}\n") as rs:
        port = rs.port
        assert len(query("many.example.org", "A", port, proto="tcp").rr) == 400
        for _ in range(20):
            r = query("many.example.org", "A", port, timeout=2)
            assert r.header.tc == 1 and 0 < len(r.rr) < 400


@pytest.mark.parametrize(
    ("data", "fixed"),
    [
        pytest.param(_big_reply(3), None, id="well-formed"),
        pytest.param(_big_reply(3)[:-11][:4] + b"\x00\x01\x00\x03\x00\x00\x00\x05" + _big_reply(3)[12:-11],
                     b"\x00\x01\x00\x03\x00\x00\x00\x01", id="count-is-a-lie"),
    ],
)
def test_check_reply_accepts_and_fixes_counts(data: bytes, fixed: bytes | None) -> None:
    out = wire.check_reply(data)
    if fixed is None:
        assert out == data
    else:
        assert out[4:12] == fixed and out[12:] == data[12:]


@pytest.mark.parametrize(
    ("tail", "error"),
    [
        pytest.param(_rr(b"\xc0\x0c", 1, b"\x01\x02\x03\x04")[:-2], "dns: bad rdlength", id="rdata-past-end"),
        pytest.param(_rr(b"\x01a\xc0\x1d", 1, b"\x01\x02\x03\x04"), "dns: too many compression pointers", id="loop"),
        pytest.param(_rr(b"\xc0\xf0", 1, b"\x01\x02\x03\x04"), "dns: buffer size too small", id="pointer-past-end"),
        pytest.param(_rr(b"\x41zz\x00", 1, b"\x01\x02\x03\x04"), "dns: bad rdata", id="label-type-0x40"),
        pytest.param(_rr(b"\xc0\x0c", 28, b"\x01\x02\x03\x04"), "dns: bad rdlength", id="aaaa-4-octets"),
        pytest.param(_rr(b"\xc0\x0c", 5, b"\xc0\x0c\x00"), "dns: bad rdlength", id="cname-trailing-octet"),
        pytest.param(_rr(b"\x00", 41, b"\x00\x0a\x00\x30ab"), "dns: overflow unpacking opt", id="opt-option-overruns"),
    ],
)
def test_check_reply_rejects_what_miekg_cannot_unpack(tail: bytes, error: str) -> None:
    data = struct.pack(">HHHHHH", 1, 0x8180, 1, 1, 0, 0) + NAME + b"\x00\x01\x00\x01" + tail
    with pytest.raises(wire.MalformedMessage, match=error):
        wire.check_reply(data)


def _outcome(check: object, data: bytes) -> tuple[object, ...]:
    try:
        return ("ok", check(data))  # type: ignore[operator]
    except wire.MalformedMessage as e:
        return ("error", str(e))


def test_check_reply_judges_damaged_replies_as_its_general_walk_does() -> None:
    """The one-pass reading of the usual reply and the general walk agree on every damaged copy
    of a few real replies (bytes changed, cut short, pointers and labels planted)."""
    import random

    rng = random.Random(7)
    samples = []
    for name, qtype in (("a.example.org", "A"), ("example.org", "MX"), (".", "NS")):
        q = dnslib.DNSRecord.question(name, qtype)
        r = q.reply()
        r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.1")))
        r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.CNAME, rdata=dnslib.CNAME("c.example.org")))
        r.add_answer(dnslib.RR("other.example", dnslib.QTYPE.MX, rdata=dnslib.MX("m.example.org")))
        r.add_ar(dnslib.EDNS0())
        samples.append(bytes(r.pack()))
    for i in range(3000):
        data = bytearray(samples[i % len(samples)])
        for _ in range(rng.randrange(1, 4)):
            pick = rng.random()
            if pick < 0.4:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif pick < 0.6 and len(data) > 12:
                del data[rng.randrange(12, len(data)) :]
            else:
                data[rng.randrange(len(data))] = rng.choice((0xC0, 0x0C, 0x00, 0x3F, 0x40))
        packet = bytes(data)
        walked = _outcome(wire._check_reply_walk, packet)
        assert _outcome(wire.check_reply, packet) == walked, packet
        # forward's reading of its usual reply gives the same verdict, or leaves the reply to the
        # general reading when its header or question is not the query's.
        sample = samples[i % len(samples)]
        question = sample[12 : wire._name_after(sample, 12) + 4]
        answered = _outcome(functools.partial(wire.check_answer, question=question), packet)
        if answered == ("ok", None):
            assert not (packet[2] & 0x80 and packet[4:6] == b"\x00\x01" and packet[12:].startswith(question)), packet
        else:
            assert answered == walked, packet


@pytest.mark.parametrize(
    ("data", "question"),
    [
        pytest.param(b"\x00\x01\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00" + NAME + b"\x00\x01", None, id="no-class"),
        pytest.param(b"\x00\x01\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00" + NAME[:5], None, id="cut-in-name"),
        pytest.param(b"\x00\x01\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00" + NAME + b"\x00\x01",
                     len(NAME) + 16, id="no-class-question-end-given"),
    ],
)
def test_a_reply_cut_inside_its_question_does_not_unpack(data: bytes, question: int | None) -> None:
    # Its question is what is left of it: read as the whole question, no record would follow.
    with pytest.raises(wire.MalformedMessage):
        wire.check_reply(data) if question is None else wire.check_reply(data, question)
    assert wire.check_answer(data, NAME + b"\x00\x01\x00\x01") is None


@pytest.mark.parametrize(
    ("change", "taken"),
    [
        pytest.param(lambda d: d, True, id="as-sent"),
        pytest.param(lambda d: d[:2] + bytes((d[2] & 0x7F,)) + d[3:], False, id="no-qr"),
        pytest.param(lambda d: d[:4] + b"\x00\x02" + d[6:], False, id="two-questions"),
        pytest.param(lambda d: d[:4] + b"\x00\x00" + d[6:], False, id="no-question"),
        pytest.param(lambda d: d[:13] + d[13:20].upper() + d[20:], False, id="name-in-other-case"),
        pytest.param(lambda d: d[:27] + b"\x00\x03" + d[29:], False, id="other-class"),
        pytest.param(lambda d: d[:25] + b"\x00\x1c" + d[27:], False, id="other-type"),
        pytest.param(lambda d: d[:26], False, id="cut-in-question"),
        pytest.param(lambda d: d[:11], False, id="shorter-than-a-header"),
    ],
)
def test_check_answer_takes_only_a_response_to_the_question_as_sent(change: object, taken: bool) -> None:
    question = NAME + b"\x00\x01\x00\x01"
    data = struct.pack(">HHHHHH", 1, 0x8180, 1, 1, 0, 0) + question + _rr(b"\xc0\x0c", 1, b"\x01\x02\x03\x04")
    assert data[25:29] == b"\x00\x01\x00\x01"  # type and class, where the changes above put them
    changed = change(data)  # type: ignore[operator]
    assert (wire.check_answer(changed, question) is not None) is taken
    if taken:
        assert wire.check_answer(changed, question) == wire.check_reply(changed) == changed


def test_malformed_queries_over_the_wire_get_formerr() -> None:
    with running_server(".:0 {\n    whoami\n}\n") as rs:
        reply = raw_query(_pointer_chain(NAME, 1500), rs.port)
        assert reply[:2] == b"\x12\x34" and reply[2] & 0x80 and reply[3] & 0xF == wire.FORMERR


def test_truncate_of_a_record_whose_name_points_past_the_cut() -> None:
    # Found by benchmarks/reliability/fuzz.py: a forward pointer (miekg/dns follows them) into
    # bytes after the last record. Cutting there left the name pointing at nothing; now the
    # reply goes as its header and question with TC, as one that cannot be walked.
    tail = b"\x03www\x00"  # what the pointer reaches, past the records
    head = struct.pack(">HHHHHH", 1, 0x8180, 1, 0, 0, 1) + NAME + b"\x00\x01\x00\x01"
    rr = _rr(struct.pack(">H", 0xC000 | (len(head) + 2 + 10 + 4)), 1, b"\x01\x02\x03\x04")
    data = head + rr + tail
    assert wire.check_reply(data) == data
    for size in (512, len(data) - 1):
        out = wire.truncate_reply(data, size)
        assert wire.check_reply(out) == out
        assert out == data[:2] + b"\x83\x80\x00\x01\x00\x00\x00\x00\x00\x00" + head[12:]


def test_truncate_of_a_question_that_points_past_it() -> None:
    # The question's own name points forward: not even the question is kept.
    head = struct.pack(">HHHHHH", 1, 0x8180, 1, 0, 0, 0) + b"\xc0\x12\x00\x01\x00\x01" + b"\x03www\x00"
    assert wire.check_reply(head) == head
    out = wire.truncate_reply(head, len(head) - 1)
    assert out == head[:2] + b"\x83\x80" + bytes(8)


def test_a_name_pointing_into_the_header_does_not_unpack() -> None:
    # Found by benchmarks/reliability/fuzz.py: such a name reads the counts and flags as labels,
    # so it changed when an OPT was added to the reply (or it was truncated).
    head = struct.pack(">HHHHHH", 1, 0x8180, 1, 1, 0, 0) + NAME + b"\x00\x01\x00\x01"
    data = head + _rr(b"\xc0\x09", 1, b"\x01\x02\x03\x04")
    with pytest.raises(wire.MalformedMessage, match="into the header"):
        wire.check_reply(data)
    # The one-pass reading of the usual reply gives the general walk's verdict.
    assert _outcome(wire.check_reply, data) == _outcome(wire._check_reply_walk, data)
