"""The cache handler on wire bytes, without sockets: hit-path builder, keys, what is (not) stored."""

from __future__ import annotations

from collections.abc import Callable

import dnslib
import pytest

from pycoredns import wire
from pycoredns.plugin import Result
from pycoredns.plugins.cache.entry import Entry
from pycoredns.plugins.cache.handler import Cache
from pycoredns.plugins.cache.settings import CacheSettings
from pycoredns.plugins.cache.writer import Context, write
from pycoredns.request import Request
from pycoredns.testing import make_request

Answer = Callable[[dnslib.DNSRecord], dnslib.DNSRecord]


class Next:
    """A synchronous next plugin: answers with ``answer`` and counts the queries it saw."""

    name = "next"

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.seen: list[Request] = []
        self.wires: list[bytes] = []  # the query's bytes as this plugin got them

    def serve(self, req: Request) -> Result:
        self.seen.append(req)
        self.wires.append(req.wire)
        req.answered_by = self.name
        reply = self.answer(req.msg)
        return req.pack(reply)


def a_answer(ttl: int = 300, ip: str = "192.0.2.1") -> Answer:
    def answer(q: dnslib.DNSRecord) -> dnslib.DNSRecord:
        r = q.reply()
        r.header.aa = 0
        r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A(ip), ttl=ttl))
        return r

    return answer


def soa(zone: str, ttl: int, minimum: int = 3600) -> dnslib.RR:
    rdata = dnslib.SOA("ns." + zone, "root." + zone, (1, 7200, 3600, 86400, minimum))
    return dnslib.RR(zone, dnslib.QTYPE.SOA, rdata=rdata, ttl=ttl)


def rcode_answer(rcode: int, *, with_soa: bool = True, ttl: int = 60) -> Answer:
    def answer(q: dnslib.DNSRecord) -> dnslib.DNSRecord:
        r = q.reply()
        r.header.rcode = rcode
        if with_soa:
            r.add_auth(soa("example.org.", ttl))
        return r

    return answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_cache(answer: Answer, **settings: object) -> tuple[Cache, Next, Clock]:
    nxt = Next(answer)
    cache = Cache(nxt, CacheSettings(**settings))  # type: ignore[arg-type]
    clock = Clock()
    cache.clock = clock
    return cache, nxt, clock


def ask(cache: Cache, name: str, qtype: str = "A", **kw: object) -> dnslib.DNSRecord:
    req = make_request(name, qtype, **kw)  # type: ignore[arg-type]
    result = cache.serve(req)
    assert type(result) is bytes, "a synchronous next plugin must give a synchronous cache"
    return dnslib.DNSRecord.parse(result)


def test_hit_is_built_from_wire_with_id_case_ttl() -> None:
    cache, nxt, clock = make_cache(a_answer(ttl=300))
    first = ask(cache, "example.org")
    assert first.rr[0].ttl == 300 and len(nxt.seen) == 1
    clock.now += 7.9
    req = make_request("ExAmPlE.Org", "A")
    result = cache.serve(req)
    assert type(result) is bytes  # no coroutine on a hit
    assert req.answered_by == "cache"
    assert len(nxt.seen) == 1
    reply = dnslib.DNSRecord.parse(result)
    assert reply.header.id == req.id
    assert str(reply.q.qname) == "ExAmPlE.Org."
    assert result[12 : req.q.name_end] == req.wire[12 : req.q.name_end]
    assert reply.rr[0].ttl == 293  # whole seconds elapsed
    assert reply.header.aa == 1 and reply.header.tc == 0 and reply.header.qr == 1
    assert reply.header.rd == 1 and reply.header.ra == 1
    assert not [rr for rr in reply.ar if rr.rtype == wire.TYPE_OPT]


def test_hit_mirrors_client_edns() -> None:
    cache, nxt, _ = make_cache(a_answer())
    ask(cache, "example.org", edns=4096)  # stored from a reply that carried an OPT
    plain = ask(cache, "example.org")
    assert not [rr for rr in plain.ar if rr.rtype == wire.TYPE_OPT]
    assert plain.header.ar == 0
    edns = ask(cache, "example.org", edns=1400)
    opts = [rr for rr in edns.ar if rr.rtype == wire.TYPE_OPT]
    assert len(opts) == 1 and opts[0].rclass == 1400 and opts[0].ttl == 0
    assert len(nxt.seen) == 1


