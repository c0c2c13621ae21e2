"""Prefetch and serve_stale refreshes on an event loop, with an asynchronous next plugin."""

from __future__ import annotations

import asyncio
import inspect

import dnslib

from pycoredns import wire
from pycoredns.plugin import Reply, Result
from pycoredns.plugins.cache.handler import Cache
from pycoredns.plugins.cache.settings import CacheSettings
from pycoredns.request import Request
from pycoredns.testing import make_request


class SlowNext:
    """Answers A queries after ``delay`` seconds; ``fail`` makes it answer SERVFAIL (nothing written)."""

    name = "slow"

    def __init__(self, delay: float = 0.0, ttl: int = 10) -> None:
        self.delay = delay
        self.ttl = ttl
        self.fail = False
        self.nxdomain = False
        self.seen = 0

    def serve(self, req: Request) -> Result:
        self.seen += 1
        return self._answer(req)

    async def _answer(self, req: Request) -> Reply:
        await asyncio.sleep(self.delay)
        if self.fail:
            return wire.SERVFAIL
        r = req.msg.reply()
        if self.nxdomain:
            r.header.rcode = wire.NXDOMAIN
            soa = dnslib.SOA("ns.org.", "root.org.", (1, 2, 3, 4, 60))
            r.add_auth(dnslib.RR("org.", dnslib.QTYPE.SOA, rdata=soa, ttl=self.ttl))
        else:
            r.add_answer(dnslib.RR(req.qname, dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.1"), ttl=self.ttl))
        return req.pack(r)


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def setup(nxt: SlowNext, **settings: object) -> tuple[Cache, Clock]:
    cache = Cache(nxt, CacheSettings(**settings))  # type: ignore[arg-type]
    clock = Clock()
    cache.clock = clock
    return cache, clock


async def ask(cache: Cache, name: str = "example.org") -> dnslib.DNSRecord:
    result = cache.serve(make_request(name, "A"))
    if inspect.isawaitable(result):
        result = await result
    assert isinstance(result, bytes)
    return dnslib.DNSRecord.parse(result)


async def settle(cache: Cache) -> None:
    for _ in range(200):
        if not cache.refresher.tasks:
            return
        await asyncio.sleep(0.01)


def test_prefetch_runs_once_per_entry_and_keeps_popularity() -> None:
    async def main() -> None:
        nxt = SlowNext(delay=0.05)
        cache, clock = setup(nxt, prefetch=2, prefetch_percentage=50)
        await ask(cache)
        clock.now += 6  # remaining 4 <= ceil(50% of 10)
        await ask(cache)  # first counted hit: not popular yet
        assert nxt.seen == 1
        await ask(cache)
        await ask(cache)  # a second refresh for the same entry is not started
        assert len(cache.refresher.tasks) == 1
        await settle(cache)
        assert nxt.seen == 2
        fresh = cache.pcache.get(make_request("example.org", "A").key + b"\x00")
        assert fresh is not None and fresh.hits == 3 and fresh.ttl(clock.now) == 10

    asyncio.run(main())


def test_stale_immediate_with_failure_recheck() -> None:
    async def main() -> None:
        nxt = SlowNext(ttl=10)
        cache, clock = setup(nxt, stale_up_to=3600.0, stale_ttl=30, stale_recheck=60.0)
        await ask(cache)
        nxt.fail = True
        clock.now += 20
        stale = await ask(cache)
        assert stale.rr[0].ttl == 30  # RESPONSE_TTL
        await settle(cache)
        assert nxt.seen == 2
        await ask(cache)  # the failed refresh holds off another for FAILURE_RECHECK
        await settle(cache)
        assert nxt.seen == 2
        clock.now += 61
        nxt.fail = False
        await ask(cache)
        await settle(cache)
        assert nxt.seen == 3
        assert (await ask(cache)).rr[0].ttl == 10

    asyncio.run(main())


def test_stale_expires_after_the_window() -> None:
    async def main() -> None:
        nxt = SlowNext(ttl=10)
        cache, clock = setup(nxt, stale_up_to=60.0)
        await ask(cache)
        clock.now += 10 + 59
        assert (await ask(cache)).rr[0].ttl == 0
        await settle(cache)
        clock.now += 1000
        nxt.fail = True
        result = cache.serve(make_request("example.org", "A"))
        assert inspect.isawaitable(result)
        assert await result == wire.SERVFAIL

    asyncio.run(main())


def test_verify_asks_first_then_serves_stale_on_timeout() -> None:
    async def main() -> None:
        nxt = SlowNext(ttl=10)
        cache, clock = setup(nxt, stale_up_to=3600.0, verify_stale=True, verify_timeout=0.05)
        await ask(cache)
        clock.now += 11
        fresh = await ask(cache)  # the upstream answered in time: a fresh answer
        assert fresh.rr[0].ttl == 10 and nxt.seen == 2
        clock.now += 11
        nxt.delay = 0.3
        stale = await ask(cache)  # too slow: the stale entry, while the refresh goes on
        assert stale.rr[0].ttl == 0 and nxt.seen == 3
        await settle(cache)
        assert (await ask(cache)).rr[0].ttl == 10

    asyncio.run(main())


def test_prefer_positive_keeps_the_answer_over_a_denial() -> None:
    async def main() -> None:
        nxt = SlowNext(ttl=10)
        cache, clock = setup(nxt, stale_up_to=3600.0, prefer_positive=True, verify_stale=True)
        await ask(cache)
        clock.now += 11
        nxt.nxdomain = True
        got = await ask(cache)  # verify: the NXDOMAIN is stored but the positive answer is served
        assert got.header.rcode == wire.NOERROR and got.rr[0].ttl == 0
        assert len(cache.ncache) == 1

    asyncio.run(main())


def test_close_cancels_refreshes() -> None:
    async def main() -> None:
        nxt = SlowNext(ttl=10)
        cache, clock = setup(nxt, prefetch=1, prefetch_percentage=90)
        await ask(cache)
        nxt.delay = 30
        clock.now += 2
        await ask(cache)
        assert len(cache.refresher.tasks) == 1
        task = next(iter(cache.refresher.tasks))
        await cache.close()
        assert task.cancelled() and not cache.refresher.tasks

    asyncio.run(main())
