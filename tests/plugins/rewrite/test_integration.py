"""rewrite through a real server: the client keeps its question, answers come back renamed; EDNS0
options reach a real upstream and revert undoes them in the reply; a cname rule's lookup goes
through the server's own chain to a real upstream."""

from __future__ import annotations

import socket
import struct

import dnslib
import pytest

from pycoredns.testing import DNSClient
from pycoredns.testing.fixtures import ServerFactory, UpstreamFactory


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_name_rewrite_with_answer_auto(dns_server: ServerFactory, dns_client: DNSClient, proto: str) -> None:
    corefile = (
        "example.org:0 {\n"
        "  rewrite name regex (.*)\\.example\\.org {1}.internal.example.org answer auto\n"
        "  hosts {\n   10.0.0.7 web.internal.example.org\n  }\n"
        "}\n"
    )
    dns_server(corefile)
    got = dns_client.query("Web.Example.ORG.", "A", proto=proto)
    assert got.header.rcode == 0 and got.header.aa == 1
    assert str(got.q.qname) == "Web.Example.ORG." and got.q.qtype == 1
    assert [(str(rr.rname), str(rr.rdata)) for rr in got.rr] == [("web.example.org.", "10.0.0.7")]
    # A name the hosts data does not have: hosts' SERVFAIL, still with the client's question.
    miss = dns_client.query("nope.example.org.", "A", proto=proto)
    assert miss.header.rcode == 2 and str(miss.q.qname) == "nope.example.org."


# -- edns0 ----------------------------------------------------------------------------------------
def opts_of(msg: dnslib.DNSRecord) -> dict[int, bytes] | None:
    """A message's EDNS0 options by code (None: no OPT record)."""
    for rr in msg.ar:
        if rr.rtype == 41:
            return {o.code: bytes(o.data) for o in rr.rdata}
    return None


