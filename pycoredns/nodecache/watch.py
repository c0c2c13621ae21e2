"""Keep the served Corefile in step with both ConfigMaps: generate, poll, regenerate, ask to reload.

node-cache polls two folders (no inotify): the kube-dns ConfigMap folder and the folder holding
the node-local-dns template (``-basecorefile``'s directory), every 10 s each. A change in either
regenerates the Corefile from the template and the latest *valid* kube-dns config. A kube-dns
config that does not validate is logged and counted (``errortype="configmap"``) and the last good
Corefile stays in place; so does one whose template cannot be read or whose output cannot be
written. After each write, ``on_written`` runs (node-cache sends itself SIGUSR1 with
``-reloadwithsignal``; otherwise the reload plugin notices the new file).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from pycoredns.nodecache import errors_metric
from pycoredns.nodecache.kubedns import (
    DEFAULT_KUBEDNS_CM_PATH,
    ConfigMapError,
    KubeDNSConfig,
    parse_config,
    read_dir,
    validate_for_node_cache,
)
from pycoredns.nodecache.template import TemplateValues, render

log = logging.getLogger("pycoredns.nodecache")

DEFAULT_SYNC_PERIOD = 10.0
# Lets tests shorten the 10 s poll; node-cache has no flag for it.
SYNC_PERIOD_ENV = "PYCOREDNS_NODECACHE_SYNC_PERIOD"


def sync_period() -> float:
    try:
        value = float(os.environ.get(SYNC_PERIOD_ENV, DEFAULT_SYNC_PERIOD))
    except ValueError:
        return DEFAULT_SYNC_PERIOD
    return value if value > 0 else DEFAULT_SYNC_PERIOD


class CorefileWriter:
    """node-cache's ``updateCorefile``: validate, read the template, render, write, log, notify."""

    def __init__(
        self,
        base_corefile: str,
        corefile: str,
        values: TemplateValues,
        on_written: Callable[[], None] | None = None,
    ) -> None:
        self.base_corefile = base_corefile
        self.corefile = corefile
        self.values = values
        self.on_written = on_written
        self.writes = 0

    def update(self, config: KubeDNSConfig) -> bool:
        """Write the Corefile for ``config``; False (old file kept) on any error."""
        try:
            validate_for_node_cache(config)
        except ConfigMapError as e:
            log.error("[ERROR] Invalid config: %s", e)
            errors_metric.count(errors_metric.CONFIGMAP)
            return False
        try:
            with open(self.base_corefile, encoding="utf-8") as f:
                base = f.read()
        except (OSError, UnicodeDecodeError) as e:
            log.error("[ERROR] Failed to read node-cache coreFile %s - %s", self.base_corefile, _reason(e))
            errors_metric.count(errors_metric.CONFIGMAP)
            return False
        rendered = render(base, config, self.values)
        try:
            fd = os.open(self.corefile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(rendered.text)
        except OSError as e:
            log.error("[ERROR] Failed to write config file %s - err %s", self.corefile, _reason(e))
            errors_metric.count(errors_metric.CONFIGMAP)
            return False
        self.writes += 1
        log.info(
            "[INFO] Updated Corefile with %d custom stubdomains and upstream servers %s",
            rendered.stub_domains,
            rendered.upstream_servers,
        )
        log.info("[INFO] Using config file:\n%s", rendered.text)
        if self.on_written is not None:
            self.on_written()
        return True


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"open {e.filename}: {e.strerror.lower()}" if e.filename else e.strerror.lower()
    return str(e)


class FolderPoller:
    """Tells whether a ConfigMap folder's visible files changed since the last look."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.version: str | None = None

    def poll(self) -> dict[str, str] | None:
        """The folder's files if they changed, else None. Raises ConfigMapError if unreadable."""
        snap = read_dir(self.path)
        if snap.version == self.version:
            return None
        self.version = snap.version
        return snap.data


class ConfigSync:
    """Both pollers and the current kube-dns config; :meth:`start` is node-cache's initial sync."""

    def __init__(self, writer: CorefileWriter, kubedns_cm_path: str, period: float | None = None) -> None:
        self.writer = writer
        self.period = sync_period() if period is None else period
        if not kubedns_cm_path and os.path.exists(DEFAULT_KUBEDNS_CM_PATH):
            kubedns_cm_path = DEFAULT_KUBEDNS_CM_PATH
        self.kubedns = FolderPoller(kubedns_cm_path) if kubedns_cm_path else None
        self.template = FolderPoller(os.path.dirname(writer.base_corefile) or ".")
        self.config = KubeDNSConfig()  # the last valid kube-dns config

    def start(self) -> None:
        """Write the Corefile once with an empty config, then again with the kube-dns folder's."""
        self.writer.update(KubeDNSConfig())
        if self.kubedns is None:
            log.info("[INFO] Skipping kube-dns configmap sync as no directory was specified")
        else:
            try:
                data = self.kubedns.poll()
                if data is not None:
                    self.config = parse_config(data)
                self.writer.update(self.config)
            except ConfigMapError as e:
                # node-cache stops watching the folder here until restart; we keep watching it so a
                # fixed ConfigMap is picked up, and keep the Corefile written above.
                log.error("[ERROR] Failed to sync kube-dns config directory %s, err: %s", self.kubedns.path, e)
                errors_metric.count(errors_metric.CONFIGMAP)
        try:
            self.template.poll()
        except ConfigMapError as e:
            log.error("[ERROR] Failed to sync node-local-dns config directory %s, err: %s", self.template.path, e)

    def check_once(self) -> bool:
        """One poll of both folders; True if the Corefile was rewritten."""
        changed = False
        if self.kubedns is not None:
            try:
                data = self.kubedns.poll()
            except ConfigMapError as e:
                log.error("[ERROR] Error loading config from %s: %s", self.kubedns.path, e)
                data = None
            if data is not None:
                try:
                    new = parse_config(data)
                except ConfigMapError as e:
                    log.error("[ERROR] Invalid configuration: %s, ignoring update", e)
                    errors_metric.count(errors_metric.CONFIGMAP)
                else:
                    if self.writer.update(new):
                        self.config = new
                        changed = True
        try:
            template_changed = self.template.poll() is not None
        except ConfigMapError as e:
            log.error("[ERROR] Error loading config from %s: %s", self.template.path, e)
            template_changed = False
        if template_changed:
            changed = self.writer.update(self.config) or changed
        return changed

    async def run(self) -> None:
        """Poll forever (cancel to stop); file reads are small, so they run on the loop."""
        while True:
            await asyncio.sleep(self.period)
            try:
                self.check_once()
            except Exception as e:  # a poller must never die: node-cache keeps serving regardless
                log.error("[ERROR] Config sync failed: %s", e)
