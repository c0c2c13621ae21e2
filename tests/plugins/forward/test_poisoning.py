"""A cache-poisoning attempt on loopback: while forward waits for the upstream's answer, forged
answers race it, sent from the upstream's own address and port (a raw socket) to the very port
forward's query left from, one for each guess of the query's ID.

CoreDNS's forward reads past replies with another ID until the right one comes, so a flood of
every ID lands a forgery whenever it beats the real answer. Here, a few replies with another ID
end the UDP exchange and the query is asked again over TCP, so the forgery never lands: neither
in the client's answer nor in the cache.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import threading
import time

import dnslib
import pytest

from pycoredns.testing import DNSClient
from pycoredns.testing.fixtures import ServerFactory, UpstreamFactory
from pycoredns.testing.logs import CapturedLog

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: a raw socket forges the source address")

REAL, FORGED = "192.0.2.1", "203.0.113.66"
LATE = 4.0


def _headers(src: tuple[str, int], dst: tuple[str, int], size: int) -> bytes:
    """IPv4 header (the kernel fills the checksum and ID) + UDP header (checksum 0: none) for a
    payload of ``size`` octets."""
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + 8 + size, 0, 0, 64, socket.IPPROTO_UDP, 0,
                     socket.inet_aton(src[0]), socket.inet_aton(dst[0]))
    return ip + struct.pack(">HHHH", src[1], dst[1], 8 + size, 0)


def _forgeries(name: str) -> list[bytes]:
    forged = dnslib.DNSRecord.question(name, "A").reply()
    forged.add_answer(dnslib.RR(name, dnslib.QTYPE.A, rdata=dnslib.A(FORGED), ttl=3600))
    body = bytes(forged.pack())[2:]
    ids = list(range(1 << 16))
    random.shuffle(ids)
    return [struct.pack(">H", i) + body for i in ids]


def test_guessed_ids_racing_the_answer_never_land(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient, coredns_log: CapturedLog
) -> None:
    # The real answer comes 4 s late (forward waits 4.5 s for it): the race is wide open.
    up = fake_upstream(late_by=LATE)
    up.script("late")
    dns_server(f".:0 {{\n cache\n forward . {up.address} {{\n read_timeout 4500ms\n }}\n}}\n")
    name = "victim.example.org"
    forgeries = _forgeries(name)
    result: dict[str, dnslib.DNSRecord] = {}
    asking = threading.Thread(target=lambda: result.update(r=dns_client.query(name, "A", timeout=8)))
    asking.start()
    deadline = time.monotonic() + 5
    while not up.sources and time.monotonic() < deadline:
        time.sleep(0.005)
    assert up.sources, "the query never reached the upstream"
    started = time.monotonic()
    victim = up.sources[0]  # forward's socket: the attacker knows its port (the worst case)
    head = _headers(("127.0.0.1", up.port), victim, len(forgeries[0]))
    packets = [head + f for f in forgeries]
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
        to = (victim[0], 0)
        for packet in packets:
            try:
                raw.sendto(packet, to)
            except OSError:
                continue
            sent += 1
            if sent % 128 == 0:
                time.sleep(0.002)  # paced, so the socket's queue takes them all (an unpaced flood
                # overflows it and may lose the lucky guess: a weaker attack)
        took = time.monotonic() - started
    assert took < LATE, f"the forgeries took {took:.2f} s: the real answer may have come first"
    asking.join(10)
    assert sent > 60000
    answer = result["r"]
    assert answer.header.rcode == 0 and [str(rr.rdata) for rr in answer.rr] == [REAL]
    cached = dns_client.query(name, "A")
    assert [str(rr.rdata) for rr in cached.rr] == [REAL]
    # The UDP exchange was abandoned and the query asked again over TCP.
    assert [p for p, _ in up.queries] == ["udp", "tcp"]
    assert "Possible spoofing of replies from" in coredns_log.text
