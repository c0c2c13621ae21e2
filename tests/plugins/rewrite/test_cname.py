"""rewrite cname rules: the CNAME target is rewritten and the rest of the answer looked up again.

The table is CoreDNS's cname_target_test.go; its MockedUpstream becomes :class:`TableUpstream`,
an :class:`pycoredns.plugin.Upstream` answering from a table (real-chain lookups are tested in
test_integration.py).
"""

from __future__ import annotations

import dnslib
import pytest

from pycoredns.plugin import Plugin, Request, Result, UpstreamError
from pycoredns.plugins.rewrite.handler import Rewrite
from pycoredns.plugins.rewrite.parse import new_rule
from pycoredns.testing import make_request
from pycoredns.testing.handler import run
from pycoredns.testing.logs import CapturedLog

UPSTREAM_TABLE: dict[str, list[str]] = {
    "xyz.example.com.": [],  # by type, below
    "bard.google.com.cdn.cloudflare.net.": ["bard.google.com.cdn.cloudflare.net. 1800 IN A 9.7.2.1"],
    "www.hosting.xyz.": ["www.hosting.xyz. 500 IN A 20.30.40.50"],
    "abcd.zzzz.www.pqrst.": ["abcd.zzzz.www.pqrst. 120 IN A 101.20.5.1", "abcd.zzzz.www.pqrst. 120 IN A 101.20.5.2"],
    "orders.webapp.eu.org.": ["orders.webapp.eu.org. 120 IN A 20.0.0.9"],
    "music.truncated.spotify.com.": ["music.truncated.spotify.com. 120 IN A 10.1.0.9"],
    "intermediate-2.staging.": [
        "intermediate-2.staging. 200 IN CNAME final.staging.net.",
        "final.staging.net. 120 IN A 5.6.7.8",
    ],
}


class TableUpstream:
    """Answers lookups from UPSTREAM_TABLE and records them (CoreDNS's MockedUpstream)."""

    def __init__(self, fail: str = "") -> None:
        self.asked: list[tuple[str, str, int]] = []
        self.fail = fail

    async def lookup(self, req: Request, name: str, qtype: int) -> bytes:
        self.asked.append((req.qname, name, qtype))
        if self.fail == "error":
            raise UpstreamError("upstream failure")
        q = dnslib.DNSRecord.question(name, dnslib.QTYPE[qtype])
        reply = q.reply()
        if self.fail == "garbage":
            return b"\x00\x01"
        if name == "xyz.example.com.":
            if qtype == 1:
                reply.add_answer(*dnslib.RR.fromZone("xyz.example.com. 3600 IN A 3.4.5.6"))
            if qtype == 28:
                reply.add_answer(*dnslib.RR.fromZone("xyz.example.com. 3600 IN AAAA 3a01:7e00::f03c:91ff:fe79:234c"))
        for text in UPSTREAM_TABLE.get(name, []):
            reply.add_answer(*dnslib.RR.fromZone(text))
        if name == "music.truncated.spotify.com.":
            reply.header.tc = 1
        return bytes(reply.pack())


class Answer(Plugin):
    """The rest of the chain: answers every query with the records the test gives."""

    name = "answer"

    def __init__(self, records: list[str]) -> None:
        super().__init__(None)
        self.records = records

    def serve(self, req: Request) -> Result:
        reply = req.make_reply()
        for text in self.records:
            reply.add_answer(*dnslib.RR.fromZone(text))
        return req.pack(reply)


RULES = [
    "continue cname exact def.example.com xyz.example.com",
    "continue cname prefix chat.openai.com bard.google.com",
    "continue cname suffix uvw. xyz.",
    "continue cname substring efgh zzzz.www",
    r"continue cname regex (.*)\.web\.(.*)\.site\. {1}.webapp.{2}.org.",
    "continue cname exact music.truncated.spotify.com. music.truncated.spotify.com.",
    "continue cname suffix prod. staging.",
]

