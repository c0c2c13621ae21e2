"""ready: the /ready endpoint, 200 once every plugin that reports readiness is ready."""

from pycoredns.plugin import Directive
from pycoredns.plugins.ready.setup import setup

DIRECTIVE = Directive("ready", setup, once=True)
