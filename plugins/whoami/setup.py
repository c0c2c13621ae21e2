"""Parse ``whoami`` (no arguments; later occurrences in a block are ignored, as in CoreDNS)."""

from __future__ import annotations

from pycoredns.plugin import Controller
from pycoredns.plugins.whoami.handler import Whoami


def setup(c: Controller) -> None:
    c.next()  # the directive itself
    c.no_args()
    c.add_plugin(lambda next: Whoami(next))
