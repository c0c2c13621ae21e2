"""pprof: CPU, heap, goroutine and loop-stall profiles of the running process under /debug/pprof."""

from pycoredns.plugin import Directive
from pycoredns.plugins.pprof.setup import setup

DIRECTIVE = Directive("pprof", setup, once=True)
