"""errors: logs the errors handlers return, optionally consolidated by pattern."""

from pycoredns.plugin import Directive
from pycoredns.plugins.errors.setup import setup

DIRECTIVE = Directive("errors", setup, once=True)
