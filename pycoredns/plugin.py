"""The public plugin API: every name a plugin may use, built-in or third-party.

A plugin is a *directive*: a name, a ``setup(c)`` function, and a place in the chain order.
``setup`` reads its arguments from the :class:`Controller` (a token cursor over every occurrence
of the directive in one server block), validates them eagerly, and then adds a handler to the
block's chain (:meth:`Controller.add_plugin`), registers an observer
(:meth:`Controller.add_observer`), or starts side services through the lifecycle hooks.

The handler contract (CoreDNS's ``ServeDNS``, made cheap): ``serve(req)`` returns

* ``bytes``: the reply, already written by this handler or one after it;
* an ``int`` rcode from :data:`wire.SERVER_WRITES` (SERVFAIL, REFUSED, FORMERR, NOTIMP): nothing
  was written, the server writes a reply with that rcode;
* an awaitable resolving to one of those, for handlers that wait for I/O: best a
  :class:`Deferred`, which the server and :func:`then` continue from without a Future, a Task or
  a loop iteration (forward returns one); a coroutine or a Future works too.

A handler answers synchronously whenever it can (a cache hit must), so the common path creates
no coroutine. One that works on what the rest of the chain answered continues with
:meth:`Plugin.next_then` (or :func:`then`), which keeps a synchronous answer synchronous. A
handler that raises :class:`HandlerError` gets its rcode written and its message logged by the
errors plugin; any other exception becomes SERVFAIL and counts as a panic.

This module is the whole public surface: the names in ``__all__`` are kept stable. Everything
else under ``pycoredns`` is private to the engine, and the built-in plugins import only from
here (a test holds them to it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from prometheus_client.registry import Collector

from pycoredns import COREDNS_VERSION, counters, dns, expr, goregex, http, metrics, wire, workers
from pycoredns.corefile import Dispenser, Token, ZoneAddress, normalize_name, normalize_zone, split_host_port
from pycoredns.corefile.keys import is_domain_name
from pycoredns.corefile.parser import corefile_digest
from pycoredns.corefile.values import (
    go_duration,
    go_quote_rune,
    go_strconv_quote,
    parse_atoi,
    parse_bool,
    parse_cidr,
    parse_duration,
    parse_float,
    parse_uint,
)
from pycoredns.dns import zone_match
from pycoredns.errors import ConfigError, CorefileError, HandlerError, PyCoreDNSError, UpstreamError
from pycoredns.fall import Fall
from pycoredns.http import HTTPServer, Response, Route
from pycoredns.log import plugin_log
from pycoredns.metrics import (
    NAMESPACE,
    SIZE_BUCKETS,
    SIZE_INDEX,
    SLIM_TIME_BUCKETS,
    TIME_BUCKETS,
    Buckets,
    FuncCollector,
    add_histogram,
    register_once,
)
from pycoredns.request import Request
from pycoredns.results import Deferred, Reply, Result, then
from pycoredns.spans import Sampler, Span, serve_traced
from pycoredns.state import Key, Store
from pycoredns.threads import off_loop
from pycoredns.webconfig import WebConfig, WebConfigError
from pycoredns.workers import WorkerInfo

if TYPE_CHECKING:
    # Heavy (netlink, iptables): imported on first use through __getattr__ below.
    from pycoredns.nodecache.netsetup import NetSetup, NetSetupConfig

__all__ = [
    "COREDNS_VERSION",
    "NAMESPACE",
    "SIZE_BUCKETS",
    "SIZE_INDEX",
    "SLIM_TIME_BUCKETS",
    "TIME_BUCKETS",
    "VIEW",
    "Buckets",
    "ConfigError",
    "Controller",
    "CorefileError",
    "Deferred",
    "Directive",
    "DroppedObserver",
    "Fall",
    "FuncCollector",
    "HTTPServer",
    "Handler",
    "HandlerError",
    "Hook",
    "Key",
    "NetSetup",
    "NetSetupConfig",
    "Observer",
    "Plugin",
    "PyCoreDNSError",
    "Readiness",
    "Reply",
    "Request",
    "Response",
    "Result",
    "Route",
    "Runtime",
    "Sampler",
    "Span",
    "Store",
    "Token",
    "Upstream",
    "UpstreamError",
    "WebConfig",
    "WebConfigError",
    "WorkerInfo",
    "ZoneAddress",
    "add_histogram",
    "corefile_digest",
    "dns",
    "exposition",
    "expr",
    "gauge_merge",
    "go_duration",
    "go_quote_rune",
    "go_strconv_quote",
    "goregex",
    "http",
    "is_domain_name",
    "normalize_name",
    "normalize_zone",
    "off_loop",
    "panics",
    "parse_atoi",
    "parse_bool",
    "parse_cidr",
    "parse_duration",
    "parse_float",
    "parse_uint",
    "plugin_log",
    "serve_traced",
    "split_host_port",
    "then",
    "wire",
    "zone_match",
]

T = TypeVar("T")

# The block's view name (CoreDNS's ``config.ViewName``), set by a view plugin and read by the
# plugins that label metrics with it (cache). Empty when no view plugin is used.
VIEW: Key[str] = Key("view")

Hook = Callable[[], Awaitable[None]]
R = TypeVar("R")


class Handler(Protocol):
    """Anything in the chain: a name and ``serve``."""

    name: str

    def serve(self, req: Request) -> Result: ...


class Observer(Protocol):
    """Sees every reply a server block sends, the cache's fast ones included.

    ``reply`` is the wire sent (None when nothing was sent), ``rcode`` its rcode, ``error`` the
    error a handler raised or attached to the request. Observers must be quick and must not raise.
    An observer with a true class attribute ``only_errors`` is called only for replies that carry
    an error (the errors plugin), so the fast path skips it.
    """

    def observe(self, req: Request, reply: bytes | None, rcode: int, error: BaseException | None) -> None: ...


class DroppedObserver(Protocol):
    """Sees the queries no chain handled: no zone, a refused class, FORMERR (CoreDNS counts them
    under zone="dropped"). Registered with :meth:`Controller.add_dropped_observer`."""

    def observe_dropped(self, req: Request | None, server: str, proto: str, reply: bytes | None) -> None: ...


@runtime_checkable
class Readiness(Protocol):
    """A handler or observer that needs time before it can answer (CoreDNS's ``ready.Readiness``).

    The ready plugin asks every such object of its server blocks; ``/ready`` answers 200 once all
    of them return True. ``ready`` is called from the event loop and must be quick.
    """

    def ready(self) -> bool: ...


class Runtime(Protocol):
    """The running process as a plugin sees it (the same object across reloads)."""

    @property
    def stopping(self) -> bool:
        """True once the process has been asked to stop (a signal, or :meth:`stop`)."""
        ...

    def stop(self, code: int = 0) -> None:
        """Stop the process with exit status ``code`` (loop detection, a fatal error)."""
        ...

    async def restart(self) -> None:
        """Load the Corefile again and swap it in; raises :class:`PyCoreDNSError` when the new one
        fails to load or start, and the running configuration then stays."""
        ...

    def read_corefile(self) -> tuple[str, str]:
        """(text, filename) of the Corefile as a restart would read it now."""
        ...

    async def probe_listeners(self, timeout: float) -> list[str]:
        """Ask every DNS listener of the running configuration over UDP, as a client would, and
        return those (``host:port``) that did not answer within ``timeout`` seconds.

        Each probe is a datagram to the listener's own address and port that the server answers
        (BADVERS) before any plugin runs: it waits in the same receive queue and is read by the
        same event loop as the clients' queries, and involves no upstream, cache, log or metric.
        With workers, one round reaches every worker's socket. Empty when nothing listens."""
        ...

    @property
    def worker(self) -> WorkerInfo:
        """Which worker this process is (``-workers``): index, count, and the instance's id.

        With N workers each one loads the Corefile and runs every plugin, and the supervisor makes
        them one process to the outside. A plugin that must act once per instance does so in the
        primary worker; a size meant for the instance (a cache's capacity) is split N ways."""
        ...

    async def ask_workers(self, topic: str, timeout: float = 2.0) -> dict[int, Any]:
        """The other workers' answers to ``topic`` (registered with
        :meth:`Controller.answer_workers`), by worker index; None for a worker that is down or
        did not answer within ``timeout``. Empty when the process serves alone."""
        ...


class Upstream(Protocol):
    """Resolve a name through this server's own chain again (CoreDNS's ``upstream.Lookup``).

    What the template plugin uses to follow a CNAME it made, and rewrite's ``cname`` rule to look
    up the target it rewrote. Get it with :attr:`Controller.upstream` at setup.
    """

    def lookup(self, req: Request, name: str, qtype: int) -> bytes | Awaitable[bytes]:
        """The reply to ``name``/``qtype`` (class IN) asked as ``req``'s client asked it: its bytes
        at once when the chain answers at once (a cache hit), else an awaitable of them.

        The listener that received ``req`` answers a copy of it with the new question (same ID,
        flags, EDNS options and client address): zone routing, the whole chain and the observers
        run again (it is counted and logged, as in CoreDNS), and the reply comes back instead of
        being sent. A chain that fails
        gives the error reply the client would have had (SERVFAIL, REFUSED), never an exception.
        Raises :class:`UpstreamError` when the lookup cannot run: ``name`` is not a valid name,
        ``req`` did not come from a listener of this configuration, or lookups nest too deep (a
        rule that keeps matching its own lookups).
        """
        ...


class Plugin:
    """A convenient base for handlers: keeps ``next`` and offers :meth:`next_or_failure`."""

    name = "plugin"

    def __init__(self, next: Handler | None = None) -> None:
        self.next = next

    def serve(self, req: Request) -> Result:  # pragma: no cover - overridden
        return self.next_or_failure(req)

    def next_or_failure(self, req: Request) -> Result:
        """Hand the query on, or fail as CoreDNS does when this plugin is the last one.

        A traced query (``req.span`` set) runs the next handler in a child span, as CoreDNS's
        ``plugin.NextOrFailure`` does."""
        nxt = self.next
        if nxt is None:
            raise HandlerError(wire.SERVFAIL, f"plugin/{self.name}: no next plugin found")
        span = req.span
        if span is None:
            return nxt.serve(req)
        return serve_traced(span, nxt, req)

    def next_then(
        self, req: Request, on_reply: Callable[..., R], *args: Any, on_error: Callable[..., R] | None = None
    ) -> R | Deferred[R] | asyncio.Future[R]:
        """Hand the query on and continue with the answer: :func:`then` on :meth:`next_or_failure`.

        ``on_error(exception, *args)``, when given, also takes an error the next handler raises at
        once, so a plugin handles a failure in one place whether it came now or later.
        """
        try:
            result = self.next_or_failure(req)
        except Exception as e:
            if on_error is None:
                raise
            return on_error(e, *args)
        if isinstance(result, Deferred):
            return result.step(on_reply, on_error, args)
        return then(result, on_reply, *args, on_error=on_error)


Factory = Callable[[Handler | None], Handler]
SetupFunc = Callable[["Controller"], None]


@dataclass(frozen=True)
class Directive:
    """A plugin as the registry knows it.

    Built-in plugins are placed by ``pycoredns/plugin.cfg``. A third-party plugin, registered under
    the ``pycoredns.plugins`` entry-point group, says where it goes with ``before`` or ``after``
    (a directive name); with neither it goes last.
    """

    name: str
    setup: SetupFunc
    before: str | None = None
    after: str | None = None
    once: bool = False  # "this plugin can only be used once per Server Block"


@dataclass
class Lifecycle:
    """Hooks collected during setup; the server runs them."""

    startup: list[Hook] = field(default_factory=list)  # before the sockets open
    listen: list[Hook] = field(default_factory=list)  # once every socket is open
    shutdown: list[Hook] = field(default_factory=list)  # on reload (old config) and on exit
    final_shutdown: list[Hook] = field(default_factory=list)  # on process exit only


class BlockSetup(Protocol):
    """What the engine keeps for the server block being set up (the Controller writes it)."""

    addresses: list[ZoneAddress]
    read_timeout: float
    write_timeout: float
    idle_timeout: float
    max_tcp_queries: int | None
    max_connections: int | None
    directives: list[str]
    factories: list[tuple[str, Factory]]
    observers: list[Observer]
    handlers: list[Handler]
    listen_hosts: list[str]
    debug: bool
    any_class: bool
    root: str
    shared: Store
    sampler: Sampler | None


class LoadSetup(Protocol):
    """What the engine keeps for the Corefile being loaded, and the process it loads into."""

    generation: int
    text: str
    filename: str
    lifecycle: Lifecycle
    dropped: list[DroppedObserver]
    directive_order: list[str]

    @property
    def process(self) -> ProcessSetup: ...

    @property
    def upstream(self) -> Upstream: ...


class ProcessSetup(Runtime, Protocol):
    state: Store

    def add_exit_hook(self, hook: Callable[[], None]) -> None: ...

    def answer_workers(self, topic: str, answer: Callable[[], Any]) -> None: ...


class Controller(Dispenser):
    """What ``setup`` receives: a token cursor plus typed access to the block being configured.

    Properties that describe the block (``listen_hosts``, ``handlers``, ``observers``) read the
    engine's state when called, so lifecycle hooks see what every plugin's setup decided.
    """

    def __init__(
        self, directive: str, tokens: list[Token], block: BlockSetup, load: LoadSetup, server_block_index: int
    ) -> None:
        super().__init__(tokens, plugin=directive)
        self.directive = directive
        self.server_block_index = server_block_index
        self._block = block
        self._load = load

    # -- the chain ---------------------------------------------------------------------------
    def add_plugin(self, factory: Factory) -> None:
        """Add a handler factory ``next -> handler`` to this block's chain."""
        self._block.factories.append((self.directive, factory))

    def add_observer(self, observer: Observer) -> None:
        """See every reply of this block (after it is sent)."""
        self._block.observers.append(observer)

    def add_dropped_observer(self, observer: DroppedObserver) -> None:
        """See the queries no chain of this configuration handled (added once, however many
        blocks ask for the same object)."""
        if all(o is not observer for o in self._load.dropped):
            self._load.dropped.append(observer)

    def set_sampler(self, sampler: Sampler) -> None:
        """Trace one in every ``sampler.every`` queries of this block: the query path hands those to
        ``sampler.sample(req, chain)`` (see :mod:`pycoredns.spans`); the others cost nothing more.
        One sampler per block: a second replaces the first."""
        self._block.sampler = sampler

    # -- lifecycle ---------------------------------------------------------------------------
    def on_startup(self, hook: Hook) -> None:
        """Run ``hook`` before this configuration's listeners open (a failure stops the start)."""
        self._load.lifecycle.startup.append(hook)

    def on_listen(self, hook: Hook) -> None:
        """Run ``hook`` once every listener of the configuration is open (after a reload too)."""
        self._load.lifecycle.listen.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        """Run ``hook`` when this configuration retires: replaced by a reload, or at exit."""
        self._load.lifecycle.shutdown.append(hook)

    def on_final_shutdown(self, hook: Hook) -> None:
        """Run ``hook`` at process exit only, after the listeners closed."""
        self._load.lifecycle.final_shutdown.append(hook)

    def on_exit(self, hook: Callable[[], None]) -> None:
        """Run the synchronous ``hook`` once when the process exits, SIGQUIT included, whatever
        configuration is loaded and whether or not a reload is in flight (Caddy's OnProcessExit).
        It runs before the listeners close. Register it once per process (see :meth:`process_state`)."""
        self._load.process.add_exit_hook(hook)

    # -- the process -------------------------------------------------------------------------
    @property
    def runtime(self) -> Runtime:
        """The running process: stop it, restart it with the Corefile, ask whether it stops."""
        return self._load.process

    @property
    def generation(self) -> int:
        """A number unique to the configuration being loaded: each reload gets a new one."""
        return self._load.generation

    @property
    def upstream(self) -> Upstream:
        """Resolve names through this configuration's own chains (see :class:`Upstream`)."""
        return self._load.upstream

    @property
    def corefile(self) -> tuple[str, str]:
        """(text, filename) of the Corefile this configuration is loaded from."""
        return self._load.text, self._load.filename

    def answer_workers(self, topic: str, answer: Callable[[], Any]) -> None:
        """Answer the other workers' :meth:`Runtime.ask_workers` for ``topic`` with ``answer()``
        (JSON-able, quick: it runs on this worker's event loop). The last registration wins, so a
        reloaded configuration takes the topic over."""
        self._load.process.answer_workers(topic, answer)

    def process_state(self, key: Key[T], make: Callable[[], T]) -> T:
        """Process-wide state that outlives reloads (a watcher, a shared listener's users),
        made with ``make()`` on first use."""
        return self._load.process.state.setdefault(key, make)

    @property
    def shared(self) -> Store:
        """Values this block's plugins share with each other, under typed :class:`Key` s."""
        return self._block.shared

    def http_server(self, address: str) -> HTTPServer:
        """The process's HTTP listener for ``address`` (shared by every block and configuration
        that serves on it): ``await server.acquire(user, routes)`` in a startup hook,
        ``await server.release(user)`` in a shutdown hook."""
        return http.server_for(self._load.process.state, address)

    # -- metrics -----------------------------------------------------------------------------
    def register_metrics(
        self, key: str, collect: Callable[[], Iterable[Any]], describe: Callable[[], Iterable[Any]] | None = None
    ) -> None:
        """Export the metric families ``collect()`` yields at every scrape (registered once per
        process under ``key``: setup runs again on each reload). ``describe`` lists the families
        without computing them, when that is cheaper (default: ``collect``)."""
        register_once(key, lambda: FuncCollector(collect, describe or collect))

    def register_collector(self, key: str, make: Callable[[], Collector]) -> Collector:
        """Register a prometheus_client collector once per process under ``key``."""
        return register_once(key, make)

    # -- what the engine does for the block ----------------------------------------------------
    def set_listen_hosts(self, hosts: list[str]) -> None:
        """Listen on these addresses instead of the wildcard (bind)."""
        self._block.listen_hosts = list(hosts)

    @property
    def listen_hosts(self) -> list[str]:
        """The addresses the block listens on ("" is the wildcard)."""
        return list(self._block.listen_hosts)

    def set_debug(self) -> None:
        """Debug mode for the block (panics are logged with their stack), and [DEBUG] lines for
        the process (CoreDNS's ``clog.D.Set``: once any block asks, they are shown)."""
        from pycoredns import log

        self._block.debug = True
        log.set_debug(True)

    def accept_any_class(self) -> None:
        """Let the block's listeners take queries of any class, not only IN (forward, chaos)."""
        self._block.any_class = True

    def set_timeouts(
        self,
        *,
        read: float | None = None,
        write: float | None = None,
        idle: float | None = None,
        max_tcp_queries: int | None = None,
        max_connections: int | None = None,
    ) -> None:
        """Connection limits for the block's TCP listeners (the timeouts plugin), in seconds.

        ``read`` bounds the wait for a connection's first query, ``idle`` the wait for each later
        one (counted from the last reply; either bounds a query that arrives in pieces), ``write``
        the time a reply may take to be handed to the kernel; ``max_tcp_queries`` closes a
        connection after that many queries (-1: no limit); ``max_connections`` caps the
        connections open at once on each listener (0: no limit): a new one past the cap closes
        the oldest connection with no query in progress, or itself when every one is busy.
        Unset values keep CoreDNS's defaults (3 s, 5 s, 10 s, unlimited, unlimited). When several
        blocks share a listener, each value is taken from the last block, in Corefile order,
        that sets it, as CoreDNS's server does."""
        block = self._block
        if read is not None:
            block.read_timeout = read
        if write is not None:
            block.write_timeout = write
        if idle is not None:
            block.idle_timeout = idle
        if max_tcp_queries is not None:
            block.max_tcp_queries = max_tcp_queries
        if max_connections is not None:
            block.max_connections = max_connections

    def set_root(self, path: str) -> None:
        """The folder relative file names of this block resolve against (CoreDNS's config.Root)."""
        self._block.root = path

    def root_path(self, path: str) -> str:
        """``path`` joined onto the block's root when it is relative and a root is set."""
        import os

        root = self._block.root
        if root and not os.path.isabs(path):
            return os.path.normpath(os.path.join(root, path))
        return path

    # -- the block ---------------------------------------------------------------------------
    @property
    def addresses(self) -> list[ZoneAddress]:
        """The block's keys: transport, zone and port of each."""
        return list(self._block.addresses)

    @property
    def zones(self) -> list[str]:
        """The block's zones, normalised (``example.org.``), in key order."""
        return list(dict.fromkeys(a.zone for a in self._block.addresses))

    @property
    def directives(self) -> list[str]:
        """The directives the block uses."""
        return list(self._block.directives)

    @property
    def handlers(self) -> list[Handler]:
        """The block's chain, outermost first (empty until every setup has run)."""
        return list(self._block.handlers)

    @property
    def observers(self) -> list[Observer]:
        return list(self._block.observers)

    @property
    def directive_order(self) -> list[str]:
        """Every directive this build knows, in chain order."""
        return list(self._load.directive_order)

    def zones_or_block(self, args: Iterable[str]) -> list[str]:
        """Zone arguments normalised, or the block's zones when there are none."""
        out: list[str] = []
        for a in args:
            out.extend(normalize_zone(a))
        return out or self.zones


def panics() -> int:
    """How many queries raised an unexpected exception (``coredns_panics_total``)."""
    return counters.panics


async def exposition(accept: str = "") -> tuple[bytes, str]:
    """Every registered metric in the format a scraper's Accept header asks for (Prometheus text
    by default): (body, content type). What the prometheus plugin serves on /metrics.

    With workers, every worker's metrics (and the supervisor's) added up, so any worker that
    takes the scrape shows the whole instance: counters and histograms summed, gauges summed
    unless :func:`gauge_merge` says otherwise."""
    return await workers.PEERS.exposition(accept)


def gauge_merge(name: str, how: str) -> None:
    """How a gauge family adds up across workers: ``"sum"`` (the default: a cache's entries),
    ``"max"`` (a value every worker has alike: the entries of a file they all read) or ``"min"``.
    Families named ``*_info`` take the max."""
    metrics.gauge_merge(name, how)


_LAZY = {
    "NetSetup": ("pycoredns.nodecache.netsetup", "NetSetup"),
    "NetSetupConfig": ("pycoredns.nodecache.netsetup", "NetSetupConfig"),
}


def __getattr__(name: str) -> Any:
    # The node network setup pulls in netlink and iptables: only the plugins that use it pay.
    spec = _LAZY.get(name)
    if spec is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(spec[0]), spec[1])
    globals()[name] = value
    return value
