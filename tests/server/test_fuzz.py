"""Fuzzing the query path: random and mutated queries over UDP and TCP, hostile upstream replies.

A realistic node-cache chain (prometheus, errors, log, cache, rewrite, hosts, template, forward)
runs once for the module. Every batch sends a bounded number of packets built from a fixed seed,
checks each reply is a well-formed DNS reply (dnslib parses it, the query's ID, QR set), that
every query the server must answer (12+ octets, QR clear) was answered, and then that the server
still answers normally, /metrics still scrapes and parses, coredns_panics_total did not move and
no traceback or "Recovered from panic" line was logged.
"""

from __future__ import annotations

import contextlib
import io
import logging
import random
import select
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dnslib
import pytest

from pycoredns.testing import FakeUpstream, answer_a, query, running_server
from pycoredns.testing.http import scrape
from pycoredns.testing.server import RunningServer

HOSTS_NAME = "a.hosts.example."
HOSTS_IP = "192.0.2.10"
UPSTREAM_IP = "192.0.2.1"
REPLY_WAIT = 8.0  # longest wait for a batch's replies (forward's worst case is 5 s)


@dataclass
class Fuzzed:
    server: RunningServer
    metrics_port: int
    upstream: FakeUpstream
    evil: FakeUpstream
    log: io.StringIO
    panics_at_start: float


METRICS = "127.0.0.1:0"


def _corefile(upstream: str, evil: str) -> str:
    return f"""evil.example:0 {{
    prometheus {METRICS}
    errors
    cache 300
    forward . {evil} {{
        read_timeout 500ms
    }}
}}
.:0 {{
    prometheus {METRICS}
    errors
    log
    cache 300
    rewrite name rw.example.org {HOSTS_NAME}
    hosts {{
        {HOSTS_IP} {HOSTS_NAME}
        2001:db8::10 {HOSTS_NAME}
        fallthrough
    }}
    template IN TXT tpl.example {{
        answer "{{{{ .Name }}}} 60 IN TXT \\"templated\\""
    }}
    forward . {upstream} {{
        read_timeout 1s
    }}
}}
"""


