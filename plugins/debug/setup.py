"""Parse ``debug`` (no arguments): the block gets debug mode and the process logs [DEBUG] lines."""

from __future__ import annotations

from pycoredns.plugin import Controller


def setup(c: Controller) -> None:
    while c.next():
        c.no_args()
        # The block's panics are logged with their stack; [DEBUG] lines are process-wide, as
        # CoreDNS's clog.D.Set(): once any block asks, they are shown.
        c.set_debug()
