"""The whoami handler: an empty answer, the client's address and port in the additional section."""

from __future__ import annotations

import ipaddress

import dnslib

from pycoredns.plugin import Plugin, Request


class Whoami(Plugin):
    name = "whoami"

    def serve(self, req: Request) -> bytes:
        reply = req.make_reply()
        reply.header.aa = 1
        qname = req.qname
        cls = req.qclass
        ip = ipaddress.ip_address(req.remote_ip.split("%")[0])
        if ip.version == 4:
            addr_rr = dnslib.RR(qname, dnslib.QTYPE.A, cls, 0, dnslib.A(str(ip)))
        else:
            addr_rr = dnslib.RR(qname, dnslib.QTYPE.AAAA, cls, 0, dnslib.AAAA(str(ip)))
        srv_owner = f"_{req.proto}.{qname}" if qname != "." else f"_{req.proto}."
        srv = dnslib.RR(srv_owner, dnslib.QTYPE.SRV, cls, 0, dnslib.SRV(0, 0, req.remote_port, "."))
        reply.add_ar(addr_rr)
        reply.add_ar(srv)
        req.answered_by = self.name
        return req.pack(reply)
