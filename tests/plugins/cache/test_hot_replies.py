"""A fresh hit asked again is answered from the reply kept for its question: byte for byte what
rendering the entry makes, whatever changes between hits (ID, case, flags, EDNS, TTL, entry)."""

from __future__ import annotations

import dnslib
import pytest

from pycoredns.plugins.cache import handler as handler_module
from pycoredns.plugins.cache.handler import Cache
from pycoredns.request import Request
from pycoredns.testing import make_request
from tests.plugins.cache.test_handler import a_answer, make_cache


def _rendered(cache: Cache, req: Request) -> bytes:
    """What the entry makes for this request, rendered now (the kept reply's oracle)."""
    entry = cache.pcache.get(req.q.dkey)
    assert entry is not None
    ttl = entry.orig_ttl if cache.settings.keepttl else entry.orig_ttl - int(cache.clock() - entry.stored)
    return entry.render(req, ttl)


def _with_flags(req: Request, set_bits: int = 0, clear_bits: int = 0) -> Request:
    w = req.wire
    flags = ((w[2] << 8) | w[3] | set_bits) & ~clear_bits
    return req.with_flags(flags)


def _queries() -> list[Request]:
    plain = make_request("example.org", "A")
    return [
        plain,
        make_request("example.org", "A"),  # another ID
        make_request("ExAmPlE.org", "A"),  # another spelling: another question
        make_request("example.org", "A", do=True),
        make_request("example.org", "A", edns=4096),
        _with_flags(make_request("example.org", "A"), set_bits=0x10),  # CD
        _with_flags(make_request("example.org", "A"), set_bits=0x20),  # AD asked
        _with_flags(make_request("example.org", "A"), clear_bits=0x100),  # RD clear
    ]


@pytest.mark.parametrize("keepttl", [False, True])
def test_every_hit_is_what_the_entry_renders(keepttl: bool) -> None:
    cache, nxt, clock = make_cache(a_answer(ttl=300), keepttl=keepttl)
    for req in _queries():
        cache.serve(req)  # stores each DO/CD variant once
    stored = len(nxt.seen)
    for step in range(6):
        clock.now += 0.4 * step  # the TTL steps down every second or so
        for _ in range(2):
            for req in _queries():
                req = req.with_flags((req.wire[2] << 8) | req.wire[3])  # the same query, kept apart
                got = cache.serve(req)
                assert got == _rendered(cache, req)
                assert dnslib.DNSRecord.parse(got).header.id == req.id
    assert len(nxt.seen) == stored
    assert cache._hot  # the kept replies answered


def test_a_new_entry_is_not_answered_with_the_old_reply() -> None:
    cache, nxt, clock = make_cache(a_answer(ttl=5, ip="192.0.2.1"))
    cache.serve(make_request("example.org", "A"))
    first = cache.serve(make_request("example.org", "A"))
    assert dnslib.DNSRecord.parse(first).rr[0].rdata == dnslib.A("192.0.2.1")
    clock.now += 6  # expired: asked again, a new entry with a new address
    nxt.answer = a_answer(ttl=300, ip="192.0.2.2")
    cache.serve(make_request("example.org", "A"))
    again = cache.serve(make_request("example.org", "A"))
    assert dnslib.DNSRecord.parse(again).rr[0].rdata == dnslib.A("192.0.2.2")


def test_the_kept_replies_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler_module, "_HOT_MAX", 2)
    cache, nxt, _ = make_cache(a_answer())
    names = [f"n{i}.example.org" for i in range(5)]
    for name in names:
        cache.serve(make_request(name, "A"))
    for _ in range(3):
        for name in names:
            req = make_request(name, "A")
            assert cache.serve(req) == _rendered(cache, req)
            assert len(cache._hot) <= 2
    assert len(nxt.seen) == len(names)


@pytest.mark.parametrize("keepttl", [False, True])
def test_a_kept_reply_ends_at_the_second_its_ttl_changes(keepttl: bool) -> None:
    cache, nxt, clock = make_cache(a_answer(ttl=3), keepttl=keepttl)
    cache.serve(make_request("example.org", "A"))
    entry = cache.pcache.get(make_request("example.org", "A").q.dkey)
    assert entry is not None
    orig = entry.orig_ttl  # the cache's least TTL for a success, above the answer's 3
    for age in [k + f for k in range(orig) for f in (0.0, 0.000001, 0.5, 0.999999)]:
        clock.now = entry.stored + age
        req = make_request("example.org", "A")
        got = cache.serve(req)
        assert got == _rendered(cache, req), age
        assert dnslib.DNSRecord.parse(got).rr[0].ttl == (orig if keepttl else orig - int(age))
    clock.now = entry.stored + orig  # expired: asked again, not answered from the kept reply
    cache.serve(make_request("example.org", "A"))
    assert len(nxt.seen) == 2


def test_each_listener_counts_its_own_hits() -> None:
    cache, _, _ = make_cache(a_answer())
    cache.serve(make_request("example.org", "A", server="dns://hot-a:53"))
    for server in ["dns://hot-a:53"] * 3 + ["dns://hot-b:53"] * 2 + ["dns://hot-a:53"]:
        cache.serve(make_request("example.org", "A", server=server))
    assert cache._stats["dns://hot-a:53"].hits_success == 4
    assert cache._stats["dns://hot-b:53"].hits_success == 2


def test_with_prefetch_every_hit_is_counted_for_it() -> None:
    cache, nxt, clock = make_cache(a_answer(ttl=100), prefetch=3, prefetch_percentage=50)
    cache.serve(make_request("example.org", "A"))
    assert cache._hot == {}
    entry = cache.pcache.get(make_request("example.org", "A").q.dkey)
    assert entry is not None
    clock.now = entry.stored + 60  # below half the TTL left: the third hit prefetches
    for _ in range(3):
        req = make_request("example.org", "A")
        assert cache.serve(req) == _rendered(cache, req)
    assert cache._hot == {} and entry.hits == 3
