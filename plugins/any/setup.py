"""Parse ``any`` (no arguments, no block; later occurrences in a block are ignored, as in CoreDNS)."""

from __future__ import annotations

from pycoredns.plugin import Controller
from pycoredns.plugins.any.handler import Any


def setup(c: Controller) -> None:
    c.next()  # the directive itself
    c.no_args()
    if c.next_block():
        raise c.unknown_property()
    c.add_plugin(lambda next: Any(next))
