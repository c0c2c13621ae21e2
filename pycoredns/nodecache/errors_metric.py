"""``coredns_nodecache_setup_errors_total{errortype}``: node-cache's network-setup error counter.

Counting works whether or not the counter is registered (as with a Go CounterVec), so network
setup code just calls :func:`count`. Who exposes it calls :func:`register`: the bind plugin does
so on the process registry; node-cache does so only when its metrics listener comes up (node-cache
leaves the counter unregistered when that listen fails).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from pycoredns.metrics import REGISTRY, register_once

# node-cache's errortype values, all pre-initialised to 0 when registered.
IPTABLES = "iptables"
IPTABLES_LOCK = "iptables_lock"
INTERFACE_ADD = "interface_add"
INTERFACE_CHECK = "interface_check"
CONFIGMAP = "configmap"
ERROR_TYPES = (IPTABLES, IPTABLES_LOCK, INTERFACE_ADD, INTERFACE_CHECK, CONFIGMAP)

SETUP_ERRORS = Counter(
    "setup_errors_total",
    "The number of errors during periodic network setup for node-cache",
    ["errortype"],
    namespace="coredns",
    subsystem="nodecache",
    registry=None,
)
for _t in ERROR_TYPES:
    SETUP_ERRORS.labels(_t)


def register(registry: CollectorRegistry | None = None) -> None:
    """Expose the counter on ``registry`` (default: the process registry); idempotent."""
    register_once("nodecache_setup_errors", lambda: SETUP_ERRORS, registry or REGISTRY)


def count(errortype: str) -> None:
    SETUP_ERRORS.labels(errortype).inc()


def value(errortype: str) -> float:
    """The current count (for tests and diagnostics)."""
    return float(SETUP_ERRORS.labels(errortype)._value.get())
