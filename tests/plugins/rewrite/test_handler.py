"""rewrite handling: the query the chain sees, and the reply the client gets back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import dnslib
import pytest

from pycoredns.plugin import Plugin, Reply, Result
from pycoredns.plugins.rewrite.handler import Rewrite
from pycoredns.plugins.rewrite.parse import new_rule
from pycoredns.request import Request
from pycoredns.testing import make_request
from pycoredns.testing.handler import run

Records = Callable[[Request], list[str]]


class Responder(Plugin):
    """The rest of the chain: records the query it got and answers with zone-file records."""

    name = "responder"

    def __init__(self, records: Records | None = None, rcode: int = 0, asynchronous: bool = False) -> None:
        super().__init__(None)
        self.records = records or (lambda req: [f"{req.qname} 300 IN A 10.0.0.1"])
        self.rcode = rcode
        self.asynchronous = asynchronous
        self.seen: list[tuple[str, str, str]] = []

    def serve(self, req: Request) -> Result:
        self.seen.append((req.qname, req.type_name, req.class_name))
        if self.asynchronous:
            return self._later(req)
        return self._answer(req)

    async def _later(self, req: Request) -> Reply:
        await asyncio.sleep(0)
        return self._answer(req)

    def _answer(self, req: Request) -> Reply:
        if self.rcode in (2, 5):
            return self.rcode
        reply = req.make_reply()
        reply.header.rcode = self.rcode
        for text in self.records(req):
            reply.add_answer(*dnslib.RR.fromZone(text))
        req.answered_by = self.name
        return req.pack(reply)


def rewrite(*lines: str, responder: Responder) -> Rewrite:
    return Rewrite(responder, [new_rule(line.split()) for line in lines])


def ask(h: Rewrite, name: str, qtype: str = "A") -> tuple[int, dnslib.DNSRecord | None, Request]:
    req = make_request(name, qtype)
    rcode, reply = run(h, req)
    return rcode, reply, req


def rrs(reply: dnslib.DNSRecord | None) -> list[str]:
    assert reply is not None
    return [f"{rr.rname} {dnslib.QTYPE[rr.rtype]} {rr.ttl} {rr.rdata}" for rr in reply.rr]


def question(reply: dnslib.DNSRecord | None) -> tuple[str, str]:
    assert reply is not None
    return str(reply.q.qname), dnslib.QTYPE[reply.q.qtype]


def test_exact_name_reverts_question_and_answer() -> None:
    resp = Responder()
    h = rewrite("name exact a.example.org b.example.net", responder=resp)
    rcode, reply, req = ask(h, "A.Example.Org.")
    assert resp.seen == [("b.example.net.", "A", "IN")]
    assert question(reply) == ("A.Example.Org.", "A")
    assert rrs(reply) == ["a.example.org. A 300 10.0.0.1"]
    assert req.answered_by == "responder"


def test_no_match_passes_the_request_on_untouched() -> None:
    resp = Responder()
    h = rewrite("name exact x.example.org y.example.org", responder=resp)
    _, reply, _ = ask(h, "a.example.org.")
    assert resp.seen == [("a.example.org.", "A", "IN")]
    assert rrs(reply) == ["a.example.org. A 300 10.0.0.1"]


@pytest.mark.parametrize(
    ("rule", "asked", "seen", "answer"),
    [
        pytest.param(
            "name prefix www. web.", "www.example.org.", "web.example.org.",
            "web.example.org. A 300 10.0.0.1", id="prefix-no-revert",
        ),
        pytest.param(
            "name prefix www. web. answer auto", "www.example.org.", "web.example.org.",
            "www.example.org. A 300 10.0.0.1", id="prefix-auto",
        ),
        pytest.param(
            "name substring foo bar answer auto", "a.foo.org.", "a.bar.org.",
            "a.foo.org. A 300 10.0.0.1", id="substring-auto",
        ),
        pytest.param(
            "name suffix .cluster.local .svc.internal answer auto", "db.cluster.local.", "db.svc.internal.",
            "db.cluster.local. A 300 10.0.0.1", id="suffix-auto",
        ),
        pytest.param(
            r"name regex (.*)\.edge\.example\.org {1}.core.example.org answer auto",
            "api.edge.example.org.", "api.core.example.org.",
            "api.edge.example.org. A 300 10.0.0.1", id="regex-group-auto",
        ),
        pytest.param(
            r"name regex (.*)\.edge\.example\.org {1}.core.example.org"
            r" answer name (.*)\.core\.example\.org {1}.edge.example.org",
            "api.edge.example.org.", "api.core.example.org.",
            "api.edge.example.org. A 300 10.0.0.1", id="regex-answer-name",
        ),
    ],
)  # fmt: skip
def test_name_rules(rule: str, asked: str, seen: str, answer: str) -> None:
    resp = Responder()
    h = rewrite(rule, responder=resp)
    _, reply, _ = ask(h, asked)
    assert resp.seen[0][0] == seen
    assert question(reply) == (asked, "A")
    assert rrs(reply) == [answer]


def test_answer_value_and_auto_rewrite_cname_targets() -> None:
    def cname(req: Request) -> list[str]:
        return [f"{req.qname} 60 IN CNAME x.svc.internal.", "x.svc.internal. 60 IN A 10.1.1.1"]

    h = rewrite("name suffix .cluster.local .svc.internal answer auto", responder=Responder(cname))
    _, reply, _ = ask(h, "db.cluster.local.")
    assert rrs(reply) == ["db.cluster.local. CNAME 60 x.cluster.local.", "x.cluster.local. A 60 10.1.1.1"]

    resp = Responder(lambda req: [f"{req.qname} 60 IN CNAME m.b.org."])
    h = rewrite(r"name regex (.*)\.a\.org {1}.b.org answer value (.*)\.b\.org {1}.c.org", responder=resp)
    _, reply, _ = ask(h, "x.a.org.")
    assert rrs(reply) == ["x.b.org. CNAME 60 m.c.org."]  # value rewritten, owner left (no auto)


def test_type_rule_stop_restores_question() -> None:
    resp = Responder(lambda req: [f"{req.qname} 60 IN AAAA ::1"])
    h = rewrite("type A AAAA", responder=resp)
    _, reply, _ = ask(h, "Host.Example.")
    assert resp.seen == [("Host.Example.", "AAAA", "IN")]
    assert question(reply) == ("Host.Example.", "A")
    assert rrs(reply) == ["Host.Example. AAAA 60 ::1"]


def test_continue_only_query_rules_keep_the_rewritten_question() -> None:
    # CoreDNS passes the reply through unreverted when only continue rules without response
    # rules matched.
    resp = Responder(lambda req: [])
    h = rewrite("continue type A AAAA", responder=resp)
    _, reply, _ = ask(h, "host.example.")
    assert question(reply) == ("host.example.", "AAAA")


def test_continue_chains_rules_in_order() -> None:
    resp = Responder(lambda req: [f"{req.qname} 60 IN AAAA ::1"])
    h = rewrite("continue name a.example b.example", "type A AAAA", "name b.example c.example", responder=resp)
    _, reply, _ = ask(h, "a.example.")
    assert resp.seen == [("b.example.", "AAAA", "IN")]  # the type rule stopped the chain of rules
    assert question(reply) == ("a.example.", "A")
    assert rrs(reply) == ["a.example. AAAA 60 ::1"]


def test_class_rule() -> None:
    resp = Responder(lambda req: [])
    h = rewrite("class IN CH", responder=resp)
    _, reply, _ = ask(h, "version.bind.", "TXT")
    assert resp.seen == [("version.bind.", "TXT", "CH")]
    assert reply is not None and reply.q.qclass == 1


@pytest.mark.parametrize(
    ("rule", "ttl"),
    [
        pytest.param("ttl a.example 10", 10, id="fixed"),
        pytest.param("ttl a.example 400-500", 400, id="raise-to-min"),
        pytest.param("ttl regex ^a -100", 100, id="cap-to-max"),
        pytest.param("ttl b.example 10", 300, id="no-match"),
    ],
)
def test_ttl_rule(rule: str, ttl: int) -> None:
    h = rewrite(rule, responder=Responder())
    _, reply, _ = ask(h, "a.example.")
    assert reply is not None and [rr.ttl for rr in reply.rr] == [ttl]


def test_rcode_rule_on_written_reply_and_on_server_written_error() -> None:
    h = rewrite("rcode a.example NXDOMAIN NOERROR", responder=Responder(lambda req: [], rcode=3))
    rcode, reply, _ = ask(h, "a.example.")
    assert rcode == 0 and reply is not None and reply.rr == []
    h = rewrite("rcode a.example SERVFAIL REFUSED", responder=Responder(rcode=2))
    rcode, reply, req = ask(h, "a.example.")
    assert rcode == 5 and question(reply) == ("a.example.", "A")
    assert req.answered_by == "rewrite"


def test_stop_rule_writes_the_error_reply_itself() -> None:
    h = rewrite("name a.example b.example", responder=Responder(rcode=2))
    rcode, reply, _ = ask(h, "a.example.")
    assert rcode == 2 and question(reply) == ("a.example.", "A")


def test_invalid_name_after_rewrite_is_servfail() -> None:
    resp = Responder()
    h = rewrite(r"name regex (.*) {1}{1}{1}{1}{1}", responder=resp)
    rcode, reply, _ = ask(h, "a" * 60 + ".example.")
    assert (rcode, reply, resp.seen) == (2, None, [])


def test_asynchronous_next_is_reverted_too() -> None:
    resp = Responder(asynchronous=True)
    h = rewrite("name a.example b.example", responder=resp)
    _, reply, _ = ask(h, "a.example.")
    assert question(reply) == ("a.example.", "A") and rrs(reply) == ["a.example. A 300 10.0.0.1"]
