"""cache: a frontend cache with CoreDNS's semantics and a wire-level hit path."""

from pycoredns.plugin import Directive
from pycoredns.plugins.cache.setup import setup

DIRECTIVE = Directive("cache", setup, once=True)
