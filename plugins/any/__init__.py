"""any: answers ANY queries with a short HINFO (RFC 8482)."""

from pycoredns.plugin import Directive
from pycoredns.plugins.any.setup import setup

DIRECTIVE = Directive("any", setup)
