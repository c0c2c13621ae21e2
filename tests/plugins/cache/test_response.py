"""Reply classification on the wire, against CoreDNS's response.Typify and the cache's key rules."""

from __future__ import annotations

import struct
import time

import dnslib
import pytest

from pycoredns.plugins.cache import response
from pycoredns.plugins.cache.response import Kind


def _reply(rcode: int = 0, qtype: str = "A") -> dnslib.DNSRecord:
    r = dnslib.DNSRecord.question("www.example.org", qtype).reply()
    r.header.rcode = rcode
    return r


def _soa(ttl: int = 60) -> dnslib.RR:
    rdata = dnslib.SOA("ns.example.org.", "root.example.org.", (1, 2, 3, 4, 900))
    return dnslib.RR("example.org.", dnslib.QTYPE.SOA, rdata=rdata, ttl=ttl)


def _a(name: str = "www.example.org.", ttl: int = 60) -> dnslib.RR:
    return dnslib.RR(name, dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.1"), ttl=ttl)


def _cname(name: str, target: str) -> dnslib.RR:
    return dnslib.RR(name, dnslib.QTYPE.CNAME, rdata=dnslib.CNAME(target), ttl=60)


def _build(rcode: int = 0, answer: tuple[dnslib.RR, ...] = (), auth: tuple[dnslib.RR, ...] = (),
           qtype: str = "A") -> response.Reply:
    r = _reply(rcode, qtype)
    for rr in answer:
        r.add_answer(rr)
    for rr in auth:
        r.add_auth(rr)
    return response.parse(bytes(r.pack()))


NS = dnslib.RR("example.org.", dnslib.QTYPE.NS, rdata=dnslib.NS("ns.example.org."), ttl=86400)


@pytest.mark.parametrize(
    ("rep", "kind", "cacheable"),
    [
        pytest.param(_build(answer=(_a(),)), Kind.NOERROR, True, id="noerror"),
        pytest.param(_build(auth=(_soa(),)), Kind.NODATA, True, id="nodata"),
        pytest.param(_build(3, auth=(_soa(),)), Kind.NXDOMAIN, True, id="nxdomain"),
        pytest.param(_build(3), Kind.NXDOMAIN, False, id="nxdomain-no-soa"),
        pytest.param(_build(3, answer=(_a(),), auth=(_soa(),)), Kind.OTHERERROR, False, id="nxdomain-with-answer"),
        pytest.param(_build(2), Kind.SERVERERROR, True, id="servfail"),
        pytest.param(_build(4), Kind.SERVERERROR, True, id="notimp"),
        pytest.param(_build(5), Kind.OTHERERROR, False, id="refused"),
        pytest.param(_build(auth=(NS,)), Kind.DELEGATION, True, id="delegation"),
        pytest.param(_build(), Kind.NOERROR, True, id="empty-noerror"),
        pytest.param(_build(qtype="AXFR"), Kind.META, False, id="axfr"),
        pytest.param(_build(answer=(_cname("www.example.org.", "a.example.net."),)), Kind.NOERROR, False,
                     id="dangling-cname"),
        pytest.param(_build(answer=(_cname("www.example.org.", "a.example.net."),), auth=(_soa(),)), Kind.NODATA,
                     True, id="dangling-cname-with-soa"),
        pytest.param(_build(answer=(_cname("www.example.org.", "a.example.net."), _a("A.Example.NET."))),
                     Kind.NOERROR, True, id="cname-chain"),
        pytest.param(_build(answer=(_cname("www.example.org.", "a.org."), _cname("a.org.", "www.example.org."))),
                     Kind.NOERROR, False, id="cname-loop"),
        pytest.param(_build(answer=(_a("other.org."),)), Kind.NOERROR, False, id="answer-for-another-name"),
        pytest.param(_build(answer=(_cname("www.example.org.", "a.org."),), qtype="CNAME"), Kind.NOERROR, True,
                     id="cname-query"),
    ],
)
def test_classification(rep: response.Reply, kind: Kind, cacheable: bool) -> None:
    got = response.cache_kind(rep, time.time())
    assert got is kind
    assert response.cacheable(rep, got) is cacheable


def test_minimal_ttl() -> None:
    rep = _build(answer=(_a(ttl=300),), auth=(_soa(ttl=120),))
    assert response.minimal_ttl(rep, Kind.NOERROR, 3600) == 120
    assert response.minimal_ttl(rep, Kind.NOERROR, 60) == 60
    # Referrals start from 5 seconds whatever their NS TTL (dnsutil.MinimalTTLWithMaximum).
    assert response.minimal_ttl(_build(auth=(NS,)), Kind.DELEGATION, 3600) == 5
    assert response.minimal_ttl(_build(), Kind.NOERROR, 3600) == 5  # no records: the fail-safe


def _signed(expiration: int, inception: int) -> response.Reply:
    r = _reply()
    r.add_answer(_a())
    sig = struct.pack(">HBBIII", 1, 8, 3, 60, expiration, inception) + struct.pack(">H", 1) + b"\x00" + b"sig"
    r.add_answer(dnslib.RR("www.example.org.", dnslib.QTYPE.RRSIG, rdata=dnslib.RD(sig), ttl=60))
    r.add_ar(dnslib.EDNS0(flags="do"))
    return response.parse(bytes(r.pack()))


def test_expired_signatures_are_other_errors_when_do() -> None:
    now = int(time.time())
    assert response.typify(_signed(now + 3600, now - 3600), now) is Kind.NOERROR
    assert response.typify(_signed(now - 60, now - 3600), now) is Kind.OTHERERROR
    assert response.typify(_signed(now + 3600, now + 60), now) is Kind.OTHERERROR


def test_ttl_offsets_skip_the_opt() -> None:
    r = _reply()
    r.add_answer(_a(ttl=77))
    r.add_ar(dnslib.EDNS0(udp_len=1232, flags="do"))
    data = bytes(r.pack())
    rep = response.parse(data)
    assert [struct.unpack_from(">I", data, rec.ttl_at)[0] for rec in rep.records] == [77]
    assert rep.opt_end == len(data) and rep.opt_do


@pytest.mark.parametrize("after", [b"", b"\x00\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x01"],
                         ids=["last-record", "before-another"])
def test_a_cname_without_rdata_has_no_target(after: bytes) -> None:
    # Found by benchmarks/reliability/fuzz.py: the target was read from the bytes at the rdata
    # offset (past the end, or the next record's). miekg/dns unpacks it as a CNAME to nothing.
    head = struct.pack(">HHHHHH", 1, 0x8180, 1, 2 if after else 1, 0, 0)
    question = b"\x07example\x03org\x00\x00\x01\x00\x01"
    data = head + question + b"\xc0\x0c" + struct.pack(">HHIH", 5, 1, 60, 0) + after
    rep = response.parse(data)
    assert not response.answers_question(rep)
    assert response.is_nodata(rep)
