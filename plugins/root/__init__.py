"""root: the directory relative file paths of other plugins are resolved against."""

from pycoredns.plugin import Directive
from pycoredns.plugins.root.setup import setup

DIRECTIVE = Directive("root", setup)
