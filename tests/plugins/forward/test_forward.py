"""forward end to end: a whole server on loopback and real upstream servers started by the tests."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import dnslib
import pytest

from pycoredns.metrics import REGISTRY
from pycoredns.plugins.forward.handler import DEADLINE, START_BATCH, Exchange, Forward
from pycoredns.plugins.forward.metrics import COUNTERS
from pycoredns.results import Deferred
from pycoredns.testing import DNSClient, FakeUpstream, answer_a
from pycoredns.testing.fixtures import ServerFactory, UpstreamFactory
from pycoredns.testing.handler import make_request
from pycoredns.testing.server import RunningServer

WAIT = 20.0  # generous: the machine is shared


def forwards(s: RunningServer) -> list[Forward]:
    return [h for h in s.server.instance.configs[0].handlers if isinstance(h, Forward)]


def wait_for(cond: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def corefile(tos: list[FakeUpstream], options: str = "", extra: str = "") -> str:
    return f".:0 {{\n forward . {' '.join(u.address for u in tos)} {{\n{options}\n }}\n{extra}}}\n"


def a_of(r: dnslib.DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in r.rr if rr.rtype == dnslib.QTYPE.A]


# -- policies ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy", "expect"),
    [
        pytest.param("random", lambda counts: all(c > 0 for c in counts), id="random-uses-all"),
        pytest.param("round_robin", lambda counts: counts == [10, 10, 10], id="round_robin-even"),
        pytest.param("sequential", lambda counts: counts == [30, 0, 0], id="sequential-first-only"),
    ],
)
def test_policy_spreads_queries(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient,
    policy: str, expect: Callable[[list[int]], bool],
) -> None:
    ups = [fake_upstream(answer_a(f"192.0.2.{i}")) for i in (1, 2, 3)]
    dns_server(corefile(ups, f"policy {policy}"))
    for i in range(30):
        r = dns_client.query(f"q{i}.example.org", "A")
        assert r.header.rcode == 0 and len(a_of(r)) == 1
    counts = [u.count() for u in ups]
    assert expect(counts), counts


def test_round_robin_starts_at_the_second_upstream(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    ups = [fake_upstream(answer_a("192.0.2.1")), fake_upstream(answer_a("192.0.2.2"))]
    dns_server(corefile(ups, "policy round_robin"))
    assert [a_of(dns_client.query(f"q{i}.example.org", "A"))[0] for i in range(3)] == [
        "192.0.2.2", "192.0.2.1", "192.0.2.2"]


# -- health ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("option", [pytest.param("", id="udp"), pytest.param("force_tcp\nexpire 0s", id="tcp")])
def test_stopped_upstream_is_marked_down_skipped_then_healthy_again(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient, option: str
) -> None:
    # Over TCP, ``expire 0s``: a stopped FakeUpstream still serves connections it already accepted.
    ups = [fake_upstream(answer_a("192.0.2.1")), fake_upstream(answer_a("192.0.2.2"))]
    first, second = ups
    s = dns_server(corefile(ups, f"policy sequential\nhealth_check 50ms\n{option}"))
    proxy = forwards(s)[0].proxies[0]
    assert a_of(dns_client.query("a.example.org", "A")) == ["192.0.2.1"]
    first.stop()
    # The failed exchange falls through to the second upstream and starts the probe.
    assert a_of(dns_client.query("b.example.org", "A")) == ["192.0.2.2"]
    wait_for(lambda: proxy.down(2), "the stopped upstream to be marked down")
    before = second.count()
    for i in range(5):
        assert a_of(dns_client.query(f"c{i}.example.org", "A")) == ["192.0.2.2"]
    assert second.count() == before + 5
    assert COUNTERS.healthcheck_failures.get(proxy.to, 0) >= 3
    first.start()  # same port
    wait_for(lambda: proxy.fails == 0, "the upstream to be healthy again")
    assert a_of(dns_client.query("d.example.org", "A")) == ["192.0.2.1"]


def test_all_upstreams_down_gives_servfail_within_the_deadline(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    ups = [fake_upstream(answer_a()), fake_upstream(answer_a())]
    s = dns_server(corefile(ups, "health_check 50ms"))
    for u in ups:
        u.stop()
    start = time.monotonic()
    r = dns_client.query("down.example.org", "A", timeout=10)
    assert r.header.rcode == dnslib.RCODE.SERVFAIL
    assert time.monotonic() - start < 5.0 + 2.0
    proxies = forwards(s)[0].proxies
    wait_for(lambda: all(p.down(2) for p in proxies), "both upstreams to be down")
    broken = COUNTERS.healthcheck_broken
    r = dns_client.query("down2.example.org", "A", timeout=10)
    assert r.header.rcode == dnslib.RCODE.SERVFAIL
    assert COUNTERS.healthcheck_broken > broken


def dials(to: str) -> int:
    """Connection-pool lookups so far for upstream ``to`` (one per exchange attempted)."""
    return sum(n for (t, _), (n,) in (*COUNTERS.conn_cache_hits.items(), *COUNTERS.conn_cache_misses.items())
               if t == to)


@pytest.mark.parametrize(("failfast", "asks"), [pytest.param(True, False, id="failfast"),
                                                pytest.param(False, True, id="random-anyway")])
def test_all_down_servfail_with_or_without_asking(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient, failfast: bool, asks: bool
) -> None:
    option = "failfast_all_unhealthy_upstreams" if failfast else ""
    ups = [fake_upstream(answer_a())]
    s = dns_server(corefile(ups, f"health_check 50ms\n{option}"))
    ups[0].stop()
    assert dns_client.query("x.example.org", "A").header.rcode == dnslib.RCODE.SERVFAIL
    proxy = forwards(s)[0].proxies[0]
    wait_for(lambda: proxy.down(2), "the upstream to be down")
    before, broken = dials(proxy.to), COUNTERS.healthcheck_broken
    assert dns_client.query("y.example.org", "A").header.rcode == dnslib.RCODE.SERVFAIL
    assert COUNTERS.healthcheck_broken > broken
    assert (dials(proxy.to) > before) is asks


def test_silent_upstreams_give_servfail_at_the_five_second_deadline(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    silent = lambda q, p: None  # noqa: E731
    ups = [fake_upstream(silent), fake_upstream(silent), fake_upstream(silent)]
    # 6 attempts of 2 s each would take 12 s: the 5 s deadline cuts them short.
    dns_server(corefile(ups, "max_fails 0"))
    start = time.monotonic()
    r = dns_client.query("slow.example.org", "A", timeout=15)
    elapsed = time.monotonic() - start
    assert r.header.rcode == dnslib.RCODE.SERVFAIL
    assert 4.0 < elapsed < 5.0 + 1.5


# -- protocols -----------------------------------------------------------------------------------
def truncating(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
    r = q.reply()
    if proto == "udp":
        r.header.tc = 1
        return r
    r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.99"), ttl=60))
    return r


def test_truncated_udp_answer_is_passed_to_the_client(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    ups = [fake_upstream(truncating)]
    dns_server(corefile(ups))
    r = dns_client.query("tc.example.org", "A")
    assert r.header.tc == 1 and r.rr == []
    assert (ups[0].count("udp"), ups[0].count("tcp")) == (1, 0)
    r = dns_client.query("tc.example.org", "A", proto="tcp")  # the client retries over TCP
    assert a_of(r) == ["192.0.2.99"]


@pytest.mark.parametrize("client", ["udp", "tcp"])
def test_truncated_udp_answer_is_fetched_over_tcp_with_prefer_udp(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient, client: str
) -> None:
    ups = [fake_upstream(truncating)]
    dns_server(corefile(ups, "prefer_udp"))
    r = dns_client.query("tc.example.org", "A", proto=client)
    assert r.header.tc == 0 and a_of(r) == ["192.0.2.99"]
    assert [p for p, _ in ups[0].queries] == ["udp", "tcp"]


def big(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
    r = q.reply()
    for i in range(60):  # ~1 KB, sent whatever the client's buffer
        r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A(f"192.0.2.{i}"), ttl=60))
    return r


def test_udp_answer_bigger_than_the_buffer_becomes_a_truncated_header(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    ups = [fake_upstream(big)]
    dns_server(corefile(ups))
    r = dns_client.query("big.example.org", "A")  # no EDNS: 512 bytes
    assert r.header.tc == 1 and r.rr == [] and str(r.q.qname) == "big.example.org."
    r = dns_client.query("big.example.org", "A", edns=4096)
    assert r.header.tc == 0 and len(r.rr) == 60


def test_force_tcp_sends_nothing_over_udp(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    ups = [fake_upstream(answer_a())]
    s = dns_server(corefile(ups, "force_tcp"))
    to = forwards(s)[0].proxies[0].to
    misses, hits = COUNTERS.conn_cache_misses[(to, "tcp")][0], COUNTERS.conn_cache_hits[(to, "tcp")][0]
    for i in range(5):
        assert a_of(dns_client.query(f"t{i}.example.org", "A")) == ["192.0.2.1"]
    assert ups[0].count("udp") == 0 and ups[0].count("tcp") == 5
    # One TCP connection, reused for the next four queries.
    assert COUNTERS.conn_cache_misses[(to, "tcp")] == [misses + 1]
    assert COUNTERS.conn_cache_hits[(to, "tcp")] == [hits + 4]


def test_client_protocol_is_used_and_udp_sockets_are_reused(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    ups = [fake_upstream(answer_a())]
    s = dns_server(corefile(ups))
    to = forwards(s)[0].proxies[0].to
    misses, hits = COUNTERS.conn_cache_misses[(to, "udp")][0], COUNTERS.conn_cache_hits[(to, "udp")][0]
    for i in range(4):
        dns_client.query(f"u{i}.example.org", "A")
    dns_client.query("t.example.org", "A", proto="tcp")
    assert [p for p, _ in ups[0].queries] == ["udp"] * 4 + ["tcp"]
    assert COUNTERS.conn_cache_misses[(to, "udp")] == [misses + 1]
    assert COUNTERS.conn_cache_hits[(to, "udp")] == [hits + 3]


def test_reply_keeps_client_id_and_case_and_mirrors_edns(
    dns_client: DNSClient, fake_upstream: UpstreamFactory, dns_server: ServerFactory
) -> None:
    ups = [fake_upstream(answer_a())]
    dns_server(corefile(ups))
    q = dnslib.DNSRecord.question("MiXeD.Example.ORG", "A")
    q.header.id = 0x1234
    q.add_ar(dnslib.EDNS0(udp_len=1400, flags="do"))
    r = dnslib.DNSRecord.parse(dns_client.raw_query(q.pack()))
    assert r.header.id == 0x1234
    assert str(r.q.qname) == "MiXeD.Example.ORG."
    opt = [rr for rr in r.ar if rr.rtype == dnslib.QTYPE.OPT][0]
    assert opt.rclass == 1400 and opt.ttl & 0x8000
    assert str(ups[0].queries[0][1].q.qname) == "MiXeD.Example.ORG."


@pytest.mark.parametrize("asked", ["case.example.org", "CaSe.Example.ORG"], ids=["lower", "mixed"])
@pytest.mark.parametrize("echoed", ["CASE.EXAMPLE.ORG", "case.example.org", "cAsE.eXaMpLe.oRg"])
def test_a_reply_whose_question_differs_only_in_case_is_ours(
    dns_client: DNSClient, fake_upstream: UpstreamFactory, dns_server: ServerFactory, asked: str, echoed: str
) -> None:
    # An upstream may spell the name otherwise (0x20 randomization): still the query's question.
    def answer(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
        r = q.reply()
        r.q.qname = dnslib.DNSLabel(echoed)
        r.add_answer(dnslib.RR(echoed, dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.7"), ttl=60))
        return r

    dns_server(corefile([fake_upstream(answer)]))
    r = dns_client.query(asked, "A")
    assert r.header.rcode == 0 and [str(rr.rdata) for rr in r.rr] == ["192.0.2.7"]


def test_a_reply_for_another_name_of_the_same_length_is_not_ours(
    dns_client: DNSClient, fake_upstream: UpstreamFactory, dns_server: ServerFactory
) -> None:
    def answer(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
        r = q.reply()
        r.q.qname = dnslib.DNSLabel("casf.example.org")
        r.add_answer(dnslib.RR("casf.example.org", dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.7"), ttl=60))
        return r

    dns_server(corefile([fake_upstream(answer)]))
    r = dns_client.query("case.example.org", "A")
    assert r.header.rcode == 1 and not r.rr  # FORMERR, as CoreDNS's request.Match fails


def _changed(change: Callable[[bytes], bytes]) -> Callable[[dnslib.DNSRecord, str], bytes]:
    """An upstream answering 192.0.2.7 with ``change`` made to its reply's bytes."""

    def answer(q: dnslib.DNSRecord, proto: str) -> bytes:
        r = q.reply()
        r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.7"), ttl=60))
        return change(bytes(r.pack()))

    return answer


