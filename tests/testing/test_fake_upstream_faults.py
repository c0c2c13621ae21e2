"""The kit's FakeUpstream misbehaving on demand, seen from a plain client: what each fault sends."""

from __future__ import annotations

import socket
import struct
import time

import dnslib
import pytest

from pycoredns.testing import FakeUpstream
from pycoredns.testing.fixtures import UpstreamFactory
from pycoredns.testing.upstream import FAULTS, WRONG_NAME


def _ask(up: FakeUpstream, name: str = "q.example.org", proto: str = "udp",
         timeout: float = 1.0) -> tuple[bytes | None, tuple[str, int] | None, bytes]:
    """(reply or None, the address it came from, the query sent)."""
    query = dnslib.DNSRecord.question(name, "A").pack()
    if proto == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(query, ("127.0.0.1", up.port))
            try:
                data, addr = s.recvfrom(65535)
            except TimeoutError:
                return None, None, query
            return data, addr, query
    with socket.create_connection(("127.0.0.1", up.port), timeout=timeout) as s:
        s.sendall(struct.pack(">H", len(query)) + query)
        head = s.recv(2)  # a reset raises ConnectionResetError
        if len(head) < 2:
            return None, None, query
        return s.recv(65535), None, query


def test_no_fault_answers_and_records(fake_upstream: UpstreamFactory) -> None:
    up = fake_upstream()
    data, addr, query = _ask(up)
    assert data is not None and data[:2] == query[:2] and addr == ("127.0.0.1", up.port)
    assert up.faults == [None] and up.sources[0][0] == "127.0.0.1"


def test_script_then_always(fake_upstream: UpstreamFactory) -> None:
    up = fake_upstream()
    up.script("servfail", "refused").always("timeout")
    rcodes = []
    for _ in range(3):
        data, _, _ = _ask(up, timeout=0.5)
        rcodes.append(None if data is None else data[3] & 0xF)
    assert rcodes == [2, 5, None] and up.faults == ["servfail", "refused", "timeout"]
    up.always(None)
    assert _ask(up)[0] is not None
    with pytest.raises(ValueError, match="unknown fault"):
        up.script("nope")


def test_each_udp_fault(fake_upstream: UpstreamFactory) -> None:
    up = fake_upstream(late_by=0.3)
    assert set(FAULTS) == {"timeout", "servfail", "refused", "late", "reset", "truncate", "wrong_question",
                           "other_source", "garbage"}
    up.script("late")
    start = time.monotonic()
    data, _, _ = _ask(up)
    assert data is not None and time.monotonic() - start >= 0.25
    up.script("truncate")
    data, _, _ = _ask(up)
    assert data is not None and dnslib.DNSRecord.parse(data).header.tc == 1
    up.script("wrong_question")
    data, _, query = _ask(up)
    assert data is not None and data[:2] == query[:2] and str(dnslib.DNSRecord.parse(data).q.qname) == WRONG_NAME
    up.script("other_source")
    data, addr, _ = _ask(up)
    assert data is not None and addr is not None and addr[1] != up.port
    up.script("garbage")
    data, _, query = _ask(up)
    assert data is not None and data[:2] == query[:2]
    up.script("reset")
    assert _ask(up, timeout=0.3)[0] is None  # UDP: nothing


def test_tcp_reset_and_truncate(fake_upstream: UpstreamFactory) -> None:
    up = fake_upstream()
    up.script("reset")
    with pytest.raises(ConnectionResetError):
        _ask(up, proto="tcp")
    up.script("truncate")
    data, _, _ = _ask(up, proto="tcp")
    assert data is not None and dnslib.DNSRecord.parse(data).header.tc == 0  # TCP: the whole answer
