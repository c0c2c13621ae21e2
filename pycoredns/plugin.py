"""The public plugin API: directives, handlers, observers and the setup controller.

A plugin is a *directive*: a name, a ``setup(c)`` function, and a place in the chain order.
``setup`` reads its arguments from the controller (a token cursor over every occurrence of the
directive in one server block), validates them eagerly, and then either adds a handler to the
block's chain with :meth:`Controller.add_plugin`, registers an observer with
:meth:`Controller.add_observer`, or only starts side services through the lifecycle hooks.

The handler contract (CoreDNS's ``ServeDNS``, made cheap): ``serve(req)`` returns

* ``bytes``: the reply, already written by this handler or one after it;
* an ``int`` rcode from :data:`pycoredns.wire.SERVER_WRITES` (SERVFAIL, REFUSED, FORMERR, NOTIMP):
  nothing was written, the server writes a reply with that rcode;
* an awaitable resolving to one of those, for handlers that wait for I/O.

A handler answers synchronously whenever it can (a cache hit must), so the common path creates
no coroutine. A handler that raises :class:`HandlerError` gets its rcode written and its message
logged by the errors plugin; any other exception becomes SERVFAIL and counts as a panic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pycoredns import wire
from pycoredns.corefile import Dispenser, Token
from pycoredns.errors import PyCoreDNSError

if TYPE_CHECKING:
    from pycoredns.request import Request
    from pycoredns.server.config import BlockConfig, Instance

Reply = bytes | int
Result = bytes | int | Awaitable[bytes | int]
Hook = Callable[[], Awaitable[None]]


class HandlerError(PyCoreDNSError):
    """A handler failed; the server answers with ``rcode`` and the errors plugin logs the message."""

    def __init__(self, rcode: int, message: str) -> None:
        super().__init__(message)
        self.rcode = rcode


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
    under zone="dropped"). Registered process-wide in ``c.process["dropped_observers"]``."""

    def observe_dropped(self, req: Request | None, server: str, proto: str, reply: bytes | None) -> None: ...


@runtime_checkable
class Readiness(Protocol):
    """A handler or observer that needs time before it can answer (CoreDNS's ``ready.Readiness``).

    The ready plugin asks every such object of its server blocks; ``/ready`` answers 200 once all
    of them return True. ``ready`` is called from the event loop and must be quick.
    """

    def ready(self) -> bool: ...


class Plugin:
    """A convenient base for handlers: keeps ``next`` and offers :meth:`next_or_failure`."""

    name = "plugin"

    def __init__(self, next: Handler | None = None) -> None:
        self.next = next

    def serve(self, req: Request) -> Result:  # pragma: no cover - overridden
        return self.next_or_failure(req)

    def next_or_failure(self, req: Request) -> Result:
        """Hand the query on, or fail as CoreDNS does when this plugin is the last one."""
        if self.next is None:
            raise HandlerError(wire.SERVFAIL, f"plugin/{self.name}: no next plugin found")
        return self.next.serve(req)


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
    description: str = ""


@dataclass
class Lifecycle:
    """Hooks collected during setup; the server runs them."""

    startup: list[Hook] = field(default_factory=list)  # before the sockets open
    listen: list[Hook] = field(default_factory=list)  # once every socket is open
    shutdown: list[Hook] = field(default_factory=list)  # on reload (old config) and on exit
    final_shutdown: list[Hook] = field(default_factory=list)  # on process exit only


class Controller(Dispenser):
    """What ``setup`` receives: a token cursor plus access to the block being configured."""

    def __init__(
        self,
        directive: str,
        tokens: list[Token],
        config: BlockConfig,
        instance: Instance,
        server_block_index: int,
    ) -> None:
        super().__init__(tokens, plugin=directive)
        self.directive = directive
        self.config = config
        self.instance = instance
        self.server_block_index = server_block_index

    # -- chain -------------------------------------------------------------------------------
    def add_plugin(self, factory: Factory) -> None:
        """Add a handler factory ``next -> handler`` to this block's chain."""
        self.config.factories.append((self.directive, factory))

    def add_observer(self, observer: Observer) -> None:
        self.config.observers.append(observer)

    # -- lifecycle ---------------------------------------------------------------------------
    def on_startup(self, hook: Hook) -> None:
        self.instance.lifecycle.startup.append(hook)

    def on_listen(self, hook: Hook) -> None:
        """Run ``hook`` once every listener of the instance is open (after a reload too)."""
        self.instance.lifecycle.listen.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        self.instance.lifecycle.shutdown.append(hook)

    def on_final_shutdown(self, hook: Hook) -> None:
        self.instance.lifecycle.final_shutdown.append(hook)

    # -- the block ---------------------------------------------------------------------------
    @property
    def zones(self) -> list[str]:
        """The block's zones, normalised (``example.org.``), in key order."""
        return list(dict.fromkeys(a.zone for a in self.config.addresses))

    @property
    def process(self) -> dict[str, Any]:
        """Process-wide state that outlives reloads (shared HTTP listeners, registries)."""
        return self.instance.process

    def zones_or_block(self, args: Iterable[str]) -> list[str]:
        """Zone arguments normalised, or the block's zones when there are none."""
        from pycoredns.corefile import normalize_zone

        out: list[str] = []
        for a in args:
            out.extend(normalize_zone(a))
        return out or self.zones
