"""reload: reload the Corefile when its parsed form changes (process-wide, one watcher)."""

from pycoredns.plugin import Directive
from pycoredns.plugins.reload.setup import setup

DIRECTIVE = Directive("reload", setup)
