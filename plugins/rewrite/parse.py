"""Build rewrite rules from their arguments, with CoreDNS's validation and error texts.

These errors carry no file and line (CoreDNS's rule constructors return plain errors); setup
prefixes them with ``plugin/rewrite: ``.
"""

from __future__ import annotations

import re

from pycoredns.plugin import ConfigError, Upstream, dns, go_strconv_quote, goregex, parse_uint
from pycoredns.plugins.rewrite import edns0
from pycoredns.plugins.rewrite.cname import CnameRule
from pycoredns.plugins.rewrite.response import RcodeRule, Response, TTLRule
from pycoredns.plugins.rewrite.rules import (
    CONTINUE,
    STOP,
    ClassRule,
    NameMatch,
    NameRule,
    ResponseOnlyRule,
    Rule,
    TypeRule,
)
from pycoredns.plugins.rewrite.strings import NameResponse, RegexRewriter, SuffixRewriter, ValueResponse

MATCH_KINDS = ("exact", "prefix", "suffix", "substring", "regex")


class RuleError(ConfigError):
    """A rewrite rule is invalid."""


def normalize(name: str) -> str:
    """CoreDNS's ``plugin.Name(n).Normalize()``: lower-case and fully qualified."""
    return (name if name.endswith(".") else name + ".").lower()


def new_rule(args: list[str], upstream: Upstream | None = None) -> Rule:
    """The rule ``args`` describe (CoreDNS's newRule); ``upstream`` resolves ``cname`` targets."""
    if not args:
        raise RuleError("no rule type specified for rewrite")
    first = args[0].lower()
    mode = STOP
    if first in (CONTINUE, STOP):
        mode = first
        if len(args) < 2:
            raise RuleError(f"{first} rule must begin with a rule type")
        field, rest, expect = args[1].lower(), args[2:], len(args) - 1
    else:
        field, rest, expect = first, args[1:], len(args)

    if field == "answer":
        raise RuleError("response rewrites must begin with a name rule")
    if field == "name":
        return _name_rule(mode, rest)
    if field in ("class", "type"):
        if expect != 3:
            raise RuleError(f"{field} rules must have exactly two arguments")
        table = dns.CLASSES if field == "class" else dns.TYPES
        frm, to = rest[0].upper(), rest[1].upper()
        for value in (frm, to):
            if value not in table:
                raise RuleError(f'invalid {field} "{value}"')
        if field == "class":
            return ClassRule(mode, table[frm], table[to])
        return TypeRule(mode, table[frm], table[to])
    if field == "ttl":
        return _ttl_rule(mode, rest)
    if field == "rcode":
        return _rcode_rule(mode, rest)
    if field == "edns0":
        return _edns0_rule(mode, rest)
    if field == "cname":
        return _cname_rule(mode, rest, upstream)
    raise RuleError(f'invalid rule type "{args[0]}"')


def _subexp_usage(text: str) -> int:
    return sum(1 for i in range(101) if "{" + str(i) + "}" in text)


def valid_regex(pattern: str, replacement: str) -> re.Pattern[str]:
    """CoreDNS's isValidRegexPattern: length cap, compiles, no more {N} than groups."""
    if len(pattern) > goregex.MAX_REGEXP_LEN:
        raise RuleError(f"regex pattern too long: {len(pattern)} > {goregex.MAX_REGEXP_LEN}")
    try:
        compiled = goregex.compile_go(pattern)
    except re.error:
        raise RuleError(f"invalid regex matching pattern: {pattern}") from None
    if _subexp_usage(replacement) > compiled.groups:
        raise RuleError(
            f"the rewrite regex pattern ({replacement}) uses more subexpressions than its "
            f"corresponding matching regex pattern ({pattern})"
        )
    return compiled


def _name_rule(mode: str, args: list[str]) -> Rule:
    if len(args) < 2:
        raise RuleError("too few arguments for a name rule")
    if len(args) == 2:
        kind, frm, to = "exact", normalize(args[0]), normalize(args[1])
    else:
        kind = args[0].lower()
        if kind == "regex":
            frm, to = args[1], args[2]
        else:
            frm, to = normalize(args[1]), normalize(args[2])

    auto = False
    answers: list[Response] = []
    if len(args) > 3:
        auto, answers = _answer_rules(kind, args[3:])

    if kind == "exact":
        valid_regex(to, frm)  # CoreDNS checks these as a pattern too
        return NameRule(mode, kind, frm, to, True, answers)
    if kind in ("prefix", "substring"):
        return NameRule(mode, kind, frm, to, auto, answers)
    if kind == "suffix":
        rules: list[Response] = []
        if auto:
            # Reverting a suffix rewrite is the same rewrite the other way round.
            back = SuffixRewriter(to, frm)
            rules = [NameResponse(back), ValueResponse(back)]
        return NameRule(mode, kind, frm, to, False, rules + answers)
    if kind == "regex":
        pattern = valid_regex(frm, to)
        return NameRule(mode, kind, frm, normalize(args[2]), auto, answers, pattern)
    raise RuleError(
        "name rule supports only exact, prefix, suffix, substring, and regex name matching, "
        f"received: {kind}"
    )


