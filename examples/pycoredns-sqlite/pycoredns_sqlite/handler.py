"""The sqlite handler: a synchronous answer from records packed ahead of time.

The common case, a name and type the table holds, is one dictionary lookup by the question's
wire key and one reply built from bytes (``Request.wire_reply``): no name conversion, no dnslib
parse or pack, no coroutine. Only a miss reads the name as text, to decide between an answer
for a CNAME, NODATA, NXDOMAIN and falling through.
"""

from __future__ import annotations

from pycoredns.plugin import Fall, Handler, Plugin, Request, Result, wire, zone_match
from pycoredns_sqlite import metrics
from pycoredns_sqlite.database import Database


class SQLite(Plugin):
    name = "sqlite"

    def __init__(self, next: Handler | None, database: Database, zones: list[str], fall: Fall) -> None:
        super().__init__(next)
        self.database = database
        self.zones = zones
        self.fall = fall

    def serve(self, req: Request) -> Result:
        records = self.database.records  # one reading, even if a reload swaps it meanwhile
        hit = records.answers.get(req.key)
        if hit is not None:
            metrics.count(req.server, hit.zone, metrics.ANSWER)
            req.answered_by = self.name
            return req.wire_reply(wire.NOERROR, hit.records, hit.count, authoritative=True)
        name = req.name
        zone = zone_match(self.zones, name)
        if not zone or req.qclass != wire.CLASS_IN:
            return self.next_or_failure(req)  # not ours, whatever fallthrough says
        chain = records.cnames.get(req.lname)
        if chain is not None:  # a CNAME whose end has nothing of this type
            metrics.count(req.server, zone, metrics.ANSWER)
            req.answered_by = self.name
            return req.wire_reply(wire.NOERROR, chain.records, chain.count, authoritative=True)
        if req.lname in records.names:  # the name exists, with other types only: NODATA
            metrics.count(req.server, zone, metrics.NODATA)
            req.answered_by = self.name
            return req.wire_reply(wire.NOERROR, authoritative=True)
        if self.fall.through(name):
            metrics.count(req.server, zone, metrics.FALLTHROUGH)
            return self.next_or_failure(req)
        metrics.count(req.server, zone, metrics.NXDOMAIN)
        req.answered_by = self.name
        return req.wire_reply(wire.NXDOMAIN, authoritative=True)