def test_do_and_cd_get_their_own_entries() -> None:
    cache, nxt, _ = make_cache(a_answer())
    ask(cache, "example.org")
    ask(cache, "example.org", do=True)
    assert len(nxt.seen) == 2
    do_hit = ask(cache, "example.org", do=True)
    opts = [rr for rr in do_hit.ar if rr.rtype == wire.TYPE_OPT]
    assert opts and opts[0].ttl & 0x8000  # DO mirrored
    req = make_request("example.org", "A")
    req.swap_wire(req.wire[:3] + bytes((req.wire[3] | 0x10,)) + req.wire[4:])  # CD
    reply = dnslib.DNSRecord.parse(cache.serve(req))
    assert len(nxt.seen) == 3
    assert reply.header.bitmap & 0x10  # CD copied from the query
    assert len(cache.pcache) == 3


def test_ad_bit_sent_upstream_and_kept_only_for_do_or_ad() -> None:
    def answer(q: dnslib.DNSRecord) -> dnslib.DNSRecord:
        r = a_answer()(q)
        r.header.ad = 1
        return r

    cache, nxt, _ = make_cache(answer)
    miss = ask(cache, "example.org")
    assert nxt.wires[0][3] & 0x20  # the upstream query asks for AD
    assert not nxt.seen[0].wire[3] & 0x20  # and the client's own query is left as it came
    assert miss.header.ad == 0
    assert ask(cache, "example.org").header.ad == 0
    ask(cache, "example.org", do=True)
    assert ask(cache, "example.org", do=True).header.ad == 1


@pytest.mark.parametrize("f2", [0x00, 0x10, 0x20, 0x30, 0xCF, 0xFF],
                         ids=["none", "cd", "ad", "ad-cd", "all-but-ad", "all"])
def test_a_miss_goes_on_with_ad_set_and_the_other_flags_as_they_came(f2: int) -> None:
    """AD is added to the query sent on (the bytes the client sent when it had AD already), and
    the client's own bytes are back on the request afterwards."""
    seen: list[bytes] = []

    class Upstream:
        name = "upstream"

        def serve(self, req: Request) -> Result:
            seen.append(req.wire)
            return req.pack(a_answer()(req.msg))

    base = make_request("example.org", "A").wire
    own = base[:3] + bytes((f2,)) + base[4:]
    req = Request(own, wire.read_question(own), "udp", ("127.0.0.1", 5353), ("127.0.0.1", 53), "dns://:53")
    Cache(Upstream(), CacheSettings()).serve(req)  # type: ignore[arg-type]
    assert seen[0] == own[:3] + bytes((f2 | 0x20,)) + own[4:]
    if f2 & 0x20:
        assert seen[0] is own  # nothing to change: no copy
    assert req.wire is own


@pytest.mark.parametrize("later", [False, True], ids=["at-once", "settled-later"])
@pytest.mark.parametrize("fails", [False, True], ids=["answered", "failed"])
def test_the_request_carries_the_clients_bytes_again_once_the_chain_is_done(later: bool, fails: bool) -> None:
    """The miss sends the query on with AD set; answered or failed, at once or later, the
    request holds the client's own bytes (and a parse of them) afterwards."""
    from pycoredns.errors import HandlerError
    from pycoredns.results import Deferred

    seen: list[bytes] = []
    pending: list[Deferred[bytes]] = []

    class Upstream:
        name = "upstream"

        def serve(self, req: Request) -> Result:
            seen.append(req.wire)
            assert req.msg.header.ad == 1  # a parse of the bytes it is given
            if later:
                d: Deferred[bytes] = Deferred()
                pending.append(d)
                return d
            if fails:
                raise HandlerError(wire.SERVFAIL, "upstream down")
            return req.pack(a_answer()(req.msg))

    cache = Cache(Upstream(), CacheSettings())  # type: ignore[arg-type]
    req = make_request("example.org", "A")
    own = req.wire
    assert req.msg.header.ad == 0
    try:
        result = cache.serve(req)
        if later:
            assert isinstance(result, Deferred) and req.wire is not own
            if fails:
                pending[0].set_exception(HandlerError(wire.SERVFAIL, "upstream down"))
            else:
                pending[0].set_result(req.pack(a_answer()(req.msg)))
            result = result.result()
    except HandlerError:
        assert fails
    else:
        assert not fails and type(result) is bytes
    assert seen[0][3] & 0x20 and req.wire is own and req.msg.header.ad == 0


