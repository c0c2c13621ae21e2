"""From a Corefile to a configured instance: keys, plugin setup in chain order, chains, listeners."""

from __future__ import annotations

from dataclasses import dataclass, field

from pycoredns.corefile import ServerBlock, Token, ZoneAddress, parse, parse_key
from pycoredns.errors import CorefileError, PluginSetupError, PyCoreDNSError, ServerConfigError
from pycoredns.plugin import Controller, DroppedObserver, Factory, Handler, Lifecycle, Observer, Sampler
from pycoredns.registry import Registry
from pycoredns.server.process import Process
from pycoredns.server.upstream import ChainUpstream
from pycoredns.state import Store

# CoreDNS's built-in Corefile when none is found (log only where this build has it).
DEFAULT_COREFILE = ".:{port} {{\n    whoami\n{log}}}\n"


@dataclass
class BlockConfig:
    """One server block: its addresses, listen hosts and what its plugins' setup decided."""

    index: int
    block: ServerBlock
    addresses: list[ZoneAddress]
    listen_hosts: list[str] = field(default_factory=lambda: [""])
    factories: list[tuple[str, Factory]] = field(default_factory=list)
    observers: list[Observer] = field(default_factory=list)
    chain: Handler | None = None
    handlers: list[Handler] = field(default_factory=list)  # outermost first
    debug: bool = False
    any_class: bool = False  # the listener takes classes other than IN (CoreDNS's server.go)
    root: str = ""
    shared: Store = field(default_factory=Store)  # plugins' values for each other, by typed key
    directives: list[str] = field(default_factory=list)
    # Connection limits set by the timeouts plugin (0 / None: unset, the server's default applies).
    read_timeout: float = 0.0
    write_timeout: float = 0.0
    idle_timeout: float = 0.0
    max_tcp_queries: int | None = None
    max_connections: int | None = None
    sampler: Sampler | None = None  # a tracing plugin's: one query in every sampler.every

    def __post_init__(self) -> None:
        self.directives = list(self.block.directives)


@dataclass(frozen=True)
class ListenerKey:
    transport: str
    host: str  # "" = wildcard
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}://{host}:{self.port}"


@dataclass(frozen=True)
class TCPLimits:
    """A TCP listener's connection limits: CoreDNS's server defaults unless a block sets them."""

    read: float = 3.0  # the first query of a connection
    write: float = 5.0  # handing a reply to the kernel
    idle: float = 10.0  # each later query, from the last reply
    max_queries: int = -1  # queries served per connection; -1: no limit
    max_connections: int = 0  # connections open at once; 0: no limit (CoreDNS's DNS server)


def tcp_limits(sites: dict[str, Site]) -> TCPLimits:
    """The limits of a listener serving ``sites``: for each value, the last block (in Corefile
    order) that sets it wins, as CoreDNS's NewServer does over the configs of a listen address."""
    limits = TCPLimits()
    read, write, idle, most = limits.read, limits.write, limits.idle, limits.max_queries
    conns = limits.max_connections
    for cfg in sorted({id(s.config): s.config for s in sites.values()}.values(), key=lambda c: c.index):
        read = cfg.read_timeout or read
        write = cfg.write_timeout or write
        idle = cfg.idle_timeout or idle
        most = most if cfg.max_tcp_queries is None else cfg.max_tcp_queries
        conns = conns if cfg.max_connections is None else cfg.max_connections
    return TCPLimits(read, write, idle, most, conns)


@dataclass
class Site:
    """A zone served on a listener: the block config that answers it."""

    zone: str
    config: BlockConfig


@dataclass
class Instance:
    """A loaded Corefile, ready to serve (or to replace the running one on reload)."""

    filename: str
    text: str
    blocks: list[ServerBlock]
    configs: list[BlockConfig]
    listeners: dict[ListenerKey, dict[str, Site]] = field(default_factory=dict)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    process: Process = field(default_factory=Process)
    directive_order: list[str] = field(default_factory=list)
    dropped: list[DroppedObserver] = field(default_factory=list)
    generation: int = field(default_factory=Process.next_generation)
    upstream: ChainUpstream = field(default_factory=ChainUpstream, repr=False)


