"""The functions an expression can call about the query (CoreDNS's ``expression.DefaultEnv``).

They read the :class:`pycoredns.request.Request` the program runs for; with none (a program run
without a query) they fail at run time.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pycoredns import dns
from pycoredns.expr.compiler import Env, EvalError, Frame
from pycoredns.expr.types import BOOL, INT, STRING, Func
from pycoredns.request import Request


def _req(f: Frame) -> Request:
    req = f.req
    if not isinstance(req, Request):
        raise EvalError("no query to evaluate against")
    return req


def _incidr(f: Frame, ip: str, cidr: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        raise EvalError("first argument is not an IP address") from None
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise EvalError(f"invalid CIDR address: {cidr}") from None
    if isinstance(addr, ipaddress.IPv6Address) and network.version == 4 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # Go's net.IP holds IPv4 as IPv4-mapped IPv6
    if isinstance(addr, ipaddress.IPv4Address) and network.version == 6:
        addr = ipaddress.IPv6Address("::ffff:" + str(addr))
    return addr in network


def _metadata(f: Frame, label: str) -> str:
    meta = f.req.meta if isinstance(f.req, Request) else None
    return (meta or {}).get(label, "")


def _host(addr: tuple[Any, ...]) -> str:
    return str(addr[0]).split("%")[0]


QUERY_FUNCTIONS = [
    Func("incidr", [STRING, STRING], BOOL, _incidr, doc="incidr(ip, cidr): whether ip is in cidr"),
    Func("metadata", [STRING], STRING, _metadata, doc="metadata(label): the metadata value, or ''"),
    Func("type", [], STRING, lambda f: dns.type_text(_req(f).qtype), doc="the query type (A, AAAA, ...)"),
    Func("name", [], STRING, lambda f: _req(f).name, doc="the query name, lower-cased, with its dot"),
    Func("class", [], STRING, lambda f: dns.class_text(_req(f).qclass), doc="the query class (IN, CH, ...)"),
    Func("proto", [], STRING, lambda f: _req(f).proto, doc="udp or tcp"),
    Func("size", [], INT, lambda f: len(_req(f).wire), doc="the query's size in bytes"),
    Func("client_ip", [], STRING, lambda f: _host(_req(f).remote), doc="the client's address"),
    Func("port", [], STRING, lambda f: str(_req(f).remote[1]), doc="the client's port"),
    Func("id", [], INT, lambda f: _req(f).id, doc="the query ID"),
    Func("opcode", [], INT, lambda f: (_req(f).wire[2] >> 3) & 0xF, doc="the query opcode"),
    Func("do", [], BOOL, lambda f: _req(f).do, doc="the DNSSEC OK bit"),
    Func("bufsize", [], INT, lambda f: _req(f).size, doc="the EDNS buffer size (512 at least, 65535 on TCP)"),
    Func("server_ip", [], STRING, lambda f: _host(_req(f).local), doc="the address the query came to"),
    Func("server_port", [], STRING, lambda f: str(_req(f).local[1]), doc="the port the query came to"),
]


def query_env() -> Env:
    """A fresh environment with the query functions (add your own with ``add_function``)."""
    env = Env()
    for func in QUERY_FUNCTIONS:
        env.add_function(func)
    return env
