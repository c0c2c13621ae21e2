"""The engine's exception hierarchy: every error a user can see is one of these."""

from __future__ import annotations


class PyCoreDNSError(Exception):
    """pycoredns error."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message if message is not None else (self.__doc__ or "").strip())


class CorefileError(PyCoreDNSError):
    """The Corefile could not be parsed.

    ``str()`` gives the full message in CoreDNS's layout, for example
    ``Corefile:3 - Error during parsing: Unknown directive 'foo'``.
    """


class PluginSetupError(PyCoreDNSError):
    """A plugin rejected its configuration; the message starts with ``plugin/NAME: ``."""

    def __init__(self, plugin: str, error: BaseException | str) -> None:
        self.plugin = plugin
        text = str(error)
        prefix = f"plugin/{plugin}: "
        super().__init__(text if text.startswith(prefix) else prefix + text)


class ServerConfigError(PyCoreDNSError):
    """The server blocks do not fit together (bad key, duplicate zone, overlapping listener)."""
