"""any: setup, the HINFO answer, pass-through of other types, and a real server."""

from __future__ import annotations

import pytest

from pycoredns.errors import PyCoreDNSError
from pycoredns.plugin import Plugin
from pycoredns.plugins.any.handler import Any
from pycoredns.request import Request
from pycoredns.server.config import load
from pycoredns.testing import DNSClient, make_request
from pycoredns.testing.fixtures import ServerFactory
from pycoredns.testing.handler import run


class _Next(Plugin):
    name = "next"

    def serve(self, req: Request) -> int:
        return 5  # REFUSED: lets the test see the query went on


@pytest.mark.parametrize(
    ("corefile", "error"),
    [
        pytest.param(". {\n any\n}\n", None, id="plain"),
        pytest.param(". {\n any\n any\n}\n", None, id="second-ignored"),
        pytest.param(
            ". {\n any example.org\n}\n",
            "plugin/any: Corefile:2 - Error during parsing: Wrong argument count or unexpected line "
            "ending after 'example.org'",
            id="argument",
        ),
        pytest.param(
            ". {\n any {\n  foo\n }\n}\n",
            # CoreDNS reads the "{" as an argument before it could see the block.
            "plugin/any: Corefile:2 - Error during parsing: Unexpected token '{', expecting argument",
            id="block",
        ),
    ],
)
def test_setup(corefile: str, error: str | None) -> None:
    if error is None:
        inst = load(corefile)
        assert [h.name for h in inst.configs[0].handlers] == ["any"]
        return
    with pytest.raises(PyCoreDNSError) as got:
        load(corefile)
    assert str(got.value) == error


def test_any_query_gets_hinfo() -> None:
    rcode, reply = run(Any(_Next()), make_request("Example.ORG.", "ANY"))
    assert rcode == 0 and reply is not None
    assert len(reply.rr) == 1
    rr = reply.rr[0]
    assert str(rr.rname) == "Example.ORG." and rr.rtype == 13 and rr.rclass == 1 and rr.ttl == 8482
    assert rr.rdata.data == b"\x0dANY obsoleted\x0cSee RFC 8482"


@pytest.mark.parametrize("qtype", ["A", "AAAA", "TXT", "HINFO"])
def test_other_types_go_on(qtype: str) -> None:
    rcode, reply = run(Any(_Next()), make_request("example.org.", qtype))
    assert (rcode, reply) == (5, None)


def test_through_a_server(dns_server: ServerFactory, dns_client: DNSClient) -> None:
    dns_server(".:0 {\n any\n whoami\n}\n")
    got = dns_client.query("example.org.", "ANY")
    assert got.header.rcode == 0 and got.rr[0].rtype == 13 and got.rr[0].ttl == 8482
    other = dns_client.query("example.org.", "A")
    assert other.rr == [] and other.ar  # whoami answered
