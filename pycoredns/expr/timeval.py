"""expr's dates and durations: Go's ``time.Time`` and ``time.Duration`` values, their methods,
and Go's reference-time layouts (``2006-01-02 15:04:05``) for ``date()`` and ``Format``.

A time is an aware :class:`datetime.datetime`; a duration is :class:`Duration`, an ``int`` of
nanoseconds (in expr a Duration is an int64, so it compares and adds as a number) that prints as
Go prints it (``1h30m0s``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pycoredns.corefile.values import parse_duration
from pycoredns.expr.golayout import DAYS, MONTHS, go_format, go_parse, go_time_string
from pycoredns.expr.runtime import EvalError, between
from pycoredns.expr.types import Duration

NS = 1_000_000_000


class Month(int):
    """Go's ``time.Month``: a number (1 is January) that prints as its name."""

    def __str__(self) -> str:
        return MONTHS[self - 1] if 1 <= self <= 12 else f"%!Month({int(self)})"


class Weekday(int):
    """Go's ``time.Weekday``: a number (0 is Sunday) that prints as its name."""

    def __str__(self) -> str:
        return DAYS[(self + 6) % 7] if 0 <= self <= 6 else f"%!Weekday({int(self)})"


def parse(text: str) -> Duration:
    try:
        return Duration(round(parse_duration(text) * NS))
    except ValueError as e:
        raise EvalError(str(e)) from None


def local_zone() -> dt.tzinfo:
    return dt.datetime.now().astimezone().tzinfo or dt.UTC


def now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def location(name: str) -> dt.tzinfo:
    """``time.LoadLocation``: "UTC", "Local" or an IANA name."""
    if name in ("", "UTC"):
        return dt.UTC
    if name == "Local":
        return local_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise EvalError(f"unknown time zone {name}") from None


# expr's date() tries these when no layout is given
DATE_LAYOUTS = [
    "2006-01-02",
    "15:04:05",
    "2006-01-02 15:04:05",
    "2006-01-02T15:04:05Z07:00",  # RFC3339
    "02 Jan 06 15:04 MST",  # RFC822
    "Monday, 02-Jan-06 15:04:05 MST",  # RFC850
    "Mon, 02 Jan 2006 15:04:05 MST",  # RFC1123
]
# The RFC 3339 layout also reads fractional seconds, as Go's parser does
_RFC3339_NANO = "2006-01-02T15:04:05.999999999Z07:00"


def date(value: Any, *args: Any) -> dt.datetime:
    """expr's ``date(value[, layout[, timezone]])``."""
    zone = local_zone()
    if len(args) == 2:
        if not isinstance(args[1], str):
            raise EvalError("invalid timezone")
        zone = location(args[1])
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, zone)
    if not isinstance(value, str):
        raise EvalError(f"invalid date {value}")
    layouts = [str(args[0])] if args else [*DATE_LAYOUTS, _RFC3339_NANO]
    for layout in layouts:
        try:
            return go_parse(layout, value, zone)
        except ValueError:
            continue
    if args:
        raise EvalError(f'parsing time "{value}" as "{args[0]}": cannot parse "{value}" as "{args[0]}"')
    raise EvalError(f"invalid date {value}")


# -- methods -------------------------------------------------------------------------------------
def _as_time(name: str, v: Any) -> dt.datetime:
    if not isinstance(v, dt.datetime):
        raise EvalError(f"cannot use {type(v).__name__} as argument (type time.Time) to call {name} ")
    return v


def _as_duration(name: str, v: Any) -> Duration:
    if isinstance(v, bool) or not isinstance(v, int):
        raise EvalError(f"cannot use {type(v).__name__} as argument (type time.Duration) to call {name} ")
    return Duration(v)


def _truncate(t: dt.datetime, d: int) -> dt.datetime:
    if d <= 0:
        return t
    # Go truncates the absolute time since the zero time; for whole seconds and more this is the
    # Unix time modulo the duration
    ns = int(t.timestamp()) * NS + t.microsecond * 1000
    return dt.datetime.fromtimestamp((ns - ns % d) / NS, t.tzinfo)


