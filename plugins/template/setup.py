"""Parse ``template CLASS TYPE [ZONES...] { match; answer; additional; authority; rcode; ... }``.

Every occurrence adds one template; they are tried in file order. Templates are compiled here so
a bad one fails the Corefile rather than a query.
"""

from __future__ import annotations

import re

from pycoredns.plugin import Controller, Fall, dns, goregex
from pycoredns.plugins.template import metrics
from pycoredns.plugins.template.gotemplate import Template, TemplateError
from pycoredns.plugins.template.handler import TemplatePlugin, TemplateRule

# CoreDNS options this build rejects by name (they need CoreDNS's expr language or EDNS0 EDE).
UNSUPPORTED = ("var", "expr", "ederror")


def setup(c: Controller) -> None:
    templates: list[TemplateRule] = []
    all_zones: list[str] = []
    while c.next():
        qclass = dns.CLASSES.get(c.one_arg())
        if qclass is None:
            raise c.errf("invalid query class %s", c.val())
        qtype = dns.TYPES.get(c.one_arg())
        if qtype is None:
            raise c.errf("invalid RR class %s", c.val())
        zones = c.zones_or_block(c.remaining_args())
        all_zones.extend(zones)
        t = TemplateRule(qclass, qtype, zones)
        while c.next_block():
            _option(c, t)
        if not t.regexes:
            t.regexes.append(re.compile(".*"))
        templates.append(t)
    metrics.register(c)
    c.add_plugin(lambda next: TemplatePlugin(next, templates, all_zones))


def _option(c: Controller, t: TemplateRule) -> None:
    option = c.val()
    if option == "match":
        for regex in c.remaining_args(at_least=1):
            if len(regex) > goregex.MAX_REGEXP_LEN:
                raise c.errf("regex pattern too long: %d > %d", len(regex), goregex.MAX_REGEXP_LEN)
            try:
                t.regexes.append(goregex.compile_go(regex))
            except re.error as e:
                raise c.errf("could not parse regex: %s, error parsing regexp: %s", regex, e) from None
    elif option in ("answer", "additional", "authority"):
        section: list[Template] = getattr(t, option)
        for text in c.remaining_args(at_least=1):
            try:
                section.append(Template(option, text))
            except TemplateError as e:
                # CoreDNS's message for additional and authority ends in a newline; so does ours.
                end = "" if option == "answer" else "\n"
                raise c.errf("could not compile template: %s, %s%s", c.val(), e, end) from None
    elif option == "rcode":
        rcode = dns.RCODES.get(c.one_arg())
        if rcode is None:
            raise c.errf("unknown rcode %s", c.val())
        t.rcode = rcode
    elif option == "fallthrough":
        t.fall = Fall.from_args(c.remaining_args())
    elif option == "upstream":
        c.remaining_args()  # accepted and ignored, as CoreDNS does
    elif option in UNSUPPORTED:
        raise c.errf("template option '%s' is not supported by this build", option)
    else:
        raise c.arg_err()