def _answer_rules(kind: str, args: list[str]) -> tuple[bool, list[Response]]:
    """``answer auto | answer name FROM TO | answer value FROM TO``, repeated."""
    if len(args) < 2:
        raise RuleError(f"invalid arguments for {kind} rule")
    auto = False
    rules: list[Response] = []
    name_rules = 0
    last = ""
    i = 0
    while i < len(args):
        if last == "" and args[i] != "answer":
            raise RuleError(f"exceeded the number of arguments for a non-answer rule argument for {kind} rule")
        if args[i] == "answer":
            i += 1
        if i == len(args):
            raise RuleError(f"type missing for answer rule for {kind} rule")
        last = args[i]
        i += 1
        if last == "auto":
            auto = True
            continue
        if last not in ("name", "value"):
            raise RuleError(f'invalid type "{last}" for answer rule for {kind} rule')
        if len(args) - i < 2:
            raise RuleError(f"{last} answer rule for {kind} rule: 2 arguments required")
        try:
            pattern = valid_regex(args[i], args[i + 1])
        except RuleError as e:
            raise RuleError(f"{last} answer rule for {kind} rule: {e}") from None
        rewriter = RegexRewriter(pattern, normalize(args[i + 1]))
        if last == "name":
            rules.append(NameResponse(rewriter))
            name_rules += 1
        else:
            rules.append(ValueResponse(rewriter))
        i += 2
    if auto and name_rules > 0:
        raise RuleError("auto name answer rule cannot be combined with explicit name anwer rules")
    return auto, rules


def _name_match(field: str, kind: str, text: str) -> NameMatch:
    kind = kind.lower()
    if kind in ("exact", "prefix", "suffix", "substring"):
        return NameMatch(kind, normalize(text))
    if kind == "regex":
        if len(text) > goregex.MAX_REGEXP_LEN:
            raise RuleError(f"regex pattern too long in a {field} rule: {len(text)} > {goregex.MAX_REGEXP_LEN}")
        try:
            return NameMatch(kind, text, goregex.compile_go(text))
        except re.error:
            raise RuleError(f"invalid regex pattern in a {field} rule: {text}") from None
    raise RuleError(f"{field} rule supports only exact, prefix, suffix, substring, and regex name matching")


def _parse_uint32(text: str) -> int | None:
    try:
        return parse_uint(text, 32)
    except ValueError:
        return None


def _ttl_range(text: str) -> tuple[int, int] | None:
    parts = text.split("-")
    if len(parts) == 1:
        v = _parse_uint32(parts[0])
        return None if v is None else (v, v)
    if len(parts) != 2:
        return None
    low_text, high_text = parts
    if low_text == "" and high_text == "":
        return None  # "-" would mean 0-2147483647: rejected as useless
    low = 0 if low_text == "" else _parse_uint32(low_text)
    high = 2147483647 if high_text == "" else _parse_uint32(high_text)
    if low is None or high is None or low > high:
        return None
    return low, high


def _ttl_rule(mode: str, args: list[str]) -> Rule:
    if len(args) < 2:
        raise RuleError(f"too few ({len(args)}) arguments for a ttl rule")
    value = args[1] if len(args) == 2 else args[2] if len(args) == 3 else ""
    got = _ttl_range(value)
    if got is None:
        raise RuleError(f"invalid TTL '{value}' for a ttl rule")
    response = TTLRule(*got)
    if len(args) == 3:
        return ResponseOnlyRule(mode, _name_match("ttl", args[0], args[1]), response)
    if len(args) > 3:
        raise RuleError("many few arguments for a ttl rule")
    return ResponseOnlyRule(mode, NameMatch("exact", normalize(args[0])), response)


def _rcode(text: str) -> int | None:
    v = _parse_uint32(text)
    if v is not None and v <= 23:
        return v
    return dns.RCODES.get(text.upper())


def _rcode_rule(mode: str, args: list[str]) -> Rule:
    if len(args) < 3:
        raise RuleError(f"too few ({len(args)}) arguments for a rcode rule")
    old_text, new_text = (args[1], args[2]) if len(args) == 3 else (args[2], args[3]) if len(args) == 4 else ("", "")
    old = _rcode(old_text)
    if old is None:
        raise RuleError(f"invalid matching RCODE '{old_text}' for a rcode rule")
    new = _rcode(new_text)
    if new is None:
        raise RuleError(f"invalid replacement RCODE '{new_text}' for a rcode rule")
    response = RcodeRule(old, new)
    if len(args) == 4:
        return ResponseOnlyRule(mode, _name_match("rcode", args[0], args[1]), response)
    if len(args) > 4:
        raise RuleError("many few arguments for a rcode rule")
    return ResponseOnlyRule(mode, NameMatch("exact", normalize(args[0])), response)


