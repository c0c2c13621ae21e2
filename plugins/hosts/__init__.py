"""hosts: serves A, AAAA and PTR records from an /etc/hosts style file and inline entries."""

from pycoredns.plugin import Directive
from pycoredns.plugins.hosts.setup import setup

DIRECTIVE = Directive("hosts", setup, once=True)
