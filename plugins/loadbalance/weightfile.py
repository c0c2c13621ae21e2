"""The weight file of the weighted policy: parsing, the start-up read and the periodic re-read.

    # comment
    www.example.org
    100.64.1.1 3
    100.64.1.2 1

A name line starts a domain; each following ``ADDRESS WEIGHT`` line (weight 1 to 255) weighs one
of its addresses. Errors are CoreDNS's texts. The file is read again every ``reload`` (0: never);
an unchanged file is not parsed again, a broken one is logged and the previous weights stay.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import Callable

from pycoredns.plugin import PyCoreDNSError, go_duration, parse_uint, plugin_log
from pycoredns.plugins.loadbalance.policy import Weights

log = plugin_log("loadbalance")

OPEN_ERROR = "weight file open error"


class WeightFileError(PyCoreDNSError):
    pass


def _ip(text: str) -> bytes | None:
    """The address octets Go's ``net.ParseIP`` reads from ``text`` (IPv4 as 4), or None."""
    if "%" in text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.packed
    return ip.packed


def parse_weights(text: str, filename: str) -> dict[str, dict[bytes, int]]:
    domains: dict[str, dict[bytes, int]] = {}
    name = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) == 1:
            if _ip(fields[0]) is not None:
                raise WeightFileError(
                    f'wrong domain name:"{fields[0]}" in weight file {filename}. (Maybe a missing weight value?)'
                )
            name = fields[0] if fields[0].endswith(".") else fields[0] + "."
            name = name.lower()
            domains.setdefault(name, {})
        elif len(fields) == 2:
            ip = _ip(fields[0])
            if ip is None:
                raise WeightFileError(f'wrong IP address:"{fields[0]}" in weight file {filename}')
            value = fields[1]
            try:
                weight = parse_uint(value, bits=8)
            except ValueError:
                weight = 0
            if weight == 0:
                raise WeightFileError(f'wrong weight value:"{value}" in weight file {filename}')
            if not name:
                raise WeightFileError(f"missing domain name in weight file {filename}")
            domains[name].setdefault(ip, weight)
        else:
            raise WeightFileError(f'could not parse weight line:"{line}" in weight file {filename}')
    return domains


class WeightFile:
    """The weights the policy reads, kept current from the file."""

    def __init__(self, path: str, reload: float, randrange: Callable[[int], int] = random.randrange) -> None:
        self.path = path
        self.reload = reload
        self.weights = Weights()
        self.randrange = randrange
        self._last: bytes | None = None
        self._task: asyncio.Task[None] | None = None

    def update(self) -> bool:
        """Read the file; True if new weights were taken. Raises :class:`WeightFileError`."""
        try:
            with open(self.path, "rb") as f:
                content = f.read()
        except OSError:
            raise WeightFileError(OPEN_ERROR) from None
        if content == self._last:
            return False
        self._last = content  # a broken file is not parsed again until it changes, as in CoreDNS
        self.weights = Weights(parse_weights(content.decode("utf-8", "replace"), self.path))
        log.info("Successfully reloaded weight file %s", self.path)
        return True

    async def start(self) -> None:
        try:
            self.update()
        except WeightFileError as e:
            if str(e) != OPEN_ERROR or self.reload == 0:
                raise PyCoreDNSError(f"plugin/loadbalance: {e}") from None
            log.warning("Failed to open weight file:%s. Will try again in %s", e, go_duration(self.reload))
        if self.reload > 0:
            self._task = asyncio.get_running_loop().create_task(self._reload_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _reload_loop(self) -> None:
        while True:
            await asyncio.sleep(self.reload)
            try:
                self.update()
            except WeightFileError as e:
                log.error("%s", e)
