"""``edns0 local|nsid|subnet set|append|replace|unset ... [revert]``: the query's EDNS0 options.

The rules edit the query's OPT record (one is added, buffer 4096 and DO clear, when the query has
none, as CoreDNS's ``setupEdns0Opt`` does, even for a rule that then changes nothing). ``revert``
adds a response rule that undoes the change in the reply's OPT: an option the rule added is
removed, an option it overwrote gets the client's value back.

As in miekg/dns, a "local" option is one whose code the library has no type for: a ``local``
rule never matches an NSID (3) or client-subnet (8) option, only adds one beside it.
"""

from __future__ import annotations

import ipaddress
import struct

from pycoredns.plugins.rewrite.opt import Opt, Option, QueryOpt, RemoveOption, RestoreOption
from pycoredns.plugins.rewrite.response import Response
from pycoredns.plugins.rewrite.rules import Question, Rule

SET = "set"
APPEND = "append"
REPLACE = "replace"
UNSET = "unset"

NSID = 3
SUBNET = 8
# The option codes miekg/dns decodes into their own types (edns.go's makeDataOpt).
TYPED_OPTIONS = frozenset((1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 18, 19))

def query_opt(q: Question) -> Opt:
    """CoreDNS's setupEdns0Opt: the query's OPT, added (4096, DO clear) when it has none."""
    if q.opt is None:
        q.opt = QueryOpt(q.req)
    return q.opt.opt


# -- query rules ---------------------------------------------------------------------------------
class LocalRule(Rule):
    """``edns0 local ACTION CODE DATA [revert]`` with fixed data (and ``local unset CODE``)."""

    def __init__(self, mode: str, action: str, code: int, data: bytes, revert: bool) -> None:
        self.mode, self.action, self.code, self.data, self.revert = mode, action, code, data, revert

    def rewrite(self, q: Question) -> list[Response] | None:
        opt = query_opt(q)
        code = self.code
        if self.action == UNSET:
            opt.remove(code)
            return []
        resp: list[Response] = []
        if self.action in (REPLACE, SET) and code not in TYPED_OPTIONS:
            for o in opt.options:
                if o.code == code:
                    if self.revert:
                        resp.append(RestoreOption(code, o.data))
                    o.data = self.data
                    return resp
        if self.action in (APPEND, SET):
            opt.options.append(Option(code, self.data))
            if self.revert:
                resp.append(RemoveOption(code))
            return resp
        return None


# The variables a local option's data can name.
QNAME, QTYPE = "{qname}", "{qtype}"
CLIENT_IP, CLIENT_PORT = "{client_ip}", "{client_port}"
PROTOCOL = "{protocol}"
SERVER_IP, SERVER_PORT = "{server_ip}", "{server_port}"
VARIABLES = (QNAME, QTYPE, CLIENT_IP, CLIENT_PORT, PROTOCOL, SERVER_IP, SERVER_PORT)


def is_metadata_label(label: str) -> bool:
    """CoreDNS's metadata.IsLabel: ``plugin/name``, neither part empty."""
    p = label.find("/")
    return 0 < p < len(label) - 1


def is_valid_variable(variable: str) -> bool:
    if variable in VARIABLES:
        return True
    return variable.startswith("{") and variable.endswith("}") and is_metadata_label(variable[1:-1])


def family(ip: str) -> int:
    """1 for IPv4 (IPv4-mapped IPv6 included, as Go's To4 sees it), 2 for IPv6, 0 otherwise."""
    try:
        addr = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return 0
    if isinstance(addr, ipaddress.IPv6Address):
        return 1 if addr.ipv4_mapped is not None else 2
    return 1


def ip_to_wire(fam: int, ip: str) -> bytes:
    addr = ipaddress.ip_address(ip.split("%")[0])
    if fam == 1:
        if isinstance(addr, ipaddress.IPv6Address):
            mapped = addr.ipv4_mapped
            return mapped.packed if mapped is not None else b""
        return addr.packed
    if isinstance(addr, ipaddress.IPv4Address):
        return ipaddress.IPv6Address("::ffff:" + str(addr)).packed
    return addr.packed


