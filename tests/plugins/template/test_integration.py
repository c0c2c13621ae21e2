"""template through a real server: a regex match with groups answered over UDP and TCP."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from pycoredns.metrics import REGISTRY
from pycoredns.testing import free_port, query, running_server


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_regex_group_answer(proto: str) -> None:
    port = free_port()
    corefile = (
        f"example:{port} {{\n"
        "  template IN A example {\n"
        "    match ^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)-(?P<c>[0-9]+)-(?P<d>[0-9]+)[.]example[.]$\n"
        '    answer "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"\n'
        "    fallthrough\n"
        "  }\n"
        "  whoami\n"
        "}\n"
    )
    with running_server(corefile) as srv:
        got = query("ip-192-0-2-7.example.", "A", srv.port, proto=proto)
        assert got.header.rcode == 0 and got.header.aa == 1
        assert [(str(rr.rname), rr.ttl, str(rr.rdata)) for rr in got.rr] == [("ip-192-0-2-7.example.", 60, "192.0.2.7")]
        other = query("www.example.", "A", srv.port, proto=proto)
        assert other.rr == [] and other.ar  # fell through to whoami
    text = generate_latest(REGISTRY).decode()
    assert "coredns_template_matches_total{" in text
    assert f'server="dns://:{port}",type="A",view="",zone="example."' in text
