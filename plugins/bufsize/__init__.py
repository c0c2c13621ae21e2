"""bufsize: lowers the EDNS buffer size of queries to a maximum (1232 by default)."""

from pycoredns.plugin import Directive
from pycoredns.plugins.bufsize.setup import setup

DIRECTIVE = Directive("bufsize", setup)
