"""Log lines: every placeholder, rule choice, class filtering, and a real server's output."""

from __future__ import annotations

import re

import dnslib
import pytest

from pycoredns import wire
from pycoredns.plugins.log.classify import classify
from pycoredns.plugins.log.format import COMBINED, COMMON, _seconds, compile_format, render
from pycoredns.plugins.log.observer import LogObserver, Rule
from pycoredns.testing import DNSClient, make_request
from pycoredns.testing.fixtures import ServerFactory, UpstreamFactory
from pycoredns.testing.logs import CapturedLog


def _reply(qname: str = "example.org.", rcode: int = 0, answer: bool = True, auth: str = "") -> bytes:
    q = dnslib.DNSRecord.question(qname, "A")
    q.header.id = 4660
    r = q.reply()
    r.header.rcode = rcode
    if answer:
        r.add_answer(dnslib.RR(qname, dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.1"), ttl=30))
    if auth == "SOA":
        r.add_auth(dnslib.RR(qname, dnslib.QTYPE.SOA, rdata=dnslib.SOA("ns.", "h.", (1, 2, 3, 4, 5)), ttl=30))
    elif auth == "NS":
        r.add_auth(dnslib.RR(qname, dnslib.QTYPE.NS, rdata=dnslib.NS("ns.example.org."), ttl=30))
    return bytes(r.pack())


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        pytest.param("{type} {class} {name} {proto}", "A IN example.org. tcp", id="question"),
        pytest.param("{remote}:{port} {local}", "10.240.0.1:40212 127.0.0.1", id="addresses"),
        pytest.param("{size} {rsize}", "40 45", id="sizes"),
        pytest.param("{rcode} {>rflags}", "NOERROR qr,aa,rd,ra", id="reply"),
        pytest.param("{>do} {>bufsize} {>opcode}", "true 65535 0", id="header"),
        pytest.param("{>DO} {>BufSize}", "true 65535", id="header-any-case"),
        pytest.param("{/meta/x} {/nope}", "val -", id="metadata"),
        pytest.param("{unknown} {", "{unknown} {", id="unknown-kept"),
    ],
)
def test_placeholders(fmt: str, expected: str) -> None:
    req = make_request("Example.ORG", "A", proto="tcp", do=True)
    req.meta = {"meta/x": "val"}
    req.answered_by = "whoami"
    reply = bytearray(_reply())
    reply[2] |= 0x04  # aa
    assert render(compile_format(fmt), req, bytes(reply)[:45]) == expected


def test_common_and_combined() -> None:
    req = make_request("example.org", "A", remote=("2001:db8::1", 53000), edns=1232)
    reply = _reply()
    line = render(compile_format(COMMON), req, reply)
    pattern = (rf'^\[2001:db8::1\]:53000 - {req.id} "A IN example.org. udp {len(req.wire)} false 1232" '
               rf"NOERROR qr,aa,rd,ra {len(reply)} \d+(\.\d+)?s$")
    assert re.match(pattern, line), line
    assert render(compile_format(COMBINED), req, reply).endswith(' "0"')


def test_no_written_reply() -> None:
    req = make_request("example.org", "A")
    assert render(compile_format("{rcode} {>rflags} {rsize}"), req, None) == "- - 0"


@pytest.mark.parametrize(
    ("reply", "cls"),
    [
        pytest.param(_reply(), "success", id="noerror"),
        pytest.param(_reply(answer=False, auth="NS"), "success", id="delegation"),
        pytest.param(_reply(answer=False), "success", id="empty-noerror"),
        pytest.param(_reply(rcode=3, answer=False, auth="SOA"), "denial", id="nxdomain"),
        pytest.param(_reply(answer=False, auth="SOA"), "denial", id="nodata"),
        pytest.param(_reply(rcode=3, answer=False), "error", id="nxdomain-without-soa"),
        pytest.param(_reply(rcode=2, answer=False), "error", id="servfail"),
        pytest.param(_reply(rcode=5, answer=False), "error", id="refused"),
    ],
)
def test_classify(reply: bytes, cls: str) -> None:
    assert classify(reply) == cls


def test_first_matching_rule_decides(coredns_log: CapturedLog) -> None:
    obs = LogObserver([
        Rule("example.org.", "org {name}", {"denial"}),
        Rule(".", "root {name}"),
    ])
    for name in ("www.example.org", "example.net", "Example.ORG"):
        req = make_request(name, "A")
        req.answered_by = "whoami"
        obs.observe(req, _reply(name + "."), 0, None)
    nx = make_request("nx.example.org", "A")
    nx.answered_by = "cache"
    obs.observe(nx, _reply("nx.example.org.", rcode=3, answer=False, auth="SOA"), 3, None)
    failed = make_request("fail.example.org", "A")  # no plugin wrote: not logged under a class filter
    obs.observe(failed, failed.error_reply(wire.SERVFAIL), wire.SERVFAIL, None)
    assert coredns_log.lines == ["[INFO] root example.net.", "[INFO] org nx.example.org."]


def test_server_logs_every_answer_including_cache_hits(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient, coredns_log: CapturedLog
) -> None:
    up = fake_upstream()
    dns_server(f".:0 {{\n    log\n    cache\n    forward . {up.address}\n}}\n")
    dns_client.query("a.example.net", "A")
    dns_client.query("a.example.net", "A")
    dns_client.query("a.example.net", "A", proto="tcp")
    dns_server.close()  # every line written
    lines = [line for line in coredns_log.lines if "a.example.net." in line]
    assert len(lines) == 3
    for line, proto, size in zip(lines, ("udp", "udp", "tcp"), ("512", "512", "65535"), strict=True):
        assert re.match(rf'^\[INFO\] 127\.0\.0\.1:\d+ - \d+ "A IN a\.example\.net\. {proto} \d+ false {size}" '
                        r"NOERROR qr,aa,rd,ra \d+ \d+(\.\d+)?s$", line), line
    assert up.count() == 1


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [
        (0.000212557, "0.000212557s"),
        (2e-05, "0.00002s"),  # never an exponent
        (1.5, "1.5s"),
        (1.0, "1s"),  # Go's shortest digits: no ".0"
        (0.1234567894, "0.123456789s"),  # a nanosecond duration: nine decimals at most
        (0.0000000006, "0.000000001s"),
        (12.3456789, "12.3456789s"),
    ],
)
def test_duration_as_go_prints_seconds(elapsed: float, expected: str) -> None:
    assert _seconds(elapsed) == expected
