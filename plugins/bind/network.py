"""bind's network setup across reloads: one NetSetup per interface, in process-wide state.

Lifecycle, per loaded Corefile (instance):

* startup (before its sockets open): each new or changed setup gets its interface, so the
  listeners can bind the addresses; a reload that fails after this (a listener that cannot
  open) takes back what it added, the link or the addresses, at its shutdown;
* listen (its sockets are open; on reload, after the swap): new setups take over from the ones
  they replace (which remove only what the new one no longer wants), install their rules and start
  their sync loop; setups the new Corefile no longer has are torn down. An unchanged setup just
  keeps running: a reload tears nothing down;
* exit: every setup torn down (unless ``keep``), from the final-shutdown hook and from the App's
  exit hooks (which also run on SIGQUIT). Neither waits for a reload: teardown takes no reload
  lock, and marks the state closed so a reload finishing afterwards installs nothing.

A Corefile loaded again without any ``bind`` leaves the running setups in place until exit.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from pycoredns import plugin as api
from pycoredns.plugin import Controller, CorefileError, Key

if TYPE_CHECKING:  # the network setup (netlink, iptables) is imported only when a block asks for it
    from pycoredns.plugin import NetSetup, NetSetupConfig


def key_of(cfg: NetSetupConfig) -> str:
    """Setups are keyed by the interface they own ("" for rules-only setups)."""
    return cfg.interface if cfg.setup_interface else ""


def merge(plans: dict[str, NetSetupConfig], cfg: NetSetupConfig, where: str) -> None:
    """Add ``cfg`` to ``plans``: same key means same setup, addresses unioned, options equal.

    ``where`` (``file:line``) positions the error.
    """
    key = key_of(cfg)
    have = plans.get(key)
    if have is None:
        plans[key] = cfg
        return
    union = list(dict.fromkeys(have.addresses + cfg.addresses))
    mine = api.NetSetupConfig(**{**vars(cfg), "addresses": union})
    theirs = api.NetSetupConfig(**{**vars(have), "addresses": union})
    if mine != theirs:
        name = f"interface {cfg.interface}" if key else "notrack without interface"
        raise CorefileError(f"{where} - Error during parsing: conflicting network setup options for {name}")
    plans[key] = mine


class NetworkState:
    """Process-wide: the setups in force, those prepared by a reload, their sync tasks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: dict[str, NetSetup] = {}
        self.pending: dict[int, dict[str, NetSetup]] = {}  # configuration (generation) -> prepared setups
        self.plans: dict[int, dict[str, NetSetupConfig]] = {}  # configuration (generation) -> wanted configs
        self.tasks: dict[int, asyncio.Task[None]] = {}  # id(NetSetup) -> its sync loop
        self.closed = False
        self.hooked = False  # the process exit hook is registered

    # -- one instance ---------------------------------------------------------------------------
    def prepare(self, inst: int) -> None:
        """Startup: create or extend the interface of every new or changed setup."""
        with self.lock:
            if self.closed:
                return
            prepared: dict[str, NetSetup] = {}
            for key, cfg in self.plans.get(inst, {}).items():
                old = self.active.get(key)
                if old is not None and old.cfg == cfg:
                    continue
                ns = api.NetSetup(cfg)
                ns.ensure_interface()
                prepared[key] = ns
            self.pending[inst] = prepared

    async def activate(self, inst: int) -> None:
        """Listen: take over, install rules, start syncing; retire what the Corefile dropped."""
        with self.lock:
            if self.closed:
                return
            plan = self.plans.get(inst, {})
            prepared = self.pending.pop(inst, {})
            handovers: list[tuple[NetSetup, NetSetup | None]] = []
            for key in list(self.active):
                if key not in plan:
                    handovers.append((self.active.pop(key), None))
            for key, ns in prepared.items():
                old = self.active.get(key)
                if old is not None:
                    handovers.append((old, ns))
                self.active[key] = ns
        for old, new in handovers:
            self._cancel(old)
            await asyncio.to_thread(old.retire, new)
        for key, ns in prepared.items():
            await asyncio.to_thread(ns.ensure_rules)
            if not self.closed:
                task = asyncio.get_running_loop().create_task(ns.run(), name=f"bind netsetup {key}")
                self.tasks[id(ns)] = task

    def discard(self, inst: int) -> None:
        """Shutdown of an instance: undo what it prepared but never activated (a failed reload),
        so the node is left as it was before the reload."""
        with self.lock:
            prepared = self.pending.pop(inst, {})
        for ns in prepared.values():
            ns.withdraw()

    def _cancel(self, ns: NetSetup) -> None:
        ns.stop()
        task = self.tasks.pop(id(ns), None)
        if task is not None:
            task.cancel()

    # -- the process ----------------------------------------------------------------------------
    def teardown_all(self) -> None:
        """Exit: every setup, active or prepared, torn down (each honours its ``keep``); idempotent."""
        with self.lock:
            self.closed = True
            setups = list(self.active.values())
            for prepared in self.pending.values():
                setups.extend(prepared.values())
            self.active.clear()
            self.pending.clear()
        for ns in setups:
            ns.teardown()

    async def final_shutdown(self) -> None:
        await asyncio.to_thread(self.teardown_all)
        for task in self.tasks.values():
            task.cancel()
        self.tasks.clear()


STATE: Key[NetworkState] = Key("bind.netsetup")


def register(c: Controller, plans: dict[str, NetSetupConfig], where: str) -> None:
    """Hook this block's plans into the configuration's lifecycle (hooks registered once per
    configuration)."""
    state = c.process_state(STATE, NetworkState)
    if not plans and not state.hooked:
        return  # nothing wanted now, nothing ever ran: stay out of the way
    if not state.hooked:
        state.hooked = True
        c.on_exit(state.teardown_all)
        api.NetSetup.expose_errors()
    inst = c.generation
    if inst in state.plans:
        for cfg in plans.values():
            merge(state.plans[inst], cfg, where)
        return
    state.plans[inst] = dict(plans)
    s = state

    async def startup() -> None:
        await asyncio.to_thread(s.prepare, inst)

    async def listen() -> None:
        await s.activate(inst)

    async def shutdown() -> None:
        await asyncio.to_thread(s.discard, inst)
        s.plans.pop(inst, None)  # this configuration retires: its plans are done with

    c.on_startup(startup)
    c.on_listen(listen)
    c.on_shutdown(shutdown)
    c.on_final_shutdown(s.final_shutdown)
