"""The server on real loopback sockets: routing, REFUSED, FORMERR, UDP and TCP, dig as a client."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess

import dnslib
import pytest

from pycoredns.testing import query, raw_query, running_server


def _two_blocks(port: int) -> str:
    return f"""example.org:{port} {{
    whoami
}}
example.net:{port} {{
    whoami
}}
"""


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_whoami_on_two_blocks_sharing_a_port(proto: str) -> None:
    with running_server(_two_blocks(0)) as rs:
        port = rs.port
        for name in ("example.org", "www.example.net"):
            r = query(name, "A", port, proto=proto)
            assert r.header.rcode == dnslib.RCODE.NOERROR
            assert r.header.aa == 1
            assert r.rr == []
            a = [rr for rr in r.ar if rr.rtype == dnslib.QTYPE.A]
            srv = [rr for rr in r.ar if rr.rtype == dnslib.QTYPE.SRV]
            assert str(a[0].rdata) == "127.0.0.1"
            assert str(srv[0].rname) == f"_{proto}.{name}."


def test_zone_not_served_is_refused() -> None:
    with running_server(_two_blocks(0)) as rs:
        port = rs.port
        r = query("example.com", "A", port)
        assert r.header.rcode == dnslib.RCODE.REFUSED
        assert str(r.q.qname) == "example.com."


def test_non_in_class_is_refused() -> None:
    with running_server(_two_blocks(0)) as rs:
        port = rs.port
        r = query("example.org", "TXT", port, qclass="CH")
        assert r.header.rcode == dnslib.RCODE.REFUSED


@pytest.mark.parametrize(
    "packet",
    [
        pytest.param(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07exam", id="truncated-question"),
        pytest.param(b"\x12\x34\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01", id="two-questions"),
        pytest.param(
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x00\x00\x01\x00\x01\x00\x00\x29", id="short-opt"
        ),
    ],
)
def test_malformed_query_gets_formerr_and_server_keeps_answering(packet: bytes) -> None:
    with running_server(_two_blocks(0)) as rs:
        port = rs.port
        reply = raw_query(packet, port)
        assert reply[:2] == b"\x12\x34"
        assert reply[2] & 0x80, "QR set"
        assert reply[3] & 0xF == dnslib.RCODE.FORMERR
        assert query("example.org", "A", port).header.rcode == dnslib.RCODE.NOERROR


_HEADER = b"\x12\x34\x01\x10"  # ID, RD, CD
_NAME = b"\x07example\x03org\x00"


@pytest.mark.parametrize("proto", ["udp", "tcp"])
@pytest.mark.parametrize("counts", [b"\x00\x01\x00\x00\x00\x00\x00\x00", b"\x00\x01\x00\x01\x00\x01\x00\x02"])
def test_one_question_promised_and_none_sent_gets_servfail(proto: str, counts: bytes) -> None:
    # miekg/dns reads a header-only message as a query without a question (the counts pass its
    # accept rule), and CoreDNS's server answers that SERVFAIL with no question.
    with running_server(_two_blocks(0)) as rs:
        reply = raw_query(_HEADER + counts, rs.port, proto=proto)
        assert reply == b"\x12\x34\x81\x12" + b"\x00" * 8  # QR, RD, CD kept; SERVFAIL; no section
        assert query("example.org", "A", rs.port).header.rcode == dnslib.RCODE.NOERROR


@pytest.mark.parametrize(
    ("tail", "qtype"), [pytest.param(b"", 0, id="name-only"), pytest.param(b"\x00\x10", 16, id="no-class")]
)
def test_question_cut_after_name_or_type_is_read_with_zeros_and_refused(tail: bytes, qtype: int) -> None:
    # miekg/dns fills the missing type and class with 0; class 0 is not IN, so CoreDNS refuses it
    # and echoes the question as it read it.
    with running_server(_two_blocks(0)) as rs:
        reply = raw_query(_HEADER + b"\x00\x01" + b"\x00" * 6 + _NAME + tail, rs.port)
        assert reply[:4] == b"\x12\x34\x81\x15"  # REFUSED
        assert reply[4:12] == b"\x00\x01" + b"\x00" * 6
        assert reply[12:] == _NAME + struct.pack(">HH", qtype, 0)


@pytest.mark.parametrize("tail", [b"\x00", b"\x00\x01\x00"], ids=["half-type", "half-class"])
def test_question_cut_inside_type_or_class_is_formerr(tail: bytes) -> None:
    with running_server(_two_blocks(0)) as rs:
        reply = raw_query(_HEADER + b"\x00\x01" + b"\x00" * 6 + _NAME + tail, rs.port)
        assert reply[3] & 0xF == dnslib.RCODE.FORMERR


def test_udp_listeners_ask_for_a_large_receive_buffer() -> None:
    from pycoredns.server.listener import UDP_RECEIVE_BUFFER

    with open("/proc/sys/net/core/rmem_max") as f:
        cap = int(f.read())
    with running_server(_two_blocks(0)) as rs:
        (sock,) = [s for s in rs.server.udp_sockets() if s.family == socket.AF_INET]
        # The kernel doubles what it grants (bookkeeping), up to rmem_max.
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 2 * min(UDP_RECEIVE_BUFFER, cap)


def test_garbage_and_responses_are_dropped_silently() -> None:
    with running_server(_two_blocks(0)) as rs:
        port = rs.port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            for junk in (b"", b"\x00", b"\x12\x34\x81\x80" + b"\x00" * 8):
                s.sendto(junk, ("127.0.0.1", port))
                with pytest.raises(TimeoutError):
                    s.recvfrom(512)
        assert query("example.org", "A", port).header.rcode == dnslib.RCODE.NOERROR


def test_unsupported_opcode_gets_notimp() -> None:
    with running_server(_two_blocks(0)) as rs:
        port = rs.port
        q = dnslib.DNSRecord.question("example.org")
        q.header.opcode = 2  # STATUS
        reply = dnslib.DNSRecord.parse(raw_query(q.pack(), port))
        assert reply.header.rcode == dnslib.RCODE.NOTIMP


def test_edns_is_mirrored_and_bad_version_gets_badvers() -> None:
    with running_server(_two_blocks(0)) as rs:
        port = rs.port
        r = query("example.org", "A", port, edns=1232, do=True)
        opt = [rr for rr in r.ar if rr.rtype == dnslib.QTYPE.OPT]
        assert len(opt) == 1 and opt[0].rclass == 1232 and opt[0].ttl & 0x8000
        q = dnslib.DNSRecord.question("example.org")
        q.add_ar(dnslib.EDNS0(version=1, udp_len=1232))
        reply = dnslib.DNSRecord.parse(raw_query(q.pack(), port))
        opt = [rr for rr in reply.ar if rr.rtype == dnslib.QTYPE.OPT]
        assert (opt[0].ttl >> 24) == 1  # extended rcode 1 + header 0 = BADVERS (16)


def test_pipelined_tcp_queries_on_one_connection() -> None:
    with running_server(_two_blocks(0)) as rs:
        port = rs.port
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            ids = list(range(100, 110))
            for i in ids:
                q = dnslib.DNSRecord.question("example.org")
                q.header.id = i
                data = q.pack()
                s.sendall(struct.pack(">H", len(data)) + data)
            seen = set()
            buf = b""
            while len(seen) < len(ids):
                chunk = s.recv(65535)
                assert chunk, "connection closed early"
                buf += chunk
                while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
                    n = struct.unpack(">H", buf[:2])[0]
                    seen.add(dnslib.DNSRecord.parse(buf[2 : 2 + n]).header.id)
                    buf = buf[2 + n :]
            assert seen == set(ids)


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig (dnsutils) not installed")
@pytest.mark.parametrize("proto", ["+notcp", "+tcp"])
def test_dig_gets_whoami(proto: str) -> None:
    with running_server(_two_blocks(0)) as rs:
        port = rs.port
        out = subprocess.run(
            ["dig", "@127.0.0.1", "-p", str(port), proto, "+time=3", "+tries=1", "www.example.org", "A"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
        assert "status: NOERROR" in out
        assert "flags: qr aa rd" in out
        assert "_tcp.www.example.org." in out if proto == "+tcp" else "_udp.www.example.org." in out
        out = subprocess.run(
            ["dig", "@127.0.0.1", "-p", str(port), proto, "+time=3", "+tries=1", "example.com", "A"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
        assert "status: REFUSED" in out


def test_longest_zone_wins() -> None:
    corefile = """.:0 {
    whoami
}
sub.example.org:0 {
    whoami
}
"""
    with running_server(corefile) as rs:
        port = rs.port
        sites = rs.server.listeners
        assert len(sites) == 1
        disp = next(iter(sites.values())).holder.dispatcher
        from pycoredns.testing import make_request

        assert disp.route(make_request("a.SUB.example.org")).zone == "sub.example.org."  # type: ignore[union-attr]
        assert disp.route(make_request("example.org")).zone == "."  # type: ignore[union-attr]
        # DS walks on to the parent, but "." is only the fallback: the child zone still answers.
        assert disp.route(make_request("sub.example.org", "DS")).zone == "sub.example.org."  # type: ignore[union-attr]
        assert query("a.sub.example.org", "A", port).header.rcode == 0


def test_port_zero_gets_one_port_for_udp_and_tcp() -> None:
    with running_server(".:0 {\n    whoami\n}\n") as rs:
        port = rs.port
        assert port != 0
        for proto in ("udp", "tcp"):
            assert query("example.org", "A", port, proto=proto).header.rcode == 0
        assert {a[1] for a in next(iter(rs.server.listeners.values())).addresses} == {port}


def test_idle_tcp_connection_is_closed() -> None:
    # CoreDNS's default idle timeout is 10 s; the timeouts plugin shortens it for the test.
    corefile = _two_blocks(0).replace("    whoami\n", "    whoami\n    timeouts {\n        idle 1s\n    }\n", 1)
    with running_server(corefile) as rs:
        port = rs.port
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            data = bytes(dnslib.DNSRecord.question("example.org").pack())
            s.sendall(struct.pack(">H", len(data)) + data)
            n = struct.unpack(">H", s.recv(2))[0]
            assert len(s.recv(n)) == n  # answered; now stay idle
            s.settimeout(5)
            assert s.recv(1) == b"", "the server closes an idle connection"
