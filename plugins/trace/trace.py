"""The trace sampler and its spans.

*trace* adds no handler to the chain: it registers itself as the block's sampler, and the query
path hands it one query in every ``every`` (see ``pycoredns.spans``). For that query it opens the
``servedns`` span and serves the chain; each plugin then called through ``next_or_failure`` gets a
child span named after it, nested as the calls are (CoreDNS's ``plugin.NextOrFailure``). Finished
spans go to the reporter's queue; a background task on the loop sends them in batches, so the
query itself only builds a few small objects.
"""

from __future__ import annotations

from typing import Any

from pycoredns.plugin import Handler, HandlerError, Plugin, Request, Result, dns, serve_traced, then, wire
from pycoredns.plugins.trace.options import Options
from pycoredns.plugins.trace.reporter import make_reporter
from pycoredns.plugins.trace.span import Pending, Span, new_id

ROOT_NAME = "servedns"
TRACE_ID_META = "trace/traceid"

# Tag names (CoreDNS's tagByProvider): Datadog's use @ where Zipkin's use /.
TAGS = {
    "zipkin": ("coredns.io/name", "coredns.io/type", "coredns.io/rcode", "coredns.io/proto", "coredns.io/remote"),
    "datadog": ("coredns.io@name", "coredns.io@type", "coredns.io@rcode", "coredns.io@proto", "coredns.io@remote"),
}


class Trace(Plugin):
    """The block's sampler (and, only when nothing follows it, a handler that fails as CoreDNS's)."""

    name = "trace"

    def __init__(self, opts: Options) -> None:
        super().__init__(None)
        self.opts = opts
        self.every = opts.every
        self.reporter = make_reporter(opts)
        self.tags = TAGS["datadog" if opts.endpoint_type == "datadog" else "zipkin"]
        # Datadog's spans come from its own tracer, which plugin.NextOrFailure does not see: the
        # root span only, as in CoreDNS.
        self.children = opts.endpoint_type != "datadog"

    def attach(self, next: Handler | None) -> Handler:
        """The chain factory: *trace* takes its place without a handler of its own."""
        self.next = next
        return next if next is not None else self

    # -- the sampler ------------------------------------------------------------------------------
    def sample(self, req: Request, chain: Handler) -> Result:
        root = Span(self.reporter.report, new_id(), 0, ROOT_NAME, self.children)
        root.kind = "SERVER"
        if req.meta is not None:
            req.meta[TRACE_ID_META] = f"{root.trace_id:016x}"
        nxt = self.next
        try:
            if chain is nxt or nxt is None:
                result = serve_traced(root, chain, req)
            else:
                req.span = Pending(root, nxt)
                result = chain.serve(req)
        except Exception as e:
            self._failed(e, req, root)
            raise  # _failed re-raises; this keeps the type checker sure of it
        return then(result, self._answered, req, root, on_error=self._failed)

    def _answered(self, reply: Any, req: Request, root: Span) -> Any:
        rcode = reply[3] & 0xF if isinstance(reply, (bytes, bytearray)) else int(reply)
        self._finish(req, root, rcode, req.error)
        return reply

    def _failed(self, error: Exception, req: Request, root: Span) -> Any:
        rcode = error.rcode if isinstance(error, HandlerError) else wire.SERVFAIL
        self._finish(req, root, rcode, error)
        raise error

    def _finish(self, req: Request, root: Span, rcode: int, error: BaseException | None) -> None:
        name, qtype, rc, proto, remote = self.tags
        tags = root.tags
        tags[name] = req.name
        tags[qtype] = req.type_name
        tags[proto] = req.proto
        tags[remote] = req.remote_ip
        tags[rc] = dns.rcode_label(rcode)
        if error is not None:
            root.error = str(error)
        req.span = None
        root.finish()

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        self.reporter.start()

    async def stop(self) -> None:
        await self.reporter.stop()
