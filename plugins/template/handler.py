"""The template handler: the first matching template answers; no match means SERVFAIL or next.

A CNAME the answer templates make for an A or AAAA query is followed through the server's own
chain (CoreDNS's upstream), and its answer appended.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any

import dnslib

from pycoredns.plugin import (
    Fall,
    Handler,
    HandlerError,
    Plugin,
    Request,
    Result,
    Upstream,
    UpstreamError,
    dns,
    expr,
    goregex,
    wire,
    zone_match,
)
from pycoredns.plugins.template import metrics
from pycoredns.plugins.template.gotemplate import GoMap, GoStruct, Lazy, Template, TemplateError
from pycoredns.plugins.template.rrtext import RRError, parse_rr

TYPE_ANY = 255
CLASS_ANY = 255
TYPE_A, TYPE_AAAA, TYPE_CNAME = 1, 28, 5
OPT_EDE = 15  # Extended DNS Error (RFC 8914)
VIEW = ""  # no view plugin in this build: CoreDNS's label is empty then


def _group(frame: expr.Frame, name: Any) -> str:
    """``group(name)``: a capture group of the matching regex by name or number, "" if none."""
    groups: dict[str, str] = frame.data
    if isinstance(name, bool):
        return ""
    if isinstance(name, (int, str)):
        return groups.get(str(name), "")
    return ""


def expr_env() -> expr.Env:
    """What a template's ``var`` and ``expr`` may use: the query functions and ``group``."""
    env = expr.query_env()
    env.add_function(expr.Func("group", [expr.ANY], expr.STRING, _group))
    return env


def message(msg: dnslib.DNSRecord) -> GoStruct:
    """The query as CoreDNS's ``.Message`` (a ``*dns.Msg``): the header's fields (each also under
    ``.MsgHdr``), ``Compress``, and the ``Question``, ``Answer``, ``Ns`` and ``Extra`` sections,
    with Go's field names and types; ``.Len`` and ``.String`` as methods."""
    h = msg.header
    header = {
        "Id": h.id,
        "Response": bool(h.qr),
        "Opcode": h.opcode,
        "Authoritative": bool(h.aa),
        "Truncated": bool(h.tc),
        "RecursionDesired": bool(h.rd),
        "RecursionAvailable": bool(h.ra),
        "Zero": bool(h.z),
        "AuthenticatedData": bool(h.ad),
        "CheckingDisabled": bool(h.cd),
        "Rcode": h.rcode,
    }
    questions = [
        GoStruct("dns.Question", {"Name": str(q.qname), "Qtype": q.qtype, "Qclass": q.qclass},
                 {"String": lambda q=q: f";{q.qname}\t{dns.class_text(q.qclass)}\t {dns.type_text(q.qtype)}"})
        for q in msg.questions
    ]
    fields: dict[str, Any] = {
        "MsgHdr": GoStruct("dns.MsgHdr", header),
        **header,
        "Compress": False,
        "Question": questions,
        "Answer": [_rr(rr) for rr in msg.rr],
        "Ns": [_rr(rr) for rr in msg.auth],
        "Extra": [_rr(rr) for rr in msg.ar],
    }
    return GoStruct("*dns.Msg", fields, {"Len": lambda: len(msg.pack()), "String": lambda: str(msg)})


