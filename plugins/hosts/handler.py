"""The hosts handler: A/AAAA from the hosts data, PTR from the reverse map, SERVFAIL when empty."""

from __future__ import annotations

import dnslib

from pycoredns.plugin import Fall, Handler, Plugin, Request, Result, wire, zone_match
from pycoredns.plugins.hosts.hostsfile import Hostsfile, parse_ip

TYPE_A = 1
TYPE_PTR = 12
TYPE_AAAA = 28
_V4_ARPA = ".in-addr.arpa."
_V6_ARPA = ".ip6.arpa."


def address_from_reverse(name: str) -> str:
    """``4.3.2.1.in-addr.arpa.`` -> ``1.2.3.4`` (and nibbles for ip6.arpa.); "" if not one."""
    if name.endswith(_V4_ARPA):
        ip = parse_ip(".".join(reversed(name[: -len(_V4_ARPA)].split("."))))
        return str(ip) if ip is not None and ip.version == 4 else ""
    if name.endswith(_V6_ARPA):
        nibbles = list(reversed(name[: -len(_V6_ARPA)].split(".")))
        groups = ["".join(nibbles[i * 4 : i * 4 + 4]) for i in range(len(nibbles) // 4)]
        ip = parse_ip(":".join(groups))
        return str(ip) if ip is not None else ""
    return ""


class Hosts(Plugin):
    name = "hosts"

    def __init__(
        self,
        next: Handler | None,
        hostsfile: Hostsfile,
        zones: list[str],
        ttl: int,
        fall: Fall,
        fallthrough_unsupported: bool,
    ) -> None:
        super().__init__(next)
        self.hostsfile = hostsfile
        self.zones = zones
        self.ttl = ttl
        self.fall = fall
        self.fallthrough_unsupported = fallthrough_unsupported

    def serve(self, req: Request) -> Result:
        qname = req.name
        qtype = req.qtype
        hf = self.hostsfile
        if qtype != TYPE_PTR and zone_match(self.zones, qname) == "":
            return self.next_or_failure(req)  # not ours, whatever fallthrough says

        rtype = qtype
        if qtype == TYPE_PTR:
            names = hf.lookup_addr(address_from_reverse(qname))
            if not names:
                # Reverse names need not be in the zones: an unknown one always goes on.
                return self.next_or_failure(req)
            data = [dnslib.PTR(n) for n in names]
        elif qtype == TYPE_A:
            data = [dnslib.A(ip) for ip in hf.lookup_v4(qname)]
        elif qtype == TYPE_AAAA:
            data = [dnslib.AAAA(ip) for ip in hf.lookup_v6(qname)]
        else:
            data = []
            if self.fallthrough_unsupported and self.fall.through(qname):
                return self.next_or_failure(req)

        if not data and not hf.lookup_v4(qname) and not hf.lookup_v6(qname):
            if self.fall.through(qname):
                return self.next_or_failure(req)
            # No SOA to build an NXDOMAIN from: CoreDNS answers SERVFAIL (the server writes it).
            return wire.SERVFAIL

        reply = req.make_reply()
        reply.header.aa = 1
        for rdata in data:
            reply.add_answer(dnslib.RR(qname, rtype, dnslib.CLASS.IN, self.ttl, rdata))
        req.answered_by = self.name
        return req.pack(reply)
