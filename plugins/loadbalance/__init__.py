"""loadbalance: shuffles A, AAAA and MX records in replies (round_robin), or puts a weighted pick
first (weighted), optionally ordering addresses by preferred subnets."""

from pycoredns.plugin import Directive
from pycoredns.plugins.loadbalance.setup import setup

DIRECTIVE = Directive("loadbalance", setup)
