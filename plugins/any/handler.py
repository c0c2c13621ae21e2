"""The any handler: one HINFO for QTYPE ANY, everything else goes on down the chain."""

from __future__ import annotations

import dnslib

from pycoredns.plugin import Plugin, Request, Result

TYPE_ANY = 255
HINFO_TTL = 8482  # the RFC's number, as CoreDNS uses it
_CPU = b"ANY obsoleted"
_OS = b"See RFC 8482"
# dnslib has no HINFO class: the rdata is two character-strings, built once.
_HINFO = dnslib.RD(bytes([len(_CPU)]) + _CPU + bytes([len(_OS)]) + _OS)


class Any(Plugin):
    name = "any"

    def serve(self, req: Request) -> Result:
        if req.qtype != TYPE_ANY:
            return self.next_or_failure(req)
        reply = req.make_reply()
        # Always class IN and the name as the client wrote it (CoreDNS's Any.ServeDNS).
        reply.add_answer(dnslib.RR(req.qname, dnslib.QTYPE.HINFO, dnslib.CLASS.IN, HINFO_TTL, _HINFO))
        req.answered_by = self.name
        return req.pack(reply)
