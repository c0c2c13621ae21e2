"""The rewrite handler: rewrite the question, serve the rewritten request, revert the reply."""

from __future__ import annotations

import inspect
import struct
from collections.abc import Awaitable

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
        revert = stopped or bool(response_rules)
        try:
            result = self.next_or_failure(new_req)
        except HandlerError as e:
            if not revert:
                raise
            req.error = e
            return self._finish(req, new_req, e.rcode, response_rules, name_changed)
        if inspect.isawaitable(result):
            return self._later(req, new_req, result, revert, response_rules, name_changed)
        if not revert:
            _copy_back(req, new_req)
            return result
        return self._finish(req, new_req, result, response_rules, name_changed)

    async def _later(
        self,
        req: Request,
        new_req: Request,
        pending: Awaitable[Reply],
        revert: bool,
        rules: list[ResponseRule],
        name_changed: bool,
    ) -> Reply:
        try:
            result = await pending
        except HandlerError as e:
            if not revert:
                raise
            req.error = e
            return self._finish(req, new_req, e.rcode, rules, name_changed)
        if not revert:
            _copy_back(req, new_req)
            return result
        return self._finish(req, new_req, result, rules, name_changed)

    def _finish(
        self, req: Request, new_req: Request, result: Reply, rules: list[ResponseRule], name_changed: bool
    ) -> bytes:
        _copy_back(req, new_req)
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


def _copy_back(req: Request, new_req: Request) -> None:
    """What the rest of the chain recorded on the rewritten request belongs to the client's."""
    if new_req.answered_by:
        req.answered_by = new_req.answered_by
    if new_req.error is not None:
        req.error = new_req.error
