"""The query the cache sends on: a copy of the client's with AD set, as CoreDNS does."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pycoredns.plugin import Request


def with_ad(req: Request, proto: str | None = None) -> Request:
    """``req`` with the AD bit set (a copy; ``req`` itself when it already has AD and no proto change).

    Background refreshes pass ``proto="tcp"`` so the next plugin sizes its reply as for TCP, as
    CoreDNS's prefetch writer (which has a TCP remote address) does.
    """
    w = req.wire
    if w[3] & 0x20 and proto is None:
        return req
    up = req.with_flags((w[2] << 8) | w[3] | 0x20)
    if proto is not None:
        up.proto = proto
    return up
