"""The Upstream API: a plugin resolves a name through the server's own chain, on a real listener."""

from __future__ import annotations

import asyncio

import dnslib
import pytest

from pycoredns.plugin import Controller, Directive, Handler, Plugin, Reply, Request, Result, Upstream, UpstreamError
from pycoredns.server.config import load
from pycoredns.testing import DNSClient, make_request
from pycoredns.testing.fixtures import ServerFactory
from pycoredns.testing.logs import CapturedLog


class Via(Plugin):
    """Answers ``via.NAME`` with the reply the server gives for ``NAME`` (TXT ``error`` if the
    lookup cannot run); everything else goes on down the chain."""

    name = "via"

    def __init__(self, next: Handler | None, upstream: Upstream) -> None:
        super().__init__(next)
        self.upstream = upstream
        self.seen: list[Request] = []
        self.at_once: list[bool] = []  # per lookup: did the reply come without waiting?

    def serve(self, req: Request) -> Result:
        self.seen.append(req)
        if not req.name.startswith("via."):
            return self.next_or_failure(req)
        return self._lookup(req)

    async def _lookup(self, req: Request) -> Reply:
        reply = req.make_reply()
        try:
            looked_up = self.upstream.lookup(req, req.qname[4:], req.qtype)
            self.at_once.append(isinstance(looked_up, bytes))
            got = dnslib.DNSRecord.parse(looked_up if isinstance(looked_up, bytes) else await looked_up)
        except UpstreamError as e:
            reply.add_answer(dnslib.RR(req.qname, dnslib.QTYPE.TXT, rdata=dnslib.TXT(str(e))))
            return req.pack(reply)
        reply.header.rcode = got.header.rcode
        for rr in got.rr:
            reply.add_answer(rr)
        return req.pack(reply)


VIAS: list[Via] = []


def _setup(c: Controller) -> None:
    c.next()
    upstream = c.upstream

    def factory(next: Handler | None) -> Handler:
        via = Via(next, upstream)
        VIAS.append(via)
        return via

    c.add_plugin(factory)


VIA = Directive("via", _setup, before="template")


def corefile() -> str:
    """Two blocks on one listener, on the port the kernel picks."""
    return (
        "example.org:0 {\n"
        "  via\n"
        "  hosts {\n   192.0.2.10 www.example.org\n  }\n"
        "}\n"
        "example.net:0 {\n"
        "  via\n"
        "  template IN A example.net {\n    answer \"{{ .Name }} 60 IN A 198.51.100.{{ len .Name }}\"\n  }\n"
        "}\n"
    )


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_lookup_runs_the_chain_again(dns_server: ServerFactory, dns_client: DNSClient, proto: str) -> None:
    VIAS.clear()
    dns_server(corefile(), plugins=[VIA])
    # Same block: hosts answers the looked-up name.
    got = dns_client.query("via.www.example.org.", "A", proto=proto)
    assert [(str(rr.rname), str(rr.rdata)) for rr in got.rr] == [("www.example.org.", "192.0.2.10")]
    # Another block on the same listener: routed by zone again, template answers.
    got = dns_client.query("via.a.example.net.", "A", proto=proto)
    assert [(str(rr.rname), str(rr.rdata)) for rr in got.rr] == [("a.example.net.", "198.51.100.14")]
    # The looked-up query came from the same client, over the same transport.
    looked = [r for v in VIAS for r in v.seen if r.qname == "a.example.net."]
    assert len(looked) == 1 and looked[0].proto == proto and looked[0].remote[0] == "127.0.0.1"
    # A chain that fails gives its error reply (hosts has no such name: SERVFAIL).
    assert dns_client.query("via.nope.example.org.", "A", proto=proto).header.rcode == 2


def test_lookup_is_observed_and_answers_at_once(
    dns_server: ServerFactory, dns_client: DNSClient, coredns_log: CapturedLog
) -> None:
    """As in CoreDNS, whose log and metrics plugins sit in the chain, a lookup is logged and
    counted like a client's query; a chain that answers synchronously answers it synchronously."""
    VIAS.clear()
    text = corefile().replace("  via\n", "  via\n  log\n", 1)
    dns_server(text, plugins=[VIA])
    got = dns_client.query("via.www.example.org.", "A")
    assert [str(rr.rdata) for rr in got.rr] == ["192.0.2.10"]
    dns_server.close()  # every line written
    logged = [line for line in coredns_log.lines if '"A IN ' in line]
    assert any('"A IN www.example.org. udp' in line for line in logged), logged
    assert any('"A IN via.www.example.org. udp' in line for line in logged), logged
    assert [v.at_once for v in VIAS if v.at_once] == [[True]]


def test_nested_lookups_are_bounded(dns_server: ServerFactory, dns_client: DNSClient) -> None:
    # via.via.via....: each lookup strips one "via." and asks again, deeper every time.
    name = "via." * 12 + "www.example.org."
    dns_server(corefile(), plugins=[VIA])
    got = dns_client.query(name, "A")
    assert [str(rr.rdata) for rr in got.rr] == ['"upstream lookups nested more than 8 deep"']
    # Under the bound it resolves.
    got = dns_client.query("via." * 7 + "www.example.org.", "A")
    assert [str(rr.rdata) for rr in got.rr] == ["192.0.2.10"]


def test_request_from_no_listener() -> None:
    inst = load("example.org:0 {\n  whoami\n}\n")
    req = make_request("www.example.org.", server="dns://nowhere:53")
    with pytest.raises(UpstreamError, match="no full server is running"):
        asyncio.run(inst.upstream.lookup(req, "www.example.org.", 1))


def test_with_question_keeps_the_query() -> None:
    req = make_request("www.example.org.", "A", edns=1400, do=True, zone="example.org.")
    req.meta = {"a/b": "c"}
    new = req.with_question("Other.Example.NET", 28)
    assert (new.qname, new.qtype, new.qclass) == ("Other.Example.NET.", 28, 1)
    assert (new.id, new.rd, new.q.edns, new.q.udp_size, new.do) == (req.id, req.rd, True, 1400, True)
    assert (new.remote, new.local, new.proto, new.server, new.meta) == (
        req.remote,
        req.local,
        req.proto,
        req.server,
        req.meta,
    )
    assert new.wire[12 + len(b"\x05Other\x07Example\x03NET\x00") + 4 :] == req.wire[req.q.end :]


def test_invalid_name_is_an_upstream_error() -> None:
    inst = load("example.org:0 {\n  whoami\n}\n")
    req = make_request("www.example.org.")
    with pytest.raises(UpstreamError, match="invalid name to look up"):
        asyncio.run(inst.upstream.lookup(req, "a" * 64 + ".example.org.", 1))


def test_lookups_follow_a_reload(dns_server: ServerFactory, dns_client: DNSClient) -> None:
    srv = dns_server(corefile(), plugins=[VIA])
    assert [str(rr.rdata) for rr in dns_client.query("via.www.example.org.", "A").rr] == ["192.0.2.10"]
    assert srv.reload(corefile().replace("192.0.2.10", "192.0.2.11"))
    # The new configuration's chains answer the lookups of queries to the kept listener.
    assert [str(rr.rdata) for rr in dns_client.query("via.www.example.org.", "A").rr] == ["192.0.2.11"]
