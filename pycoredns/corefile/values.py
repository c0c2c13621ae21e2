"""Go's value syntax, read and written, so plugins accept, reject and print what CoreDNS does.

Corefile arguments are parsed in CoreDNS with ``time.ParseDuration``, ``strconv.Atoi``,
``strconv.ParseUint``, ``net.SplitHostPort`` and ``net.ParseCIDR``, and its messages print values with ``%q`` and
``time.Duration.String``; users copy values and read messages across the two implementations, so
the accepted syntax and the texts are reproduced here, once. The parsers raise ``ValueError`` with
Go's message; the token cursor turns that into a plugin's error (see ``Dispenser.duration``).
"""

from __future__ import annotations

import ipaddress

__all__ = [
    "go_duration",
    "go_quote",
    "go_quote_rune",
    "go_strconv_quote",
    "parse_atoi",
    "parse_bool",
    "parse_cidr",
    "parse_duration",
    "parse_float",
    "parse_uint",
    "split_host_port",
]

_NANOS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek small letter mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_MAX_INT64 = (1 << 63) - 1


def go_quote(text: str) -> str:
    """``text`` in double quotes as Go's time package quotes it in errors.

    Quotes and backslashes get a backslash; control and non-ASCII characters become their UTF-8
    bytes as ``\\xNN`` escapes.
    """
    parts = ['"']
    for ch in text:
        if ord(ch) < 0x20 or ord(ch) >= 0x80:
            parts.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            if ch in '"\\':
                parts.append("\\")
            parts.append(ch)
    parts.append('"')
    return "".join(parts)


_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_strconv_quote(text: str) -> str:
    """``text`` as Go's ``%q`` / ``strconv.Quote`` writes it: printable Unicode is kept."""
    return '"' + "".join(_strconv_escape(ch, '"') for ch in text) + '"'


def go_quote_rune(code: int) -> str:
    """The character ``code`` as Go's ``%q`` of a rune or byte writes it (``strconv.QuoteRune``)."""
    return "'" + _strconv_escape(chr(code), "'") + "'"


