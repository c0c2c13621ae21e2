"""Parse ``prometheus [ADDRESS] [{ runtime_metrics | tls CONFIG_FILE }]`` and wire the observer."""

from __future__ import annotations

from pycoredns.plugin import Controller, exposition, gauge_merge, http
from pycoredns.plugins.prometheus.metrics import STATS
from pycoredns.plugins.prometheus.observer import DROPPED_OBSERVER, MetricsObserver

DEFAULT_ADDR = "localhost:9153"
# Plugins that are observers here but handlers in CoreDNS: they still count as enabled plugins.
_OBSERVER_PLUGINS = ("prometheus", "errors", "log")


def parse(c: Controller) -> str:
    addr = DEFAULT_ADDR
    c.next()
    addr = http.address_arg(c, addr)
    while c.next_block():
        option = c.val()
        if option == "runtime_metrics":
            # Go's runtime/metrics set; Python's gc and process collectors are always exported.
            c.remaining_args(at_most=0)
        elif option == "tls":
            # The exporter-toolkit web config (TLS, basic auth) has no Python counterpart here.
            c.only_arg()
            raise c.err("tls is not supported by this build")
        else:
            raise c.errf("unknown option: %s", option)
    return addr


def setup(c: Controller) -> None:
    addr = parse(c)
    register_collectors(c)
    observer = MetricsObserver(STATS, c.zones)
    c.add_observer(observer)
    c.add_dropped_observer(DROPPED_OBSERVER)
    server = c.http_server(addr)
    generation = c.generation

    async def startup() -> None:
        await server.acquire(observer, {"/metrics": metrics_route})
        # Every plugin's setup has run by now: the chain and the listen addresses are known.
        order = c.directive_order
        names = {h.name for h in c.handlers}
        names.update(d for d in _OBSERVER_PLUGINS if d in c.directives)
        ordered = sorted(names, key=lambda n: order.index(n) if n in order else len(order))
        first = c.addresses[0]
        labels: list[tuple[str, str, str, str]] = []
        for host in c.listen_hosts:
            label = f"{first.transport}://{_join_host_port(host, first.port)}"
            labels.extend((label, first.zone, "", name) for name in ordered)
        STATS.set_enabled(generation, labels)

    async def shutdown() -> None:
        await server.release(observer)

    c.on_startup(startup)
    c.on_shutdown(shutdown)


async def metrics_route(method: str, headers: dict[str, str]) -> http.Response:
    body, content_type = await exposition(headers.get("accept", ""))
    return http.Response(200, body, content_type)


def register_collectors(c: Controller) -> None:
    """The core families, and the Python stand-ins for Go's process and runtime collectors."""
    from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

    c.register_metrics("coredns_core", STATS.collect, STATS.describe)
    gauge_merge("coredns_plugin_enabled", "max")  # the same in every worker (coredns_build_info: *_info)
    c.register_collector("process", lambda: ProcessCollector(registry=None))
    # GCCollector insists on registering somewhere: a throwaway registry, then ours.
    c.register_collector("python_gc", lambda: GCCollector(registry=CollectorRegistry()))
    c.register_collector("python_platform", lambda: PlatformCollector(registry=None))


def _join_host_port(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
