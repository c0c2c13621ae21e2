"""health: the /health liveness endpoint, with a lameduck delay on shutdown."""

from pycoredns.plugin import Directive
from pycoredns.plugins.health.setup import setup

DIRECTIVE = Directive("health", setup)
