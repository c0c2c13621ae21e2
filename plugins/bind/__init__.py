"""bind: the addresses a server block listens on, and optionally the node's network setup for them."""

from pycoredns.plugin import Directive
from pycoredns.plugins.bind.setup import setup

DIRECTIVE = Directive("bind", setup)
