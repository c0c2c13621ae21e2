"""The reuseport steering on real loopback sockets: the name-hash program, and leaving a group.

Several UDP sockets bound to one loopback address and port make a reuseport group, as the
workers' do; datagrams sent each from a new source port show which socket the kernel picked.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator

import dnslib
import pytest

from pycoredns.server import steering


def group(n: int) -> tuple[int, list[socket.socket]]:
    """``n`` sockets in one reuseport group on 127.0.0.1 (a port free for all of them)."""
    for _ in range(20):
        socks: list[socket.socket] = []
        port = 0
        try:
            for _ in range(n):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                s.bind(("127.0.0.1", port))
                port = s.getsockname()[1]
                s.setblocking(False)
        except OSError:
            for s in socks:
                s.close()
            continue
        return port, socks
    raise OSError("no port for a reuseport group")


@pytest.fixture
def make_group() -> Iterator[object]:
    made: list[socket.socket] = []

    def make(n: int) -> tuple[int, list[socket.socket]]:
        port, socks = group(n)
        made.extend(socks)
        return port, socks

    yield make
    for s in made:
        s.close()


def send(port: int, payload: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:  # a new source port each time
        c.sendto(payload, ("127.0.0.1", port))


def receivers(socks: list[socket.socket], settle: float = 0.02) -> list[int]:
    """Which sockets got datagrams since the last call (indices into ``socks``), one per datagram."""
    time.sleep(settle)
    got = []
    for i, s in enumerate(socks):
        while True:
            try:
                s.recv(4096)
            except BlockingIOError:
                break
            got.append(i)
    return got


def query(name: str, qtype: str = "A", edns: bool = False) -> bytes:
    q = dnslib.DNSRecord.question(name, qtype)
    if edns:
        q.add_ar(dnslib.EDNS0(udp_len=1232))
    return q.pack()


def wire_name(name: str) -> bytes:
    return dnslib.DNSRecord.question(name).pack()[12:]


def mixed(name: str) -> str:
    return "".join(c.upper() if random.random() < 0.5 else c.lower() for c in name)


def test_name_hash_reads_at_most_24_bytes_and_stops_at_the_root() -> None:
    assert steering.name_hash(b"\x00") == 0
    assert steering.name_hash(wire_name("Example.ORG")) == steering.name_hash(wire_name("example.org"))
    # Only the first 24 bytes count: these two differ after them.
    a, b = wire_name("a" * 30 + ".example.org"), wire_name("a" * 30 + ".example.net")
    assert steering.name_hash(a) == steering.name_hash(b)
    assert steering.name_hash(wire_name("x.example.org")) != steering.name_hash(wire_name("y.example.org"))


def test_program_is_unrolled_and_its_jumps_fit() -> None:
    prog = steering.name_hash_program(4)
    assert len(prog) == 2 + 10 * steering.NAME_BYTES + 3 < 4096
    assert all(0 <= jt <= 255 and 0 <= jf <= 255 for _, jt, jf, _ in prog)
    with pytest.raises(ValueError):
        steering.name_hash_program(0)


def test_each_name_stays_on_one_socket_whatever_case_port_type_or_edns(make_group) -> None:  # type: ignore[no-untyped-def]
    port, socks = make_group(3)
    steering.attach(socks[0], steering.name_hash_program(3))
    names = [f"host{i}.example.org" for i in range(150)]
    per_socket = [0, 0, 0]
    for name in names:
        for k in range(4):
            send(port, query(mixed(name), ("A", "AAAA", "TXT", "A")[k], edns=k % 2 == 1))
        got = receivers(socks, settle=0.005)
        assert len(got) == 4 and set(got) == {steering.worker_of(wire_name(name), 3)}, name
        per_socket[got[0]] += 1
    assert min(per_socket) > 25, per_socket  # each socket gets a share (150 names, 3 sockets)


def test_short_and_malformed_datagrams_are_delivered(make_group) -> None:  # type: ignore[no-untyped-def]
    port, socks = make_group(2)
    steering.attach(socks[1], steering.name_hash_program(2))
    for payload in (b"", b"\x00\x01", b"\x12" * 12, b"\x12" * 12 + b"\x3f" + b"a" * 5):
        send(port, payload)
    assert len(receivers(socks)) == 4


def test_an_index_past_the_group_falls_back_to_the_kernel(make_group) -> None:  # type: ignore[no-untyped-def]
    port, socks = make_group(2)
    steering.attach(socks[0], steering.name_hash_program(5))  # more workers than sockets
    for i in range(60):
        send(port, query(f"n{i}.example.org"))
    assert len(receivers(socks)) == 60


def test_a_connected_socket_gets_nothing_new(make_group) -> None:  # type: ignore[no-untyped-def]
    port, socks = make_group(3)
    for i in range(60):
        send(port, query(f"before{i}.example.org"))
    assert len(set(receivers(socks))) > 1  # the kernel's hash spreads them
    # Leaving: detach the program first (a connected socket cannot), then connect.
    steering.attach(socks[0], steering.name_hash_program(3))
    steering.detach(socks[0])
    steering.detach(socks[0])  # none attached: fine
    steering.leave(socks[0])
    for i in range(60):
        send(port, query(f"after{i}.example.org"))
    got = receivers(socks)
    assert len(got) == 60 and 0 not in got
    # Even a program that picks the connected socket is overruled by the kernel.
    steering.attach(socks[1], [(0x06, 0, 0, 0)])  # ret #0: always index 0, the connected one
    for i in range(30):
        send(port, query(f"forced{i}.example.org"))
    got = receivers(socks)
    assert len(got) == 30 and 0 not in got


def test_what_is_queued_stays_readable_after_leaving(make_group) -> None:  # type: ignore[no-untyped-def]
    port, socks = make_group(2)
    steering.attach(socks[0], [(0x06, 0, 0, 0)])  # everything to socket 0
    for i in range(5):
        send(port, query(f"q{i}.example.org"))
    time.sleep(0.02)
    assert steering.pending_bytes(socks[0]) > 0
    steering.detach(socks[0])
    steering.leave(socks[0])
    assert receivers(socks[:1]) == [0] * 5  # queued before the switch: still there to answer
    assert steering.pending_bytes(socks[0]) == 0


def test_steering_attaches_only_with_workers(make_group) -> None:  # type: ignore[no-untyped-def]
    port, socks = make_group(2)
    steering.Steering(1).opened(socks[0])  # one worker: no program, the kernel's hash
    steering.Steering(2, active=False).opened(socks[0])  # not alone: leaves the group's program
    for i in range(60):
        send(port, query(f"k{i}.example.org"))
    assert set(receivers(socks)) == {0, 1}
    s = steering.Steering(2, active=False)
    s.activate(socks[:1])
    for name in ("a.example.org", "b.example.org", "c.example.org"):
        for _ in range(3):
            send(port, query(mixed(name)))
        assert set(receivers(socks)) == {steering.worker_of(wire_name(name), 2)}
