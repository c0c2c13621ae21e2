"""The exception hierarchy: every error pycoredns raises on purpose is a :class:`PyCoreDNSError`.

Foreign errors (Go-syntax value parsers' ``ValueError``, sockets, netlink) are translated into
these where they cross into the engine or a plugin's setup. The classes, by who raises them:

* the Corefile: :class:`CorefileError` (positioned), :class:`ServerConfigError` (the blocks);
* a plugin's setup: :class:`ConfigError` (a plain message), reported by the engine as
  :class:`PluginSetupError`;
* a third-party plugin that cannot be loaded or placed: :class:`PluginLoadError`;
* a handler: :class:`HandlerError` (the server answers with its rcode);
* the wire: :class:`MalformedQuery` (a client's query) and :class:`MalformedMessage` (a reply);
* a lookup through the server's own chain (``Upstream.lookup``): :class:`UpstreamError`.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CorefileError",
    "HandlerError",
    "MalformedMessage",
    "MalformedQuery",
    "PluginLoadError",
    "PluginSetupError",
    "PyCoreDNSError",
    "ServerConfigError",
    "ShortQuestion",
    "UpstreamError",
    "WireError",
]


class PyCoreDNSError(Exception):
    """pycoredns error."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message if message is not None else (self.__doc__ or "").strip())


class CorefileError(PyCoreDNSError):
    """The Corefile could not be parsed.

    ``str()`` gives the full message in CoreDNS's layout, for example
    ``Corefile:3 - Error during parsing: Unknown directive 'foo'``.
    """


class ConfigError(PyCoreDNSError):
    """A plugin rejected its configuration with a plain message, without file and line.

    CoreDNS returns such errors where a plugin builds them with ``fmt.Errorf`` rather than the
    cursor's ``c.Errf``; the engine adds the ``plugin/NAME: `` prefix. Errors that name the line
    come from the cursor (``raise c.err(...)``) as :class:`CorefileError`.
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


class HandlerError(PyCoreDNSError):
    """A handler failed; the server answers with ``rcode`` and the errors plugin logs the message."""

    def __init__(self, rcode: int, message: str) -> None:
        super().__init__(message)
        self.rcode = rcode


class WireError(PyCoreDNSError):
    """A DNS message could not be read."""


class MalformedQuery(WireError):
    """The query could not be read; ``rcode`` says what to answer (or None: drop it)."""

    def __init__(self, rcode: int | None, question_end: int = 0) -> None:
        super().__init__(f"malformed query (rcode {rcode})")
        self.rcode = rcode
        self.question_end = question_end


class ShortQuestion(MalformedQuery):
    """The query ends inside its question's type or class: ``wire`` is the query with the missing
    octets zero, as miekg/dns reads it (the engine serves that instead)."""

    def __init__(self, wire: bytes) -> None:
        super().__init__(None)
        self.wire = wire


class MalformedMessage(WireError):
    """A message (an upstream's reply) does not unpack; the text is miekg/dns's for the same fault."""


class UpstreamError(PyCoreDNSError):
    """A lookup through the server's own chain could not run (see ``pycoredns.plugin.Upstream``)."""


class PluginLoadError(PyCoreDNSError):
    """A third-party plugin could not be loaded or placed in the chain; the message names it and
    the distribution that supplied it, one line per plugin."""