_QUESTION_END = 12 + len(b"\x05class\x07example\x03org\x00") + 4


@pytest.mark.parametrize("proto", ["udp", "tcp"])
@pytest.mark.parametrize(
    ("change", "ours"),
    [
        pytest.param(lambda d: d, True, id="as-sent"),
        # CoreDNS's request.Match compares the name and the type, not the class.
        pytest.param(lambda d: d[: _QUESTION_END - 2] + b"\x00\x03" + d[_QUESTION_END:], True, id="other-class"),
        pytest.param(lambda d: d[:2] + bytes((d[2] & 0x7F,)) + d[3:], False, id="not-a-response"),
        pytest.param(lambda d: d[: _QUESTION_END - 4] + b"\x00\x1c" + d[_QUESTION_END - 2 :], False, id="other-type"),
        # Two questions, the second the first again: it unpacks, but it is not one question.
        pytest.param(lambda d: d[:4] + b"\x00\x02" + d[6:_QUESTION_END] + d[12:_QUESTION_END] + d[_QUESTION_END:],
                     False, id="two-questions"),
    ],
)
def test_what_a_reply_must_share_with_its_query(
    dns_client: DNSClient, fake_upstream: UpstreamFactory, dns_server: ServerFactory,
    change: Callable[[bytes], bytes], ours: bool, proto: str,
) -> None:
    options = " force_tcp" if proto == "tcp" else ""
    dns_server(corefile([fake_upstream(_changed(change))], options))
    r = dns_client.query("class.example.org", "A")
    if ours:
        assert r.header.rcode == 0 and a_of(r) == ["192.0.2.7"]
    else:
        assert r.header.rcode == 1 and not r.rr  # FORMERR, as CoreDNS's request.Match fails


