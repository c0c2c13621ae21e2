"""forward: proxies queries to upstream resolvers over UDP, TCP or TLS (CoreDNS's forward)."""

from pycoredns.plugin import Directive
from pycoredns.plugins.forward.setup import setup

DIRECTIVE = Directive("forward", setup)
