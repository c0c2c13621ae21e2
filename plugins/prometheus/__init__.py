"""prometheus: CoreDNS's /metrics endpoint and the core DNS request metrics."""

from pycoredns.plugin import Directive
from pycoredns.plugins.prometheus.setup import setup

DIRECTIVE = Directive("prometheus", setup, once=True)
