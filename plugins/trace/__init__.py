"""trace: a span per sampled query and per plugin it passes, sent to Zipkin (or a Datadog agent)."""

from pycoredns.plugin import Directive
from pycoredns.plugins.trace.setup import setup

DIRECTIVE = Directive("trace", setup)