def test_ttl_is_capped_and_uniform() -> None:
    def answer(q: dnslib.DNSRecord) -> dnslib.DNSRecord:
        r = q.reply()
        r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.1"), ttl=7200))
        r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.2"), ttl=1799))
        r.add_ar(dnslib.RR("ns.example.org.", dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.3"), ttl=4000))
        return r

    cache, _, _ = make_cache(answer, success_ttl=600)
    miss = ask(cache, "example.org")
    assert [rr.ttl for rr in miss.rr + miss.ar] == [600, 600, 600]  # min(1799, cap 600)
    hit = ask(cache, "example.org")
    assert [rr.ttl for rr in hit.rr + hit.ar] == [600, 600, 600]


def test_min_ttl_raises_short_ttls() -> None:
    cache, _, _ = make_cache(a_answer(ttl=1))
    assert ask(cache, "example.org").rr[0].ttl == 5


def test_keepttl() -> None:
    cache, nxt, clock = make_cache(a_answer(ttl=100), keepttl=True)
    ask(cache, "example.org")
    clock.now += 50
    assert ask(cache, "example.org").rr[0].ttl == 100
    clock.now += 51
    ask(cache, "example.org")
    assert len(nxt.seen) == 2  # expired all the same


def test_entry_expires() -> None:
    cache, nxt, clock = make_cache(a_answer(ttl=10))
    ask(cache, "example.org")
    clock.now += 9.99
    assert ask(cache, "example.org").rr[0].ttl == 1
    clock.now += 0.02
    assert ask(cache, "example.org").rr[0].ttl == 10
    assert len(nxt.seen) == 2


@pytest.mark.parametrize(
    ("rcode", "with_soa", "ttl", "cached_for"),
    [
        pytest.param(wire.NXDOMAIN, True, 60, 60, id="nxdomain-soa-ttl"),
        pytest.param(wire.NOERROR, True, 30, 30, id="nodata"),
        pytest.param(wire.NXDOMAIN, True, 7200, 1800, id="nxdomain-capped-at-denial-ttl"),
        pytest.param(wire.SERVFAIL, False, 0, 5, id="servfail-5s"),
        pytest.param(wire.NOTIMP, False, 0, 5, id="notimp-5s"),
    ],
)
def test_negative_entries(rcode: int, with_soa: bool, ttl: int, cached_for: int) -> None:
    cache, nxt, clock = make_cache(rcode_answer(rcode, with_soa=with_soa, ttl=ttl))
    first = ask(cache, "nope.example.org")
    assert first.header.rcode == rcode
    assert all(rr.ttl == cached_for for rr in first.auth)
    clock.now += cached_for - 0.5
    hit = ask(cache, "nope.example.org")
    assert hit.header.rcode == rcode and len(nxt.seen) == 1
    assert len(cache.ncache) == 1 and len(cache.pcache) == 0
    clock.now += 1
    ask(cache, "nope.example.org")
    assert len(nxt.seen) == 2


def test_servfail_does_not_shadow_a_positive_entry() -> None:
    cache, nxt, _ = make_cache(a_answer())
    ask(cache, "example.org")
    # A SERVFAIL for the same key lands in the denial cache (as a prefetch that failed would).
    req = make_request("example.org", "A")
    key = req.key + b"\x00"
    servfail = req.pack(rcode_answer(wire.SERVFAIL, with_soa=False)(req.msg))
    stats = cache.stats_for(req.server)
    write(cache, Context(key, req, False, False, stats, prefetch=True), servfail)
    assert len(cache.ncache) == 1
    success, denial = stats.hits_success, stats.hits_denial  # counters are process-wide
    hit = ask(cache, "example.org")
    assert hit.header.rcode == wire.NOERROR and len(nxt.seen) == 1
    assert (stats.hits_success - success, stats.hits_denial - denial) == (1, 0)


def _tc(q: dnslib.DNSRecord) -> dnslib.DNSRecord:
    r = a_answer()(q)
    r.header.tc = 1
    return r


def _other_name(q: dnslib.DNSRecord) -> dnslib.DNSRecord:
    r = dnslib.DNSRecord(dnslib.DNSHeader(id=q.header.id, qr=1, rd=1, ra=1), q=dnslib.DNSQuestion("other.org"))
    r.add_answer(dnslib.RR("other.org", dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.9"), ttl=60))
    return r


def _cname_dangling(q: dnslib.DNSRecord) -> dnslib.DNSRecord:
    r = q.reply()
    r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.CNAME, rdata=dnslib.CNAME("elsewhere.org."), ttl=60))
    return r


def _nxdomain_with_answer(q: dnslib.DNSRecord) -> dnslib.DNSRecord:
    r = _cname_dangling(q)
    r.header.rcode = wire.NXDOMAIN
    r.add_auth(soa("org.", 60))
    return r


@pytest.mark.parametrize(
    ("answer", "settings"),
    [
        pytest.param(_tc, {}, id="truncated"),
        pytest.param(rcode_answer(wire.REFUSED, with_soa=False), {}, id="refused"),
        pytest.param(rcode_answer(wire.NXDOMAIN, with_soa=False), {}, id="nxdomain-without-soa"),
        pytest.param(_nxdomain_with_answer, {}, id="nxdomain-with-answer"),
        pytest.param(_cname_dangling, {}, id="cname-chain-not-reaching-qtype"),
        pytest.param(a_answer(ttl=0), {"success_min_ttl": 0}, id="zero-ttl"),
        pytest.param(rcode_answer(wire.SERVFAIL, with_soa=False), {"servfail_ttl": 0.0}, id="servfail-off"),
        pytest.param(a_answer(), {"success_disabled": ["org."]}, id="success-disabled"),
        pytest.param(rcode_answer(wire.NXDOMAIN), {"denial_disabled": ["."]}, id="denial-disabled"),
    ],
)
def test_not_cached(answer: Answer, settings: dict[str, object]) -> None:
    cache, nxt, _ = make_cache(answer, **settings)
    ask(cache, "example.org")
    ask(cache, "example.org")
    assert len(nxt.seen) == 2
    assert len(cache.pcache) == len(cache.ncache) == 0


def test_question_mismatch_counts_a_drop() -> None:
    cache, nxt, _ = make_cache(_other_name)
    stats = cache.stats_for("dns://:53")
    before = stats.drops  # counters are process-wide
    ask(cache, "example.org")
    ask(cache, "example.org")
    assert len(nxt.seen) == 2
    assert stats.drops - before == 2


def test_cname_chain_to_qtype_is_cached() -> None:
    def answer(q: dnslib.DNSRecord) -> dnslib.DNSRecord:
        r = q.reply()
        r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.CNAME, rdata=dnslib.CNAME("target.org."), ttl=60))
        r.add_answer(dnslib.RR("TARGET.org.", dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.4"), ttl=60))
        return r

    cache, nxt, _ = make_cache(answer)
    ask(cache, "www.example.org")
    hit = ask(cache, "WWW.example.org")
    assert len(nxt.seen) == 1 and len(hit.rr) == 2


def test_zones_outside_are_passed_on() -> None:
    cache, nxt, _ = make_cache(a_answer(), zones=["example.org."])
    ask(cache, "example.net")
    ask(cache, "example.net")
    assert len(nxt.seen) == 2 and len(cache.pcache) == 0
    ask(cache, "www.example.org")
    ask(cache, "www.example.org")
    assert len(nxt.seen) == 3


def test_capacity_is_split_over_256_shards() -> None:
    cache, _, _ = make_cache(a_answer(), success_capacity=10, denial_capacity=10000)
    assert cache.pcache.capacity == 1024 and cache.ncache.capacity == 9984
    stats = cache.stats_for("dns://:53")
    before = stats.evictions_success
    for i in range(1500):
        ask(cache, f"n{i}.example.org")
    assert len(cache.pcache) <= 1024
    assert stats.evictions_success - before == 1500 - len(cache.pcache)
    assert all(len(s) <= 4 for s in cache.pcache.shards)


def _reply(q: dnslib.DNSRecord, build: Callable[[dnslib.DNSRecord], None], edns: bool) -> bytes:
    r = q.reply()
    build(r)
    if edns:
        r.add_ar(dnslib.EDNS0(udp_len=1232))
    return bytes(r.pack())


def _a(*ttls: int) -> Callable[[dnslib.DNSRecord], None]:
    def build(r: dnslib.DNSRecord) -> None:
        for i, ttl in enumerate(ttls):
            r.add_answer(dnslib.RR(r.q.qname, dnslib.QTYPE.A, rdata=dnslib.A(f"192.0.2.{i + 1}"), ttl=ttl))

    return build


def _denial(rcode: int, ttl: int) -> Callable[[dnslib.DNSRecord], None]:
    def build(r: dnslib.DNSRecord) -> None:
        r.header.rcode = rcode
        r.add_auth(soa("example.org.", ttl))

    return build


def _flags(**bits: int) -> Callable[[dnslib.DNSRecord], None]:
    def build(r: dnslib.DNSRecord) -> None:
        _a(60)(r)
        for name, value in bits.items():
            setattr(r.header, name, value)

    return build


# The common path reads a reply with a reader made for its question name's length: the shortest
# (the root) and the longest (255 octets in wire form) too.
_LONGEST = ".".join(["a" * 63] * 3 + ["b" * 61])


@pytest.mark.parametrize("qname", ["Www.Example.org", "www.example.org", ".", _LONGEST],
                         ids=["mixed-case", "lower-case", "root", "longest"])
@pytest.mark.parametrize("edns", [False, True], ids=["plain", "edns"])
@pytest.mark.parametrize("client_ad", [False, True], ids=["client-no-ad", "client-ad"])
@pytest.mark.parametrize(
    ("settings", "build"),
    [
        pytest.param({}, _a(300), id="one-a"),
        pytest.param({}, _a(300, 300, 300), id="three-a-same-ttl"),
        pytest.param({}, _a(300, 20, 7200), id="ttls-differ"),
        pytest.param({"success_ttl": 30}, _a(300), id="capped"),
        pytest.param({"success_min_ttl": 120}, _a(10), id="raised"),
        pytest.param({"success_min_ttl": 120}, _a(120), id="at-the-minimum"),
        pytest.param({"success_ttl": 300}, _a(300), id="at-the-maximum"),
        pytest.param({"success_ttl": 300}, _a(299), id="below-the-maximum"),
        # A minimum above the maximum: the maximum wins, below it and above it.
        pytest.param({"success_ttl": 30, "success_min_ttl": 60}, _a(10), id="minimum-over-maximum-low"),
        pytest.param({"success_ttl": 30, "success_min_ttl": 60}, _a(300), id="minimum-over-maximum-high"),
        pytest.param({"success_ttl": 30, "success_min_ttl": 60}, _a(45), id="minimum-over-maximum-between"),
        pytest.param({}, _a(0), id="ttl-zero"),
        pytest.param({}, _denial(3, 60), id="nxdomain"),
        pytest.param({}, _denial(0, 60), id="nodata"),
        pytest.param({"denial_ttl": 5}, _denial(3, 60), id="nxdomain-capped"),
        pytest.param({}, _flags(ad=1), id="upstream-ad"),
        pytest.param({}, _flags(ra=0, aa=1), id="no-ra"),
        pytest.param({"success_disabled": ["example.org."]}, _a(300), id="success-disabled"),
    ],
)
def test_the_common_reply_shapes_are_written_as_the_general_path_writes_them(
    settings: dict[str, object], build: Callable[[dnslib.DNSRecord], None], edns: bool, qname: str,
    client_ad: bool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pycoredns.plugins.cache import response, writer

    def general_path(*args: object) -> None:
        raise AssertionError("the common path should take this reply")

    req = make_request(qname, "A")
    key = req.key + b"\x00"
    data = _reply(dnslib.DNSRecord.parse(req.wire), build, edns)
    # The client's own bytes, which the common path reads the client's AD bit from.
    query = req.wire[:3] + bytes((req.wire[3] | 0x20 if client_ad else req.wire[3],)) + req.wire[4:]
    outcomes = []
    for path in ("common", "general"):
        cache = Cache(None, CacheSettings(**settings))  # type: ignore[arg-type]
        cache.clock = lambda: 1000.0
        ctx = Context(key, req, False, client_ad, cache.stats_for("dns://:53"))
        if path == "common":
            with monkeypatch.context() as m:
                if qname != ".":  # the root's records are not compressed to it: the general path's
                    m.setattr(writer, "write_other", general_path)
                out = writer.write_common(cache, data, query, req, key, ctx.stats)
            assert req.wire is query  # the client's bytes back on the request
        else:
            out, entry = writer.write_parsed(cache, ctx, response.parse(data))
            stored = cache.pcache.get(key) or cache.ncache.get(key)
            assert stored is entry
        entry = cache.pcache.get(key) or cache.ncache.get(key)
        fields = None
        if entry is not None:
            sh = entry.shape
            fields = (entry.tail, entry.orig_ttl, sh.offsets, sh.counts, sh.counts_edns, sh.flags, sh.ad,
                      sh.answering, entry in cache.pcache.maps[hash(key) & 0xFF].values(),
                      # Every field, as Entry() sets it (the common path sets them itself).
                      {name: getattr(entry, name) for name in Entry.__slots__})
        outcomes.append((out, fields))
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda r: r.add_answer(dnslib.RR("other.example.org", rdata=dnslib.A("192.0.2.1"))), id="owner"),
        pytest.param(lambda r: r.add_answer(dnslib.RR(r.q.qname, dnslib.QTYPE.CNAME, rdata=dnslib.CNAME("a.org"))),
                     id="cname"),
        pytest.param(lambda r: (_a(60)(r), r.add_auth(soa("example.org.", 60))), id="answer-and-authority"),
        pytest.param(lambda r: setattr(r.header, "tc", 1), id="truncated"),
        pytest.param(lambda r: (_a(60)(r), setattr(r.header, "qr", 0)), id="not-a-response"),
        pytest.param(lambda r: (_a(60)(r), setattr(r.header, "opcode", 4)), id="opcode-notify"),
        pytest.param(lambda r: (_a(60)(r), setattr(r.header, "rcode", 2)), id="servfail-with-an-answer"),
        # Shorter than a record after the question: read field by field, then left to the general path.
        pytest.param(lambda r: None, id="no-records"),
        # Another question of the same length (its answer's owner points at it): not this query's.
        pytest.param(lambda r: (setattr(r.q, "qname", dnslib.DNSLabel("wwx.example.org")), _a(60)(r)),
                     id="other-question"),
        pytest.param(lambda r: (setattr(r.q, "qname", dnslib.DNSLabel("WWX.example.org")), _a(60)(r)),
                     id="other-question-other-case"),
    ],
)
def test_other_reply_shapes_take_the_general_path(
    build: Callable[[dnslib.DNSRecord], object], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pycoredns.plugins.cache import writer

    taken: list[bytes] = []

    def general_path(cache: object, ctx: Context, reply: bytes) -> bytes:
        taken.append(reply)
        return b"general"

    monkeypatch.setattr(writer, "write_other", general_path)
    req = make_request("www.example.org", "A")
    cache = Cache(None, CacheSettings())
    reply = _reply(dnslib.DNSRecord.parse(req.wire), build, False)
    out = writer.write_common(cache, reply, req.wire, req, req.key + b"\x00", cache.stats_for("dns://:53"))
    assert out == b"general" and taken == [reply]