def _strconv_escape(ch: str, quote: str) -> str:
    if ch == quote or ch == "\\":
        return "\\" + ch
    short = _SHORT_ESCAPES.get(ch)
    if short is not None:
        return short
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code < 0x80:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def go_duration(seconds: float) -> str:
    """A duration as Go's ``time.Duration.String`` writes it (``5s``, ``1m30s``, ``1.5ms``, ``1h0m0s``)."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign, ns = ("-" if ns < 0 else ""), abs(ns)
    if ns < 1000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_fraction(ns, 1000)}\u00b5s"
    if ns < 1_000_000_000:
        return f"{sign}{_fraction(ns, 1_000_000)}ms"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    head = f"{hours}h{minutes}m" if hours else (f"{minutes}m" if minutes else "")
    return f"{sign}{head}{_fraction(rest, 10**9)}s"


def _fraction(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    digits = str(frac).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def parse_duration(text: str) -> float:
    """Seconds in a Go duration such as ``300ms``, ``1.5h``, ``2h45m`` or ``-1s``.

    As ``time.ParseDuration``: a sign, then one or more ``<number><unit>`` parts; a bare ``0``
    is the only number allowed without a unit. The sum is computed in integer nanoseconds, so
    overflow and rounding match Go.
    """
    invalid = f"time: invalid duration {go_quote(text)}"
    rest = text
    negative = False
    if rest[:1] in ("-", "+"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(invalid)
    total = 0
    while rest:
        if not (rest[0] == "." or "0" <= rest[0] <= "9"):
            raise ValueError(invalid)
        whole, rest, had_whole = _leading_int(rest, invalid)
        fraction, scale, had_fraction = 0, 1.0, False
        if rest[:1] == ".":
            fraction, scale, rest, had_fraction = _leading_fraction(rest[1:])
        if not had_whole and not had_fraction:
            raise ValueError(invalid)  # ".s", "-.s": a dot with no digits
        i = 0
        while i < len(rest) and not (rest[i] == "." or "0" <= rest[i] <= "9"):
            i += 1
        if i == 0:
            raise ValueError(f"time: missing unit in duration {go_quote(text)}")
        unit_name, rest = rest[:i], rest[i:]
        unit = _NANOS_PER_UNIT.get(unit_name)
        if unit is None:
            raise ValueError(f"time: unknown unit {go_quote(unit_name)} in duration {go_quote(text)}")
        if whole > (1 << 63) // unit:
            raise ValueError(invalid)
        value = whole * unit
        if fraction > 0:
            # Go adds the fraction through float64 and truncates, so must we.
            value += int(float(fraction) * (float(unit) / scale))
            if value > 1 << 63:
                raise ValueError(invalid)
        total += value
        if total > 1 << 63:
            raise ValueError(invalid)
    if not negative and total > _MAX_INT64:
        raise ValueError(invalid)
    nanos = -total if negative else total
    return nanos / 1e9


def _leading_int(text: str, invalid: str) -> tuple[int, str, bool]:
    value = 0
    i = 0
    while i < len(text) and "0" <= text[i] <= "9":
        if value > (1 << 63) // 10:
            raise ValueError(invalid)
        value = value * 10 + ord(text[i]) - 48
        if value > 1 << 63:
            raise ValueError(invalid)
        i += 1
    return value, text[i:], i > 0


def _leading_fraction(text: str) -> tuple[int, float, str, bool]:
    # Digits past what fits in an int64 are read but ignored, as Go does.
    value, scale, overflow = 0, 1.0, False
    i = 0
    while i < len(text) and "0" <= text[i] <= "9":
        if not overflow:
            nxt = value * 10 + ord(text[i]) - 48
            if value > _MAX_INT64 // 10 or nxt > 1 << 63:
                overflow = True
            else:
                value = nxt
                scale *= 10
        i += 1
    return value, scale, text[i:], i > 0


def parse_atoi(text: str) -> int:
    """An int64 as ``strconv.Atoi`` reads it: optional sign, ASCII digits only."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or not all("0" <= c <= "9" for c in digits):
        raise ValueError(f"strconv.Atoi: parsing {go_strconv_quote(text)}: invalid syntax")
    value = int(text)
    if not -(1 << 63) <= value <= _MAX_INT64:
        raise ValueError(f"strconv.Atoi: parsing {go_strconv_quote(text)}: value out of range")
    return value


def _underscores_ok(text: str) -> bool:
    """Go's underscoreOK: "_" only between digits, or right after a base prefix."""
    saw = "^"  # "^" start, "0" digit or prefix, "_" underscore, "!" other
    i = 0
    if len(text) >= 2 and text[0] == "0" and text[1].lower() in "xbo":
        i, saw = 2, "0"
    hexa = len(text) >= 2 and text[0] == "0" and text[1].lower() == "x"
    for ch in text[i:]:
        if ch.isdigit() or (hexa and ch.lower() in "abcdef"):
            saw = "0"
        elif ch == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
    return saw != "_"


