"""hello: a third-party plugin. ``hello [TEXT]`` answers TXT queries with TEXT; others pass on."""

from __future__ import annotations

import dnslib

from pycoredns.plugin import Controller, Directive, Handler, Plugin, Request, Result


class Hello(Plugin):
    name = "hello"

    def __init__(self, next: Handler | None, text: str) -> None:
        super().__init__(next)
        self.text = text

    def serve(self, req: Request) -> Result:
        if req.qtype != dnslib.QTYPE.TXT:
            return self.next_or_failure(req)
        reply = req.make_reply()
        reply.add_answer(dnslib.RR(req.qname, dnslib.QTYPE.TXT, ttl=0, rdata=dnslib.TXT(self.text)))
        req.answered_by = self.name
        return req.pack(reply)


def setup(c: Controller) -> None:
    c.next()
    args = c.remaining_args(at_most=1)  # more than one argument is an argument error
    text = args[0] if args else "hello"
    c.add_plugin(lambda next: Hello(next, text))


# Placed just before whoami in the chain, so whoami answers what hello passes on.
DIRECTIVE = Directive("hello", setup, before="whoami")
