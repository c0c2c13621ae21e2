"""CoreDNS's log line placeholders (plugin/pkg/replacer), compiled once per rule.

A format is split at setup into literal text and placeholder functions, so a query costs one
call per placeholder and a join. Unknown ``{...}`` stays as written; empty values print ``-``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from time import perf_counter

from pycoredns.plugin import Request, dns

COMMON = (
    '{remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" '
    "{rcode} {>rflags} {rsize} {duration}"
)
COMBINED = COMMON + ' "{>opcode}"'
DEFAULT = COMMON
EMPTY = "-"

# A placeholder reads the request and the reply (None when no plugin wrote one).
Field = Callable[[Request, "bytes | None"], str]


def _bracket(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def _seconds(elapsed: float) -> str:
    # Go's FormatFloat(d.Seconds(), 'f', -1, 64) of a nanosecond duration: shortest digits, no exponent.
    return f"{Decimal(repr(round(elapsed, 9))):f}s"


def _rflags(reply: bytes) -> str:
    b2, b3 = reply[2], reply[3]
    flags = (
        (b2 & 0x80, "qr"), (b2 & 0x04, "aa"), (b2 & 0x02, "tc"), (b2 & 0x01, "rd"),
        (b3 & 0x80, "ra"), (b3 & 0x40, "z"), (b3 & 0x20, "ad"), (b3 & 0x10, "cd"),
    )
    return ",".join(name for bit, name in flags if bit)


FIELDS: dict[str, Field] = {
    "{type}": lambda r, w: r.type_name,
    "{name}": lambda r, w: r.name,
    "{class}": lambda r, w: r.class_name,
    "{proto}": lambda r, w: r.proto,
    "{size}": lambda r, w: str(len(r.wire)),
    "{remote}": lambda r, w: _bracket(r.remote_ip),
    "{port}": lambda r, w: str(r.remote_port),
    "{local}": lambda r, w: _bracket(str(r.local[0])) if r.local and r.local[0] else "",
    "{rcode}": lambda r, w: dns.rcode_text(w[3] & 0xF) if w is not None else "",
    "{rsize}": lambda r, w: str(len(w)) if w is not None else "0",
    "{duration}": lambda r, w: _seconds(perf_counter() - r.start),
    "{>rflags}": lambda r, w: _rflags(w) if w is not None else "",
    "{>id}": lambda r, w: str(r.id),
    "{>opcode}": lambda r, w: str((r.wire[2] >> 3) & 0xF),
    "{>do}": lambda r, w: "true" if r.do else "false",
    "{>bufsize}": lambda r, w: str(r.size),
}


def _metadata(label: str) -> Field:
    def get(r: Request, w: bytes | None) -> str:
        return (r.meta or {}).get(label, "")

    return get


def compile_format(fmt: str) -> list[str | Field]:
    """Split ``fmt`` into literal strings and placeholder functions."""
    parts: list[str | Field] = []
    literal = ""
    i = 0
    while i < len(fmt):
        start = fmt.find("{", i)
        end = fmt.find("}", start + 1) if start >= 0 else -1
        if start < 0 or end < 0:
            literal += fmt[i:]
            break
        literal += fmt[i:start]
        token = fmt[start : end + 1]
        key = token.lower() if token.startswith("{>") else token  # header labels ignore case
        field = FIELDS.get(key)
        if field is None and token.startswith("{/") and len(token) > 3:
            field = _metadata(token[2:-1])
        if field is None:
            literal += token
        else:
            if literal:
                parts.append(literal)
                literal = ""
            parts.append(field)
        i = end + 1
    if literal:
        parts.append(literal)
    return parts


def render(parts: list[str | Field], req: Request, reply: bytes | None) -> str:
    out = []
    for p in parts:
        if isinstance(p, str):
            out.append(p)
        else:
            out.append(p(req, reply) or EMPTY)
    return "".join(out)