def load(
    text: str,
    filename: str = "Corefile",
    *,
    dns_port: str = "53",
    registry: Registry | None = None,
    process: Process | None = None,
) -> Instance:
    """Parse and set up a Corefile. Raises a :class:`PyCoreDNSError` with CoreDNS's message."""
    registry = registry or Registry.default()
    registry.check()  # a broken third-party plugin stops the start, whether or not it is used
    blocks = parse(text, filename, directives=registry.names())
    if not blocks:
        text = DEFAULT_COREFILE.format(port=dns_port, log="    log\n" if "log" in registry.names() else "")
        blocks = parse(text, filename, directives=registry.names())
    instance = Instance(filename, text, blocks, [], process=process or Process(), directive_order=registry.names())
    for i, block in enumerate(blocks):
        addresses: list[ZoneAddress] = []
        for key in block.keys:
            try:
                addresses.extend(parse_key(key.text, dns_port))
            except ServerConfigError as e:
                raise ServerConfigError(f"error inspecting server blocks: {e}") from None
        instance.configs.append(BlockConfig(i, block, addresses))
    _setup_plugins(instance, registry)
    for cfg in instance.configs:
        _build_chain(cfg)
    _group_listeners(instance)
    return instance


def _setup_plugins(instance: Instance, registry: Registry) -> None:
    # Directive-major, block-minor: the first failing setup in plugin.cfg order is the one reported.
    for name in registry.names():
        for cfg in instance.configs:
            tokens = cfg.block.directives.get(name)
            if not tokens:
                continue
            directive = registry.get(name)
            if directive.once and occurrences(tokens, name) > 1:
                raise PluginSetupError(name, "this plugin can only be used once per Server Block")
            c = Controller(name, tokens, cfg, instance, cfg.index)
            try:
                directive.setup(c)
            except PluginSetupError:
                raise
            except (CorefileError, PyCoreDNSError, ValueError, OSError) as e:
                raise PluginSetupError(name, e) from e


def occurrences(tokens: list[Token], name: str) -> int:
    """How many times a directive appears in its concatenated token stream (outside blocks)."""
    count = depth = 0
    prev: Token | None = None
    for tok in tokens:
        new_line = prev is None or prev.file != tok.file or prev.line + prev.newlines != tok.line
        if depth == 0 and new_line and tok.text == name and not tok.quoted:
            count += 1
        if tok.text == "{" and not tok.quoted:
            depth += 1
        elif tok.text == "}" and not tok.quoted and depth:
            depth -= 1
        prev = tok
    return count


def _build_chain(cfg: BlockConfig) -> None:
    handler: Handler | None = None
    handlers: list[Handler] = []
    for _name, factory in reversed(cfg.factories):
        handler = factory(handler)
        handlers.append(handler)
    handlers.reverse()
    cfg.chain = handler
    cfg.handlers = handlers


def _group_listeners(instance: Instance) -> None:
    seen: dict[tuple[str, str, int, str], str] = {}
    for cfg in instance.configs:
        for addr in cfg.addresses:
            for host in cfg.listen_hosts:
                ident = (addr.transport, addr.zone, int(addr.port or 0), host)
                label = f"{addr}" + (f" on {host}" if host else "")
                if ident in seen:
                    raise ServerConfigError(f"cannot serve {label} - it is already defined")
                for (t, z, p, h), other in seen.items():
                    if (t, z, p) == ident[:3] and (h == "") != (host == ""):
                        raise ServerConfigError(
                            f"cannot serve {label} - zone overlap listener capacity with {other}"
                        )
                seen[ident] = label
                key = ListenerKey(addr.transport, host, int(addr.port or 0))
                instance.listeners.setdefault(key, {})[addr.zone] = Site(addr.zone, cfg)

