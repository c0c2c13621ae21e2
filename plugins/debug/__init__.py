"""debug: debug mode for a server block and [DEBUG] log lines for the process."""

from pycoredns.plugin import Directive
from pycoredns.plugins.debug.setup import setup

DIRECTIVE = Directive("debug", setup)
