"""``cname [exact|prefix|suffix|substring|regex] FROM TO``: rewrite a CNAME target in the reply.

The rule matches every query and leaves a response rule: a CNAME record of the reply whose target
matches FROM gets the target TO, and the records after it are replaced by the answer to TO (same
type as the query), looked up through this server's own chain as CoreDNS's ``upstream`` does.
The answer keeps the CNAME records up to the rewritten one; the reply's TC bit becomes the lookup's.
"""

from __future__ import annotations

import logging
import re

import dnslib

from pycoredns.plugin import Request, Upstream, UpstreamError, goregex
from pycoredns.plugins.rewrite.response import Response
from pycoredns.plugins.rewrite.rules import Question, Rule

log = logging.getLogger("pycoredns.rewrite")

CNAME = 5


class CnameResponse:
    """The reply side of a ``cname`` rule (CoreDNS's cnameTargetRuleWithReqState)."""

    def __init__(self, rule: CnameRule) -> None:
        self.rule = rule

    async def apply_lookup(self, msg: dnslib.DNSRecord, rr: dnslib.RR, req: Request) -> None:
        if rr.rtype != CNAME:
            return
        target = str(rr.rdata.label)
        frm, to = self.rule.targets(target)
        if target != frm:
            return
        upstream = self.rule.upstream
        try:
            if upstream is None:
                raise UpstreamError("no full server is running")
            got = upstream.lookup(req, to, req.qtype)
            data = got if isinstance(got, bytes) else await got
            up = dnslib.DNSRecord.parse(data)
        except UpstreamError as e:
            log.error("upstream lookup failed: %s", e)
            return
        except Exception as e:  # a reply dnslib cannot read: keep the answer as it was
            log.error("upstream lookup failed: %s", e)
            return
        answer: list[dnslib.RR] = []
        for record in msg.rr:
            if record.rtype != CNAME:
                continue
            answer.append(record)
            if str(record.rdata.label) == frm:
                record.rdata.label = dnslib.DNSLabel(to)
                break
        msg.rr = answer + list(up.rr)
        msg.header.tc = up.header.tc


class CnameRule(Rule):
    def __init__(
        self,
        mode: str,
        kind: str,
        frm: str,
        to: str,
        pattern: re.Pattern[str] | None,
        upstream: Upstream | None,
    ) -> None:
        self.mode, self.kind, self.frm, self.to = mode, kind, frm, to
        self.pattern = pattern
        self.upstream = upstream
        self.response = CnameResponse(self)

    def rewrite(self, q: Question) -> list[Response] | None:
        return [self.response]

    def targets(self, target: str) -> tuple[str, str]:
        """CoreDNS's getFromAndToTarget: (the target to replace, its replacement), or ("", "")."""
        kind, frm, to = self.kind, self.frm, self.to
        if kind == "exact":
            return frm, to
        if kind == "prefix":
            if target.startswith(frm):
                return target, to + target[len(frm) :]
        elif kind == "suffix":
            if target.endswith(frm):
                return target, target[: len(target) - len(frm)] + to
        elif kind == "substring":
            if frm in target:
                return target, target.replace(frm, to)
        elif self.pattern is not None:
            groups = goregex.submatches(self.pattern, target)
            if groups:
                return target, goregex.expand(to, groups)
        return "", ""
