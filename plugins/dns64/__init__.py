"""dns64: synthesises AAAA records from A records for IPv6-only clients behind NAT64."""

from pycoredns.plugin import Directive
from pycoredns.plugins.dns64.setup import setup

DIRECTIVE = Directive("dns64", setup)
