"""template: answers queries from Go-template resource records chosen by regex matches."""

from pycoredns.plugin import Directive
from pycoredns.plugins.template.setup import setup

DIRECTIVE = Directive("template", setup)
