"""hosts answering: A/AAAA, PTR, wildcards, NODATA, SERVFAIL, fallthrough and the file parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycoredns.fall import Fall
from pycoredns.plugin import Plugin
from pycoredns.plugins.hosts.handler import Hosts, address_from_reverse
from pycoredns.plugins.hosts.hostsfile import Hostsfile, HostsMap, parse
from pycoredns.request import Request
from pycoredns.testing import make_request
from pycoredns.testing.handler import run

NEXT_RCODE = 5  # REFUSED: distinguishable from the SERVFAIL hosts itself returns


class Recorder(Plugin):
    """The rest of the chain: records what reached it."""

    name = "recorder"

    def __init__(self) -> None:
        super().__init__(None)
        self.seen: list[str] = []

    def serve(self, req: Request) -> int:
        self.seen.append(req.name)
        return NEXT_RCODE

HOSTS = """\
# comment line
127.0.0.1   localhost localhost.domain
10.0.0.1    Example.ORG alias.example.org   # trailing comment
10.0.0.2    example.org
::1         localhost
fe80::1%eth0 v6.example.org
192.168.1.10 *.wild.example.org
192.168.1.11 www.wild.example.org
not-an-ip   broken.example.org
10.0.0.9
10.9.9.9    outside.test
"""


def make(
    zones: list[str] | None = None,
    fall: list[str] | None = None,
    unsupported: bool = False,
    text: str = HOSTS,
    auto_reverse: bool = True,
) -> tuple[Hosts, Recorder]:
    zones = zones or ["example.org.", "localhost.", "localhost.domain."]
    hf = Hostsfile("/nonexistent", zones, auto_reverse, HostsMap())
    hf.hmap = parse(text, zones, auto_reverse)
    rec = Recorder()
    return Hosts(rec, hf, zones, 3600, Fall(fall or []), unsupported), rec


def answers(name: str, qtype: str, h: Hosts) -> tuple[int, list[str]]:
    rcode, reply = run(h, make_request(name, qtype))
    if reply is None:
        return rcode, []
    assert reply.header.aa == 1
    return rcode, [f"{rr.rname} {rr.ttl} {rr.rdata}" for rr in reply.rr]


@pytest.mark.parametrize(
    ("name", "qtype", "want"),
    [
        pytest.param(
            "example.org.", "A", (0, ["example.org. 3600 10.0.0.1", "example.org. 3600 10.0.0.2"]), id="a-two"
        ),
        pytest.param("EXAMPLE.org.", "A", (0, ["example.org. 3600 10.0.0.1", "example.org. 3600 10.0.0.2"]),
                     id="case-insensitive"),
        pytest.param("alias.example.org.", "A", (0, ["alias.example.org. 3600 10.0.0.1"]), id="alias"),
        pytest.param("v6.example.org.", "AAAA", (0, ["v6.example.org. 3600 fe80::1"]), id="aaaa-zone-dropped"),
        pytest.param("localhost.", "AAAA", (0, ["localhost. 3600 ::1"]), id="aaaa"),
        pytest.param("example.org.", "AAAA", (0, []), id="nodata-other-family"),
        pytest.param("example.org.", "TXT", (0, []), id="nodata-unsupported-type"),
        pytest.param("missing.example.org.", "A", (2, []), id="servfail-unknown"),
        pytest.param("broken.example.org.", "A", (2, []), id="bad-line-skipped"),
        pytest.param("outside.test.", "A", (NEXT_RCODE, []), id="outside-zones-goes-on"),
        pytest.param("app.wild.example.org.", "A", (0, ["app.wild.example.org. 3600 192.168.1.10"]), id="wildcard"),
        pytest.param("www.wild.example.org.", "A", (0, ["www.wild.example.org. 3600 192.168.1.11"]), id="explicit"),
        pytest.param("wild.example.org.", "A", (2, []), id="wildcard-not-apex"),
        pytest.param("a.b.wild.example.org.", "A", (2, []), id="wildcard-one-label"),
        pytest.param(
            "1.0.0.10.in-addr.arpa.",
            "PTR",
            (0, ["1.0.0.10.in-addr.arpa. 3600 example.org.", "1.0.0.10.in-addr.arpa. 3600 alias.example.org."]),
            id="ptr",
        ),
        pytest.param(
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
            "PTR",
            (0, ["1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa. 3600 localhost."]),
            id="ptr-v6",
        ),
        pytest.param("9.9.9.10.in-addr.arpa.", "PTR", (NEXT_RCODE, []), id="ptr-outside-zone-unknown"),
        pytest.param("10.1.168.192.in-addr.arpa.", "PTR", (NEXT_RCODE, []), id="wildcard-no-ptr"),
    ],
)
def test_answers(name: str, qtype: str, want: tuple[int, list[str]]) -> None:
    h, _ = make()
    assert answers(name, qtype, h) == want


def test_fallthrough_sends_unknown_names_on() -> None:
    h, rec = make(fall=["example.org."])
    assert answers("missing.example.org.", "A", h) == (NEXT_RCODE, [])
    assert rec.seen == ["missing.example.org."]
    # Outside the fallthrough zones it still answers SERVFAIL.
    assert answers("missing.localhost.", "A", h) == (2, [])
    # A name with data never falls through for A/AAAA.
    assert answers("example.org.", "AAAA", h) == (0, [])


def test_fallthrough_unsupported() -> None:
    h, rec = make(fall=["."], unsupported=True)
    assert answers("example.org.", "TXT", h) == (NEXT_RCODE, [])
    assert rec.seen == ["example.org."]
    assert answers("example.org.", "AAAA", h) == (0, [])  # supported type: still NODATA


def test_no_reverse() -> None:
    h, _ = make(auto_reverse=False)
    assert answers("1.0.0.10.in-addr.arpa.", "PTR", h) == (NEXT_RCODE, [])


def test_inline_and_file_are_merged() -> None:
    zones = ["."]
    hf = Hostsfile("/nonexistent", zones, True, parse("10.1.1.1 both.test", zones, True))
    hf.hmap = parse("10.2.2.2 both.test", zones, True)
    h = Hosts(Recorder(), hf, zones, 5, Fall(), False)
    assert answers("both.test.", "A", h) == (0, ["both.test. 5 10.2.2.2", "both.test. 5 10.1.1.1"])


def test_len_counts_addresses_and_reverse_names() -> None:
    m = parse("10.0.0.1 a.test b.test\n::1 c.test\n10.0.0.2 *.w.test", ["."], True)
    assert len(m) == 2 + 1 + 1 + 3  # name4, name6, wild4, reverse names


def test_read_only_when_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("10.0.0.1 a.test\n")
    hf = Hostsfile(str(path), ["."], True, HostsMap())
    hf.read()
    assert hf.lookup_v4("a.test.") == ["10.0.0.1"]
    first = hf.hmap
    hf.read()
    assert hf.hmap is first  # unchanged size and mtime: not parsed again
    path.write_text("10.0.0.22 a.test\n")
    hf.read()
    assert hf.lookup_v4("a.test.") == ["10.0.0.22"]
    path.unlink()
    hf.read()
    assert hf.lookup_v4("a.test.") == ["10.0.0.22"]  # a vanished file keeps the last entries


@pytest.mark.parametrize(
    ("name", "want"),
    [
        pytest.param("4.3.2.1.in-addr.arpa.", "1.2.3.4", id="v4"),
        pytest.param("3.2.1.in-addr.arpa.", "", id="v4-short"),
        pytest.param("x.3.2.1.in-addr.arpa.", "", id="v4-bad"),
        pytest.param(
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
            "2001:db8::567:89ab",
            id="v6",
        ),
        pytest.param("example.org.", "", id="not-reverse"),
    ],
)
def test_address_from_reverse(name: str, want: str) -> None:
    assert address_from_reverse(name) == want
