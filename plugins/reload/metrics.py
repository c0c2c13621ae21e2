"""coredns_reload_failed_total and coredns_reload_version_info, as CoreDNS's reload plugin has them."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from pycoredns.plugin import Controller

# Created unregistered and registered once on the process registry: setup runs again on reload.
FAILED = Counter(
    "failed_total",
    "Counter of the number of failed reload attempts.",
    namespace="coredns",
    subsystem="reload",
    registry=None,
)
VERSION_INFO = Gauge(
    "version_info",
    "A metric with a constant '1' value labeled by hash, and value which type of hash generated.",
    ["hash", "value"],
    namespace="coredns",
    subsystem="reload",
    registry=None,
)


def register(c: Controller) -> None:
    c.register_collector("reload_failed_total", lambda: FAILED)
    c.register_collector("reload_version_info", lambda: VERSION_INFO)


def set_version(digest: str) -> None:
    VERSION_INFO.labels("sha512", digest).set(1)


def drop_version(digest: str) -> None:
    try:
        VERSION_INFO.remove("sha512", digest)
    except KeyError:
        pass
