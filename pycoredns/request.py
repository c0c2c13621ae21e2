"""The per-query view every handler receives: wire bytes plus lazily derived fields.

Nothing here parses the whole message unless a handler asks for ``msg``; the fields the hot path
needs (question offsets, qtype, EDNS size and DO bit) were read once by :func:`wire.read_question`.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

import dnslib

from pycoredns import dns, wire


class Request:
    """One query as it travels down the chain.

    Handlers read what they need; ``answered_by`` is set by the plugin that produced the reply
    (it becomes the ``plugin`` label of coredns_dns_responses_total); ``error`` carries an error a
    handler wants the errors plugin to log while still writing a reply; ``meta`` is CoreDNS's
    metadata map; ``span`` is the tracing span the query is in, None unless a tracing plugin
    sampled it (see ``pycoredns.plugin.Span``). ``q`` is read from ``wire`` and stands for its
    bytes after the ID (the cache keeps replies by it): change the bytes with :meth:`swap_wire`,
    :meth:`with_flags` or :meth:`set_udp_size`, which keep the two together. ``local`` is the
    listener's own address object, the very same one for every query of a UDP socket or of a TCP
    connection and never shared between two of them: an observer may take the same object to mean
    the same server, protocol and address family (prometheus does).
    """

    __slots__ = (
        "wire",
        "q",
        "lname",
        "key",
        "proto",
        "remote",
        "local",
        "server",
        "zone",
        "start",
        "answered_by",
        "error",
        "meta",
        "span",
        "_msg",
        "_msg_wire",
        "_qname",
    )

    _msg_wire: bytes  # the bytes ``_msg`` was parsed from (set with it)

    def __init__(
        self,
        data: bytes,
        q: wire.Question,
        proto: str,
        remote: tuple[Any, ...],
        local: tuple[Any, ...],
        server: str,
    ) -> None:
        self.wire = data
        self.q = q
        self.lname = q.lname  # the question name lower-cased, in wire form (routing, cache keys)
        # The question as a lookup key: lower-cased name, type and class (wire form). An
        # attribute, not a property: the miss path reads it four times.
        self.key = q.key
        self.proto = proto
        self.remote = remote
        self.local = local
        self.server = server
        self.zone = "."
        self.start = perf_counter()
        self.answered_by = ""
        self.error: BaseException | None = None
        self.meta: dict[str, str] | None = None
        self.span: Any = None
        self._msg: dnslib.DNSRecord | None = None
        self._qname: str | None = None

    # -- the question -------------------------------------------------------------------------
    @property
    def id(self) -> int:
        return (self.wire[0] << 8) | self.wire[1]

    @property
    def qname(self) -> str:
        """The question name as sent (case kept), fully qualified."""
        if self._qname is None:
            self._qname = wire.name_to_text(self.wire, self.q.labels)
        return self._qname

    @property
    def name(self) -> str:
        """The question name lower-cased (CoreDNS's ``state.Name()``)."""
        return self.qname.lower()

    @property
    def qtype(self) -> int:
        return self.q.qtype

    @property
    def qclass(self) -> int:
        return self.q.qclass

    @property
    def type_name(self) -> str:
        """The question type as CoreDNS prints it (``AAAA``, ``TYPE65280``)."""
        return dns.type_text(self.q.qtype)

    @property
    def class_name(self) -> str:
        """The question class as CoreDNS prints it (``IN``, ``CLASS42``)."""
        return dns.class_text(self.q.qclass)

    @property
    def do(self) -> bool:
        return self.q.do

    @property
    def cd(self) -> bool:
        return bool(self.wire[3] & 0x10)

    @property
    def rd(self) -> bool:
        return bool(self.wire[2] & 0x01)

    @property
    def edns(self) -> bool:
        return self.q.edns

    @property
    def size(self) -> int:
        """The largest reply the client takes: its EDNS size (at least 512) on UDP, 65535 on TCP."""
        return 65535 if self.proto == "tcp" else self.q.udp_size

    @property
    def family(self) -> int:
        """1 for IPv4, 2 for IPv6 (the ``family`` metric label)."""
        return 2 if ":" in str(self.remote[0]) else 1

    @property
    def remote_ip(self) -> str:
        return str(self.remote[0])

    @property
    def remote_port(self) -> int:
        return int(self.remote[1])

    # -- the message -----------------------------------------------------------------------------
    @property
    def msg(self) -> dnslib.DNSRecord:
        """The whole query parsed by dnslib (parsed on first use, and again once ``wire`` is other
        bytes: a plugin may assign it, as the cache does twice per miss, with nothing to reset)."""
        m = self._msg
        if m is not None and self._msg_wire is self.wire:
            return m
        data = self._msg_wire = self.wire
        try:
            m = dnslib.DNSRecord.parse(data)
        except Exception:  # dnslib raises several kinds (and RecursionError): all mean "cannot read"
            m = self._header_and_question()
        self._msg = m
        return m

    def _header_and_question(self) -> dnslib.DNSRecord:
        """The query as dnslib sees it when dnslib cannot parse all of it.

        wire.read_question accepted the packet as miekg/dns would, but dnslib refuses some valid
        wire (labels that are not UTF-8, records with empty rdata) and some that only miekg's
        per-type rdata checks would reject; the header and the question, already read, are all
        a reply is built from, so they are built directly rather than failing the query.
        """
        w = self.wire
        q = self.q
        labels = [w[off + 1 : off + 1 + w[off]] for off in q.labels]
        header = dnslib.DNSHeader(id=self.id, bitmap=(w[2] << 8) | w[3], q=1)
        return dnslib.DNSRecord(header, q=dnslib.DNSQuestion(dnslib.DNSLabel(labels), q.qtype, q.qclass))

    def with_wire(self, data: bytes) -> Request:
        """A copy of this request carrying other wire bytes (a rewritten query), re-read.

        Once the chain has served the copy, :meth:`take_outcome` brings back what it recorded."""
        q = wire.read_question(data)
        r = Request(data, q, self.proto, self.remote, self.local, self.server)
        r.zone = self.zone
        r.start = self.start
        r.meta = self.meta
        r.span = self.span
        return r

    def with_flags(self, flags: int) -> Request:
        """A copy of this request whose header flags (the 16 bits after the ID) are ``flags``.

        The question is read again when the flags differ (it stands for the bytes after the ID:
        see :attr:`q`). :meth:`take_outcome` brings back what the chain recorded on the copy."""
        w = self.wire
        r = Request.__new__(Request)
        r.wire = w[:2] + flags.to_bytes(2, "big") + w[4:]
        r.q = wire.read_question(r.wire) if r.wire[2:4] != w[2:4] else self.q
        r.lname = self.lname
        r.key = self.key
        r.proto = self.proto
        r.remote = self.remote
        r.local = self.local
        r.server = self.server
        r.zone = self.zone
        r.start = self.start
        r.answered_by = ""
        r.error = None
        r.meta = self.meta
        r._msg = None
        r._qname = self._qname
        r.span = self.span
        return r

    def swap_wire(self, data: bytes) -> bytes:
        """Carry ``data``, the same query with other header flags, in place of the bytes held now;
        returns those. The question is read again when the flags differ (see :attr:`q`); a dnslib
        parse of the old bytes is not reused (see :attr:`msg`).

        What the cache does on a miss: the rest of the chain sees the query with AD set, and the
        request gets its own bytes back once that answered (no copy of the request per miss). The
        cache assigns ``wire`` itself and keeps the client's question meanwhile: below it the
        query only goes upstream, and its own bytes are back before anything is made of it."""
        old = self.wire
        self.wire = data
        if data[2:4] != old[2:4]:
            # The question stands for the bytes after the ID (the cache keys on its DO and CD
            # bits and keeps replies by it): other flags, another question.
            self.q = wire.read_question(data)
        return old

    def take_outcome(self, copy: Request) -> None:
        """Take what the chain recorded on ``copy`` (a :meth:`with_wire` copy sent on in this
        request's place): the plugin that answered, and an error for the errors plugin to log."""
        if copy is self:
            return
        if copy.answered_by:
            self.answered_by = copy.answered_by
        if copy.error is not None:
            self.error = copy.error

    def with_question(self, name: str, qtype: int, qclass: int = wire.CLASS_IN) -> Request:
        """A copy of this request asking another question (CoreDNS's ``NewWithQuestion``).

        ID, flags and every record after the question (the OPT with its options) are kept; the
        client, the listener and the metadata are the same. ``name`` is presentation text, made
        fully qualified.
        """
        if not name.endswith("."):
            name += "."
        data = self.wire
        new = data[:12] + dns.name_to_wire(name) + wire.question_tail(qtype, qclass) + data[self.q.end :]
        return self.with_wire(new)

    def set_udp_size(self, size: int) -> bool:
        """Change the EDNS buffer size this query advertises (CoreDNS's ``option.SetUDPSize``).

        The query's OPT record is rewritten in place, as CoreDNS's plugins change the request
        itself: the plugins after this one see the new size, forward sends it upstream, the
        reply's OPT mirrors it, and a UDP reply is truncated to it. A query without an OPT record
        is left alone. Returns True when the wire changed.
        """
        if not self.q.edns:
            return False
        data = self.wire
        at = wire.find_opt(data, self.q.end)
        if at < 0 or data[at + 3 : at + 5] == size.to_bytes(2, "big"):
            return False
        self.wire = data[: at + 3] + size.to_bytes(2, "big") + data[at + 5 :]
        self.q = wire.read_question(self.wire)
        self.key = self.q.key
        self._msg = None
        return True

    # -- replies ---------------------------------------------------------------------------------
    def make_reply(self) -> dnslib.DNSRecord:
        """An empty reply to this query: ID, question, opcode, RD and CD copied, QR set."""
        m = self.msg
        reply = dnslib.DNSRecord(
            dnslib.DNSHeader(id=m.header.id, qr=1, opcode=m.header.opcode, rd=m.header.rd),
            q=m.q,
        )
        reply.header.bitmap = (reply.header.bitmap & ~0x0010) | (m.header.bitmap & 0x0010)  # CD
        return reply

    def pack(self, reply: dnslib.DNSRecord) -> bytes:
        """Pack a reply as CoreDNS's scrub writer would send it.

        Any OPT record in ``reply`` is replaced by one mirroring the client's EDNS (buffer size and
        DO), and the result is truncated to the size the client accepts, with TC set if answer or
        authority records had to go.
        """
        reply.ar = [rr for rr in reply.ar if rr.rtype != wire.TYPE_OPT]
        if self.q.edns:
            reply.add_ar(dnslib.EDNS0(udp_len=self.q.udp_size, flags="do" if self.q.do else ""))
        data = bytes(reply.pack())
        if len(data) > self.size:
            data = truncate(data, self.size)
        return data

    def wire_reply(self, rcode: int, answers: bytes = b"", count: int = 0, *, authoritative: bool = False) -> bytes:
        """A reply built on the wire, without dnslib: the fast way to answer from data prepared
        ahead of time.

        ``answers`` holds ``count`` records in wire form (:func:`wire.record`); an owner may be
        :data:`wire.QUESTION_NAME`, which points at the question, so the client sees its own
        spelling. The client's EDNS is mirrored and the reply is truncated to the size it accepts,
        as :meth:`pack` does.
        """
        data = wire.answer_reply(self.wire, self.q, rcode, answers, count, authoritative)
        if len(data) > self.size:
            data = wire.truncate_reply(data, self.size)
        return data

    def error_reply(self, rcode: int) -> bytes:
        q = self.q
        return wire.error_reply(self.wire, rcode, q.end, q.edns, q.udp_size, q.do)


def truncate(data: bytes, size: int) -> bytes:
    """Drop records from the end until the reply fits ``size``; set TC if answers had to go."""
    return wire.truncate_reply(data, size)
