"""template through a real server: a regex match with groups answered over UDP and TCP; var and expr
choosing the names; an Extended DNS Error the client sees; a CNAME followed to a real upstream."""

from __future__ import annotations

import dnslib
import pytest
from prometheus_client import generate_latest

from pycoredns.metrics import REGISTRY
from pycoredns.testing import DNSClient, loopback_address
from pycoredns.testing.fixtures import ServerFactory, UpstreamFactory


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_regex_group_answer(dns_server: ServerFactory, dns_client: DNSClient, proto: str) -> None:
    dns_client.host = host = loopback_address()  # the metrics' label, dns://HOST:0, is this test's alone
    corefile = (
        "example:0 {\n"
        f"  bind {host}\n"
        "  template IN A example {\n"
        "    match ^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)-(?P<c>[0-9]+)-(?P<d>[0-9]+)[.]example[.]$\n"
        '    answer "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"\n'
        "    fallthrough\n"
        "  }\n"
        "  whoami\n"
        "}\n"
    )
    dns_server(corefile)
    got = dns_client.query("ip-192-0-2-7.example.", "A", proto=proto)
    assert got.header.rcode == 0 and got.header.aa == 1
    assert [(str(rr.rname), rr.ttl, str(rr.rdata)) for rr in got.rr] == [("ip-192-0-2-7.example.", 60, "192.0.2.7")]
    other = dns_client.query("www.example.", "A", proto=proto)
    assert other.rr == [] and other.ar  # fell through to whoami
    text = generate_latest(REGISTRY).decode()
    assert "coredns_template_matches_total{" in text
    assert f'server="dns://{host}:0",type="A",view="",zone="example."' in text


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_expr_chooses_the_names_it_answers(dns_server: ServerFactory, dns_client: DNSClient, proto: str) -> None:
    # Only names whose number is even and whose client is on loopback get the template's answer;
    # the others fall through to whoami.
    corefile = (
        "example:0 {\n"
        "  template IN A example {\n"
        "    match ^host-(?P<n>[0-9]+)[.]example[.]$\n"
        "    var n int(group('n'))\n"
        "    expr n % 2 == 0 && incidr(client_ip(), '127.0.0.0/8')\n"
        '    answer "{{ .Name }} 30 IN A 192.0.2.{{ .Var.n }}"\n'
        "    fallthrough\n"
        "  }\n"
        "  whoami\n"
        "}\n"
    )
    dns_server(corefile)
    for n in range(1, 7):
        got = dns_client.query(f"host-{n}.example.", "A", proto=proto)
        if n % 2 == 0:
            assert [(str(rr.rname), str(rr.rdata)) for rr in got.rr] == [(f"host-{n}.example.", f"192.0.2.{n}")]
        else:
            assert got.rr == [] and got.ar, f"host-{n} should fall through to whoami"


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_ederror_seen_by_the_client(dns_server: ServerFactory, dns_client: DNSClient, proto: str) -> None:
    corefile = (
        ".:0 {\n"
        "  template ANY ANY invalid {\n"
        "    rcode NXDOMAIN\n"
        '    authority "invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"\n'
        '    ederror 21 "Blocked according to RFC2606"\n'
        "  }\n"
        "}\n"
    )
    dns_server(corefile)
    got = dns_client.query("www.example.invalid.", "A", proto=proto, edns=1232)
    assert got.header.rcode == 3
    (opt,) = [rr for rr in got.ar if rr.rtype == 41]
    options = [(o.code, bytes(o.data)) for o in opt.rdata]
    assert options == [(15, b"\x00\x15" + b"Blocked according to RFC2606")]


def cdn(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
    r = q.reply()
    if str(q.q.qname).lower() == "edge.example.net." and q.q.qtype == dnslib.QTYPE.A:
        r.add_answer(*dnslib.RR.fromZone("edge.example.net. 45 IN A 203.0.113.9"))
    return r


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_cname_followed_through_the_chain(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient, proto: str
) -> None:
    # The template's CNAME target is outside its zone: the lookup goes down the chain to forward.
    up = fake_upstream(cdn)
    corefile = (
        ".:0 {\n"
        "  template IN A example.org {\n"
        "    match ^www[.]example[.]org[.]$\n"
        '    answer "www.example.org. 60 IN CNAME edge.example.net."\n'
        "    fallthrough\n"
        "  }\n"
        f"  forward . {up.address}\n"
        "}\n"
    )
    dns_server(corefile)
    got = dns_client.query("www.example.org.", "A", proto=proto)
    assert [(str(rr.rname), dnslib.QTYPE[rr.rtype], str(rr.rdata)) for rr in got.rr] == [
        ("www.example.org.", "CNAME", "edge.example.net."),
        ("edge.example.net.", "A", "203.0.113.9"),
    ]
    assert [str(q.q.qname) for _p, q in up.queries] == ["edge.example.net."]


def test_range_variables_and_message_through_a_server(dns_server: ServerFactory, dns_client: DNSClient) -> None:
    # One A record per label of the name (range with $i, $v), a TXT that reports the query's
    # header and EDNS size from .Message, and a defined template used for the TTL.
    corefile = (
        "example:0 {\n"
        "  template IN A example {\n"
        "    match ^(?P<host>[a-z0-9-]+)[.]example[.]$\n"
        '    answer "{{ define \\"ttl\\" }}45{{ end }}{{ $n := .Name }}'
        '{{ range $i, $l := .Match }}{{ if eq $i 0 }}{{ $n }} {{ template \\"ttl\\" }} IN A 192.0.2.{{ len $l }}'
        '{{ end }}{{ end }}"\n'
        '    additional "{{ .Name }} 60 IN TXT \\"id={{ .Message.Id }} rd={{ .Message.RecursionDesired }} '
        '{{ range .Message.Extra }}udp={{ .Hdr.Class }}{{ end }} {{ js (index .Message.Question 0).Name }}\\""\n'
        "  }\n"
        "}\n"
    )
    dns_server(corefile)
    got = dns_client.query("Web-1.example.", "A", edns=1400)
    assert got.header.rcode == 0
    assert [(str(rr.rname), rr.ttl, str(rr.rdata)) for rr in got.rr] == [("web-1.example.", 45, "192.0.2.14")]
    (txt,) = [rr for rr in got.ar if rr.rtype == dnslib.QTYPE.TXT]
    assert str(txt.rdata) == f'"id={got.header.id} rd=true udp=1400 Web-1.example."'


def test_expr_let_if_and_dates_through_a_server(dns_server: ServerFactory, dns_client: DNSClient) -> None:
    # A var computed with let and if/else, and a condition on durations and dates: names whose
    # label is a number of minutes under a day answer with that many seconds in the TXT.
    corefile = (
        "example:0 {\n"
        "  template IN TXT example {\n"
        "    match ^(?P<m>[0-9]+)m[.]example[.]$\n"
        "    var secs \"let d = duration(group('m') + 'm'); if d < duration('24h') { int(d.Seconds()) } else { -1 }\"\n"
        "    expr \"secs >= 0 && now().After(date('2020-01-01'))\"\n"
        '    answer "{{ .Name }} 60 IN TXT \\"{{ .Var.secs }}\\""\n'
        "    fallthrough\n"
        "  }\n"
        "  whoami\n"
        "}\n"
    )
    dns_server(corefile)
    got = dns_client.query("90m.example.", "TXT")
    assert [str(rr.rdata) for rr in got.rr] == ['"5400"']
    other = dns_client.query("2000m.example.", "TXT")
    assert other.rr == [] and other.ar  # fell through to whoami
