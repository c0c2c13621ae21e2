"""rewrite: rewrites queries (name, type, class) and their replies (names, values, TTL, rcode)."""

from pycoredns.plugin import Directive
from pycoredns.plugins.rewrite.setup import setup

DIRECTIVE = Directive("rewrite", setup)
