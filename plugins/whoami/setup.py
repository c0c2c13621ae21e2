"""Parse ``whoami`` (no arguments; later occurrences in a block are ignored, as in CoreDNS)."""

from __future__ import annotations

from pycoredns.plugin import Controller
from pycoredns.plugins.whoami.handler import Whoami


def setup(c: Controller) -> None:
    c.next()  # the directive itself
    if c.next_arg():
        raise c.arg_err()
    c.add_plugin(lambda next: Whoami(next))
