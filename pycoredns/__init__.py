"""pycoredns: a CoreDNS-compatible DNS server in pure Python."""

from __future__ import annotations

__version__ = "0.1.0"
# The CoreDNS release whose behaviour we follow; shown by -version and in coredns_build_info.
COREDNS_VERSION = "1.14.7"
