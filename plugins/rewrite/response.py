"""Response rules and the reverter: restore the client's question and rewrite the reply.

Rules are applied to every record of the answer, authority and additional sections, last rule
first (the reverse of the order they rewrote the query); message-level rules (rcode) also apply
to a reply without records.
"""

from __future__ import annotations

import logging
import struct
from typing import Protocol, cast

import dnslib

from pycoredns.plugin import Request, wire
from pycoredns.plugins.rewrite.opt import OptRule, RemoveOption, RestoreOption, find_opt, revert_opt

log = logging.getLogger("pycoredns.rewrite")


class ResponseRule(Protocol):
    """Rewrites one record of the reply (``rr`` is None for the message-level pass)."""

    def apply(self, msg: dnslib.DNSRecord, rr: dnslib.RR | None) -> None: ...


class LookupRule(Protocol):
    """Rewrites one record of the reply and may resolve a name to do so (the ``cname`` rule)."""

    async def apply_lookup(self, msg: dnslib.DNSRecord, rr: dnslib.RR, req: Request) -> None: ...


# What a rule leaves for the reply: record rules, OPT rules (``revert``) and lookup rules.
Response = ResponseRule | OptRule | LookupRule


class TTLRule:
    def __init__(self, minimum: int, maximum: int) -> None:
        self.minimum, self.maximum = minimum, maximum

    def apply(self, msg: dnslib.DNSRecord, rr: dnslib.RR | None) -> None:
        if rr is None or rr.rtype == wire.TYPE_OPT:
            return
        if rr.ttl < self.minimum:
            rr.ttl = self.minimum
        elif rr.ttl > self.maximum:
            rr.ttl = self.maximum


class RcodeRule:
    message_level = True

    def __init__(self, old: int, new: int) -> None:
        self.old, self.new = old, new

    def apply(self, msg: dnslib.DNSRecord, rr: dnslib.RR | None) -> None:
        if msg.header.rcode == self.old:
            msg.header.rcode = self.new & 0xF


def question_end(reply: bytes) -> int:
    """Offset just after the first question of a reply (12 when it has none)."""
    if len(reply) < 12 or not (reply[4] or reply[5]):
        return 12
    pos = 12
    while pos < len(reply):
        length = reply[pos]
        if length == 0:
            return pos + 5
        if length & 0xC0 == 0xC0:
            return pos + 6
        pos += 1 + length
    return len(reply)


class Reverter:
    """The response rules one query collected, sorted by what they work on."""

    __slots__ = ("records", "opts", "lookups")

    def __init__(self, rules: list[Response]) -> None:
        self.records: list[ResponseRule | LookupRule] = []  # in rule order, cname rules among them
        self.opts: list[OptRule] = []
        self.lookups = False  # a cname rule is among the records: restore_with_lookups
        for rule in rules:
            if isinstance(rule, (RemoveOption, RestoreOption)):
                self.opts.append(rule)
            else:
                self.records.append(rule)
                self.lookups = self.lookups or hasattr(rule, "apply_lookup")

    def restore(self, req: Request, reply: bytes, name_changed: bool) -> bytes:
        """The reply with the client's question (``req``'s) put back and the rules applied."""
        if self.records:
            msg = _parse(req, reply)
            if msg is None:
                return reply
            records = cast(list[ResponseRule], self.records)  # no lookups: see restore_with_lookups
            if _each_record(msg, records) == 0:
                _message_level(msg, records)
            reply = _pack(msg, reply)
        else:
            reply = _swap_question(req, reply, name_changed)
        return revert_opt(reply, self.opts) if self.opts else reply

    async def restore_with_lookups(self, req: Request, new_req: Request, reply: bytes) -> bytes:
        """:meth:`restore` for rule lists that resolve names (``cname``): ``new_req`` asks them."""
        msg = _parse(req, reply)
        if msg is None:
            return reply
        count = 0
        # As CoreDNS: each section as it was before any rule ran, authority first.
        for section in (list(msg.auth), list(msg.rr), list(msg.ar)):
            for rr in section:
                count += 1
                for rule in reversed(self.records):
                    lookup = getattr(rule, "apply_lookup", None)
                    if lookup is not None:
                        await lookup(msg, rr, new_req)
                    else:
                        cast(ResponseRule, rule).apply(msg, rr)
        if count == 0:
            _message_level(msg, self.records)
        out = _pack(msg, reply)
        return revert_opt(out, self.opts) if self.opts else out


def _swap_question(req: Request, reply: bytes, name_changed: bool) -> bytes:
    if not name_changed:
        # Only type or class changed: the question name's bytes are the same, so compression
        # pointers into it stay valid and the question can be swapped in place.
        end = question_end(reply)
        return reply[:4] + b"\x00\x01" + reply[6:12] + req.wire[12 : req.q.end] + reply[end:]
    msg = _parse(req, reply)
    return reply if msg is None else _pack(msg, reply)


def _parse(req: Request, reply: bytes) -> dnslib.DNSRecord | None:
    """The reply parsed, with the client's question in place of the one the chain answered."""
    try:
        msg = dnslib.DNSRecord.parse(reply)
    except Exception as e:  # an unreadable reply: send it as it came rather than nothing
        log.debug("rewrite: cannot parse reply for %s: %s", req.qname, e)
        return None
    q = req.q
    labels = [req.wire[off + 1 : off + 1 + req.wire[off]] for off in q.labels]
    msg.questions = [dnslib.DNSQuestion(dnslib.DNSLabel(labels), q.qtype, q.qclass)]
    msg.header.q = 1
    return msg


def _pack(msg: dnslib.DNSRecord, original: bytes) -> bytes:
    """``msg`` packed, with the OPT record of the ``original`` reply as it came: dnslib loses a
    last option without data (an NSID request), and no record rule changes the OPT."""
    packed = bytes(msg.pack())
    try:
        begin, end = find_opt(original, question_end(original))
        if begin < 0:
            return packed
        new_begin, new_end = find_opt(packed, question_end(packed))
    except (IndexError, struct.error, wire.MalformedMessage):
        return packed
    if new_begin < 0:
        return packed
    return packed[:new_begin] + original[begin:end] + packed[new_end:]


def _each_record(msg: dnslib.DNSRecord, rules: list[ResponseRule]) -> int:
    count = 0
    for section in (msg.auth, msg.rr, msg.ar):
        for rr in section:
            count += 1
            for rule in reversed(rules):
                rule.apply(msg, rr)
    return count


def _message_level(msg: dnslib.DNSRecord, rules: list[ResponseRule] | list[ResponseRule | LookupRule]) -> None:
    """Rules on the message itself (rcode) still apply to a reply without records."""
    for rule in reversed(rules):
        if getattr(rule, "message_level", False):
            cast(ResponseRule, rule).apply(msg, None)
