"""loop: detect a forwarding loop at startup (a query to ourselves that comes back) and exit."""

from pycoredns.plugin import Directive
from pycoredns.plugins.loop.setup import setup

DIRECTIVE = Directive("loop", setup, once=True)
