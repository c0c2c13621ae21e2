"""forward's pieces on their own: reply matching, EDNS mirroring, policies, the connection pool."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from typing import Any, cast

import dnslib
import pytest

from pycoredns import wire
from pycoredns.dns import is_subdomain
from pycoredns.plugins.forward.connections import (
    BATCH,
    TICK,
    Conn,
    NetError,
    ReadTimeout,
    Timeouts,
    Told,
    UDPConn,
    answers,
    for_pending,
    new_id,
    overflow_reply,
)
from pycoredns.plugins.forward.handler import client_reply, mirror_opt
from pycoredns.plugins.forward.metrics import COUNTERS
from pycoredns.plugins.forward.policy import RandomPolicy, RoundRobinPolicy, SequentialPolicy
from pycoredns.plugins.forward.proxy import CUT_BATCH, Proxy
from pycoredns.testing import make_request


def _pending(name: str, qtype: str, qid: int) -> tuple[bytes, bytes, int]:
    """What a connection matches a reply against: (ID, question key, name length)."""
    req = make_request(name, qtype)
    return struct.pack(">H", qid), req.key, req.q.name_end - 12


def _reply(name: str, qtype: str, qid: int, qr: bool = True) -> bytes:
    q = dnslib.DNSRecord.question(name, qtype)
    q.header.id = qid
    r = q.reply() if qr else q
    return bytes(r.pack())


def _answers(data: bytes, name: str, qtype: str) -> bool:
    req = make_request(name, qtype)
    return answers(data, req.key, req.q.name_end - 12)


@pytest.mark.parametrize(
    ("reply_name", "reply_type", "reply_id", "taken", "ok"),
    [
        pytest.param("example.org", "A", 7, True, True, id="same"),
        pytest.param("EXAMPLE.org", "A", 7, True, True, id="name-case-differs"),
        pytest.param("example.org", "A", 8, False, True, id="other-id"),
        pytest.param("example.net", "A", 7, True, False, id="other-name"),
        pytest.param("example.org", "AAAA", 7, True, False, id="other-type"),
    ],
)
def test_a_reply_is_taken_by_its_id_and_must_answer_the_question(
    reply_name: str, reply_type: str, reply_id: int, taken: bool, ok: bool
) -> None:
    # The connection takes the first message with the query's ID (miekg/dns's client); the
    # handler then checks the question (CoreDNS's request.Match: FORMERR when it fails).
    data = _reply(reply_name, reply_type, reply_id)
    assert for_pending(data, _pending("Example.Org", "A", 7)[0]) is taken
    assert _answers(data, "Example.Org", "A") is ok


def test_answers_compares_type_bytes_exactly() -> None:
    # HTTPS is type 65 = b"\x00A": lower-casing it would turn it into type 97.
    data = _reply("example.org", "HTTPS", 1)
    assert _answers(data, "example.org", "HTTPS")
    assert data[-4:-2] == b"\x00A"
    assert not _answers(data[:-4] + b"\x00a" + data[-2:], "example.org", "HTTPS")


def test_query_ids_are_random_two_octet_strings() -> None:
    ids = [new_id() for _ in range(5000)]  # more than one draw from the kernel
    assert all(type(i) is bytes and len(i) == 2 for i in ids)
    assert len(set(ids)) > 3000  # 5000 draws from 65536 values: a few hundred repeats at most


def test_a_reply_needs_a_header_one_question_and_the_response_bit() -> None:
    p = _pending("example.org", "A", 7)
    data = _reply("example.org", "A", 7)
    assert not for_pending(data[:11], p[0])
    assert not _answers(data[:4] + b"\x00\x00" + data[6:], "example.org", "A")
    assert not _answers(_reply("example.org", "A", 7, qr=False), "example.org", "A")


def test_overflow_reply_keeps_header_and_question_with_tc() -> None:
    q = dnslib.DNSRecord.question("big.example.org")
    r = q.reply()
    r.add_answer(dnslib.RR("big.example.org", rdata=dnslib.A("192.0.2.1")))
    data = bytes(r.pack())
    qlen = len(make_request("big.example.org").key)
    out = dnslib.DNSRecord.parse(overflow_reply(data, qlen))
    assert out.header.tc == 1 and out.rr == [] and str(out.q.qname) == "big.example.org."
    assert out.header.id == r.header.id


def test_mirror_opt_patches_size_and_do() -> None:
    r = dnslib.DNSRecord.question("example.org").reply()
    r.add_answer(dnslib.RR("example.org", rdata=dnslib.A("192.0.2.1")))
    r.add_ar(dnslib.EDNS0(udp_len=4096, flags="do", ext_rcode=1))
    out = dnslib.DNSRecord.parse(mirror_opt(bytes(r.pack()), 1232, False))
    opt = [rr for rr in out.ar if rr.rtype == dnslib.QTYPE.OPT]
    assert len(opt) == 1 and opt[0].rclass == 1232
    assert opt[0].ttl == 0x8000  # ext rcode and version cleared, upstream's DO kept (CoreDNS's mask)
    out = dnslib.DNSRecord.parse(mirror_opt(bytes(r.pack()), 1400, True))
    assert [rr.rclass for rr in out.ar] == [1400]


def test_mirror_opt_adds_one_when_upstream_sent_none() -> None:
    r = dnslib.DNSRecord.question("example.org").reply()
    out = dnslib.DNSRecord.parse(mirror_opt(bytes(r.pack()), 1232, True))
    assert [(rr.rtype, rr.rclass, rr.ttl) for rr in out.ar] == [(dnslib.QTYPE.OPT, 1232, 0x8000)]


def test_mirror_opt_leaves_garbage_alone() -> None:
    data = b"\x00\x01\x81\x80\x00\x01\x00\x05\x00\x00\x00\x00\x03abc"
    assert mirror_opt(data, 1232, False) == data


def test_client_reply_restores_the_client_id() -> None:
    req = make_request("example.org")
    reply = struct.pack(">H", (req.id + 1) & 0xFFFF) + _reply("example.org", "A", 0)[2:]
    assert client_reply(req, reply)[:2] == req.wire[:2]


def test_is_subdomain() -> None:
    assert is_subdomain(".", "a.b.")
    assert is_subdomain("example.org.", "example.org.")
    assert is_subdomain("example.org.", "www.example.org.")
    assert not is_subdomain("example.org.", "badexample.org.")


def test_policies() -> None:
    items = ["a", "b", "c"]
    assert SequentialPolicy().order(items) == items
    rr = RoundRobinPolicy()
    assert [list(rr.order(items)) for _ in range(3)] == [["b", "a", "c"], ["c", "a", "b"], ["a", "b", "c"]]
    rnd = RandomPolicy()
    seen = {tuple(rnd.order(items)) for _ in range(200)}
    assert all(sorted(s) == items for s in seen) and len(seen) > 1
    assert {tuple(rnd.order(["a", "b"])) for _ in range(100)} == {("a", "b"), ("b", "a")}


def test_pool_takes_oldest_first_and_drops_expired() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        p = Proxy("127.0.0.1", 9, expire=10.0)
        first, second = p.dial_udp(loop), p.dial_udp(loop)
        p.give_back(first)
        p.give_back(second)
        assert p.take_idle("udp") is first  # FIFO: source ports rotate
        p.give_back(first)
        second.used = time.monotonic() - 11  # idle longer than expire
        assert p.take_idle("udp") is first
        assert p.take_idle("udp") is None and second.closed
        p.stop()
        assert first.closed is False  # in use: not the pool's to close
        first.close()

    asyncio.run(main())


def _conn_cache_samples(to: str) -> dict[tuple[str, str], float]:
    """coredns_proxy_conn_cache_{hits,misses} of upstream ``to`` as scraped, by (family, proto)."""
    got = {}
    for fam in COUNTERS.collect():
        if fam.name.startswith("coredns_proxy_conn_cache_"):
            for sample in fam.samples:
                if sample.labels["to"] == to:
                    got[(fam.name, sample.labels["proto"])] = sample.value
    return got


def test_conn_cache_series_show_once_counted() -> None:
    # As CoreDNS's counters: a series is there from its first count on, never at 0 before it.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        p = Proxy("192.0.2.77", 5300)
        assert _conn_cache_samples(p.to) == {}
        assert p.take_idle("udp") is None
        assert _conn_cache_samples(p.to) == {("coredns_proxy_conn_cache_misses", "udp"): 1}
        udp = p.dial_udp(loop)
        p.give_back(udp)
        assert p.take_idle("udp") is udp and p.take_idle("tcp") is None
        udp.close()
        assert _conn_cache_samples(p.to) == {
            ("coredns_proxy_conn_cache_misses", "udp"): 1,
            ("coredns_proxy_conn_cache_hits", "udp"): 1,
            ("coredns_proxy_conn_cache_misses", "tcp"): 1,
        }
        again = Proxy("192.0.2.77", 5300)  # a reload: the same upstream counts on
        assert again.take_idle("udp") is None
        assert _conn_cache_samples(p.to)[("coredns_proxy_conn_cache_misses", "udp")] == 2
        p.stop()
        again.stop()

    asyncio.run(main())


def test_pool_max_age_max_idle_and_sweep() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        p = Proxy("127.0.0.1", 9, expire=30.0, max_age=60.0, max_idle_conns=1)
        a, b = p.dial_udp(loop), p.dial_udp(loop)
        p.give_back(a)
        p.give_back(b)  # pool full: closed
        assert b.closed and p.idle_count("udp") == 1
        a.created = time.monotonic() - 61
        p.sweep()
        assert a.closed and p.idle_count("udp") == 0
        c = p.dial_udp(loop)
        p.give_back(c)
        c.used = time.monotonic() - 31
        p.sweep()
        assert c.closed
        p.stop()

    asyncio.run(main())


def test_a_udp_socket_that_timed_out_is_pooled_and_one_that_failed_is_closed() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # takes queries, never answers
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        p = Proxy("127.0.0.1", port, expire=10.0)
        conn = p.dial_udp(loop)
        done: asyncio.Future[BaseException | None] = loop.create_future()
        req = make_request("example.org")
        now = time.monotonic()
        conn.send(req.wire, len(req.key), now, now + 0.05, 512, Told(lambda r, e: done.set_result(e)), False)
        err = await asyncio.wait_for(done, 10)
        assert isinstance(err, ReadTimeout) and "i/o timeout" in str(err)
        p.give_up(conn, err)
        assert not conn.closed and p.take_idle("udp") is conn  # the next attempt reuses it
        p.give_up(conn, NetError("read udp: connection refused"))
        assert conn.closed and p.idle_count("udp") == 0
        p.stop()
        silent.close()

    asyncio.run(main())


class _Due:
    """A connection stand-in for Timeouts: records ``label`` when its exchange times out."""

    def __init__(self, fired: list[Any], label: object) -> None:
        self.fired = fired
        self.label = label

    def time_out(self, now: float) -> None:
        self.fired.append(self.label)


def _due(fired: list[Any], label: object) -> Conn:
    return cast(Conn, _Due(fired, label))


def test_a_tick_times_out_a_batch_and_leaves_the_rest_to_the_next_turns() -> None:
    """Thousands of timeouts due together (an outage) are handled a batch per turn of the loop,
    the loop reading its sockets between batches; each still fires, in order of due time."""
    fired: list[int] = []
    per_tick: list[int] = []

    class Counted(Timeouts):
        def _tick(self) -> None:
            before = len(fired)
            super()._tick()
            per_tick.append(len(fired) - before)

    async def main() -> None:
        timeouts = Counted(asyncio.get_running_loop())
        base = time.monotonic()
        for n in range(3 * BATCH):
            timeouts.watch(_due(fired, n), base + n * 1e-6)
        for _ in range(100):
            if len(fired) == 3 * BATCH:
                break
            await asyncio.sleep(TICK)
        timeouts.stop()

    asyncio.run(main())
    assert [n for n in per_tick if n] == [BATCH, BATCH, BATCH]
    assert fired == sorted(fired) and len(fired) == 3 * BATCH


def test_the_tick_sleeps_until_an_entry_is_due() -> None:
    """With nothing due for a while the ticker does not run (it ran every TICK: under load an
    entry is always queued, and each tick woke the idle server); an entry that comes out of
    order, due sooner, is timed out in time all the same."""
    fired: list[str] = []
    ticks: list[float] = []

    class Counted(Timeouts):
        def _tick(self) -> None:
            ticks.append(time.monotonic())
            super()._tick()

    async def main() -> None:
        timeouts = Counted(asyncio.get_running_loop())
        timeouts.watch(_due(fired, "later"), time.monotonic() + 60)
        await asyncio.sleep(10 * TICK)
        assert ticks == []  # nothing due: no tick
        timeouts.watch(_due(fired, "sooner"), time.monotonic() + TICK)  # before "later": the heap
        for _ in range(100):
            if fired:
                break
            await asyncio.sleep(TICK)
        assert fired == ["sooner"]
        timeouts.stop()

    asyncio.run(main())


def test_a_tick_that_asks_again_leaves_the_timer_on_the_earliest_entry() -> None:
    """A timeout asked again from inside the tick queues its next attempt, due later than what
    is still queued: the ticker still runs for the earliest entry, not for that attempt's."""
    fired: list[str] = []

    async def main() -> None:
        timeouts = Timeouts(asyncio.get_running_loop())

        class Retrying:
            def time_out(self, now: float) -> None:
                fired.append("first")
                timeouts.watch(_due(fired, "due"), time.monotonic() + 60)  # the next attempt

        now = time.monotonic()
        timeouts.watch(cast(Conn, Retrying()), now + TICK)
        timeouts.watch(_due(fired, "due"), now + 3 * TICK)
        for _ in range(100):
            if len(fired) == 2:
                break
            await asyncio.sleep(TICK)
        assert fired == ["first", "due"]
        timeouts.stop()

    asyncio.run(main())