CASES = [
    (
        "abc.example.com",
        "A",
        ["abc.example.com. 5 IN CNAME def.example.com.", "def.example.com. 5 IN A 1.2.3.4"],
        ["abc.example.com. 5 IN CNAME xyz.example.com.", "xyz.example.com. 3600 IN A 3.4.5.6"],
        False,
    ),
    (
        "abc.example.com",
        "AAAA",
        ["abc.example.com. 5 IN CNAME def.example.com.", "def.example.com. 5 IN AAAA 2a01:7e00::f03c:91ff:fe79:234c"],
        [
            "abc.example.com. 5 IN CNAME xyz.example.com.",
            "xyz.example.com. 3600 IN AAAA 3a01:7e00::f03c:91ff:fe79:234c",
        ],
        False,
    ),
    (
        "chat.openai.com",
        "A",
        [
            "chat.openai.com. 20 IN CNAME chat.openai.com.cdn.cloudflare.net.",
            "chat.openai.com.cdn.cloudflare.net. 30 IN A 23.2.1.2",
            "chat.openai.com.cdn.cloudflare.net. 30 IN A 24.6.0.8",
        ],
        [
            "chat.openai.com. 20 IN CNAME bard.google.com.cdn.cloudflare.net.",
            "bard.google.com.cdn.cloudflare.net. 1800 IN A 9.7.2.1",
        ],
        False,
    ),
    (
        "coredns.io",
        "A",
        ["coredns.io. 100 IN CNAME www.hosting.uvw.", "www.hosting.uvw. 200 IN A 7.2.3.4"],
        ["coredns.io. 100 IN CNAME www.hosting.xyz.", "www.hosting.xyz. 500 IN A 20.30.40.50"],
        False,
    ),
    (
        "core.dns.rocks",
        "A",
        ["core.dns.rocks. 200 IN CNAME abcd.efgh.pqrst.", "abcd.efgh.pqrst. 100 IN A 200.30.45.67"],
        [
            "core.dns.rocks. 200 IN CNAME abcd.zzzz.www.pqrst.",
            "abcd.zzzz.www.pqrst. 120 IN A 101.20.5.1",
            "abcd.zzzz.www.pqrst. 120 IN A 101.20.5.2",
        ],
        False,
    ),
    (
        "order.service.eu",
        "A",
        ["order.service.eu. 200 IN CNAME orders.web.eu.site.", "orders.web.eu.site. 50 IN A 10.10.15.1"],
        ["order.service.eu. 200 IN CNAME orders.webapp.eu.org.", "orders.webapp.eu.org. 120 IN A 20.0.0.9"],
        False,
    ),
    (
        "music.spotify.com",
        "A",
        ["music.spotify.com. 200 IN CNAME music.truncated.spotify.com."],
        [
            "music.spotify.com. 200 IN CNAME music.truncated.spotify.com.",
            "music.truncated.spotify.com. 120 IN A 10.1.0.9",
        ],
        True,
    ),
    (
        "cname-chain.org.",
        "A",
        [
            "cname-chain.org. 200 IN CNAME intermediate-1.com.",
            "intermediate-1.com. 200 IN CNAME intermediate-2.prod.",
            "intermediate-2.prod. 200 IN CNAME final.prod.net.",
            "final.prod.net. 120 IN A 1.2.3.4",
        ],
        [
            "cname-chain.org. 200 IN CNAME intermediate-1.com.",
            "intermediate-1.com. 200 IN CNAME intermediate-2.staging.",
            "intermediate-2.staging. 200 IN CNAME final.staging.net.",
            "final.staging.net. 120 IN A 5.6.7.8",
        ],
        False,
    ),
]


