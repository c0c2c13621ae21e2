"""Parse ``prometheus [ADDRESS] [{ runtime_metrics | tls CONFIG_FILE }]`` and wire the observer."""

from __future__ import annotations

from pycoredns.plugin import Controller, WebConfig, WebConfigError, exposition, gauge_merge, http
from pycoredns.plugins.prometheus.metrics import STATS
from pycoredns.plugins.prometheus.observer import DROPPED_OBSERVER, MetricsObserver

DEFAULT_ADDR = "localhost:9153"
# Plugins that are observers here but handlers in CoreDNS: they still count as enabled plugins.
_OBSERVER_PLUGINS = ("prometheus", "errors", "log")


def parse(c: Controller) -> str:
    """The listen address (the options are checked too)."""
    return parse_options(c)[0]


def parse_options(c: Controller) -> tuple[str, str]:
    """(ADDRESS, the ``tls`` web configuration file or "")."""
    addr = DEFAULT_ADDR
    tls = ""
    c.next()
    addr = http.address_arg(c, addr)
    while c.next_block():
        option = c.val()
        if option == "runtime_metrics":
            # Go's runtime/metrics set; Python's gc and process collectors are always exported.
            c.remaining_args(at_most=0)
        elif option == "tls":
            if tls:
                raise c.err("tls block already specified")
            tls = c.only_arg()
        else:
            raise c.errf("unknown option: %s", option)
    return addr, tls


def setup(c: Controller) -> None:
    addr, tls = parse_options(c)
    web = None
    if tls:
        # CoreDNS finds a bad file when the listener starts, which fails the load all the same;
        # reading it here gives the error before anything listens.
        try:
            web = WebConfig.load(tls)
        except WebConfigError as e:
            raise ValueError(str(e)) from None
    register_collectors(c)
    observer = MetricsObserver(STATS, c.zones)
    c.add_observer(observer)
    c.add_dropped_observer(DROPPED_OBSERVER)
    server = c.http_server(addr)
    generation = c.generation

    async def startup() -> None:
        await server.acquire(observer, {"/metrics": metrics_route}, web, sets_web=True)
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
        STATS.retire_enabled(generation)
        await server.release(observer)
        observer.close()

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
