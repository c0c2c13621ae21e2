"""The rewrite handler: rewrite the question, serve the rewritten request, revert the reply."""

from __future__ import annotations

import struct

from pycoredns.plugin import Handler, HandlerError, Plugin, Reply, Request, Result, dns, is_domain_name, wire
from pycoredns.plugins.rewrite.response import ResponseRule, restore
from pycoredns.plugins.rewrite.rules import STOP, Question, Rule


class Rewrite(Plugin):
    name = "rewrite"

    def __init__(self, next: Handler | None, rules: list[Rule]) -> None:
        super().__init__(next)
        self.rules = rules

    def serve(self, req: Request) -> Result:
        q = Question(req.qname, req.qtype, req.qclass)
        response_rules: list[ResponseRule] = []
        matched = stopped = False
        for rule in self.rules:
            got = rule.rewrite(q)
            if got is None:
                continue
            matched = True
            if not is_domain_name(q.name):
                raise HandlerError(wire.SERVFAIL, f"invalid name after rewrite: {q.name}")
            response_rules.extend(got)
            if rule.mode == STOP:
                stopped = True
                break
        if not matched:
            return self.next_or_failure(req)
        name_changed = q.name != req.qname
        new_req = req.with_wire(self._rewritten_wire(req, q))
        # As CoreDNS: a stop rule, or any response rule, makes the reply go through the reverter;
        # otherwise (continue rules that only change the query) the reply is passed on as it is.
        if not stopped and not response_rules:
            return self.next_then(new_req, _passed_on, req, new_req)
        return self.next_then(new_req, self._finish, req, new_req, response_rules, name_changed, on_error=self._failed)

    def _failed(
        self, error: Exception, req: Request, new_req: Request, rules: list[ResponseRule], name_changed: bool
    ) -> bytes:
        if not isinstance(error, HandlerError):
            raise error
        req.error = error  # logged by the errors plugin; the reply is written here, reverted
        return self._finish(error.rcode, req, new_req, rules, name_changed)

    def _finish(
        self, result: Reply, req: Request, new_req: Request, rules: list[ResponseRule], name_changed: bool
    ) -> bytes:
        req.take_outcome(new_req)
        if isinstance(result, int):
            # Nothing was written: write the error here so the response rules (rcode) apply.
            result = req.error_reply(result)
            req.answered_by = req.answered_by or self.name
            return restore(req, result, rules, False)
        return restore(req, result, rules, name_changed)

    @staticmethod
    def _rewritten_wire(req: Request, q: Question) -> bytes:
        data = req.wire
        name = data[12 : req.q.name_end] if q.name == req.qname else dns.name_to_wire(q.name)
        return data[:12] + name + struct.pack(">HH", q.qtype, q.qclass) + data[req.q.end :]


def _passed_on(result: Reply, req: Request, new_req: Request) -> Reply:
    req.take_outcome(new_req)
    return result
