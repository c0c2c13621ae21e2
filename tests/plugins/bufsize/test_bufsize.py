"""bufsize: CoreDNS's setup table (plugin/bufsize/setup_test.go), its handler cases, and a real
forward whose recording upstream sees the lowered EDNS size."""

from __future__ import annotations

import dnslib
import pytest

from pycoredns.errors import PluginSetupError
from pycoredns.plugin import Request
from pycoredns.plugins.bufsize.handler import Bufsize
from pycoredns.server import config
from pycoredns.testing import DNSClient, make_request
from pycoredns.testing.fixtures import ServerFactory, UpstreamFactory


def _size(corefile: str) -> int:
    instance = config.load(corefile)
    (handler,) = [h for h in instance.configs[0].handlers if isinstance(h, Bufsize)]
    return handler.size


@pytest.mark.parametrize(
    ("line", "size"),
    [
        pytest.param("bufsize", 1232, id="default"),
        pytest.param('bufsize "1220"', 1220, id="quoted"),
        pytest.param("bufsize 512", 512, id="minimum"),
        pytest.param("bufsize 4096", 4096, id="maximum"),
        pytest.param("bufsize 1100\n bufsize 2000", 1100, id="first-line-counts"),
    ],
)
def test_setup(line: str, size: int) -> None:
    assert _size(f". {{\n {line}\n whoami\n}}\n") == size


ARG = "plugin/bufsize: Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after "


@pytest.mark.parametrize(
    ("line", "error"),
    [
        pytest.param('bufsize "5000"', ARG + "'5000'", id="too-large"),
        pytest.param('bufsize "512 512"', ARG + "'512 512'", id="one-quoted-token"),
        pytest.param("bufsize 512 512", ARG + "'512'", id="two-arguments"),
        pytest.param('bufsize "511"', ARG + "'511'", id="too-small"),
        pytest.param('bufsize "abc123"', ARG + "'abc123'", id="not-a-number"),
    ],
)
def test_setup_errors(line: str, error: str) -> None:
    with pytest.raises(PluginSetupError) as e:
        config.load(f". {{\n {line}\n whoami\n}}\n")
    assert str(e.value) == error


class Seen:
    """The last handler of a test chain: records the EDNS size the query carries."""

    name = "seen"

    def __init__(self) -> None:
        self.edns: list[tuple[bool, int]] = []

    def serve(self, req: Request) -> int:
        msg = dnslib.DNSRecord.parse(req.wire)
        opts = [rr for rr in msg.ar if rr.rtype == dnslib.QTYPE.OPT]
        self.edns.append((bool(opts), opts[0].rclass if opts else 0))
        return 5  # REFUSED: the server writes it


@pytest.mark.parametrize(
    ("edns", "seen"),
    [
        pytest.param(1024 + 128, (True, 1024), id="lowered"),
        pytest.param(1024 - 128, (True, 896), id="not-raised"),
        pytest.param(None, (False, 0), id="no-edns-none-added"),
    ],
)
def test_handler(edns: int | None, seen: tuple[bool, int]) -> None:
    # CoreDNS's bufsize_test.go: limit 1024, requests above, below and without EDNS.
    last = Seen()
    req = make_request(".", "A", edns=edns)
    assert Bufsize(last, 1024).serve(req) == 5
    assert last.edns == [seen]
    assert req.q.udp_size == max(seen[1], 512)
    # The request itself changed: the server's error reply mirrors the lowered size.
    if edns is not None:
        err = dnslib.DNSRecord.parse(req.error_reply(5))
        assert [rr.rclass for rr in err.ar if rr.rtype == dnslib.QTYPE.OPT] == [seen[1]]


def test_do_bit_and_other_records_are_kept() -> None:
    last = Seen()
    req = make_request("example.org", "A", edns=4096, do=True)
    before = req.wire
    Bufsize(last, 1232).serve(req)
    assert req.q.do and req.q.udp_size == 1232
    assert len(req.wire) == len(before) and req.wire[:-8] == before[:-8]  # only the size moved


def _many_a(count: int) -> object:
    def answer(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
        r = q.reply()
        for i in range(count):
            r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A(f"192.0.2.{i}"), ttl=60))
        opts = [rr for rr in q.ar if rr.rtype == dnslib.QTYPE.OPT]
        if opts:
            r.add_ar(dnslib.EDNS0(udp_len=4096))
        return r

    return answer


def _opt_sizes(msg: dnslib.DNSRecord) -> list[int]:
    return [rr.rclass for rr in msg.ar if rr.rtype == dnslib.QTYPE.OPT]


def test_upstream_sees_the_lowered_size(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    up = fake_upstream(_many_a(3))
    corefile = f".:0 {{\n    bufsize 1100\n    forward . {up.address}\n}}\n"
    dns_server(corefile)
    dns_client.query("big.example.org", "A", edns=4096)
    assert _opt_sizes(up.queries[-1][1]) == [1100]
    dns_client.query("small.example.org", "A", edns=800)
    assert _opt_sizes(up.queries[-1][1]) == [800]  # never raised
    dns_client.query("plain.example.org", "A")
    assert _opt_sizes(up.queries[-1][1]) == []  # no EDNS: none added
    dns_client.query("tcp.example.org", "A", proto="tcp", edns=4096)
    assert _opt_sizes(up.queries[-1][1]) == [1100]


def test_client_reply_is_truncated_to_the_lowered_size(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    q = dnslib.DNSRecord.question("big.example.org")
    q.add_ar(dnslib.EDNS0(udp_len=4096))
    up = fake_upstream(_many_a(120))  # about 2 kB of answers
    dns_server(f".:0 {{\n    bufsize 1100\n    forward . {up.address}\n}}\n")
    raw = dns_client.raw_query(q.pack())
    r = dnslib.DNSRecord.parse(raw)
    assert len(raw) <= 1100 and r.header.tc == 1
    assert _opt_sizes(r) == [1100]  # the reply mirrors the size the query now carries
    t = dns_client.query("big.example.org", "A", proto="tcp", edns=4096)
    assert t.header.tc == 0 and len(t.rr) == 120  # TCP is not limited by it
    # The control: without bufsize the client's 4096 takes the whole reply.
    dns_server(f".:0 {{\n    forward . {up.address}\n}}\n")
    raw = dns_client.raw_query(q.pack())
    assert len(raw) > 1100 and dnslib.DNSRecord.parse(raw).header.tc == 0
