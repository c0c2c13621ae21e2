"""Parse ``trace [ENDPOINT-TYPE] [ENDPOINT] [{ options }]`` (CoreDNS's plugin/trace/setup.go).

Errors CoreDNS builds with ``c.ArgErr``/``c.Errf`` carry the position; the parsers' own errors
(``strconv``, ``time.ParseDuration``) and the endpoint type's are returned unpositioned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pycoredns.plugin import ConfigError, Controller, parse_bool, parse_float
from pycoredns.plugins.trace.options import DEFAULT_TYPE, Options
from pycoredns.plugins.trace.trace import Trace

T = TypeVar("T")
PROVIDERS = {"zipkin": "localhost:9411", "datadog": "localhost:8126"}


def normalize_endpoint(kind: str, endpoint: str) -> tuple[str, str]:
    if kind not in PROVIDERS:
        raise ConfigError(f"tracing endpoint type '{kind}' is not supported")
    endpoint = endpoint or PROVIDERS[kind]
    if kind == "zipkin" and "http" not in endpoint:
        endpoint = f"http://{endpoint}/api/v2/spans"
    return kind, endpoint


def _plain(parse: Callable[[str], T], text: str) -> T:
    """A Go parser's value; its error returned as is (CoreDNS returns it unwrapped)."""
    try:
        return parse(text)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _every(c: Controller, o: Options) -> None:
    o.every = c.unsigned(c.remaining_args(at_least=1, at_most=1)[0], plain=True)


def _service(c: Controller, o: Options) -> None:
    o.service = c.remaining_args(at_least=1, at_most=1)[0]


def _client_server(c: Controller, o: Options) -> None:
    args = c.remaining_args(at_most=1)
    o.client_server = _plain(parse_bool, args[0]) if args else True


def _datadog_analytics_rate(c: Controller, o: Options) -> None:
    args = c.remaining_args(at_most=1)
    rate = _plain(parse_float, args[0]) if args else 0.0
    if rate > 1 or rate < 0:
        raise ConfigError(f"datadog analytics rate must be between 0 and 1, '{rate:f}' is not supported")
    o.datadog_analytics_rate = rate


def _backlog(c: Controller, o: Options) -> None:
    o.zipkin_max_backlog_size = c.integer(c.remaining_args(at_least=1, at_most=1)[0], plain=True)


def _batch_size(c: Controller, o: Options) -> None:
    o.zipkin_max_batch_size = c.integer(c.remaining_args(at_least=1, at_most=1)[0], plain=True)


def _batch_interval(c: Controller, o: Options) -> None:
    o.zipkin_max_batch_interval = c.duration(c.remaining_args(at_least=1, at_most=1)[0], plain=True)


_OPTIONS: dict[str, Callable[[Controller, Options], None]] = {
    "every": _every,
    "service": _service,
    "client_server": _client_server,
    "datadog_analytics_rate": _datadog_analytics_rate,
    "zipkin_max_backlog_size": _backlog,
    "zipkin_max_batch_size": _batch_size,
    "zipkin_max_batch_interval": _batch_interval,
}


def parse(c: Controller) -> Options:
    o = Options()
    hosts = [h for h in c.listen_hosts if h]
    if hosts and c.addresses:
        host, port = hosts[0], c.addresses[0].port
        o.service_endpoint = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    while c.next():
        args = c.remaining_args(at_most=2)
        if len(args) == 2:
            o.endpoint_type, o.endpoint = normalize_endpoint(args[0].lower(), args[1])
        else:
            o.endpoint_type, o.endpoint = normalize_endpoint(DEFAULT_TYPE, args[0] if args else "")
        while c.next_block():
            option = _OPTIONS.get(c.val())
            if option is None:
                raise c.unknown_property()
            option(c, o)
    return o


def setup(c: Controller) -> None:
    trace = Trace(parse(c))
    c.add_plugin(trace.attach)
    c.set_sampler(trace)
    c.on_startup(trace.start)
    c.on_shutdown(trace.stop)