def test_the_upstream_back_ends_what_it_never_answered_in_batches_once() -> None:
    """When an upstream that failed its checks answers again, the exchanges sent to it before are
    ended at once rather than waited out, a batch per turn of the loop (thousands after an
    outage), and only once: later replies before a check passes cut nothing more."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        p = Proxy("127.0.0.1", silent.getsockname()[1])
        req = make_request("example.org")
        errors: list[BaseException | None] = []

        def send_some(n: int) -> None:
            for _ in range(n):
                now = time.monotonic()
                p.dial_udp(loop).send(req.wire, len(req.key), now, now + 30.0, 512,
                                      Told(lambda r, e: errors.append(e)), False)

        send_some(3 * CUT_BATCH)
        p.fails, p._unanswered = 3, True  # as after failed checks
        p.back(time.monotonic())
        assert len(errors) == CUT_BATCH  # the first batch now, the rest on the next turns
        for _ in range(10):
            await asyncio.sleep(0)
        assert len(errors) == 3 * CUT_BATCH
        assert all("sent while the upstream did not answer" in str(e) for e in errors)
        send_some(5)
        p.back(time.monotonic())  # no check failed since the cut: the new ones stay in flight
        await asyncio.sleep(0.01)
        assert len(errors) == 3 * CUT_BATCH
        assert sum(1 for _ in p.timeouts(loop).in_flight()) == 5
        p.stop()
        silent.close()

    asyncio.run(main())


def test_udp_conn_reports_connection_refused() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        free = UDPConn.dial(loop, "127.0.0.1:1", ("127.0.0.1", 1), None)  # nothing listens on port 1
        done: asyncio.Future[tuple[bytes | None, BaseException | None]] = loop.create_future()
        req = make_request("example.org")
        now = time.monotonic()
        free.send(req.wire, len(req.key), now, now + 2.0, 512, Told(lambda r, e: done.set_result((r, e))), False)
        reply, err = await asyncio.wait_for(done, 10)
        assert reply is None and "connection refused" in str(err)
        free.close()

    asyncio.run(main())


def test_mirror_opt_leaves_a_reply_with_trailing_bytes_alone() -> None:
    # Found by benchmarks/reliability/fuzz.py: an OPT added after bytes past the last record
    # (which unpacking ignores) was read from those bytes; one added before them would move what
    # a forward pointer reaches there (the second case).
    reply = bytes(dnslib.DNSRecord.question("example.org").reply().pack()) + b"\x00\x00\x00\x07example\x03"
    assert mirror_opt(reply, 1232, True) == reply
    assert wire.check_reply(reply) == reply
    data = b"\x00\x01\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00" + b"\xc0\x12\x00\x01\x00\x01" + b"\x03www\x00"
    assert mirror_opt(data, 1232, True) == data


def test_timeouts_keep_one_ticker_when_a_timeout_asks_again() -> None:
    # A timed-out exchange's next attempt is sent from inside the tick, which arms the timer:
    # the tick must not arm a second one (each tick then doubled the tickers: in an upstream
    # outage the loop did nothing else and cached answers waited seconds).
    async def main() -> int:
        loop = asyncio.get_running_loop()
        timeouts = Timeouts(loop)
        ticks = 0

        class Retrying:
            def time_out(self, now: float) -> None:
                nonlocal ticks
                ticks += 1
                timeouts.watch(cast(Conn, self), time.monotonic() + 0.001)  # the next attempt

        timeouts.watch(cast(Conn, Retrying()), time.monotonic() + 0.001)
        await asyncio.sleep(0.1)
        timeouts.stop()
        return ticks

    assert asyncio.run(main()) <= 0.1 / TICK + 5


class _Transport:
    """What a StreamConn writes to, kept."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


