"""An upstream reply that does not unpack fails the attempt (SERVFAIL), as in CoreDNS's proxy."""

from __future__ import annotations

import struct
from collections.abc import Callable

import dnslib
import pytest

from pycoredns.testing import DNSClient
from pycoredns.testing.fixtures import ServerFactory, UpstreamFactory
from pycoredns.testing.logs import CapturedLog


def _question(q: dnslib.DNSRecord) -> bytes:
    return bytes(dnslib.DNSRecord(q=q.q).pack()[12:])


def _reply(q: dnslib.DNSRecord, answer: bytes) -> bytes:
    return struct.pack(">HHHHHH", q.header.id, 0x8180, 1, 1, 0, 0) + _question(q) + answer


@pytest.mark.parametrize(
    ("make", "error"),
    [
        pytest.param(lambda q: _reply(q, b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x01"),
                     "dns: bad rdlength", id="rdata-cut-short"),
        pytest.param(lambda q: _reply(q, b"\xc0" + bytes([12 + len(_question(q))]) + b"\x00\x01\x00\x01\x00\x00\x00\x3c"
                                      b"\x00\x04\x01\x02\x03\x04"), "dns: too many compression pointers",
                     id="pointer-to-itself"),
        pytest.param(lambda q: _reply(q, b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x03\x01\x02\x03"),
                     "dns: bad rdlength", id="a-with-3-octets"),
    ],
)
@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_unpackable_upstream_reply_is_servfail_and_not_cached(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient, coredns_log: CapturedLog,
    make: Callable[[dnslib.DNSRecord], bytes], error: str, proto: str,
) -> None:
    up = fake_upstream(lambda q, p: make(q))
    dns_server(f".:0 {{\n    errors\n    cache\n    forward . {up.address}\n}}\n")
    asked = []
    for _ in range(2):
        r = dns_client.query("bad.example.org", "A", proto=proto, timeout=10)
        assert r.header.rcode == dnslib.RCODE.SERVFAIL
        assert r.rr == []
        asked.append(sum(1 for _, m in up.queries if str(m.q.qname) == "bad.example.org."))
    assert 0 < asked[0] < asked[1], "nothing was cached: the upstream was asked again"
    assert f"[ERROR] plugin/errors: 2 bad.example.org. A: {error}" in coredns_log.wait_for("plugin/errors")