def _rr(rr: dnslib.RR) -> GoStruct:
    """A resource record: its ``Hdr`` (``dns.RR_Header``: Name, Rrtype, Class, Ttl, Rdlength),
    the ``Header`` method that returns it, and ``String`` (the record as zone-file text)."""
    try:
        rdlength = len(rr.rdata.pack()) if hasattr(rr.rdata, "pack") else 0
    except Exception:  # dnslib's packers raise several kinds; the length is informative only
        rdlength = 0
    hdr = GoStruct("dns.RR_Header", {"Name": str(rr.rname), "Rrtype": rr.rtype, "Class": rr.rclass,
                                     "Ttl": rr.ttl, "Rdlength": rdlength})
    return GoStruct(f"*dns.{dns.type_text(rr.rtype)}", {"Hdr": hdr}, {"Header": lambda: hdr, "String": rr.toZone})


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
    ederror: tuple[int, str] | None = None  # (INFO-CODE, EXTRA-TEXT)
    env: expr.Env = field(default_factory=expr.Env)
    vars: list[tuple[str, expr.Program]] = field(default_factory=list)
    exprs: list[expr.Program] = field(default_factory=list)

    def match(self, req: Request) -> tuple[dict[str, Any] | None, bool]:
        """(template data, fall through): data when this template answers the query.

        As CoreDNS: the first regex that matches decides; its ``var``s are computed in order and
        its ``expr``s must all be true. A false (or non-boolean) ``expr`` is a non-match, subject
        to ``fallthrough``; an expression that fails to run is a non-match that never falls
        through (SERVFAIL).
        """
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
                "Message": Lazy(lambda: message(req.msg)),
            }
            if self.vars or self.exprs:
                variables: dict[str, Any] = data["Var"]
                try:
                    for var_name, program in self.vars:
                        variables[var_name] = program.run(req, variables, group)
                    for program in self.exprs:
                        if program.run(req, variables, group) is not True:
                            return None, self.fall.through(name)
                except expr.EvalError:
                    return None, False
            return data, False
        return None, self.fall.through(name)


class TemplatePlugin(Plugin):
    name = "template"

    def __init__(
        self, next: Handler | None, templates: list[TemplateRule], zones: list[str], upstream: Upstream | None = None
    ) -> None:
        super().__init__(next)
        self.templates = templates
        self.zones = zones
        self.upstream = upstream

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
            answers = self._render(t.answer, "answer", labels, data)
            for rr in answers:
                reply.add_answer(rr)
            for rr in self._render(t.additional, "additional", labels, data):
                reply.add_ar(rr)
            for rr in self._render(t.authority, "authority", labels, data):
                reply.add_auth(rr)
            req.answered_by = self.name
            if req.qtype in (TYPE_A, TYPE_AAAA) and any(rr.rtype == TYPE_CNAME for rr in answers):
                return self._follow(req, reply, t.ederror)
            return self._pack(req, reply, t.ederror)
        return self.next_or_failure(req)

    async def _follow(self, req: Request, reply: dnslib.DNSRecord, ederror: tuple[int, str] | None) -> bytes:
        """Each CNAME of the answer is followed (its target, the query's type) and the answer it
        gets appended after it; a lookup that fails adds nothing (CoreDNS's upstream.Lookup)."""
        answer: list[dnslib.RR] = []
        for rr in reply.rr:
            answer.append(rr)
            if rr.rtype != TYPE_CNAME or self.upstream is None:
                continue
            try:
                got = self.upstream.lookup(req, str(rr.rdata.label), req.qtype)
                looked_up = got if isinstance(got, bytes) else await got
            except UpstreamError:
                continue
            try:
                up = dnslib.DNSRecord.parse(looked_up)
            except Exception:  # dnslib raises several kinds: a reply it cannot read adds nothing
                continue
            reply.header.tc = up.header.tc
            answer.extend(up.rr)
        reply.rr = answer
        return self._pack(req, reply, ederror)

    @staticmethod
    def _pack(req: Request, reply: dnslib.DNSRecord, ederror: tuple[int, str] | None) -> bytes:
        if ederror is None:
            return req.pack(reply)
        # CoreDNS: SetEdns0(4096, true) and the EDE option, then the scrub writer sets the
        # client's buffer size when it sent EDNS (and keeps DO set); a client without EDNS gets
        # the OPT record as it is.
        code, text = ederror
        size = req.q.udp_size if req.q.edns else 4096
        reply.ar = [rr for rr in reply.ar if rr.rtype != wire.TYPE_OPT]
        option = dnslib.EDNSOption(OPT_EDE, struct.pack(">H", code) + text.encode())
        reply.add_ar(dnslib.EDNS0(udp_len=size, flags="do", opts=[option]))
        data = bytes(reply.pack())
        if len(data) > req.size:
            data = wire.truncate_reply(data, req.size)
        return data

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