class VariableRule(Rule):
    """``edns0 local ACTION CODE {VARIABLE} [revert]``: the data comes from the query."""

    def __init__(self, mode: str, action: str, code: int, variable: str, revert: bool) -> None:
        self.mode, self.action, self.code, self.variable, self.revert = mode, action, code, variable, revert

    def data(self, q: Question) -> bytes | None:
        req = q.req
        v = self.variable
        if v == QNAME:
            return q.name.encode()
        if v == QTYPE:
            return struct.pack(">H", q.qtype)
        if v == CLIENT_IP:
            return ip_to_wire(family(req.remote_ip), req.remote_ip)
        if v == SERVER_IP:
            return ip_to_wire(family(req.remote_ip), str(req.local[0]))
        if v == CLIENT_PORT:
            return struct.pack(">H", req.remote_port)
        if v == SERVER_PORT:
            return struct.pack(">H", int(req.local[1]))
        if v == PROTOCOL:
            return req.proto.encode()
        value = (req.meta or {}).get(v[1:-1], "")
        return value.encode() if value else None  # an unset or empty label: the rule does nothing

    def rewrite(self, q: Question) -> list[Response] | None:
        data = self.data(q)
        if data is None:
            return None
        opt = query_opt(q)
        code = self.code
        resp: list[Response] = []
        if code not in TYPED_OPTIONS:
            for o in opt.options:
                if o.code == code:
                    if self.action not in (REPLACE, SET):
                        return None
                    if self.revert:
                        resp.append(RestoreOption(code, o.data))
                    o.data = data
                    return resp
        if self.action in (APPEND, SET):
            opt.options.append(Option(code, data))
            if self.revert:
                resp.append(RemoveOption(code))
            return resp
        return None


class NsidRule(Rule):
    """``edns0 nsid ACTION [revert]``: an empty NSID option asks the server for its identifier."""

    def __init__(self, mode: str, action: str, revert: bool) -> None:
        self.mode, self.action, self.revert = mode, action, revert

    def rewrite(self, q: Question) -> list[Response] | None:
        opt = query_opt(q)
        if self.action == UNSET:
            opt.remove(NSID)
            return []
        resp: list[Response] = []
        if self.action in (REPLACE, SET):
            for o in opt.options:
                if o.code == NSID:
                    if self.revert:
                        resp.append(RestoreOption(NSID, o.data))
                    o.data = b""
                    return resp
        if self.action in (APPEND, SET):
            opt.options.append(Option(NSID, b""))
            if self.revert:
                resp.append(RemoveOption(NSID))
            return resp
        return None


def client_subnet(ip: str, v4_bits: int, v6_bits: int) -> bytes | None:
    """The client-subnet option data (RFC 7871) for the client's address, or None if it has none."""
    fam = family(ip)
    if fam == 0:
        return None
    bits = v4_bits if fam == 1 else v6_bits
    raw = ip_to_wire(fam, ip)
    value = int.from_bytes(raw, "big")
    width = len(raw) * 8
    mask = ((1 << bits) - 1) << (width - bits) if bits else 0
    masked = (value & mask).to_bytes(len(raw), "big")
    return struct.pack(">HBB", fam, bits, 0) + masked[: (bits + 7) // 8]


class SubnetRule(Rule):
    """``edns0 subnet ACTION V4BITS V6BITS [revert]``: the client's own subnet (ECS)."""

    def __init__(self, mode: str, action: str, v4_bits: int, v6_bits: int, revert: bool) -> None:
        self.mode, self.action, self.revert = mode, action, revert
        self.v4_bits, self.v6_bits = v4_bits, v6_bits

    def rewrite(self, q: Question) -> list[Response] | None:
        opt = query_opt(q)
        if self.action == UNSET:
            opt.remove(SUBNET)
            return []
        resp: list[Response] = []
        for o in opt.options:
            if o.code == SUBNET:
                if self.action not in (REPLACE, SET):
                    return None
                data = client_subnet(q.req.remote_ip, self.v4_bits, self.v6_bits)
                if data is None:
                    return None
                if self.revert:
                    resp.append(RestoreOption(SUBNET, o.data))
                o.data = data
                return resp
        if self.action in (APPEND, SET):
            data = client_subnet(q.req.remote_ip, self.v4_bits, self.v6_bits)
            if data is not None:
                opt.options.append(Option(SUBNET, data))
                if self.revert:
                    resp.append(RemoveOption(SUBNET))
                return resp
        return None