# -- anti-spoofing ---------------------------------------------------------------------------------
class SpoofingUpstream:
    """Answers each UDP query first with forgeries, then with the real answer.

    The forgeries: the right reply sent from another port and a reply with another ID; then the
    real one (192.0.2.53) from the right address and port. (A reply with the query's ID and
    another question is answered FORMERR, as CoreDNS does: tests/plugins/forward/
    test_upstream_faults.py.)
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.other.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                data, addr = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            q = dnslib.DNSRecord.parse(data)
            real = q.reply()
            real.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.53"), ttl=60))
            forged = q.reply()
            forged.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A("203.0.113.66"), ttl=60))
            wrong_id = forged.pack()
            wrong_id = struct.pack(">H", (q.header.id + 1) & 0xFFFF) + wrong_id[2:]
            self.other.sendto(forged.pack(), addr)
            self.sock.sendto(wrong_id, addr)
            time.sleep(0.05)
            self.sock.sendto(real.pack(), addr)

    def stop(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()
        self.other.close()


def test_forged_replies_are_dropped_and_the_real_answer_used(dns_server: ServerFactory, dns_client: DNSClient) -> None:
    up = SpoofingUpstream()
    try:
        dns_server(f".:0 {{\n forward . 127.0.0.1:{up.port}\n}}\n")
        to = f"127.0.0.1:{up.port}"
        for i in range(3):
            before = COUNTERS.dropped_replies.get((to, "udp"), 0)
            r = dns_client.query(f"victim{i}.example.org", "A")
            assert r.header.rcode == 0
            assert a_of(r) == ["192.0.2.53"]
            # The wrong ID is read and counted; the other port never gets in.
            wait_for(lambda before=before: COUNTERS.dropped_replies.get((to, "udp"), 0) >= before + 1,
                     "the forged reply to be counted")
    finally:
        up.stop()


def test_forged_frames_on_tcp_are_skipped(dns_server: ServerFactory, dns_client: DNSClient) -> None:
    def serve(conn: socket.socket) -> None:
        with conn:
            head = conn.recv(2)
            data = conn.recv(struct.unpack(">H", head)[0])
            q = dnslib.DNSRecord.parse(data)
            real = q.reply()
            real.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.54"), ttl=60))
            wrong = struct.pack(">H", (q.header.id + 7) & 0xFFFF) + real.pack()[2:]
            for frame in (wrong, real.pack()):
                conn.sendall(struct.pack(">H", len(frame)) + frame)
            time.sleep(0.5)

    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    lsock.settimeout(WAIT)
    port = lsock.getsockname()[1]

    def accept() -> None:
        with contextlib.suppress(OSError):
            conn, _ = lsock.accept()
            serve(conn)

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        dns_server(f".:0 {{\n forward . 127.0.0.1:{port} {{\n force_tcp\n }}\n}}\n")
        assert a_of(dns_client.query("tcp.example.org", "A")) == ["192.0.2.54"]
        assert COUNTERS.dropped_replies.get((f"127.0.0.1:{port}", "tcp"), 0) >= 1
    finally:
        lsock.close()
        t.join(5)


def test_tcp_queries_share_one_connection_and_replies_match_by_id(dns_server: ServerFactory) -> None:
    """Queries in flight together go on one upstream TCP connection; the upstream answers them in
    the reverse order, with a forged frame first, and each client still gets its own answer."""
    n = 6
    accepted: list[socket.socket] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(WAIT)
            queries = []
            buf = b""
            while len(queries) < n:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
                while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
                    size = struct.unpack(">H", buf[:2])[0]
                    queries.append(dnslib.DNSRecord.parse(buf[2 : 2 + size]))
                    buf = buf[2 + size :]
            frames = []
            first = queries[0].reply()
            first.add_answer(dnslib.RR(queries[0].q.qname, dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.66"), ttl=60))
            forged = struct.pack(">H", (queries[0].header.id + 1) & 0xFFFF) + first.pack()[2:]
            frames.append(forged)  # right question, wrong ID: dropped
            for q in reversed(queries):
                r = q.reply()
                last = str(q.q.qname).split(".")[0].removeprefix("p")
                r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A(f"192.0.2.{last}"), ttl=60))
                frames.append(r.pack())
            conn.sendall(b"".join(struct.pack(">H", len(f)) + f for f in frames))
            time.sleep(0.5)

    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    lsock.settimeout(WAIT)
    port = lsock.getsockname()[1]

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = lsock.accept()
                accepted.append(conn)
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        s = dns_server(f".:0 {{\n forward . 127.0.0.1:{port} {{\n force_tcp\n }}\n}}\n")
        dropped = COUNTERS.dropped_replies.get((f"127.0.0.1:{port}", "tcp"), 0)
        # The first query opens the connection; the next ones ride on it while it waits.
        clients = []
        for i in range(n):
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            c.settimeout(WAIT)
            c.sendto(dnslib.DNSRecord.question(f"p{10 + i}.example.org").pack(), ("127.0.0.1", s.port))
            clients.append(c)
            if i == 0:
                wait_for(lambda: len(accepted) == 1, "the upstream connection")
                time.sleep(0.2)
        for i, c in enumerate(clients):
            r = dnslib.DNSRecord.parse(c.recv(4096))
            assert str(r.q.qname) == f"p{10 + i}.example.org."
            assert a_of(r) == [f"192.0.2.{10 + i}"]
            c.close()
        assert len(accepted) == 1
        assert COUNTERS.dropped_replies.get((f"127.0.0.1:{port}", "tcp"), 0) == dropped + 1
    finally:
        lsock.close()
        t.join(5)


# -- limits and chaining --------------------------------------------------------------------------
def test_max_concurrent_refuses_beyond_the_limit(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    ups = [fake_upstream(lambda q, p: None)]  # never answers: queries stay in flight
    s = dns_server(corefile(ups, "max_concurrent 2\nmax_fails 0\nread_timeout 3s"))
    clients = []
    for i in range(2):
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        c.sendto(dnslib.DNSRecord.question(f"hang{i}.example.org").pack(), ("127.0.0.1", s.port))
        clients.append(c)
    wait_for(lambda: ups[0].count() >= 2, "two queries in flight")
    rejects = COUNTERS.max_concurrent_rejects
    r = dns_client.query("third.example.org", "A")
    assert r.header.rcode == dnslib.RCODE.REFUSED
    assert COUNTERS.max_concurrent_rejects == rejects + 1
    for c in clients:
        c.close()


def nxdomain(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
    r = q.reply()
    r.header.rcode = dnslib.RCODE.NXDOMAIN
    return r


def servfail(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
    r = q.reply()
    r.header.rcode = dnslib.RCODE.SERVFAIL
    return r


def nodata(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
    return q.reply()


@pytest.mark.parametrize(
    ("first", "option", "answer"),
    [
        pytest.param(nxdomain, "next NXDOMAIN", ["192.0.2.7"], id="next-rcode"),
        pytest.param(nxdomain, "", [], id="no-next"),
        pytest.param(nodata, "next_on_nodata", ["192.0.2.7"], id="next_on_nodata"),
    ],
)
def test_next_hands_the_query_to_the_following_forward(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient,
    first: Callable[[dnslib.DNSRecord, str], dnslib.DNSRecord], option: str, answer: list[str]
) -> None:
    a, b = fake_upstream(first), fake_upstream(answer_a("192.0.2.7"))
    text = f".:0 {{\n forward . {a.address} {{\n {option}\n }}\n forward . {b.address}\n}}\n"
    dns_server(text)
    assert a_of(dns_client.query("n.example.org", "A")) == answer


def test_failover_tries_the_next_upstream(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    ups = [fake_upstream(servfail), fake_upstream(answer_a("192.0.2.8"))]
    dns_server(corefile(ups, "policy sequential\nfailover SERVFAIL"))
    assert a_of(dns_client.query("f.example.org", "A")) == ["192.0.2.8"]
    dns_server(corefile(ups, "policy sequential"))  # the client asks the last server started
    assert dns_client.query("f.example.org", "A").header.rcode == dnslib.RCODE.SERVFAIL


@pytest.mark.parametrize("fault", ["servfail", "garbage"])
def test_a_failed_first_attempt_goes_on_to_the_next_upstream_in_order(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient, fault: str
) -> None:
    # The first attempt is made as the exchange is, the rest of the walk from where it left off:
    # the second upstream next (not the first again), once each.
    first, second = fake_upstream(answer_a("192.0.2.1")), fake_upstream(answer_a("192.0.2.8"))
    first.always(fault)
    options = "policy sequential\nmax_fails 0" + ("\nfailover SERVFAIL" if fault == "servfail" else "")
    dns_server(corefile([first, second], options))
    assert a_of(dns_client.query("walk.example.org", "A")) == ["192.0.2.8"]
    assert (first.count(), second.count()) == (1, 1)


def test_from_and_except_pass_other_names_on(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    ups = [fake_upstream(answer_a())]
    text = (f".:0 {{\n forward example.org {ups[0].address} {{\n except skip.example.org\n }}\n"
            " whoami\n}\n")
    dns_server(text)
    assert a_of(dns_client.query("www.example.org", "A")) == ["192.0.2.1"]
    for name in ("a.skip.example.org", "example.net"):  # whoami answers: empty answer, AA
        r = dns_client.query(name, "A")
        assert r.rr == [] and r.header.aa == 1
    assert ups[0].count() == 1


def test_metrics_are_exported_with_coredns_names(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    ups = [fake_upstream(answer_a())]
    dns_server(corefile(ups))
    to = ups[0].address
    labels = {"proxy_name": "forward", "to": to, "rcode": "NOERROR"}
    before = REGISTRY.get_sample_value("coredns_proxy_request_duration_seconds_count", labels) or 0
    dns_client.query("m.example.org", "A")
    assert REGISTRY.get_sample_value("coredns_proxy_request_duration_seconds_count", labels) == before + 1
    assert REGISTRY.get_sample_value(
        "coredns_proxy_conn_cache_misses_total", {"proxy_name": "forward", "to": to, "proto": "udp"}) >= 1
    assert REGISTRY.get_sample_value("coredns_forward_healthcheck_broken_total") is not None
    assert REGISTRY.get_sample_value("coredns_forward_max_concurrent_rejects_total") is not None


def test_reload_swaps_upstreams_and_stops_the_old_ones(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    a, b = fake_upstream(answer_a("192.0.2.1")), fake_upstream(answer_a("192.0.2.2"))
    s = dns_server(f".:0 {{\n forward . {a.address}\n}}\n")
    port = s.port
    assert a_of(dns_client.query("r.example.org", "A")) == ["192.0.2.1"]
    old = forwards(s)[0].proxies[0]
    assert s.reload(f".:0 {{\n forward . {b.address}\n}}\n")
    assert s.port == port  # the same listener
    assert a_of(dns_client.query("r.example.org", "A")) == ["192.0.2.2"]
    assert old.idle_count("udp") == 0


def test_udp_miss_path_creates_no_task(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    created: list[object] = []

    async def count_tasks() -> None:
        loop = asyncio.get_running_loop()

        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> asyncio.Task[Any]:
            created.append(coro)
            return asyncio.Task(coro, loop=loop, **kw)

        loop.set_task_factory(factory)  # type: ignore[arg-type]

    ups = [fake_upstream(answer_a())]
    s = dns_server(corefile(ups))
    dns_client.query("warm.example.org", "A")
    s.call(count_tasks())
    for i in range(20):
        assert a_of(dns_client.query(f"n{i}.example.org", "A")) == ["192.0.2.1"]
    assert created == []


def test_a_stopped_forward_still_answers_what_reaches_it(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    """An instance that hands over to another stops its plugins first, then answers what is still
    queued for it: forward, stopped, still asks the upstream (over TCP too). Before, the
    connection dialed after the stop was closed at once: SERVFAIL."""
    up = fake_upstream(answer_a("192.0.2.7"))
    s = dns_server(f".:0 {{\n forward . {up.address} {{\n force_tcp\n }}\n}}\n")
    assert a_of(dns_client.query("before.example.org", "A")) == ["192.0.2.7"]
    fwd = forwards(s)[0]
    s.call(fwd.stop())
    for name in ("after1.example.org", "after2.example.org"):
        r = dns_client.query(name, "A")
        assert r.header.rcode == dnslib.RCODE.NOERROR and a_of(r) == ["192.0.2.7"]


def test_a_full_batch_holds_misses_only_until_the_next_turn(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory
) -> None:
    """The batch boundary counts per turn of the loop: a batch that filled holds the misses of
    its own turn, not those of the next; and a turn that starts what waited starts no more than a
    batch in all, with the misses read in it."""
    up = fake_upstream(answer_a("192.0.2.9"))
    s = dns_server(corefile([up]))
    fwd = forwards(s)[0]

    async def turns() -> tuple[list[int], list[int]]:
        results = [fwd.serve(make_request(f"f{i}.example.org")) for i in range(START_BATCH)]
        waiting = [fwd.waiting]  # a full batch, none held
        await asyncio.sleep(0)
        results.append(fwd.serve(make_request("next.example.org")))
        waiting.append(fwd.waiting)  # the next turn's first miss starts at once
        results += [fwd.serve(make_request(f"g{i}.example.org")) for i in range(START_BATCH)]
        waiting.append(fwd.waiting)  # the batch filled again: the last one waits
        await asyncio.sleep(0)
        waiting.append(fwd.waiting)  # started on the next turn, with it the count of that turn
        results += [fwd.serve(make_request(f"h{i}.example.org")) for i in range(START_BATCH)]
        waiting.append(fwd.waiting)  # one started then: START_BATCH - 1 more start, one waits
        await asyncio.sleep(0)
        waiting.append(fwd.waiting)
        # More than a batch waits: a miss read while a full batch's next turn is armed arms no
        # second one (two would start two batches in one turn).
        results += [fwd.serve(make_request(f"k{i}.example.org")) for i in range(3 * START_BATCH)]
        waiting.append(fwd.waiting)
        await asyncio.sleep(0)
        results.append(fwd.serve(make_request("late.example.org")))
        waiting.append(fwd.waiting)
        for _ in range(2):
            await asyncio.sleep(0)
            waiting.append(fwd.waiting)
        replies = [await r for r in results if isinstance(r, Deferred)]
        return waiting, [dnslib.DNSRecord.parse(r).header.rcode for r in replies if isinstance(r, bytes)]

    waiting, rcodes = s.call(turns())
    b = START_BATCH
    assert waiting == [0, 0, 1, 0, 1, 0, 2 * b + 1, b + 2, 2, 0]
    assert rcodes == [dnslib.RCODE.NOERROR] * (6 * b + 2)


def test_a_burst_of_misses_starts_in_batches_one_per_turn_of_the_loop(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory
) -> None:
    """Misses read in one turn start START_BATCH at a time, the rest on the next turns and in
    order, so that the listeners are read (and hits answered) between batches; every one is
    still answered."""
    up = fake_upstream(answer_a("192.0.2.9"))
    s = dns_server(corefile([up]))
    fwd = forwards(s)[0]
    count = 2 * START_BATCH + START_BATCH // 2

    async def burst() -> tuple[list[int], list[int]]:
        results = [fwd.serve(make_request(f"b{i}.example.org")) for i in range(count)]
        waiting = [fwd.waiting]
        for _ in range(3):
            await asyncio.sleep(0)  # one turn: the batch armed before this wake-up runs first
            waiting.append(fwd.waiting)
        replies = [await r for r in results if isinstance(r, Deferred)]
        return waiting, [dnslib.DNSRecord.parse(r).header.rcode for r in replies if isinstance(r, bytes)]

    waiting, rcodes = s.call(burst())
    assert waiting == [count - START_BATCH, count - 2 * START_BATCH, 0, 0]
    assert rcodes == [dnslib.RCODE.NOERROR] * count
    asked = [str(q.q.qname) for _, q in up.queries]
    assert sorted(asked) == sorted(f"b{i}.example.org." for i in range(count))
    assert asked[:START_BATCH] == [f"b{i}.example.org." for i in range(START_BATCH)]


@pytest.mark.parametrize(
    ("upstreams", "options"),
    [(1, ""), (1, "force_tcp\n max_concurrent 10"), (2, "policy sequential"), (2, "policy round_robin")],
)
def test_an_exchange_started_at_once_has_the_fields_of_one_that_waited(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, upstreams: int, options: str
) -> None:
    """Forward.serve makes every exchange with its fields set in place: one started at once has
    the fields of one that waits for its turn (a batch is full), with what the first attempt
    changed (the walk's state, made only if needed; the connection)."""
    ups = [fake_upstream(answer_a("192.0.2.9")) for _ in range(upstreams)]
    s = dns_server(corefile(ups, options))
    fwd = forwards(s)[0]

    async def both() -> tuple[dict[str, Any], dict[str, Any], list[bytes]]:
        loop = asyncio.get_running_loop()
        for p in fwd.proxies:  # a connection to each upstream, to be taken from the pool
            p.give_back(await p.dial_stream("tcp") if "force_tcp" in options else p.dial_udp(loop))
        await asyncio.sleep(0)  # a new turn: the batch is empty
        batch = [fwd.serve(make_request(f"fields{i}.example.org")) for i in range(START_BATCH + 1)]
        started, waited = batch[0], batch[-1]
        assert isinstance(started, Exchange) and isinstance(waited, Exchange)
        assert fwd.waiting == 1
        names = [n for cls in (Deferred, Exchange) for n in cls.__slots__]
        got = {n: getattr(started, n) for n in names if hasattr(started, n)}
        want = {n: getattr(waited, n) for n in names if hasattr(waited, n)}
        got["req"] = want["req"] = None  # each its own query
        want["walk"] = copy.copy(want["walk"])  # as it was made: it walks on when it starts
        return got, want, [await ex for ex in batch]  # the one that waited starts next turn

    got, want, replies = s.call(both())
    assert set(got) == set(want)
    # The first attempt went to order[0]: the walk's state is made on a failure or retry.
    assert got["walk"] is None and (want["walk"].i, want["walk"].fails, want["walk"].attempts) == (0, 0, 0)
    assert want["walk"].failovers == 0 and want["walk"].err is None
    assert got["conn"] is not None and want["conn"] is None
    assert got["deadline"] - got["started"] == want["deadline"] - want["started"] == DEADLINE
    assert got["order"][0] is got["proxy"] and want["order"][0] is want["proxy"]
    assert sorted(map(id, got["order"])) == sorted(map(id, want["order"])) == sorted(map(id, fwd.proxies))
    for name in ("walk", "conn", "started", "deadline", "order", "proxy"):
        del got[name], want[name]
    assert got == want
    assert all(dnslib.DNSRecord.parse(r).header.rcode == dnslib.RCODE.NOERROR for r in replies)