@pytest.mark.parametrize("chunk", [0, 1, 2, 3, 13, 1000], ids=lambda n: f"chunks-of-{n}" if n else "frame-by-frame")
def test_a_stream_reads_every_frame_however_the_bytes_come(chunk: int) -> None:
    # Replies in any order, split anywhere or several in one read: each reaches its own query by
    # ID, once; a message shorter than a header and one with an unknown ID are dropped, counted.
    from pycoredns.plugins.forward.connections import StreamConn

    loop = asyncio.new_event_loop()
    try:
        conn = StreamConn(loop, "127.0.0.1:53", "tcp", Timeouts(loop))
        transport = _Transport()
        conn.connection_made(transport)  # type: ignore[arg-type]
        got: dict[str, list[tuple[bytes | None, BaseException | None]]] = {}
        now = time.monotonic()
        for name in ("a.example.org", "b.example.org", "c.example.org"):
            req = make_request(name, "A")
            conn.send(req.wire, len(req.key), now, now + 2.0, 65535,
                      Told(lambda r, e, name=name: got.setdefault(name, []).append((r, e))), False)
        ids = [w[2:4] for w in transport.written]
        assert len(set(ids)) == 3
        other = next(i for i in (b"\xff\xff", b"\xff\xfe", b"\xff\xfd") if i not in ids)
        frames = [
            b"short",  # shorter than a header: dropped
            other + _reply("b.example.org", "A", 1)[2:],  # no query has its ID: dropped
            ids[2] + _reply("c.example.org", "A", 1)[2:],
            ids[0] + _reply("a.example.org", "A", 1)[2:],
            ids[1] + _reply("b.example.org", "A", 1)[2:],
        ]
        stream = b"".join(struct.pack(">H", len(f)) + f for f in frames)
        dropped = COUNTERS.dropped_replies.get(("127.0.0.1:53", "tcp"), 0)
        if chunk:
            for i in range(0, len(stream), chunk):
                conn.data_received(stream[i : i + chunk])
        else:  # each read one whole message (the usual case, read without the general loop)
            for f in frames:
                conn.data_received(struct.pack(">H", len(f)) + f)
        assert got == {"c.example.org": [(frames[2], None)], "a.example.org": [(frames[3], None)],
                       "b.example.org": [(frames[4], None)]}
        assert not conn.pending and conn.buf == b""
        assert COUNTERS.dropped_replies.get(("127.0.0.1:53", "tcp"), 0) == dropped + 2
    finally:
        loop.close()


