"""log: one line per query in CoreDNS's Common Log Format (or a custom one)."""

from pycoredns.plugin import Directive
from pycoredns.plugins.log.setup import setup

DIRECTIVE = Directive("log", setup)
