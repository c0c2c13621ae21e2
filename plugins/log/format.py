"""CoreDNS's log line placeholders (plugin/pkg/replacer), compiled once per rule.

A format is split at setup into literal text and placeholder functions, so a query costs one
call per placeholder and a join. Unknown ``{...}`` stays as written; empty values print ``-``.
"""

from __future__ import annotations

from collections.abc import Callable
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
    # Go's FormatFloat(d.Seconds(), 'f', -1, 64) of a nanosecond duration: shortest digits, no
    # exponent. Below a million seconds two doubles nine decimals apart are never the same double,
    # so the shortest digits are the nine decimals without their trailing zeros ("1s", not "1.0s").
    return f"{elapsed:.9f}".rstrip("0").rstrip(".") + "s"


_FLAGS = ((0x8000, "qr"), (0x0400, "aa"), (0x0200, "tc"), (0x0100, "rd"),
          (0x0080, "ra"), (0x0040, "z"), (0x0020, "ad"), (0x0010, "cd"))
_RFLAGS: dict[int, str] = {}  # by the header's flag bytes: at most 65,536 short strings


def _rflags(reply: bytes) -> str:
    bits = reply[2] << 8 | reply[3]
    text = _RFLAGS.get(bits)
    if text is None:
        text = _RFLAGS[bits] = ",".join(name for bit, name in _FLAGS if bits & bit)
    return text


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
