"""timeouts: read, write and idle timeouts and the query limit of the block's TCP connections."""

from pycoredns.plugin import Directive
from pycoredns.plugins.timeouts.setup import setup

DIRECTIVE = Directive("timeouts", setup)
