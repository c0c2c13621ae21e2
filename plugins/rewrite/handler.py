"""The rewrite handler: rewrite the query, serve the rewritten request, revert the reply."""

from __future__ import annotations

import inspect

from pycoredns.plugin import Handler, HandlerError, Plugin, Reply, Request, Result, dns, is_domain_name, wire
from pycoredns.plugins.rewrite.response import Response, Reverter
from pycoredns.plugins.rewrite.rules import STOP, Question, Rule


class Rewrite(Plugin):
    name = "rewrite"

    def __init__(self, next: Handler | None, rules: list[Rule]) -> None:
        super().__init__(next)
        self.rules = rules

    def serve(self, req: Request) -> Result:
        q = Question(req.qname, req.qtype, req.qclass, req)
        response_rules: list[Response] = []
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
        if not matched and q.opt is None:
            return self.next_or_failure(req)
        # An edns0 rule that changed nothing still gave the query an OPT record (CoreDNS adds it
        # before looking for the option), so the query is rebuilt whenever one read it.
        name_changed = q.name != req.qname
        new_req = req.with_wire(self._rewritten_wire(req, q))
        # As CoreDNS: a stop rule, or any response rule, makes the reply go through the reverter;
        # otherwise (continue rules that only change the query) the reply is passed on as it is.
        if not stopped and not response_rules:
            return self.next_then(new_req, _passed_on, req, new_req)
        reverter = Reverter(response_rules)
        if reverter.lookups:
            return self._revert_with_lookups(req, new_req, reverter)
        return self.next_then(new_req, self._finish, req, new_req, reverter, name_changed, on_error=self._failed)

    def _failed(
        self, error: Exception, req: Request, new_req: Request, reverter: Reverter, name_changed: bool
    ) -> bytes:
        if not isinstance(error, HandlerError):
            raise error
        req.error = error  # logged by the errors plugin; the reply is written here, reverted
        return self._finish(error.rcode, req, new_req, reverter, name_changed)

    def _finish(
        self, result: Reply, req: Request, new_req: Request, reverter: Reverter, name_changed: bool
    ) -> bytes:
        result = self._outcome(result, req, new_req)
        if isinstance(result, int):
            return reverter.restore(req, new_req.error_reply(result), False)
        return reverter.restore(req, result, name_changed)

    async def _revert_with_lookups(self, req: Request, new_req: Request, reverter: Reverter) -> bytes:
        """The reply to the rewritten query, reverted by rules that look names up (``cname``)."""
        result: Reply
        try:
            pending = self.next_or_failure(new_req)
            result = await pending if inspect.isawaitable(pending) else pending
        except HandlerError as e:
            req.error = e
            result = e.rcode
        result = self._outcome(result, req, new_req)
        reply = new_req.error_reply(result) if isinstance(result, int) else result
        return await reverter.restore_with_lookups(req, new_req, reply)

    def _outcome(self, result: Reply, req: Request, new_req: Request) -> Reply:
        """Take the rest of the chain's outcome; an rcode left to the server is written here (the
        rewritten query's error reply, no records, its question swapped back in place) so that
        the response rules (rcode) apply to it."""
        req.take_outcome(new_req)
        if isinstance(result, int):
            req.answered_by = req.answered_by or self.name
        return result

    @staticmethod
    def _rewritten_wire(req: Request, q: Question) -> bytes:
        data = req.wire
        name = data[12 : req.q.name_end] if q.name == req.qname else dns.name_to_wire(q.name)
        head = data[:12] + name + wire.question_tail(q.qtype, q.qclass)
        rest = data[req.q.end :]
        if q.opt is not None:
            return q.opt.apply(head, rest)
        return head + rest


def _passed_on(result: Reply, req: Request, new_req: Request) -> Reply:
    req.take_outcome(new_req)
    return result
