"""Parse ``root PATH`` and set it as the block's root folder for plugins that read files.

Setup runs in plugin.cfg order and root comes first, so the root is set before any plugin that
joins relative paths onto it (``c.root_path``: hosts, and file/tls/dnssec in CoreDNS) is set up.
"""

from __future__ import annotations

import os

from pycoredns.plugin import Controller, plugin_log

log = plugin_log("root")


def setup(c: Controller) -> None:
    root = ""
    # Every occurrence sets the root; the last one wins (CoreDNS's loop over c.Next()).
    while c.next():
        root = c.one_arg()
    try:
        os.stat(root)
    except FileNotFoundError:
        # Allowed: the directory may appear later, but say so.
        log.warning("Root path does not exist: %s", root)
    except (OSError, ValueError) as e:
        raise c.errf("unable to access root path '%s': %s", root, _go_error(root, e)) from None
    c.set_root(root)


def _go_error(path: str, e: BaseException) -> str:
    """The error as Go's os.Stat words it (``stat PATH: REASON``)."""
    if isinstance(e, ValueError):  # an embedded NUL byte
        return f"stat {path}: invalid argument"
    if isinstance(e, OSError) and e.errno is not None:
        return f"stat {path}: {os.strerror(e.errno).lower()}"  # Go's syscall texts are lower-case
    return f"stat {path}: {e}"