def _round(t: dt.datetime, d: int) -> dt.datetime:
    if d <= 0:
        return t
    ns = int(t.timestamp()) * NS + t.microsecond * 1000
    r = ns % d
    ns = ns - r + (d if r + r >= d else 0)
    return dt.datetime.fromtimestamp(ns / NS, t.tzinfo)


# name: (parameter kinds, result kind, implementation); the kinds are types.py's names
TIME_METHODS: dict[str, tuple[list[str], str, Callable[..., Any]]] = {
    "Year": ([], "int", lambda t: t.year),
    "Month": ([], "int", lambda t: Month(t.month)),
    "Day": ([], "int", lambda t: t.day),
    "Hour": ([], "int", lambda t: t.hour),
    "Minute": ([], "int", lambda t: t.minute),
    "Second": ([], "int", lambda t: t.second),
    "Nanosecond": ([], "int", lambda t: t.microsecond * 1000),
    "YearDay": ([], "int", lambda t: t.timetuple().tm_yday),
    "Weekday": ([], "int", lambda t: Weekday((t.weekday() + 1) % 7)),
    "Unix": ([], "int", lambda t: int(t.timestamp() // 1)),
    "UnixMilli": ([], "int", lambda t: int(t.timestamp() * 1000 // 1)),
    "UnixNano": ([], "int", lambda t: int(t.timestamp()) * NS + t.microsecond * 1000),
    "Format": (["string"], "string", go_format),
    "String": ([], "string", go_time_string),
    "Before": (["time"], "bool", lambda t, u: t < _as_time("Before", u)),
    "After": (["time"], "bool", lambda t, u: t > _as_time("After", u)),
    "Equal": (["time"], "bool", lambda t, u: t == _as_time("Equal", u)),
    "Compare": (["time"], "int", lambda t, u: (t > u) - (t < u)),
    "IsZero": ([], "bool", lambda t: t == dt.datetime(1, 1, 1, tzinfo=dt.UTC)),
    "Add": (["duration"], "time", lambda t, d: t + dt.timedelta(microseconds=_as_duration("Add", d) / 1000)),
    "Sub": (["time"], "duration", lambda t, u: between(t, _as_time("Sub", u))),
    "AddDate": (["int", "int", "int"], "time", lambda t, y, m, d: add_date(t, y, m, d)),
    "Truncate": (["duration"], "time", lambda t, d: _truncate(t, _as_duration("Truncate", d))),
    "Round": (["duration"], "time", lambda t, d: _round(t, _as_duration("Round", d))),
    "UTC": ([], "time", lambda t: t.astimezone(dt.UTC)),
    "Local": ([], "time", lambda t: t.astimezone(local_zone())),
    "In": (["any"], "time", lambda t, z: t.astimezone(z if isinstance(z, dt.tzinfo) else location(str(z)))),
}
DURATION_METHODS: dict[str, tuple[list[str], str, Callable[..., Any]]] = {
    "Hours": ([], "float", lambda d: d / (3600 * NS)),
    "Minutes": ([], "float", lambda d: d / (60 * NS)),
    "Seconds": ([], "float", lambda d: d / NS),
    "Milliseconds": ([], "int", lambda d: int(d / 1_000_000)),
    "Microseconds": ([], "int", lambda d: int(d / 1000)),
    "Nanoseconds": ([], "int", lambda d: int(d)),
    "String": ([], "string", str),
    "Abs": ([], "duration", lambda d: Duration(abs(d))),
    "Truncate": (["duration"], "duration", lambda d, m: Duration(d - int(d / m) * m if m > 0 else d)),
    "Round": (["duration"], "duration", lambda d, m: Duration(_round_duration(d, m))),
}


def _round_duration(d: int, m: int) -> int:
    if m <= 0:
        return d
    r = abs(d) % m
    base = abs(d) - r + (m if r + r >= m else 0)
    return base if d >= 0 else -base


def add_date(t: dt.datetime, years: int, months: int, days: int) -> dt.datetime:
    """Go's AddDate: normalises an overflowing day (Jan 31 + 1 month is March 2 or 3)."""
    month0 = t.month - 1 + months
    year = t.year + years + month0 // 12
    first = t.replace(year=year, month=month0 % 12 + 1, day=1)
    return first + dt.timedelta(days=t.day - 1 + days)

