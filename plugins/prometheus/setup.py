"""Parse ``prometheus [ADDRESS] [{ runtime_metrics | tls CONFIG_FILE }]`` and wire the observer."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.exposition import choose_encoder

from pycoredns import http
from pycoredns.metrics import REGISTRY, FuncCollector, register_once
from pycoredns.plugin import Controller
from pycoredns.plugins.prometheus.metrics import STATS
from pycoredns.plugins.prometheus.observer import DroppedObserver, MetricsObserver

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
            if c.remaining_args():
                raise c.arg_err()
        elif option == "tls":
            # The exporter-toolkit web config (TLS, basic auth) has no Python counterpart here.
            if len(c.remaining_args()) != 1:
                raise c.arg_err()
            raise c.err("tls is not supported by this build")
        else:
            raise c.errf("unknown option: %s", option)
    return addr


def setup(c: Controller) -> None:
    addr = parse(c)
    register_collectors()
    observer = MetricsObserver(STATS, c.zones)
    c.add_observer(observer)
    dropped = c.process.setdefault("dropped_observers", [])
    if not any(isinstance(d, DroppedObserver) for d in dropped):
        dropped.append(DroppedObserver(STATS))
    config, instance, process = c.config, c.instance, c.process
    registry = instance.registry
    order = registry.names() if registry is not None else []

    async def startup() -> None:
        await http.acquire(process, addr, observer, {"/metrics": metrics_route})
        names = {h.name for h in config.handlers}
        names.update(d for d in _OBSERVER_PLUGINS if d in config.directives)
        ordered = sorted(names, key=lambda n: order.index(n) if n in order else len(order))
        first = config.addresses[0]
        labels: list[tuple[str, str, str, str]] = []
        for host in config.listen_hosts:
            server = f"{first.transport}://{_join_host_port(host, first.port)}"
            labels.extend((server, first.zone, "", name) for name in ordered)
        STATS.set_enabled(instance, labels)

    async def shutdown() -> None:
        await http.release(process, addr, observer)

    c.on_startup(startup)
    c.on_shutdown(shutdown)


def metrics_route(method: str, headers: dict[str, str]) -> http.Response:
    encoder, content_type = choose_encoder(headers.get("accept", ""))
    body = generate_latest(REGISTRY) if encoder is generate_latest else encoder(REGISTRY)
    return http.Response(200, body, content_type)


def register_collectors() -> None:
    """The core families, and the Python stand-ins for Go's process and runtime collectors."""
    from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

    register_once("coredns_core", lambda: FuncCollector(STATS.collect, STATS.describe))
    register_once("process", lambda: ProcessCollector(registry=None))
    # GCCollector insists on registering somewhere: a throwaway registry, then ours.
    register_once("python_gc", lambda: GCCollector(registry=CollectorRegistry()))
    register_once("python_platform", lambda: PlatformCollector(registry=None))


def _join_host_port(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
