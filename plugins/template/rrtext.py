"""One resource record from zone-file text, as miekg/dns's NewRR reads a template's output.

Parentheses may spread the rdata (an SOA's timers) and ``;`` starts a comment; relative names
are taken from the root and a missing TTL is 3600, as NewRR does. dnslib does the parsing.
"""

from __future__ import annotations

import dnslib

DEFAULT_TTL = 3600


class RRError(ValueError):
    """The text is not one valid resource record."""


def _strip(text: str) -> str:
    """Drop comments and parentheses outside quotes, join lines."""
    out = []
    quoted = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif not quoted:
            if ch == ";":
                while i < len(text) and text[i] != "\n":
                    i += 1
                continue
            if ch in "()\n\r\t":
                out.append(" ")
                i += 1
                continue
        out.append(ch)
        i += 1
    return "".join(out).strip()


def parse_rr(text: str) -> dnslib.RR:
    line = _strip(text)
    if not line:
        raise RRError("dns: empty resource record")
    try:
        rrs = dnslib.RR.fromZone(line, origin=".", ttl=DEFAULT_TTL)
    except Exception as e:  # dnslib raises whatever its field parsers raise
        raise RRError(f'dns: bad rr: "{line}": {e}') from None
    if len(rrs) != 1:
        raise RRError(f'dns: not exactly one rr: "{line}"')
    return rrs[0]
