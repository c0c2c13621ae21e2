"""Tracing hooks: how a sampled query carries its span down the chain, at no cost to the others.

A tracing plugin registers a :class:`Sampler` for its block (``Controller.set_sampler``). The
query path counts the block's queries down and hands one in every ``every`` to
``sampler.sample(req, chain)`` instead of ``chain.serve(req)``; the sampler opens a span, sets it
on ``req.span`` and serves the chain through :func:`serve_traced`. From there
``Plugin.next_or_failure`` sees the span and wraps each next handler in a child span (CoreDNS's
``plugin.NextOrFailure``), ended when that handler's answer is there. A query that is not sampled
pays one attribute test per next call and nothing else; a cache hit calls no next at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from pycoredns.results import Result, then

if TYPE_CHECKING:
    from pycoredns.request import Request


class Handler(Protocol):
    """A handler as tracing sees it (``pycoredns.plugin.Handler``)."""

    name: str

    def serve(self, req: Request) -> Result: ...


class Span(Protocol):
    """One timed step of a traced query, as the tracing plugin records it."""

    def child(self, handler: Handler) -> Span | None:
        """The span for calling ``handler`` next, or None to call it inside this span."""
        ...

    def finish(self) -> None:
        """The step is over (its answer is there, or it failed)."""
        ...


class Sampler(Protocol):
    """Picks the queries to trace: one in every ``every`` of the block's (0: none)."""

    every: int

    def sample(self, req: Request, chain: Handler) -> Result:
        """Serve ``req`` through ``chain`` in a span of its own."""
        ...


def serve_traced(span: Span, handler: Handler, req: Request) -> Result:
    """``handler.serve(req)`` inside a child of ``span`` (when ``span`` makes one for it)."""
    child = span.child(handler)
    if child is None:
        return handler.serve(req)
    req.span = child
    try:
        result = handler.serve(req)
    except BaseException:
        child.finish()
        raise
    finally:
        req.span = span  # the caller's later steps are siblings, not children, of this one
    if type(result) is bytes or type(result) is int:
        child.finish()
        return result
    return then(result, _finished, child, on_error=_failed)


def _finished(reply: Any, child: Span) -> Any:
    child.finish()
    return reply


def _failed(error: Exception, child: Span) -> Any:
    child.finish()
    raise error
