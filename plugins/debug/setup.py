"""Parse ``debug`` (no arguments): the block gets debug mode and the process logs [DEBUG] lines."""

from __future__ import annotations

from pycoredns import log
from pycoredns.plugin import Controller


def setup(c: Controller) -> None:
    while c.next():
        if c.next_arg():
            raise c.arg_err()
        c.config.debug = True
        # Process-wide, as CoreDNS's clog.D.Set(): once any block asks, debug lines are shown.
        log.set_debug(True)