def ecs_echo(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
    """An ECS-aware upstream: answers A 192.0.2.1 and echoes the query's client-subnet option
    with its scope set to the source prefix (RFC 7871), in an OPT of its own."""
    r = q.reply()
    r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.1"), ttl=60))
    sent = opts_of(q)
    if sent is not None:
        echoed = []
        if 8 in sent:
            ecs = bytearray(sent[8])
            ecs[3] = ecs[2]
            echoed.append(dnslib.EDNSOption(8, bytes(ecs)))
        r.add_ar(dnslib.EDNS0(udp_len=1232, opts=echoed))
    return r


def ask(client: DNSClient, name: str, proto: str = "udp", opts: dict[int, bytes] | None = None) -> dnslib.DNSRecord:
    q = dnslib.DNSRecord.question(name, "A")
    if opts is not None:
        q.add_ar(dnslib.EDNS0(udp_len=1232, opts=[dnslib.EDNSOption(c, d) for c, d in opts.items()]))
    return dnslib.DNSRecord.parse(client.raw_query(bytes(q.pack()), proto=proto))


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_edns0_local_options_reach_the_upstream(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient, proto: str
) -> None:
    up = fake_upstream()
    corefile = (
        ".:0 {\n"
        "  rewrite continue edns0 local set 0xffee {client_ip}\n"
        "  rewrite continue edns0 local set 65519 {protocol}\n"
        "  rewrite edns0 local set 0xfff0 0x616263\n"
        f"  forward . {up.address}\n"
        "}\n"
    )
    dns_server(corefile)
    got = ask(dns_client, "a.example.org.", proto)
    assert got.header.rcode == 0 and [str(rr.rdata) for rr in got.rr] == ["192.0.2.1"]
    _proto, seen = up.queries[-1]
    assert str(seen.q.qname) == "a.example.org."
    assert opts_of(seen) == {0xFFEE: socket.inet_aton("127.0.0.1"), 0xFFEF: proto.encode(), 0xFFF0: b"abc"}


ECS_CLIENT = struct.pack(">HBB", 1, 24, 0) + bytes((192, 0, 2))  # 192.0.2.0/24, as a client sends it
ECS_LOOPBACK_24 = struct.pack(">HBB", 1, 24, 0) + bytes((127, 0, 0))
ECS_LOOPBACK_16 = struct.pack(">HBB", 1, 16, 0) + bytes((127, 0))


def scoped(ecs: bytes) -> bytes:
    """The option as the echoing upstream returns it: scope = source prefix."""
    return ecs[:3] + ecs[2:3] + ecs[4:]


@pytest.mark.parametrize(
    ("rule", "client", "upstream_sees", "client_gets"),
    [
        # set: added for the upstream; with revert the reply loses it, without it comes back.
        ("subnet set 24 56 revert", None, ECS_LOOPBACK_24, None),
        ("subnet set 24 56", None, ECS_LOOPBACK_24, scoped(ECS_LOOPBACK_24)),
        # set over the client's own: overwritten for the upstream, the client's value restored.
        ("subnet set 16 56 revert", ECS_CLIENT, ECS_LOOPBACK_16, ECS_CLIENT),
        # append: only when the client sent none.
        ("subnet append 24 56 revert", None, ECS_LOOPBACK_24, None),
        ("subnet append 24 56 revert", ECS_CLIENT, ECS_CLIENT, scoped(ECS_CLIENT)),
        # replace: only when the client sent one.
        ("subnet replace 16 56 revert", ECS_CLIENT, ECS_LOOPBACK_16, ECS_CLIENT),
        ("subnet replace 16 56 revert", None, None, None),
        # unset: the upstream never sees the client's subnet.
        ("subnet unset", ECS_CLIENT, None, None),
    ],
)
def test_edns0_subnet_seen_by_upstream_and_reverted(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient,
    rule: str, client: bytes | None, upstream_sees: bytes | None, client_gets: bytes | None
) -> None:
    up = fake_upstream(ecs_echo)
    dns_server(f".:0 {{\n  rewrite edns0 {rule}\n  forward . {up.address}\n}}\n")
    got = ask(dns_client, "ecs.example.org.", opts={} if client is None else {8: client})
    assert got.header.rcode == 0 and [str(rr.rdata) for rr in got.rr] == ["192.0.2.1"]
    _proto, seen = up.queries[-1]
    assert (opts_of(seen) or {}).get(8) == upstream_sees
    assert (opts_of(got) or {}).get(8) == client_gets


def test_edns0_rule_gives_a_plain_query_an_opt(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    up = fake_upstream(ecs_echo)
    corefile = f".:0 {{\n  rewrite edns0 subnet set 24 56 revert\n  forward . {up.address}\n}}\n"
    dns_server(corefile)
    got = dns_client.query("plain.example.org.", "A")  # no EDNS from the client
    _proto, seen = up.queries[-1]
    assert opts_of(seen) == {8: ECS_LOOPBACK_24}
    assert seen.ar[0].rclass == 4096  # CoreDNS's setupEdns0Opt: 4096, DO clear
    assert got.header.rcode == 0 and opts_of(got) == {}


# -- cname ----------------------------------------------------------------------------------------
def cdn(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
    """www.example.org is a CNAME into the old CDN; the new CDN's name has its own address."""
    r = q.reply()
    name = str(q.q.qname).lower()
    if name == "www.example.org.":
        r.add_answer(*dnslib.RR.fromZone("www.example.org. 300 IN CNAME www.example.org.cdn.old.example.net."))
        r.add_answer(*dnslib.RR.fromZone("www.example.org.cdn.old.example.net. 60 IN A 198.51.100.1"))
    elif name == "www.example.org.cdn.new.example.net." and q.q.qtype == dnslib.QTYPE.A:
        r.add_answer(*dnslib.RR.fromZone("www.example.org.cdn.new.example.net. 30 IN A 203.0.113.7"))
    return r


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_cname_rule_looks_up_the_new_target_through_the_chain(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient, proto: str
) -> None:
    up = fake_upstream(cdn)
    corefile = (
        ".:0 {\n"
        "  rewrite cname regex (.*)\\.cdn\\.old\\.example\\.net\\. {1}.cdn.new.example.net.\n"
        "  cache\n"
        f"  forward . {up.address}\n"
        "}\n"
    )
    dns_server(corefile)
    got = dns_client.query("www.example.org.", "A", proto=proto)
    want = [
        ("www.example.org.", "CNAME", "www.example.org.cdn.new.example.net."),
        ("www.example.org.cdn.new.example.net.", "A", "203.0.113.7"),
    ]
    assert [(str(rr.rname), dnslib.QTYPE[rr.rtype], str(rr.rdata)) for rr in got.rr] == want
    # The lookup went through the chain (rewrite, cache, forward) to the upstream.
    asked = [str(q.q.qname) for _p, q in up.queries]
    assert asked == ["www.example.org.", "www.example.org.cdn.new.example.net."]
    # Asked again: both answers now come from the cache, the rule still applies.
    again = dns_client.query("www.example.org.", "A", proto=proto)
    assert [(str(rr.rname), dnslib.QTYPE[rr.rtype], str(rr.rdata)) for rr in again.rr] == want
    assert len(up.queries) == 2
