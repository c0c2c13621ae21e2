"""Parse ``root PATH`` and publish it in the block's settings for plugins that read files.

Setup runs in plugin.cfg order and root comes first, so ``settings["root"]`` is set before any
plugin that joins relative paths onto it (hosts, and file/tls/dnssec in CoreDNS) is set up.
"""

from __future__ import annotations

import os

from pycoredns.log import plugin_log
from pycoredns.plugin import Controller

SETTING = "root"
log = plugin_log("root")


def root_path(settings: dict[str, object], path: str) -> str:
    """``path`` joined onto the block's root when it is relative and a root is set."""
    root = settings.get(SETTING)
    if isinstance(root, str) and root and not os.path.isabs(path):
        return os.path.normpath(os.path.join(root, path))
    return path


def setup(c: Controller) -> None:
    root = ""
    # Every occurrence sets the root; the last one wins (CoreDNS's loop over c.Next()).
    while c.next():
        if not c.next_arg():
            raise c.arg_err()
        root = c.val()
    try:
        os.stat(root)
    except FileNotFoundError:
        # Allowed: the directory may appear later, but say so.
        log.warning("Root path does not exist: %s", root)
    except (OSError, ValueError) as e:
        raise c.errf("unable to access root path '%s': %s", root, _go_error(root, e)) from None
    c.config.settings[SETTING] = root


def _go_error(path: str, e: BaseException) -> str:
    """The error as Go's os.Stat words it (``stat PATH: REASON``)."""
    if isinstance(e, ValueError):  # an embedded NUL byte
        return f"stat {path}: invalid argument"
    if isinstance(e, OSError) and e.errno is not None:
        return f"stat {path}: {os.strerror(e.errno).lower()}"  # Go's syscall texts are lower-case
    return f"stat {path}: {e}"
