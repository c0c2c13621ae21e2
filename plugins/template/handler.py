"""The template handler: the first matching template answers; no match means SERVFAIL or next."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pycoredns.plugin import Fall, Handler, HandlerError, Plugin, Request, Result, dns, goregex, wire, zone_match
from pycoredns.plugins.template import metrics
from pycoredns.plugins.template.gotemplate import GoMap, Template, TemplateError
from pycoredns.plugins.template.rrtext import RRError, parse_rr

TYPE_ANY = 255
CLASS_ANY = 255
VIEW = ""  # no view plugin in this build: CoreDNS's label is empty then


@dataclass
class TemplateRule:
    """One ``template CLASS TYPE ZONES { ... }`` block."""

    qclass: int
    qtype: int
    zones: list[str]
    regexes: list[re.Pattern[str]] = field(default_factory=list)
    answer: list[Template] = field(default_factory=list)
    additional: list[Template] = field(default_factory=list)
    authority: list[Template] = field(default_factory=list)
    rcode: int = 0
    fall: Fall = field(default_factory=Fall)

    def match(self, req: Request) -> tuple[dict[str, Any] | None, bool]:
        """(template data, fall through): data when this template answers the query."""
        name = req.name
        zone = zone_match(self.zones, name)
        if not zone:
            return None, True
        qclass, qtype = req.qclass, req.qtype
        if self.qclass != CLASS_ANY and qclass != CLASS_ANY and qclass != self.qclass:
            return None, True
        if self.qtype != TYPE_ANY and qtype != TYPE_ANY and qtype != self.qtype:
            return None, True
        meta = req.meta or {}
        for regex in self.regexes:
            groups = goregex.submatches(regex, name)
            if groups is None:
                continue
            group = GoMap((str(i), g) for i, g in enumerate(groups))
            for gname, index in regex.groupindex.items():
                group[gname] = groups[index]
            data: dict[str, Any] = {
                "Zone": zone,
                "Name": name,
                "Regex": regex.pattern,
                "Match": groups,
                "Group": group,
                "Class": dns.class_text(qclass if qclass != CLASS_ANY else self.qclass),
                "Type": dns.type_text(qtype if qtype != TYPE_ANY else self.qtype),
                "Question": {"Name": req.qname, "Qtype": qtype, "Qclass": qclass},
                "Remote": req.remote_ip,
                "Var": GoMap(),
                "Meta": lambda key: meta.get(str(key), ""),
            }
            return data, False
        return None, self.fall.through(name)


class TemplatePlugin(Plugin):
    name = "template"

    def __init__(self, next: Handler | None, templates: list[TemplateRule], zones: list[str]) -> None:
        super().__init__(next)
        self.templates = templates
        self.zones = zones

    def serve(self, req: Request) -> Result:
        if not zone_match(self.zones, req.name):
            return self.next_or_failure(req)
        for t in self.templates:
            data, fall = t.match(req)
            if data is None:
                if not fall:
                    return wire.SERVFAIL
                continue
            labels: metrics.MatchKey = (req.server, data["Zone"], VIEW, data["Class"], data["Type"])
            metrics.count(metrics.matches, labels)
            if t.rcode == wire.SERVFAIL:
                return wire.SERVFAIL
            reply = req.make_reply()
            reply.header.aa = 1
            reply.header.rcode = t.rcode
            for rr in self._render(t.answer, "answer", labels, data):
                reply.add_answer(rr)
            for rr in self._render(t.additional, "additional", labels, data):
                reply.add_ar(rr)
            for rr in self._render(t.authority, "authority", labels, data):
                reply.add_auth(rr)
            req.answered_by = self.name
            return req.pack(reply)
        return self.next_or_failure(req)

    @staticmethod
    def _render(
        templates: list[Template], section: str, labels: metrics.MatchKey, data: dict[str, Any]
    ) -> list[Any]:
        out = []
        for tmpl in templates:
            key: metrics.FailureKey = (*labels, section, str(tmpl))
            try:
                text = tmpl.execute(data)
            except TemplateError as e:
                metrics.count(metrics.template_failures, key)
                raise HandlerError(wire.SERVFAIL, str(e)) from None
            try:
                out.append(parse_rr(text))
            except RRError as e:
                metrics.count(metrics.rr_failures, key)
                raise HandlerError(wire.SERVFAIL, str(e)) from None
        return out
