"""The bufsize handler: a query advertising more than the limit is lowered to it, then passed on.

The query is changed in place (:meth:`Request.set_udp_size`), as CoreDNS changes the request's OPT
record: forward sends the lowered size upstream, and the client's reply mirrors it and is
truncated to it over UDP. A smaller size is never raised, and a query without EDNS is untouched.
"""

from __future__ import annotations

from pycoredns.plugin import Handler, Plugin, Request, Result


class Bufsize(Plugin):
    name = "bufsize"

    def __init__(self, next: Handler | None, size: int) -> None:
        super().__init__(next)
        self.size = size

    def serve(self, req: Request) -> Result:
        q = req.q
        # udp_size is at least 512 and the limit too, so this compares the advertised sizes.
        if q.edns and q.udp_size > self.size:
            req.set_udp_size(self.size)
        nxt = self.next
        if nxt is None:
            return self.next_or_failure(req)
        return nxt.serve(req)