# -- edns0 ----------------------------------------------------------------------------------------
ACTIONS = (edns0.APPEND, edns0.REPLACE, edns0.SET, edns0.UNSET)


def _edns0_rule(mode: str, args: list[str]) -> Rule:
    if len(args) < 2:
        raise RuleError("too few arguments for an EDNS0 rule")
    rule_type, action = args[0].lower(), args[1].lower()
    if action not in ACTIONS:
        raise RuleError(f"invalid action: {go_strconv_quote(action)}")
    if action == edns0.UNSET:
        return _edns0_unset(mode, rule_type, args)
    revert = args[-1] == "revert"
    if revert:
        args = args[:-1]
    if rule_type == "local":
        if len(args) != 4:
            raise RuleError("EDNS0 local rules require three or four args")
        code, data = args[2], args[3]
        if data.startswith("{") and data.endswith("}"):
            number = _option_code(code)
            if not edns0.is_valid_variable(data):
                raise RuleError(f"unsupported variable name {go_strconv_quote(data)}")
            return edns0.VariableRule(mode, action, number, data, revert)
        return edns0.LocalRule(mode, action, _option_code(code), _option_data(data), revert)
    if rule_type == "nsid":
        if len(args) != 2:
            raise RuleError("EDNS0 NSID rules can accept no more than one arg")
        return edns0.NsidRule(mode, action, revert)
    if rule_type == "subnet":
        if len(args) != 4:
            raise RuleError("EDNS0 subnet rules require three or four args")
        v4 = _uint16(args[2])
        if v4 > 32:
            raise RuleError(f"invalid IPv4 bit mask length {v4}")
        v6 = _uint16(args[3])
        if v6 > 128:
            raise RuleError(f"invalid IPv6 bit mask length {v6}")
        return edns0.SubnetRule(mode, action, v4, v6, revert)
    raise RuleError(f"invalid rule type {go_strconv_quote(rule_type)}")


def _edns0_unset(mode: str, rule_type: str, args: list[str]) -> Rule:
    if rule_type == "local":
        if len(args) != 3:
            raise RuleError("local unset action requires exactly two arguments")
        return edns0.LocalRule(mode, edns0.UNSET, _option_code(args[2]), b"", False)
    if rule_type == "nsid":
        if len(args) != 2:
            raise RuleError("nsid unset action requires exactly one argument")
        return edns0.NsidRule(mode, edns0.UNSET, False)
    if rule_type == "subnet":
        if len(args) != 2:
            raise RuleError("subnet unset action requires exactly one argument")
        return edns0.SubnetRule(mode, edns0.UNSET, 0, 0, False)
    raise RuleError(f"invalid rule type {go_strconv_quote(rule_type)}")


def _uint16(text: str) -> int:
    """``strconv.ParseUint(text, 0, 16)``: decimal, 0x hex, 0o/0 octal or 0b binary."""
    try:
        return parse_uint(text, 16, base=0)
    except ValueError as e:
        raise RuleError(str(e)) from None


_option_code = _uint16


def _option_data(text: str) -> bytes:
    """Option data: hex after a ``0x`` prefix (Go's hex.DecodeString), else the text's bytes."""
    if not text.startswith("0x"):
        return text.encode()
    digits = text[2:].encode()
    for b in digits:
        if b not in b"0123456789abcdefABCDEF":
            raise RuleError(f"encoding/hex: invalid byte: {_go_rune(chr(b))}")
    if len(digits) % 2:
        raise RuleError("encoding/hex: odd length hex string")
    return bytes.fromhex(digits.decode())


def _go_rune(ch: str) -> str:
    """A character as Go's ``%#U`` prints it: ``U+0067 'g'``."""
    code = f"U+{ord(ch):04X}"
    return f"{code} '{ch}'" if ch.isprintable() else code


# -- cname ----------------------------------------------------------------------------------------
def _cname_rule(mode: str, args: list[str], upstream: Upstream | None) -> Rule:
    if len(args) == 3:
        kind = args[0].lower()
        if kind not in MATCH_KINDS:
            raise RuleError(f"unknown cname rewrite type: {kind}")
        # As CoreDNS: FROM and TO are lower-cased, a regex pattern included.
        frm, to = args[1].lower(), args[2].lower()
    elif len(args) == 2:
        kind, frm, to = "exact", args[0].lower(), args[1].lower()
    else:
        raise RuleError(f"too few ({len(args)}) arguments for a cname rule")
    if kind == "exact":
        frm, to = normalize(frm), normalize(to)
    pattern = None
    if kind == "regex":
        if len(frm) > goregex.MAX_REGEXP_LEN:
            raise RuleError(f"regex pattern too long in a cname rule: {len(frm)} > {goregex.MAX_REGEXP_LEN}")
        try:
            pattern = goregex.compile_go(frm)
        except re.error as e:
            raise RuleError(f"invalid cname rewrite regex pattern: error parsing regexp: {e}") from None
    return CnameRule(mode, kind, frm, to, pattern, upstream)
