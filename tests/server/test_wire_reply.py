"""Request.wire_reply: replies built from the query's bytes and records packed ahead of time."""

from __future__ import annotations

import dnslib
import pytest

from pycoredns.plugin import wire
from pycoredns.testing import make_request

A_RDATA = bytes([192, 0, 2, 1])


def _a(ttl: int = 300, last: int = 1) -> bytes:
    return wire.record(wire.QUESTION_NAME, 1, ttl, bytes([192, 0, 2, last]))


def test_answer_keeps_the_question_as_asked() -> None:
    req = make_request("WwW.Example.ORG", "A")
    data = req.wire_reply(wire.NOERROR, _a() + _a(60, 2), 2, authoritative=True)
    m = dnslib.DNSRecord.parse(data)
    q = req.msg
    assert m.header.id == q.header.id and m.header.qr == 1 and m.header.aa == 1 and m.header.rd == 1
    assert m.header.ra == 0 and m.header.rcode == 0 and m.header.tc == 0
    assert str(m.q.qname) == "WwW.Example.ORG." and m.q.qtype == dnslib.QTYPE.A
    assert [(str(rr.rname), rr.ttl, str(rr.rdata)) for rr in m.rr] == [
        ("WwW.Example.ORG.", 300, "192.0.2.1"),
        ("WwW.Example.ORG.", 60, "192.0.2.2"),
    ]
    assert m.ar == []


def test_a_record_with_its_own_owner() -> None:
    owner = _wire("target.example.org.")
    cname = wire.record(wire.QUESTION_NAME, 5, 30, owner)
    a = wire.record(owner, 1, 30, A_RDATA)
    m = dnslib.DNSRecord.parse(make_request("alias.example.org", "A").wire_reply(0, cname + a, 2))
    assert [(str(rr.rname), dnslib.QTYPE[rr.rtype], str(rr.rdata)) for rr in m.rr] == [
        ("alias.example.org.", "CNAME", "target.example.org."),
        ("target.example.org.", "A", "192.0.2.1"),
    ]
    assert m.header.aa == 0


def _wire(name: str) -> bytes:
    buf = dnslib.DNSBuffer()
    buf.encode_name_nocompress(dnslib.DNSLabel(name))
    return bytes(buf.data)


@pytest.mark.parametrize("rcode", [wire.NXDOMAIN, wire.NOERROR, wire.REFUSED])
def test_no_answers(rcode: int) -> None:
    m = dnslib.DNSRecord.parse(make_request("nothing.example.org", "AAAA").wire_reply(rcode, authoritative=True))
    assert m.header.rcode == rcode and m.rr == [] and m.auth == [] and m.header.aa == 1


def test_edns_is_mirrored_and_cd_copied() -> None:
    req = make_request("example.org", "A", edns=1400, do=True)
    raw = bytearray(req.wire)
    raw[3] |= 0x10  # CD
    req = req.with_wire(bytes(raw))
    m = dnslib.DNSRecord.parse(req.wire_reply(0, _a(), 1))
    assert m.header.cd == 1
    (opt,) = m.ar
    assert opt.rtype == dnslib.QTYPE.OPT and opt.rclass == 1400 and opt.ttl & 0x8000  # DO
    bad = dnslib.DNSRecord.parse(make_request("example.org", "A", edns=1232).wire_reply(wire.BADVERS))
    assert bad.header.rcode == wire.BADVERS & 0xF and (bad.ar[0].ttl >> 24) == wire.BADVERS >> 4


def test_truncated_to_what_the_client_takes() -> None:
    answers = b"".join(_a(last=i) for i in range(60))  # 60 x 16 octets: over 512
    m = dnslib.DNSRecord.parse(make_request("example.org", "A").wire_reply(0, answers, 60))
    assert m.header.tc == 1 and 0 < len(m.rr) < 60 and len(m.pack()) <= 512
    tcp = dnslib.DNSRecord.parse(make_request("example.org", "A", proto="tcp").wire_reply(0, answers, 60))
    assert tcp.header.tc == 0 and len(tcp.rr) == 60
