"""Coverage-guided fuzzing of the query and reply parsers, with atheris (libFuzzer's engine).

    .venv/bin/pip install -e '.[fuzz]'      # atheris, once
    .venv/bin/python -m benchmarks.reliability.fuzz [-runs=1000000] [CORPUS_DIR] [libFuzzer flags...]

Every input is read both ways:

* **as a client's query**: ``wire.parse_question`` (what ``read_question`` runs on a new query),
  and on what it accepts, the server's own error reply, the OPT lookup and the name's text;
* **as an upstream's reply**: ``wire.check_reply`` (what forward runs on every reply); on what it
  accepts, ``wire.truncate_reply`` at three sizes, the cache's reading of a reply
  (``response.parse``, its classification, TTL and question checks), and forward's reply checks
  (``answers``, ``mirror_opt``).

A crash is any exception other than the documented rejections (``MalformedQuery`` and its
``ShortQuestion``, ``MalformedMessage``, the cache's ``BadReply``), or a broken invariant: a
question outside the message, a checked reply that does not check again to itself, a truncated
reply that no longer unpacks or is longer than asked. atheris stops at the first one and writes
it to ``crash-*`` (``-artifact_prefix=DIR/`` puts it elsewhere). An empty or missing corpus
folder (a temporary one when none is named) starts from a few real queries and replies; libFuzzer
adds the inputs that reach new code to it, so a later run goes on from there.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

# The parsers under test, imported by load() (under atheris's instrumentation when fuzzing).
wire: Any = None
response: Any = None
connections: Any = None
handler: Any = None
NOW = time.time()


def load() -> None:
    global wire, response, connections, handler
    from pycoredns import wire as w
    from pycoredns.plugins.cache import response as r
    from pycoredns.plugins.forward import connections as c
    from pycoredns.plugins.forward import handler as h

    wire, response, connections, handler = w, r, c, h


# What forward compares a reply's question with: "example.org. A IN".
KEY = b"\x07example\x03org\x00\x00\x01\x00\x01"
NAME_LEN = 13


def one_input(data: bytes) -> None:
    """Read ``data`` as a query and as a reply; raise on anything but a documented rejection."""
    as_query(data)
    as_reply(data)


def as_query(data: bytes) -> None:
    try:
        q = wire.parse_question(data)
    except wire.ShortQuestion as e:
        wire.parse_question(e.wire)  # what the server serves instead must read
        return
    except wire.MalformedQuery as e:
        assert e.rcode in (None, wire.FORMERR, wire.NOTIMP, wire.SERVFAIL), e.rcode
        return
    assert 12 < q.name_end < q.end <= len(data), (q.name_end, q.end, len(data))
    assert all(12 <= off < q.name_end for off in q.labels)
    assert q.udp_size >= 512
    reply = wire.error_reply(data, wire.SERVFAIL, q.end, q.edns, q.udp_size, q.do)
    assert wire.check_reply(reply) == reply
    opt = wire.find_opt(data, q.end)
    assert opt == -1 or q.end <= opt < len(data)
    wire.name_to_text(data, q.labels)


def _question_end(data: bytes) -> int:
    qd = (data[4] << 8) | data[5]
    pos = 12
    for _ in range(qd):
        pos = wire.skip_name(data, pos) + 4
    return pos


def as_reply(data: bytes) -> None:
    try:
        checked = wire.check_reply(data)
    except wire.MalformedMessage:
        return
    assert len(checked) == len(data) and wire.check_reply(checked) == checked
    question_end = _question_end(checked)
    for size in (512, 1232, max(12, len(checked) - 1)):
        cut = wire.truncate_reply(checked, size)
        assert wire.check_reply(cut) == cut
        assert len(cut) <= max(size, question_end), (len(cut), size, question_end)
    try:
        rep = response.parse(checked)
    except response.BadReply:
        pass
    else:
        kind = response.cache_kind(rep, NOW)
        if response.cacheable(rep, kind):
            response.minimal_ttl(rep, kind, 3600)
        response.answers_question(rep)
        response.is_nodata(rep)
    connections.answers(checked, KEY, NAME_LEN)
    mirrored = handler.mirror_opt(checked, 1232, True)
    wire.check_reply(mirrored)


def seeds() -> list[bytes]:
    """A few real messages to start from: queries (plain, EDNS, DO) and replies of common shapes."""
    import dnslib

    out = []
    for name, qtype in (("example.org", "A"), ("www.example.org", "AAAA"), ("example.org", "MX"),
                        ("1.0.0.127.in-addr.arpa", "PTR")):
        q = dnslib.DNSRecord.question(name, qtype)
        out.append(bytes(q.pack()))
        q.add_ar(dnslib.EDNS0(udp_len=1232, flags="do"))
        out.append(bytes(q.pack()))
        r = q.reply()
        r.add_answer(dnslib.RR(name, dnslib.QTYPE.CNAME, rdata=dnslib.CNAME("alias.example.net"), ttl=60))
        r.add_answer(dnslib.RR("alias.example.net", dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.1"), ttl=30))
        r.add_auth(dnslib.RR("example.net", dnslib.QTYPE.NS, rdata=dnslib.NS("ns.example.net"), ttl=300))
        r.add_ar(dnslib.RR("ns.example.net", dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.53"), ttl=300))
        out.append(bytes(r.pack()))
        nx = q.reply()
        nx.header.rcode = dnslib.RCODE.NXDOMAIN
        nx.add_auth(dnslib.RR("example.org", dnslib.QTYPE.SOA, ttl=60, rdata=dnslib.SOA(
            "ns.example.org", "admin.example.org", (1, 2, 3, 4, 5))))
        out.append(bytes(nx.pack()))
    return out


def main(argv: list[str] | None = None) -> int:
    import atheris

    args = list(sys.argv if argv is None else [sys.argv[0], *argv])
    with atheris.instrument_imports(include=["pycoredns"]):
        load()
    folders = [Path(a) for a in args[1:] if not a.startswith("-")]
    if not folders:
        folders = [Path(tempfile.mkdtemp(prefix="pcd-fuzz-corpus-"))]
        args.append(str(folders[0]))
    corpus = folders[0]
    corpus.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):  # a new corpus starts from real messages, not from nothing
        for i, seed in enumerate(seeds()):
            (corpus / f"seed{i}").write_bytes(seed)
    if not any(a.startswith("-max_len=") for a in args):
        args.append("-max_len=1024")
    atheris.Setup(args, one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
