"""String rewriters and the response rules built on them (record names and record values)."""

from __future__ import annotations

import re
from typing import Protocol

import dnslib

from pycoredns.plugin import goregex


class StringRewriter(Protocol):
    def __call__(self, src: str) -> str: ...


class RegexRewriter:
    """``answer name|value FROM TO``: a Go regexp and a ``{N}`` replacement."""

    def __init__(self, pattern: re.Pattern[str], replacement: str) -> None:
        self.pattern, self.replacement = pattern, replacement

    def __call__(self, src: str) -> str:
        groups = goregex.submatches(self.pattern, src)
        return src if groups is None else goregex.expand(self.replacement, groups)


class Remap:
    """``orig`` becomes ``replacement``, and so does the ``orig`` ending a longer name."""

    def __init__(self, orig: str, replacement: str) -> None:
        self.orig, self.replacement = orig, replacement

    def __call__(self, src: str) -> str:
        orig = self.orig
        if src == orig:
            return self.replacement
        i = len(src) - len(orig)
        if i > 0 and src[i - 1] == "." and src[i:] == orig:
            return src[:i] + self.replacement
        return src


class SuffixRewriter:
    def __init__(self, suffix: str, replacement: str) -> None:
        self.suffix, self.replacement = suffix, replacement

    def __call__(self, src: str) -> str:
        if src.endswith(self.suffix):
            return src[: len(src) - len(self.suffix)] + self.replacement
        return src


# Where each record type keeps the one domain name "answer value" rewrites (CoreDNS's list).
_VALUE_FIELDS = {
    dnslib.QTYPE.SRV: "target",
    dnslib.QTYPE.MX: "label",
    dnslib.QTYPE.CNAME: "label",
    dnslib.QTYPE.NS: "label",
    dnslib.QTYPE.DNAME: "label",
    dnslib.QTYPE.NAPTR: "replacement",
    dnslib.QTYPE.SOA: "mname",
    dnslib.QTYPE.PTR: "label",
}


class NameResponse:
    """Rewrites the owner name of every record."""

    def __init__(self, rewriter: StringRewriter) -> None:
        self.rewriter = rewriter

    def apply(self, msg: dnslib.DNSRecord, rr: dnslib.RR | None) -> None:
        if rr is None:
            return
        old = str(rr.rname)
        new = self.rewriter(old)
        if new != old:
            rr.rname = dnslib.DNSLabel(new)


class ValueResponse:
    """Rewrites the domain name inside SRV, MX, CNAME, NS, DNAME, NAPTR, SOA and PTR records."""

    def __init__(self, rewriter: StringRewriter) -> None:
        self.rewriter = rewriter

    def apply(self, msg: dnslib.DNSRecord, rr: dnslib.RR | None) -> None:
        if rr is None:
            return
        attr = _VALUE_FIELDS.get(rr.rtype)
        if attr is None or not hasattr(rr.rdata, attr):
            return
        old = str(getattr(rr.rdata, attr))
        if not old:
            return
        new = self.rewriter(old)
        if new != old:
            setattr(rr.rdata, attr, dnslib.DNSLabel(new))
