"""rewrite through a real server: the client keeps its question, answers come back renamed."""

from __future__ import annotations

import pytest

from pycoredns.testing import free_port, query, running_server


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_name_rewrite_with_answer_auto(proto: str) -> None:
    port = free_port()
    corefile = (
        f"example.org:{port} {{\n"
        "  rewrite name regex (.*)\\.example\\.org {1}.internal.example.org answer auto\n"
        "  hosts {\n   10.0.0.7 web.internal.example.org\n  }\n"
        "}\n"
    )
    with running_server(corefile) as srv:
        got = query("Web.Example.ORG.", "A", srv.port, proto=proto)
        assert got.header.rcode == 0 and got.header.aa == 1
        assert str(got.q.qname) == "Web.Example.ORG." and got.q.qtype == 1
        assert [(str(rr.rname), str(rr.rdata)) for rr in got.rr] == [("web.example.org.", "10.0.0.7")]
        # A name the hosts data does not have: hosts' SERVFAIL, still with the client's question.
        miss = query("nope.example.org.", "A", srv.port, proto=proto)
        assert miss.header.rcode == 2 and str(miss.q.qname) == "nope.example.org."