# The target each case's lookup asks for.
LOOKED_UP = {
    "abc.example.com": "xyz.example.com.",
    "chat.openai.com": "bard.google.com.cdn.cloudflare.net.",
    "coredns.io": "www.hosting.xyz.",
    "core.dns.rocks": "abcd.zzzz.www.pqrst.",
    "order.service.eu": "orders.webapp.eu.org.",
    "music.spotify.com": "music.truncated.spotify.com.",
    "cname-chain.org.": "intermediate-2.staging.",
}


def rrs(reply: dnslib.DNSRecord | None) -> list[str]:
    assert reply is not None
    return [rr.toZone().replace("\t", " ") for rr in reply.rr]


def zone(texts: list[str]) -> list[str]:
    return [rr.toZone().replace("\t", " ") for text in texts for rr in dnslib.RR.fromZone(text)]


@pytest.mark.parametrize(("name", "qtype", "answer", "want", "truncated"), CASES, ids=[c[0] + c[1] for c in CASES])
def test_cname_target_rewrite(name: str, qtype: str, answer: list[str], want: list[str], truncated: bool) -> None:
    up = TableUpstream()
    h = Rewrite(Answer(answer), [new_rule(r.split(), up) for r in RULES])
    rcode, reply = run(h, make_request(name, qtype))
    assert rcode == 0
    assert rrs(reply) == zone(want)
    assert reply is not None and bool(reply.header.tc) == truncated
    # One lookup, for the rewritten target, asked with the query's type.
    assert [(asked, qt) for _q, asked, qt in up.asked] == [(LOOKED_UP[name], dnslib.QTYPE.reverse[qtype])]


@pytest.mark.parametrize("fail", ["error", "garbage"])
def test_failed_lookup_keeps_the_answer(coredns_log: CapturedLog, fail: str) -> None:
    up = TableUpstream(fail)
    h = Rewrite(Answer(["bad.test. 60 IN CNAME bad.target."]), [new_rule("cname bad.target good.target".split(), up)])
    rcode, reply = run(h, make_request("bad.test.", "A"))
    assert rcode == 0 and rrs(reply) == zone(["bad.test. 60 IN CNAME bad.target."])
    assert any(line.startswith("[ERROR] upstream lookup failed: ") for line in coredns_log.lines), coredns_log.text


def test_no_upstream_logs_coredns_error(coredns_log: CapturedLog) -> None:
    h = Rewrite(Answer(["bad.test. 60 IN CNAME bad.target."]), [new_rule("cname bad.target good.target".split())])
    rcode, reply = run(h, make_request("bad.test.", "A"))
    assert rcode == 0 and rrs(reply) == zone(["bad.test. 60 IN CNAME bad.target."])
    assert "[ERROR] upstream lookup failed: no full server is running" in coredns_log.lines


def test_no_cname_no_lookup() -> None:
    up = TableUpstream()
    h = Rewrite(Answer(["a.test. 60 IN A 192.0.2.1"]), [new_rule("cname suffix .test. .example.".split(), up)])
    rcode, reply = run(h, make_request("A.Test.", "A"))
    assert rcode == 0 and up.asked == []
    assert reply is not None and str(reply.q.qname) == "A.Test." and rrs(reply) == zone(["a.test. 60 IN A 192.0.2.1"])


def test_lookup_asks_the_rewritten_query() -> None:
    # A name rule ran first: the lookup carries the query as the chain saw it (a copy, new question).
    up = TableUpstream()
    rules = [
        new_rule("continue name www.example.org abc.example.com".split()),
        new_rule("cname def.example.com xyz.example.com".split(), up),
    ]
    h = Rewrite(Answer(["abc.example.com. 5 IN CNAME def.example.com."]), rules)
    rcode, reply = run(h, make_request("www.example.org.", "A"))
    assert up.asked == [("abc.example.com.", "xyz.example.com.", 1)]
    assert reply is not None and str(reply.q.qname) == "www.example.org."
    assert rrs(reply) == zone(["www.example.org. 5 IN CNAME xyz.example.com.", "xyz.example.com. 3600 IN A 3.4.5.6"])
