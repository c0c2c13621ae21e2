"""Response rules and the reverter: restore the client's question and rewrite the reply.

Rules are applied to every record of the answer, authority and additional sections, last rule
first (the reverse of the order they rewrote the query); message-level rules (rcode) also apply
to a reply without records.
"""

from __future__ import annotations

import logging
from typing import Protocol

import dnslib

from pycoredns.plugin import Request, wire

log = logging.getLogger("pycoredns.rewrite")


class ResponseRule(Protocol):
    def apply(self, msg: dnslib.DNSRecord, rr: dnslib.RR | None) -> None: ...


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


def restore(req: Request, reply: bytes, rules: list[ResponseRule], name_changed: bool) -> bytes:
    """The reply with the client's question (``req``'s) put back and ``rules`` applied."""
    if not rules and not name_changed:
        # Only type or class changed: the question name's bytes are the same, so compression
        # pointers into it stay valid and the question can be swapped in place.
        end = question_end(reply)
        return reply[:4] + b"\x00\x01" + reply[6:12] + req.wire[12 : req.q.end] + reply[end:]
    try:
        msg = dnslib.DNSRecord.parse(reply)
    except Exception as e:  # an unreadable reply: send it as it came rather than nothing
        log.debug("rewrite: cannot parse reply for %s: %s", req.qname, e)
        return reply
    q = req.q
    labels = [req.wire[off + 1 : off + 1 + req.wire[off]] for off in q.labels]
    msg.questions = [dnslib.DNSQuestion(dnslib.DNSLabel(labels), q.qtype, q.qclass)]
    msg.header.q = 1
    if rules:
        count = 0
        for section in (msg.auth, msg.rr, msg.ar):
            for rr in section:
                count += 1
                for rule in reversed(rules):
                    rule.apply(msg, rr)
        if count == 0:
            for rule in reversed(rules):
                if getattr(rule, "message_level", False):
                    rule.apply(msg, None)
    return bytes(msg.pack())
