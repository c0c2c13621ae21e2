"""Query logging: the first rule whose name holds the qname decides, if the reply's class matches."""

from __future__ import annotations

from dataclasses import dataclass, field
from logging import INFO

from pycoredns.plugin import Request, dns, plugin_log
from pycoredns.plugins.log.classify import ALL, classify
from pycoredns.plugins.log.format import Field, compile_format, render

log = plugin_log("log")


@dataclass
class Rule:
    name: str  # fully qualified, as written
    format: str
    classes: set[str] = field(default_factory=lambda: {ALL})
    parts: list[str | Field] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.parts = compile_format(self.format)
        self.zone = self.name.lower()

    def matches(self, qname: str) -> bool:
        return dns.is_subdomain(self.zone, qname)


class LogObserver:
    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules

    def observe(self, req: Request, reply: bytes | None, rcode: int, error: BaseException | None) -> None:
        name = req.name
        for rule in self.rules:
            if not rule.matches(name):
                continue
            # A reply the server wrote for an rcode the chain returned was not written by a plugin:
            # CoreDNS's recorder has no message then ({rcode} is "-", {rsize} 0).
            written = reply if reply is not None and req.answered_by else None
            if ALL not in rule.classes and (written is None or classify(written) not in rule.classes):
                return
            # Laid out here: a line starting with "[" (an IPv6 {remote}) must still get its prefix.
            log.laid_out(INFO, "[INFO] " + render(rule.parts, req, written))
            return
