"""forward against an upstream that misbehaves, one fault at a time (the kit's FakeUpstream, scripted
per query): each gives CoreDNS's outcome within its deadline, and nothing wrong enters the cache.

CoreDNS's rules, from its forward plugin and miekg/dns's client: a failed attempt (no reply within
read_timeout, a reset, a reply with the query's ID that does not unpack) is retried, two attempts
per upstream within 5 s, then SERVFAIL, which is not cached; an upstream's SERVFAIL is passed on
and cached for the cache's ``servfail`` duration (5 s), its REFUSED passed on and not cached; a
truncated UDP reply is passed on (the client retries over TCP) unless ``prefer_udp``; a reply
with the query's ID and another question is answered FORMERR; replies from another address or
port never reach the connected socket.

Each case: a fresh server (``cache`` in front of ``forward``, one upstream, no health checks so
that the script is the upstream's only traffic), one query, then the same query again to see
what the cache kept.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import dnslib
import pytest

from pycoredns.testing import DNSClient
from pycoredns.testing.fixtures import ServerFactory, UpstreamFactory

READ_TIMEOUT = 0.5  # what an attempt without a reply costs
SLOW_READ = 3.0  # for the faults that must fail an attempt at once, not wait it out
DEADLINE = 5.0  # forward's, for the whole query
RIGHT = "192.0.2.1"


@dataclass(frozen=True)
class Case:
    script: tuple[str, ...]  # the upstream's faults for the first queries
    always: str | None  # and for every later one
    options: str  # forward's
    rcode: int  # what the client gets
    answer: bool  # with the right answer
    asked: int  # upstream queries for the first client query
    waited: bool  # at least one attempt waited its read_timeout out
    second_asks: bool  # the second query goes upstream again (nothing cached), else the cache answers
    second_rcode: int = 0


NOERROR, FORMERR, SERVFAIL, REFUSED = 0, 1, 2, 5
FAST = f"max_fails 0\n read_timeout {SLOW_READ:g}s"
TIMED = f"max_fails 0\n read_timeout {int(READ_TIMEOUT * 1000)}ms"

CASES = {
    "timeout-every-time": Case((), "timeout", TIMED, SERVFAIL, False, 2, True, True, SERVFAIL),
    "timeout-once": Case(("timeout",), None, TIMED, NOERROR, True, 2, True, False),
    "servfail": Case(("servfail",), None, FAST, SERVFAIL, False, 1, False, False, SERVFAIL),
    "refused": Case(("refused",), None, FAST, REFUSED, False, 1, False, True),
    "late-once": Case(("late",), None, TIMED, NOERROR, True, 2, True, False),
    "late-every-time": Case((), "late", TIMED, SERVFAIL, False, 2, True, True, SERVFAIL),
    "tcp-reset-once": Case(("reset",), None, FAST + "\n force_tcp", NOERROR, True, 2, False, False),
    "tcp-reset-every-time": Case((), "reset", FAST + "\n force_tcp", SERVFAIL, False, 2, False, True, SERVFAIL),
    "truncated": Case(("truncate",), None, FAST, NOERROR, False, 1, False, True),
    "truncated-prefer-udp": Case(("truncate",), None, FAST + "\n prefer_udp", NOERROR, True, 2, False, False),
    "wrong-question": Case(("wrong_question",), None, FAST, FORMERR, False, 1, False, True),
    "other-source-once": Case(("other_source",), None, TIMED, NOERROR, True, 2, True, False),
    "garbage-once": Case(("garbage",), None, FAST, NOERROR, True, 2, False, False),
    "garbage-every-time": Case((), "garbage", FAST, SERVFAIL, False, 2, False, True, SERVFAIL),
}


@pytest.mark.parametrize("name", list(CASES))
def test_fault(fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient, name: str) -> None:
    case = CASES[name]
    up = fake_upstream(late_by=READ_TIMEOUT * 2)
    up.script(*case.script).always(case.always)
    dns_server(f".:0 {{\n cache\n forward . {up.address} {{\n {case.options}\n }}\n}}\n")
    start = time.monotonic()
    r = dns_client.query(f"{name}.example.org", "A", timeout=DEADLINE + 5)
    took = time.monotonic() - start
    assert r.header.rcode == case.rcode, (r, up.faults)
    assert [str(rr.rdata) for rr in r.rr] == ([RIGHT] if case.answer else [])
    assert r.header.tc == (name == "truncated")
    assert len(up.queries) == case.asked, up.faults
    assert took < DEADLINE + 1.0  # forward's deadline (and a second for a loaded machine)
    if case.waited:
        assert took >= READ_TIMEOUT * 0.9
    else:  # nothing waited its read_timeout out
        assert took < SLOW_READ
    # The second query: from the cache, or upstream again (what the cache kept, if anything).
    up.always(None)
    asked = len(up.queries)
    r2 = dns_client.query(f"{name}.example.org", "A", timeout=DEADLINE + 5)
    assert (len(up.queries) > asked) == case.second_asks, up.faults
    if case.second_asks:  # asked again (the upstream behaves now): the right answer
        assert [str(rr.rdata) for rr in r2.rr] == [RIGHT] and r2.header.rcode == NOERROR
    else:  # what the cache kept: the right answer, or the upstream's SERVFAIL for 5 s
        assert r2.header.rcode == case.second_rcode
        assert [str(rr.rdata) for rr in r2.rr] == ([RIGHT] if case.second_rcode == NOERROR else [])
    # Whatever came late, from elsewhere, or for another name never answers a client.
    r3 = dns_client.query("wrong.example", "A", timeout=DEADLINE + 5)
    assert r3.header.rcode == NOERROR and len(up.queries) > asked  # not from the cache: asked


def test_a_truncated_answer_is_fetched_again_by_the_client_over_tcp(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    up = fake_upstream()
    up.script("truncate")
    dns_server(f".:0 {{\n cache\n forward . {up.address} {{\n {FAST}\n }}\n}}\n")
    assert dns_client.query("tc.example.org", "A").header.tc == 1
    r = dns_client.query("tc.example.org", "A", proto="tcp")
    assert r.header.tc == 0 and [str(rr.rdata) for rr in r.rr] == [RIGHT]
    assert [p for p, _ in up.queries] == ["udp", "tcp"]
    assert [str(rr.rdata) for rr in dns_client.query("tc.example.org", "A").rr] == [RIGHT]  # now cached
    assert len(up.queries) == 2


def test_queries_in_flight_are_asked_again_as_soon_as_the_upstream_answers(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    # The upstream swallows everything (health checks too), then comes back. The query sent
    # meanwhile is not waited out to its 4 s read timeout: once a health check passes, it is
    # asked again, and answered.
    up = fake_upstream()
    up.always("timeout")
    dns_server(f".:0 {{\n forward . {up.address} {{\n max_fails 1\n health_check 100ms\n read_timeout 4s\n }}\n}}\n")
    assert dns_client.query("first.example.org", "A", timeout=10).header.rcode == SERVFAIL  # checks start failing
    result: dict[str, object] = {}
    start = time.monotonic()
    asking = threading.Thread(target=lambda: result.update(r=dns_client.query("back.example.org", "A", timeout=10)))
    asking.start()
    time.sleep(0.5)
    up.always(None)
    asking.join(10)
    took = time.monotonic() - start
    r = result["r"]
    assert isinstance(r, dnslib.DNSRecord) and [str(rr.rdata) for rr in r.rr] == [RIGHT]
    assert took < 3.0  # not the 4 s read timeout
    assert [str(q.q.qname) for _, q in up.queries].count("back.example.org.") == 2