def parse_uint(text: str, bits: int = 64, base: int = 10) -> int:
    """An unsigned integer as ``strconv.ParseUint(text, base, bits)`` reads it (base 10 by default).

    Base 0 takes the prefix ``0x``, ``0o``, ``0b`` or ``0`` (octal) and allows ``_`` between
    digits; ``bits`` 0 means 64. Errors carry Go's text (``strconv.ParseUint: parsing "x":
    invalid syntax``, ``value out of range``, ``invalid base N``).
    """
    quoted = go_strconv_quote(text)
    bits = bits or 64
    digits = text
    base0 = base == 0
    if not text:
        raise ValueError(f"strconv.ParseUint: parsing {quoted}: invalid syntax")
    if base0:
        base = 10
        if text[0] == "0":
            low = text[1:2].lower()
            if len(text) >= 3 and low in ("x", "o", "b"):
                base, digits = {"x": 16, "o": 8, "b": 2}[low], text[2:]
            else:
                base, digits = 8, text[1:]
    elif not 2 <= base <= 36:
        raise ValueError(f"strconv.ParseUint: parsing {quoted}: invalid base {base}")
    value = 0
    underscores = False
    limit = 1 << bits
    for ch in digits:
        if ch == "_" and base0:
            underscores = True
            continue
        d = int(ch, 36) if ch.isascii() and ch.isalnum() else 99
        if d >= base:
            raise ValueError(f"strconv.ParseUint: parsing {quoted}: invalid syntax")
        value = value * base + d
        if value >= limit:
            raise ValueError(f"strconv.ParseUint: parsing {quoted}: value out of range")
    if underscores and not _underscores_ok(text):
        raise ValueError(f"strconv.ParseUint: parsing {quoted}: invalid syntax")
    return value


_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")
_FLOAT_WORDS = ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan")


def parse_bool(text: str) -> bool:
    """A boolean as ``strconv.ParseBool`` reads it (1, t, T, TRUE, true, True and the negatives)."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"strconv.ParseBool: parsing {go_strconv_quote(text)}: invalid syntax")


def parse_float(text: str) -> float:
    """A float64 as ``strconv.ParseFloat(text, 64)`` reads it: decimal or hex, inf and nan words;
    no spaces, no underscores (Go takes them only after a base prefix)."""
    invalid = f"strconv.ParseFloat: parsing {go_strconv_quote(text)}: invalid syntax"
    if not text or not text.isascii() or any(c.isspace() or c == "_" for c in text):
        raise ValueError(invalid)
    body = text.lstrip("+-")
    try:
        if text.lower() in _FLOAT_WORDS:
            return float(text)
        if body[:2].lower() == "0x":
            if "p" not in body.lower():
                raise ValueError(invalid)  # Go's hex floats need the p exponent
            value = float.fromhex(text)
        else:
            if body.lower().startswith(("inf", "nan")):
                raise ValueError(invalid)
            value = float(text)
    except (ValueError, OverflowError) as e:
        if isinstance(e, OverflowError):
            raise ValueError(f"strconv.ParseFloat: parsing {go_strconv_quote(text)}: value out of range") from None
        raise ValueError(invalid) from None
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"strconv.ParseFloat: parsing {go_strconv_quote(text)}: value out of range")
    return value


def split_host_port(text: str) -> tuple[str, str]:
    """``(host, port)`` as ``net.SplitHostPort``: IPv6 hosts must be bracketed, port may be empty."""

    def fail(why: str) -> ValueError:
        return ValueError(f"address {text}: {why}" if text else why)

    colon = text.rfind(":")
    if colon < 0:
        raise fail("missing port in address")
    start, after_host = 0, 0
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise fail("missing ']' in address")
        if close + 1 == len(text):
            raise fail("missing port in address")
        if close + 1 != colon:
            # "]" must be followed by the last colon, and by nothing else.
            raise fail("too many colons in address" if text[close + 1] == ":" else "missing port in address")
        host = text[1:close]
        start, after_host = 1, close + 1
    else:
        host = text[:colon]
        if ":" in host:
            raise fail("too many colons in address")
    if "[" in text[start:]:
        raise fail("unexpected '[' in address")
    if "]" in text[after_host:]:
        raise fail("unexpected ']' in address")
    return host, text[colon + 1 :]


def parse_cidr(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A network as Go's ``net.ParseCIDR`` reads ``ADDRESS/BITS`` (host bits masked).

    Go wants a decimal prefix length (no netmask) and no IPv6 zone, both of which Python would
    take. An IPv4-mapped IPv6 address stays IPv6 (128-bit mask), as in Go.
    """
    address, slash, bits = text.partition("/")
    if slash and bits and bits.isascii() and bits.isdigit() and "%" not in address:
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            pass
    raise ValueError(f"invalid CIDR address: {text}")
