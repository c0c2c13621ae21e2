"""whoami: answers every query with the client's address and port."""

from pycoredns.plugin import Directive
from pycoredns.plugins.whoami.setup import setup

DIRECTIVE = Directive("whoami", setup)