def test_a_reused_connection_queues_one_timeout_entry_and_still_times_out_its_later_queries() -> None:
    # A query due no earlier than an entry the connection has queued adds none of its own; when
    # the tick takes that entry, the query still in flight is queued again and times out.
    from pycoredns.plugins.forward.connections import StreamConn

    async def main() -> None:
        loop = asyncio.get_running_loop()
        upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        upstream.bind(("127.0.0.1", 0))
        upstream.setblocking(False)
        p = Proxy("127.0.0.1", upstream.getsockname()[1])
        timeouts = p.timeouts(loop)
        udp = p.dial_udp(loop)
        stream = StreamConn(loop, "127.0.0.1:53", "tcp", timeouts)
        transport = _Transport()
        stream.connection_made(transport)  # type: ignore[arg-type]
        got: dict[str, asyncio.Future[tuple[bytes | None, BaseException | None]]] = {
            k: loop.create_future() for k in ("udp1", "udp2", "tcp1", "tcp2")}

        def done(k: str) -> Told:
            return Told(lambda r, e: got[k].set_result((r, e)))

        req = make_request("example.org")
        now = time.monotonic()
        udp.send(req.wire, len(req.key), now, now + 0.05, 512, done("udp1"), False)
        stream.send(req.wire, len(req.key), now, now + 0.05, 65535, done("tcp1"), False)
        entries = len(timeouts.queue) + len(timeouts.late)
        assert entries == 2
        query = await loop.sock_recv(upstream, 512)  # the first UDP query, answered
        await loop.sock_sendto(upstream, _reply("example.org", "A", struct.unpack(">H", query[:2])[0]),
                               udp.sock.getsockname())
        assert (await asyncio.wait_for(got["udp1"], 5))[1] is None
        reply = transport.written[0][2:4] + _reply("example.org", "A", 1)[2:]
        stream.data_received(struct.pack(">H", len(reply)) + reply)
        assert (await got["tcp1"])[1] is None
        # The same connections again, due later: covered by the entries queued, none added.
        now = time.monotonic()
        udp.send(req.wire, len(req.key), now, now + 0.3, 512, done("udp2"), False)
        stream.send(req.wire, len(req.key), now, now + 0.3, 65535, done("tcp2"), False)
        assert len(timeouts.queue) + len(timeouts.late) == entries
        for k in ("udp2", "tcp2"):
            r, e = await asyncio.wait_for(got[k], 5)
            assert r is None and isinstance(e, ReadTimeout)
        p.stop()
        timeouts.stop()
        upstream.close()

    asyncio.run(main())