@contextlib.contextmanager
def _captured(names: tuple[str, ...]) -> Iterator[io.StringIO]:
    """Everything the pycoredns and asyncio loggers write (tracebacks included) while it runs."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    try:
        yield buf
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


class _TolerantUpstream(FakeUpstream):
    """Also answers the queries dnslib cannot parse (names that are not UTF-8, empty rdata...).

    A real upstream answers those; the stock fake drops them, which would make every such query a
    forward timeout. The reply is an empty NOERROR with the question copied.
    """

    def _respond(self, data: bytes, proto: str) -> bytes | None:
        if len(data) < 12:
            return None
        pos = 12
        while pos < len(data) and 0 < data[pos] < 64:
            pos += data[pos] + 1
        end = pos + 5
        if end > len(data) or data[pos] != 0:
            return None
        return data[:2] + bytes((0x80 | (data[2] & 0x79), 0x80)) + b"\x00\x01" + b"\x00" * 6 + data[12:end]


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[Fuzzed]:
    with (
        _captured(("pycoredns", "asyncio")) as log,
        _TolerantUpstream(answer_a(UPSTREAM_IP, ttl=300)) as upstream,
        FakeUpstream(_hostile_answer) as evil,
        running_server(_corefile(upstream.address, evil.address)) as srv,
    ):
        metrics = srv.http_port(METRICS)
        panics = _panics(metrics)
        yield Fuzzed(srv, metrics, upstream, evil, log, panics)


def _panics(metrics_port: int) -> float:
    families = scrape(metrics_port)
    return float(families["coredns_panics"].samples[0].value)


def _assert_healthy(f: Fuzzed) -> None:
    port = f.server.port
    for proto in ("udp", "tcp"):
        r = query(HOSTS_NAME, "A", port, proto=proto, timeout=10)
        assert r.header.rcode == dnslib.RCODE.NOERROR
        assert [str(rr.rdata) for rr in r.rr] == [HOSTS_IP]
        r = query("www.forwarded.example", "A", port, proto=proto, timeout=10)
        assert r.header.rcode == dnslib.RCODE.NOERROR
        assert [str(rr.rdata) for rr in r.rr] == [UPSTREAM_IP]
    assert _panics(f.metrics_port) == f.panics_at_start, "coredns_panics_total moved"
    text = f.log.getvalue()
    for bad in ("Recovered from panic", "Traceback", "Fatal error", "Exception in callback"):
        assert bad not in text, text[text.find(bad) - 200 : text.find(bad) + 3000]


# -- checking replies ------------------------------------------------------------------------------
def _must_answer(packet: bytes) -> bool:
    """miekg/dns (and we) answer every query of at least a header that is not itself a reply."""
    return len(packet) >= 12 and not packet[2] & 0x80


def _check_reply(packet: bytes, reply: bytes) -> None:
    try:
        dnslib.DNSRecord.parse(reply)
    except dnslib.DNSError as e:
        # dnslib refuses labels that are not UTF-8, which DNS allows: check those structurally.
        if "Invalid label" not in str(e) or not _well_formed(reply):
            raise AssertionError(f"unparsable reply {reply!r} to {packet!r}: {e}") from None
    assert reply[:2] == packet[:2], f"reply ID {reply[:2]!r} to {packet!r}"
    assert reply[2] & 0x80, f"QR clear in {reply!r} to {packet!r}"


def _well_formed(data: bytes) -> bool:
    """Every section walks to its end: names (pointers backward only) and record lengths fit."""

    def name_end(pos: int) -> int:
        total, jumps, end = 0, 0, -1
        while True:
            length = data[pos]
            if length & 0xC0 == 0xC0:
                target = ((length & 0x3F) << 8) | data[pos + 1]
                if end < 0:
                    end = pos + 2
                jumps += 1
                if target >= pos or jumps > 127:
                    raise ValueError("bad pointer")
                pos = target
                continue
            if length & 0xC0:
                raise ValueError("bad label type")
            total += length + 1
            if total > 255:
                raise ValueError("name too long")
            if length == 0:
                return end if end >= 0 else pos + 1
            pos += length + 1

    try:
        qd, an, ns, ar = struct.unpack_from(">HHHH", data, 4)
        pos = 12
        for _ in range(qd):
            pos = name_end(pos) + 4
        for _ in range(an + ns + ar):
            pos = name_end(pos)
            pos += 10 + struct.unpack_from(">H", data, pos + 8)[0]
        return pos <= len(data)
    except (IndexError, ValueError, struct.error):
        return False


def _udp_batch(port: int, packets: list[bytes], window: int = 64) -> list[tuple[bytes, bytes]]:
    """Send each packet from its own socket (so replies map to queries), ``window`` at a time.

    Returns (query, reply) for every reply, each already checked.
    """
    got: list[tuple[bytes, bytes]] = []
    for start in range(0, len(packets), window):
        chunk = packets[start : start + window]
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in chunk]
        try:
            owner: dict[socket.socket, bytes] = {}
            for s, p in zip(socks, chunk, strict=True):
                s.setblocking(False)
                s.sendto(p, ("127.0.0.1", port))
                owner[s] = p
            waiting = {s for s, p in owner.items() if _must_answer(p)}
            deadline = time.monotonic() + REPLY_WAIT
            # A packet that must be dropped gets a short window in which a reply would show up.
            quiet_until = time.monotonic() + (0.2 if len(waiting) < len(owner) else 0.0)
            while (waiting or time.monotonic() < quiet_until) and time.monotonic() < deadline:
                ready, _, _ = select.select(list(owner), [], [], 0.1)
                for s in ready:
                    reply = s.recv(65535)
                    packet = owner[s]
                    assert _must_answer(packet), f"reply {reply!r} to a packet to drop: {packet!r}"
                    _check_reply(packet, reply)
                    got.append((packet, reply))
                    waiting.discard(s)
            assert not waiting, f"no reply to {[owner[s] for s in waiting][:5]!r}"
        finally:
            for s in socks:
                s.close()
    return got


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} octets")
        buf += chunk
    return buf


def _tcp_pipelined(port: int, packets: list[bytes]) -> list[tuple[bytes, bytes]]:
    """Send ``packets`` as frames on one connection (IDs made unique), read every reply due."""
    sent: dict[int, bytes] = {}
    got: list[tuple[bytes, bytes]] = []
    frames = b""
    for i, p in enumerate(packets):
        if len(p) >= 2:
            p = struct.pack(">H", i) + p[2:]
        if _must_answer(p):
            sent[i] = p
        frames += struct.pack(">H", len(p)) + p
    with socket.create_connection(("127.0.0.1", port), timeout=REPLY_WAIT) as s:
        s.sendall(frames)
        for _ in range(len(sent)):
            (n,) = struct.unpack(">H", _recv_exact(s, 2))
            reply = _recv_exact(s, n)
            qid = struct.unpack(">H", reply[:2])[0]
            assert qid in sent, f"reply with unknown ID {reply!r}"
            packet = sent.pop(qid)
            _check_reply(packet, reply)
            got.append((packet, reply))
    assert not sent
    return got


# -- building packets ------------------------------------------------------------------------------
def _valid_queries() -> list[bytes]:
    """Well-formed queries through every part of the chain, plain and with EDNS."""
    out = []
    for name, qtype in [
        (HOSTS_NAME, "A"),
        (HOSTS_NAME, "AAAA"),
        ("rw.example.org", "A"),
        ("x.tpl.example", "TXT"),
        ("www.forwarded.example", "A"),
        ("www.forwarded.example", "MX"),
        ("10.2.0.192.in-addr.arpa", "PTR"),
    ]:
        q = dnslib.DNSRecord.question(name, qtype)
        out.append(q.pack())
        q.add_ar(dnslib.EDNS0(udp_len=1232, flags="do"))
        out.append(q.pack())
    return out


def _rr(name: bytes, rtype: int, ttl: int, rdata: bytes) -> bytes:
    return name + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def _ptr(offset: int) -> bytes:
    return struct.pack(">H", 0xC000 | offset)


def _name_wire(labels: list[bytes]) -> bytes:
    return b"".join(bytes([len(lb)]) + lb for lb in labels) + b"\x00"


def _query(name: bytes, qtype: int = 1, qclass: int = 1, counts: tuple[int, int, int, int] = (1, 0, 0, 0),
           tail: bytes = b"", qid: int = 0x4242) -> bytes:
    return struct.pack(">HHHHHH", qid, 0x0100, *counts) + name + struct.pack(">HH", qtype, qclass) + tail


def _opt(size: int = 1232, version: int = 0, flags: int = 0, options: bytes = b"", rdlen: int | None = None) -> bytes:
    rd = len(options) if rdlen is None else rdlen
    return b"\x00" + struct.pack(">HHBBHH", 41, size, 0, version, flags, rd) + options


def _crafted_queries() -> list[tuple[str, bytes]]:
    """Hand-made hostile queries, each named for what it tries."""
    plain = _name_wire([b"www", b"forwarded", b"example"])
    long_255 = _name_wire([b"a" * 63, b"b" * 63, b"c" * 63, b"d" * 61])  # 255 octets on the wire
    long_256 = _name_wire([b"a" * 63, b"b" * 63, b"c" * 63, b"d" * 62])
    rr_a = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04"
    out: list[tuple[str, bytes]] = [
        ("empty", b""),
        ("one-octet", b"\x00"),
        ("header-only", struct.pack(">HHHHHH", 1, 0x0100, 0, 0, 0, 0)),
        ("header-qd1-no-question", struct.pack(">HHHHHH", 2, 0x0100, 1, 0, 0, 0)),
        ("label-64", _query(bytes([64]) + b"a" * 64 + b"\x00")),
        ("label-0x80", _query(b"\x80abc\x00")),
        ("pointer-in-question", _query(b"\xc0\x0c")),
        ("pointer-to-self-in-question", _query(b"\x03www\xc0\x0c")),
        ("qname-255", _query(long_255)),
        ("qname-256", _query(long_256)),
        ("qtype-0", _query(plain, qtype=0)),
        ("qtype-255", _query(plain, qtype=255)),
        ("qtype-65535", _query(plain, qtype=65535)),
        ("qtype-opt", _query(plain, qtype=41)),
        ("qtype-axfr", _query(plain, qtype=252)),
        ("qclass-ch", _query(_name_wire([b"version", b"bind"]), qtype=16, qclass=3)),
        ("qclass-any", _query(plain, qclass=255)),
        ("qclass-0", _query(plain, qclass=0)),
        ("name-nul-octet", _query(_name_wire([b"a\x00b", b"forwarded", b"example"]))),
        ("name-dot-in-label", _query(_name_wire([b"a.b", b"forwarded", b"example"]))),
        ("name-backslash", _query(_name_wire([b"a\\", b"hosts", b"example"]))),
        ("name-upper-case", _query(_name_wire([b"A", b"HOSTS", b"EXAMPLE"]))),
        ("name-non-ascii", _query(_name_wire(["ü".encode(), b"forwarded", b"example"]))),
        ("name-high-octets", _query(_name_wire([bytes(range(200, 255)), b"example"]))),
        ("name-not-utf8-template", _query(_name_wire([b"\xc8\xff", b"tpl", b"example"]), qtype=16)),
        ("name-not-utf8-hosts", _query(_name_wire([b"\xc8\xff", b"hosts", b"example"]))),
        ("name-255-template", _query(_name_wire([b"a" * 63, b"b" * 63, b"c" * 63, b"d" * 49, b"tpl", b"example"]),
                                     qtype=16)),
        ("name-space-quote", _query(_name_wire([b'a "b";(c)@$', b"tpl", b"example"]), qtype=16)),
        ("root-name", _query(b"\x00", qtype=2)),
        ("trailing-garbage", _query(plain) + b"\xff" * 20),
        ("opt-ok", _query(plain, counts=(1, 0, 0, 1), tail=_opt())),
        ("opt-size-0", _query(plain, counts=(1, 0, 0, 1), tail=_opt(size=0))),
        ("opt-size-1", _query(plain, counts=(1, 0, 0, 1), tail=_opt(size=1))),
        ("opt-size-65535", _query(plain, counts=(1, 0, 0, 1), tail=_opt(size=65535))),
        ("opt-version-1", _query(plain, counts=(1, 0, 0, 1), tail=_opt(version=1))),
        ("opt-version-255", _query(plain, counts=(1, 0, 0, 1), tail=_opt(version=255))),
        ("opt-all-flags", _query(plain, counts=(1, 0, 0, 1), tail=_opt(flags=0xFFFF))),
        ("opt-cookie", _query(plain, counts=(1, 0, 0, 1), tail=_opt(options=b"\x00\x0a\x00\x08" + b"c" * 8))),
        ("opt-ecs", _query(plain, counts=(1, 0, 0, 1),
                           tail=_opt(options=b"\x00\x08\x00\x07\x00\x01\x18\x00\xc0\x00\x02"))),
        ("opt-option-overruns", _query(plain, counts=(1, 0, 0, 1), tail=_opt(options=b"\x00\x0a\x00\x20abc"))),
        ("opt-half-option", _query(plain, counts=(1, 0, 0, 1), tail=_opt(options=b"\x00\x0a\x00"))),
        ("opt-rdlen-lies", _query(plain, counts=(1, 0, 0, 1), tail=_opt(rdlen=40))),
        ("opt-rdlen-short", _query(plain, counts=(1, 0, 0, 1), tail=_opt(options=b"\x00\x0a\x00\x02ab", rdlen=2))),
        ("opt-named", _query(plain, counts=(1, 0, 0, 1), tail=b"\x01x" + _opt()[1:])),
        ("two-opts", _query(plain, counts=(1, 0, 0, 2), tail=_opt() + _opt())),
        ("opt-and-a", _query(plain, counts=(1, 0, 0, 2), tail=_opt() + rr_a)),
        ("a-record-short-rdata", _query(plain, counts=(1, 0, 0, 1),
                                        tail=b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 3) + b"\x01\x02\x03")),
        ("answer-in-query", _query(plain, counts=(1, 1, 0, 0), tail=rr_a)),
        ("authority-in-query", _query(plain, counts=(1, 0, 1, 0), tail=rr_a)),
        ("pointer-loop-additional", _query(plain, counts=(1, 0, 0, 1),
                                           tail=b"\xc0\x25" + struct.pack(">HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04")),
        ("pointer-forward-additional", _query(plain, counts=(1, 0, 0, 1),
                                              tail=b"\xc0\xff" + struct.pack(">HHIH", 1, 1, 60, 0))),
        ("pointer-beyond-end", _query(plain, counts=(1, 0, 0, 1), tail=b"\xff\xff")),
        ("pointer-chain-additional", _pointer_chain_query(plain, 1500)),
        ("counts-max", _query(plain, counts=(65535, 65535, 65535, 65535))),
        ("qd-0", _query(plain, counts=(0, 0, 0, 0))),
        ("qd-2", _query(plain, counts=(2, 0, 0, 0))),
        ("ar-3", _query(plain, counts=(1, 0, 0, 3), tail=_opt() + rr_a + rr_a)),
        ("notify", struct.pack(">HHHHHH", 7, 0x2000, 1, 0, 0, 0) + plain + b"\x00\x06\x00\x01"),
        ("update-opcode", struct.pack(">HHHHHH", 8, 0x2800, 1, 0, 0, 0) + plain + b"\x00\x06\x00\x01"),
        ("opcode-15", struct.pack(">HHHHHH", 9, 0x7800, 1, 0, 0, 0) + plain + b"\x00\x01\x00\x01"),
        ("response", struct.pack(">HHHHHH", 10, 0x8180, 1, 0, 0, 0) + plain + b"\x00\x01\x00\x01"),
        ("all-flags", struct.pack(">HHHHHH", 11, 0x7FFF & ~0x7800, 1, 0, 0, 0) + plain + b"\x00\x01\x00\x01"),
    ]
    return out


def _pointer_chain_query(name: bytes, depth: int) -> bytes:
    """A query whose additional record's owner name is a chain of ``depth`` backward pointers.

    The chain lives in the rdata of an answer record (a query may carry one): a root label, then
    pointers each to the one before; the additional record's owner points at the last of them.
    """
    head = _query(name, counts=(1, 1, 0, 1))
    rdata_at = len(head) + 1 + 10  # after the answer's root owner and its fixed fields
    chain = bytearray(b"\x00")
    prev = rdata_at
    for _ in range(depth):
        here = rdata_at + len(chain)
        chain += struct.pack(">H", 0xC000 | prev)
        prev = here
    answer = _rr(b"\x00", 65280, 60, bytes(chain))
    return head + answer + _rr(struct.pack(">H", 0xC000 | prev), 1, 60, b"\x01\x02\x03\x04")


def _mutations(rng: random.Random, seeds: list[bytes], count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        p = bytearray(rng.choice(seeds))
        kind = rng.randrange(6)
        if kind == 0:  # bit flips
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(p))
                p[i] ^= 1 << rng.randrange(8)
        elif kind == 1:  # a count field set to a random value
            i = rng.choice((4, 6, 8, 10))
            p[i : i + 2] = struct.pack(">H", rng.choice((0, 1, 2, 3, rng.randrange(65536))))
        elif kind == 2:  # a random octet overwritten
            p[rng.randrange(len(p))] = rng.randrange(256)
        elif kind == 3:  # random octets inserted
            i = rng.randrange(len(p) + 1)
            p[i:i] = rng.randbytes(rng.randint(1, 8))
        elif kind == 4:  # a random slice deleted
            i = rng.randrange(len(p))
            del p[i : i + rng.randint(1, 6)]
        else:  # random octets appended
            p += rng.randbytes(rng.randint(1, 40))
        p[2] &= 0x7F  # keep most of them queries, so they reach the chain
        out.append(bytes(p))
    return out


def _truncations(seeds: list[bytes]) -> list[bytes]:
    return [s[:i] for s in seeds for i in range(len(s))]


# -- (a) and (b): UDP ------------------------------------------------------------------------------
def test_random_bytes_over_udp(fuzzed: Fuzzed) -> None:
    rng = random.Random(1001)
    packets = [rng.randbytes(rng.randint(0, 600)) for _ in range(500)]
    # Half of them with QR clear and opcode QUERY, so they get past the header checks.
    for i in range(0, len(packets), 2):
        if len(packets[i]) >= 3:
            p = bytearray(packets[i])
            p[2] &= 0x07
            packets[i] = bytes(p)
    _udp_batch(fuzzed.server.port, packets)
    _assert_healthy(fuzzed)


@pytest.mark.parametrize("name,packet", [pytest.param(n, p, id=n) for n, p in _crafted_queries()])
def test_crafted_query_over_udp_and_tcp(fuzzed: Fuzzed, name: str, packet: bytes) -> None:
    _udp_batch(fuzzed.server.port, [packet])
    _tcp_pipelined(fuzzed.server.port, [packet])


def test_crafted_queries_leave_server_healthy(fuzzed: Fuzzed) -> None:
    _udp_batch(fuzzed.server.port, [p for _, p in _crafted_queries()])
    _assert_healthy(fuzzed)


def test_mutated_queries_over_udp(fuzzed: Fuzzed) -> None:
    rng = random.Random(2002)
    seeds = _valid_queries() + [p for _, p in _crafted_queries() if len(p) >= 12]
    _udp_batch(fuzzed.server.port, _mutations(rng, seeds, 700))
    _assert_healthy(fuzzed)


def test_truncated_queries_over_udp(fuzzed: Fuzzed) -> None:
    _udp_batch(fuzzed.server.port, _truncations(_valid_queries()[:4]))
    _assert_healthy(fuzzed)


# -- (c): TCP --------------------------------------------------------------------------------------
def test_mutated_queries_pipelined_over_tcp(fuzzed: Fuzzed) -> None:
    rng = random.Random(3003)
    seeds = _valid_queries() + [p for _, p in _crafted_queries() if len(p) >= 12]
    packets = _mutations(rng, seeds, 300) + [rng.randbytes(rng.randint(0, 300)) for _ in range(100)]
    for start in range(0, len(packets), 100):
        _tcp_pipelined(fuzzed.server.port, packets[start : start + 100])
    _assert_healthy(fuzzed)


def test_many_pipelined_valid_frames(fuzzed: Fuzzed) -> None:
    _tcp_pipelined(fuzzed.server.port, _valid_queries() * 15)
    _assert_healthy(fuzzed)


def test_zero_length_frames_are_skipped(fuzzed: Fuzzed) -> None:
    q = _valid_queries()[0]
    with socket.create_connection(("127.0.0.1", fuzzed.server.port), timeout=REPLY_WAIT) as s:
        s.sendall(b"\x00\x00" * 5 + struct.pack(">H", len(q)) + q + b"\x00\x00")
        (n,) = struct.unpack(">H", _recv_exact(s, 2))
        _check_reply(q, _recv_exact(s, n))
    _assert_healthy(fuzzed)


@pytest.mark.parametrize(
    "lie",
    [
        pytest.param(lambda q: struct.pack(">H", len(q) + 30) + q, id="prefix-longer-then-close"),
        pytest.param(lambda q: struct.pack(">H", len(q) - 5) + q, id="prefix-shorter"),
        pytest.param(lambda q: struct.pack(">H", 65535) + q * 3, id="prefix-max"),
        pytest.param(lambda q: b"\x00", id="one-octet-of-prefix"),
        pytest.param(lambda q: struct.pack(">H", 11) + q[:11], id="frame-shorter-than-header"),
    ],
)
def test_lying_length_prefixes(fuzzed: Fuzzed, lie: Callable[[bytes], bytes]) -> None:
    q = _valid_queries()[0]
    with socket.create_connection(("127.0.0.1", fuzzed.server.port), timeout=2) as s:
        s.sendall(lie(q))
        s.settimeout(0.3)
        with contextlib.suppress(TimeoutError, ConnectionError):
            while s.recv(65535):  # whatever comes back must not be a crash; drain it
                pass
    _assert_healthy(fuzzed)


def test_half_frame_then_silence_does_not_block_others(fuzzed: Fuzzed) -> None:
    q = _valid_queries()[0]
    stalled = [socket.create_connection(("127.0.0.1", fuzzed.server.port), timeout=2) for _ in range(5)]
    try:
        for s in stalled:
            s.sendall(struct.pack(">H", len(q)) + q[: len(q) // 2])
        _assert_healthy(fuzzed)
        # The stalled connections still complete when the rest of their frame comes.
        for s in stalled:
            s.sendall(q[len(q) // 2 :])
            (n,) = struct.unpack(">H", _recv_exact(s, 2))
            _check_reply(q, _recv_exact(s, n))
    finally:
        for s in stalled:
            s.close()


# -- (d): hostile upstream replies through forward and cache ---------------------------------------
def _reply_header(q: dnslib.DNSRecord, an: int, ns: int = 0, ar: int = 0, flags: int = 0x8180) -> bytes:
    return struct.pack(">HHHHHH", q.header.id, flags, 1, an, ns, ar)


def _question(q: dnslib.DNSRecord) -> bytes:
    return bytes(dnslib.DNSRecord(q=q.q).pack()[12:])


_A = b"\x01\x02\x03\x04"
_HOSTILE: dict[str, Callable[[dnslib.DNSRecord], bytes | None]] = {
    "garbage": lambda q: q.pack()[:2] + random.Random(q.header.id).randbytes(80),
    "short": lambda q: q.pack()[:2] + b"\x81",
    "header-only": lambda q: _reply_header(q, 0)[:4] + b"\x00" * 8,
    "truncated-answer": lambda q: (_reply_header(q, 1) + _question(q) + _rr(b"\xc0\x0c", 1, 60, _A))[:-3],
    "rdlen-lies": lambda q: _reply_header(q, 1) + _question(q) + b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 200) + _A,
    "compression-loop": lambda q: _reply_header(q, 1) + _question(q)
    + _rr(b"\x01a" + _ptr(12 + len(_question(q))), 1, 60, b"\x01\x02\x03\x04"),
    "self-pointer": lambda q: _reply_header(q, 1) + _question(q)
    + _rr(_ptr(12 + len(_question(q))), 1, 60, b"\x01\x02\x03\x04"),
    "forward-pointer": lambda q: _reply_header(q, 1) + _question(q) + _rr(b"\xc0\xf0", 1, 60, b"\x01\x02\x03\x04"),
    "cname-loop-target": lambda q: _reply_header(q, 1) + _question(q) + _rr(b"\xc0\x0c", 5, 60, b"\xc0\x0c"),
    "huge-ttl": lambda q: _reply_header(q, 1) + _question(q) + _rr(b"\xc0\x0c", 1, 0x7FFFFFFF, b"\x01\x02\x03\x04"),
    "ttl-0": lambda q: _reply_header(q, 1) + _question(q) + _rr(b"\xc0\x0c", 1, 0, b"\x01\x02\x03\x04"),
    "ttl-high-bit": lambda q: _reply_header(q, 1) + _question(q) + _rr(b"\xc0\x0c", 1, 0xFFFFFFFF, b"\x01\x02\x03\x04"),
    "ttl-high-bit-soa": lambda q: _reply_header(q, 0, ns=1, flags=0x8183) + _question(q)
    + _rr(b"\xc0\x0c", 6, 0x80000000, b"\x00\x00" + struct.pack(">IIIII", 1, 2, 3, 4, 0xFFFFFFFF)),
    "many-records": lambda q: _reply_header(q, 400) + _question(q)
    + b"".join(_rr(b"\xc0\x0c", 1, 60, struct.pack(">I", i)) for i in range(400)),
    "other-name": lambda q: dnslib.DNSRecord(
        dnslib.DNSHeader(id=q.header.id, qr=1, rd=1, ra=1), q=dnslib.DNSQuestion("other.example.", q.q.qtype),
        a=dnslib.RR("other.example.", dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.99"), ttl=60)).pack(),
    "other-type": lambda q: dnslib.DNSRecord(
        dnslib.DNSHeader(id=q.header.id, qr=1, rd=1, ra=1), q=dnslib.DNSQuestion(q.q.qname, dnslib.QTYPE.MX)).pack(),
    "wrong-id": lambda q: dnslib.DNSRecord(dnslib.DNSHeader(id=q.header.id ^ 1, qr=1), q=q.q).pack(),
    "qr-clear": lambda q: dnslib.DNSRecord(dnslib.DNSHeader(id=q.header.id, qr=0), q=q.q).pack(),
    "no-question": lambda q: struct.pack(">HHHHHH", q.header.id, 0x8180, 0, 1, 0, 0)
    + _rr(b"\x00", 1, 60, b"\x01\x02\x03\x04"),
    "rcode-15": lambda q: _reply_header(q, 0, flags=0x818F) + _question(q),
    "extended-rcode-opt": lambda q: _reply_header(q, 0, ar=1) + _question(q)
    + b"\x00\x00\x29\x10\x00\xff\x00\x80\x00\x00\x00",
    "two-opts": lambda q: _reply_header(q, 0, ar=2) + _question(q) + _opt() + _opt(),
    "opt-odd-options": lambda q: _reply_header(q, 0, ar=1) + _question(q) + _opt(options=b"\x00\x0a\x00\x30ab"),
    "bad-label-type": lambda q: _reply_header(q, 1) + _question(q) + _rr(b"\x41zz\x00", 1, 60, b"\x01\x02\x03\x04"),
    "no-reply": lambda q: None,
}


def _hostile_answer(q: dnslib.DNSRecord, proto: str) -> bytes | None:
    mode = str(q.q.qname).split(".")[0]
    make = _HOSTILE.get(mode)
    if make is None:
        return bytes(q.reply().pack())
    out = make(q)
    return None if out is None else bytes(out)


# What the client gets. A reply that does not unpack fails the attempt (SERVFAIL, as CoreDNS's
# proxy); one for another ID is dropped as it waits for the right one (SERVFAIL when none comes);
# one with the query's ID that is not a response to its one question (QR clear, no question,
# another name or type) is FORMERR (CoreDNS's request.Match).
_EXPECTED_RCODE = {
    "garbage": 2, "short": 2, "header-only": 1, "truncated-answer": 2, "rdlen-lies": 2,
    "compression-loop": 2, "self-pointer": 2, "forward-pointer": 2, "bad-label-type": 2,
    "opt-odd-options": 2, "no-reply": 2, "wrong-id": 2, "no-question": 1, "other-name": 1,
    "other-type": 1, "qr-clear": 1, "cname-loop-target": 0, "huge-ttl": 0, "ttl-0": 0,
    "ttl-high-bit": 0, "ttl-high-bit-soa": 3, "many-records": 0,
}


def _hostile_queries(qtypes: tuple[str, ...]) -> list[bytes]:
    out = []
    for mode in _HOSTILE:
        for qtype in qtypes:
            q = dnslib.DNSRecord.question(f"{mode}.evil.example", qtype)
            q.add_ar(dnslib.EDNS0(udp_len=1232))
            out.append(bytes(q.pack()))
    return out


def _mode(packet: bytes) -> str:
    return packet[13 : 13 + packet[12]].decode()


def test_hostile_upstream_replies_over_udp_tcp_and_from_cache(fuzzed: Fuzzed) -> None:
    port = fuzzed.server.port
    queries = _hostile_queries(("A", "MX"))
    rounds = [
        ("udp", _udp_batch(port, queries, window=len(queries))),
        ("tcp", _tcp_pipelined(port, queries)),
        ("udp-again", _udp_batch(port, queries, window=len(queries))),  # cached ones come from the cache
    ]
    for label, pairs in rounds:
        assert len(pairs) == len(queries), label
        for packet, reply in pairs:
            mode = _mode(packet)
            msg = dnslib.DNSRecord.parse(reply)
            expected = _EXPECTED_RCODE.get(mode)
            if expected is not None and msg.q.qtype == dnslib.QTYPE.A:
                assert msg.header.rcode == expected, (label, mode, msg)
            for rr in msg.rr + msg.auth:
                assert rr.ttl <= 300, (label, mode, rr)  # cache 300 caps every TTL, huge ones too
            if mode == "many-records" and msg.q.qtype == dnslib.QTYPE.A:
                if label == "tcp":
                    assert len(msg.rr) == 400 and not msg.header.tc
                elif not msg.header.tc:
                    assert len(reply) <= 1232 and len(msg.rr) == 400, label
    _assert_healthy(fuzzed)


def test_hostile_replies_under_load(fuzzed: Fuzzed) -> None:
    names = [m for m in _HOSTILE if m != "no-reply"]
    packets = []
    for i in range(100):
        q = dnslib.DNSRecord.question(f"{names[i % len(names)]}.evil.example", "A")
        q.header.id = i
        packets.append(bytes(q.pack()))
    _udp_batch(fuzzed.server.port, packets, window=len(packets))
    _assert_healthy(fuzzed)
