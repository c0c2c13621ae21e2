"""wire.parse_question on the shapes every query path meets: what it reads, what it refuses."""

from __future__ import annotations

import dnslib
import pytest

from pycoredns import wire

QUERY = bytes(dnslib.DNSRecord.question("Www.Example.org", "AAAA").pack())  # RD set, no EDNS
NAME_END = 12 + len(b"\x03Www\x07Example\x03org\x00")


def _edns(size: int, do: bool, version: int = 0) -> bytes:
    rec = dnslib.DNSRecord.parse(QUERY)
    rec.add_ar(dnslib.EDNS0(udp_len=size, flags="do" if do else "", version=version))
    return bytes(rec.pack())


def test_a_plain_question() -> None:
    q = wire.parse_question(QUERY)
    assert (q.qtype, q.qclass, q.name_end, q.end) == (28, 1, NAME_END, NAME_END + 4)
    assert q.labels == [12, 16, 24] and q.lname == b"\x03www\x07example\x03org\x00"
    assert q.key == q.lname + b"\x00\x1c\x00\x01"
    assert (q.edns, q.udp_size, q.do, q.edns_version, q.opcode) == (False, 512, False, 0, 0)


@pytest.mark.parametrize(("size", "do", "version", "expected"), [
    (1232, True, 0, (True, 1232, True, 0)),
    (100, False, 0, (True, 512, False, 0)),  # below 512: 512
    (4096, False, 1, (True, 4096, False, 1)),
])
def test_a_question_and_an_opt(size: int, do: bool, version: int, expected: tuple[object, ...]) -> None:
    q = wire.parse_question(_edns(size, do, version))
    assert (q.edns, q.udp_size, q.do, q.edns_version) == expected
    assert (q.qtype, q.end) == (28, NAME_END + 4)


def test_other_counts_take_the_general_read() -> None:
    rec = dnslib.DNSRecord.parse(_edns(2048, True))
    rec.add_auth(dnslib.RR("example.org", dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.1")))
    q = wire.parse_question(bytes(rec.pack()))
    assert (q.edns, q.udp_size, q.do, q.qtype) == (True, 2048, True, 28)
    with pytest.raises(wire.MalformedQuery) as e:  # two questions: FORMERR
        wire.parse_question(QUERY[:5] + b"\x02" + QUERY[6:] + QUERY[12:])
    assert e.value.rcode == wire.FORMERR


@pytest.mark.parametrize(("data", "rcode"), [
    pytest.param(QUERY[:11], None, id="shorter-than-a-header"),
    pytest.param(QUERY[:2] + bytes((QUERY[2] | 0x80,)) + QUERY[3:], None, id="a-response"),
    pytest.param(QUERY[:2] + bytes((QUERY[2] | 0x10,)) + QUERY[3:], wire.NOTIMP, id="opcode-2"),
    pytest.param(QUERY[:12], wire.SERVFAIL, id="header-only"),
    pytest.param(QUERY[:12] + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01", wire.FORMERR, id="label-too-long"),
    pytest.param(QUERY[:NAME_END + 3], wire.FORMERR, id="cut-in-the-class"),
])
def test_refused_shapes(data: bytes, rcode: int | None) -> None:
    with pytest.raises(wire.MalformedQuery) as e:
        wire.parse_question(data)
    assert type(e.value) is wire.MalformedQuery and e.value.rcode == rcode


@pytest.mark.parametrize("cut", [NAME_END, NAME_END + 2], ids=["after-the-name", "after-the-type"])
def test_a_question_cut_short_is_read_with_zeros(cut: int) -> None:
    with pytest.raises(wire.ShortQuestion) as e:
        wire.parse_question(QUERY[:cut])
    assert e.value.wire == QUERY[:cut] + b"\x00" * (NAME_END + 4 - cut)


def _with_cd(data: bytes) -> bytes:
    return data[:3] + bytes((data[3] | 0x10,)) + data[4:]


def _general(do: bool) -> bytes:
    rec = dnslib.DNSRecord.parse(_edns(2048, do))
    rec.add_auth(dnslib.RR("example.org", dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.1")))
    return bytes(rec.pack())


@pytest.mark.parametrize(("data", "last"), [
    pytest.param(QUERY, 0, id="plain"),
    pytest.param(_with_cd(QUERY), 1, id="plain-cd"),
    pytest.param(_edns(1232, False), 0, id="opt"),
    pytest.param(_edns(1232, True), 2, id="opt-do"),
    pytest.param(_with_cd(_edns(1232, True)), 3, id="opt-do-cd"),
    pytest.param(_general(True), 2, id="general-do"),
    pytest.param(_with_cd(_general(False)), 1, id="general-cd"),
])
def test_the_dnssec_key_holds_do_and_cd(data: bytes, last: int) -> None:
    q = wire.parse_question(data)
    assert q.dkey == q.key + bytes((last,))
