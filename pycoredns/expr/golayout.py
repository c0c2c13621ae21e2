"""Go's reference-time layouts (``2006-01-02 15:04:05``): formatting and parsing aware
:class:`datetime.datetime` values as Go's ``Time.Format`` and ``time.ParseInLocation`` do, for
expr's ``date()`` and ``Format``, and for printing a time as fmt does."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

# -- layout elements --------------------------------------------------------------------------------
_CHUNKS = [
    "January", "Jan", "Monday", "Mon", "MST", "2006", "_2006", "__2", "_2", "002", "01", "02", "03", "04", "05",
    "06", "15", "-07:00:00", "-070000", "-07:00", "-0700", "-07", "Z07:00:00", "Z070000", "Z07:00", "Z0700",
    "Z07", "PM", "pm", "1", "2", "3", "4", "5",
]
_FRACTION = re.compile(r"[.,](0+|9+)(?![0-9])")


def _tokens(layout: str) -> list[tuple[bool, str]]:
    """(is a Go layout element, text) pieces of a layout."""
    out: list[tuple[bool, str]] = []
    i = 0
    while i < len(layout):
        m = _FRACTION.match(layout, i)
        if m:
            out.append((True, m.group(0)))
            i = m.end()
            continue
        for chunk in _CHUNKS:
            if layout.startswith(chunk, i):
                # Go reads "Jan" only when no lower-case letter follows ("Janet" is text)
                if chunk in ("Jan", "Mon") and i + 3 < len(layout) and layout[i + 3].islower() and \
                        not layout.startswith("January" if chunk == "Jan" else "Monday", i):
                    continue
                out.append((True, chunk))
                i += len(chunk)
                break
        else:
            out.append((False, layout[i]))
            i += 1
    return out


def _offset(t: dt.datetime, chunk: str) -> str:
    off = t.utcoffset() or dt.timedelta(0)
    secs = int(off.total_seconds())
    if chunk.startswith("Z") and secs == 0:
        return "Z"
    sign = "-" if secs < 0 else "+"
    secs = abs(secs)
    h, m, s = secs // 3600, secs // 60 % 60, secs % 60
    body = chunk.lstrip("Z-")
    if body == "07":
        return f"{sign}{h:02d}"
    if body == "0700":
        return f"{sign}{h:02d}{m:02d}"
    if body == "07:00":
        return f"{sign}{h:02d}:{m:02d}"
    if body == "070000":
        return f"{sign}{h:02d}{m:02d}{s:02d}"
    return f"{sign}{h:02d}:{m:02d}:{s:02d}"


def go_format(t: dt.datetime, layout: str) -> str:
    """``Time.Format(layout)``."""
    out: list[str] = []
    hour12 = t.hour % 12 or 12
    values: dict[str, Callable[[], str]] = {
        "January": lambda: MONTHS[t.month - 1], "Jan": lambda: MONTHS[t.month - 1][:3],
        "Monday": lambda: DAYS[t.weekday()], "Mon": lambda: DAYS[t.weekday()][:3],
        "MST": lambda: _zone_name(t), "2006": lambda: f"{t.year:04d}", "_2006": lambda: f"_{t.year:04d}",
        "06": lambda: f"{t.year % 100:02d}", "01": lambda: f"{t.month:02d}", "1": lambda: str(t.month),
        "02": lambda: f"{t.day:02d}", "2": lambda: str(t.day), "_2": lambda: f"{t.day:2d}",
        "002": lambda: f"{t.timetuple().tm_yday:03d}", "__2": lambda: f"{t.timetuple().tm_yday:3d}",
        "15": lambda: f"{t.hour:02d}", "03": lambda: f"{hour12:02d}", "3": lambda: str(hour12),
        "04": lambda: f"{t.minute:02d}", "4": lambda: str(t.minute),
        "05": lambda: f"{t.second:02d}", "5": lambda: str(t.second),
        "PM": lambda: "PM" if t.hour >= 12 else "AM", "pm": lambda: "pm" if t.hour >= 12 else "am",
    }
    for element, text in _tokens(layout):
        if not element:
            out.append(text)
            continue
        if text in values:
            out.append(values[text]())
        elif text[0] in ".,":
            digits = f"{t.microsecond:06d}000"[: len(text) - 1]
            if text[1] == "9":
                digits = digits.rstrip("0")
                out.append(text[0] + digits if digits else "")
            else:
                out.append(text[0] + digits)
        else:
            out.append(_offset(t, text))
    return "".join(out)


def _zone_name(t: dt.datetime) -> str:
    name = t.tzname() or ""
    if t.tzinfo is dt.UTC or name in ("UTC", "UTC+00:00"):
        return "UTC"
    if name.startswith("UTC") or not name:
        return _offset(t, "-0700")  # Go prints a zone without a name as its offset
    return name


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def go_parse(layout: str, value: str, zone: dt.tzinfo) -> dt.datetime:
    """``time.ParseInLocation(layout, value, zone)``, for the elements above; raises ValueError."""
    pattern: list[str] = []
    groups: list[str] = []
    for element, text in _tokens(layout):
        if not element:
            pattern.append(re.escape(text))
            continue
        name = f"g{len(groups)}"
        groups.append(text)
        if text in ("January", "Monday"):
            choices = MONTHS if text == "January" else DAYS
            rx = "|".join(choices)
        elif text in ("Jan", "Mon"):
            rx = "|".join(c[:3] for c in (MONTHS if text == "Jan" else DAYS))
        elif text == "MST":
            rx = r"[A-Z]{3,5}|[+-]\d{4}"
        elif text in ("2006",):
            rx = r"\d{4}"
        elif text in ("1", "2", "3", "4", "5"):
            rx = r"\d{1,2}"
        elif text in ("_2",):
            rx = r" ?\d{1,2}"
        elif text in ("002",):
            rx = r"\d{3}"
        elif text in ("PM", "pm"):
            rx = "AM|PM|am|pm"
        elif text[0] in ".,":
            rx = r"[.,]\d+" if text[1] == "9" else rf"[.,]\d{{{len(text) - 1}}}"
            if text[1] == "9":
                rx = f"(?:{rx})?"
        elif text[0] in "Z-":
            rx = r"Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?"
        else:
            rx = r"\d{2}"
        pattern.append(f"(?P<{name}>{rx})")
    m = re.fullmatch("".join(pattern), value)
    if m is None:
        raise ValueError(value)
    year, month, day, hour, minute, second, micro = 1, 1, 1, 0, 0, 0, 0
    pm: bool | None = None
    tz = zone
    for i, text in enumerate(groups):
        got = m.group(f"g{i}")
        if got is None:
            continue
        if text == "January":
            month = MONTHS.index(got) + 1
        elif text == "Jan":
            month = [c[:3] for c in MONTHS].index(got) + 1
        elif text in ("2006",):
            year = int(got)
        elif text == "06":
            year = 2000 + int(got) if int(got) < 69 else 1900 + int(got)
        elif text in ("01", "1"):
            month = int(got)
        elif text in ("02", "2", "_2"):
            day = int(got)
        elif text == "15":
            hour = int(got)
        elif text in ("03", "3"):
            hour = int(got)
        elif text in ("04", "4"):
            minute = int(got)
        elif text in ("05", "5"):
            second = int(got)
        elif text in ("PM", "pm"):
            pm = got.upper() == "PM"
        elif text[0] in ".,":
            micro = int((got[1:] + "000000")[:6])
        elif text[0] in "Z-":
            tz = _parse_offset(got)
        elif text == "MST" and got == "UTC":
            tz = dt.UTC
    if pm is not None:
        hour = hour % 12 + (12 if pm else 0)
    return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)


def _parse_offset(text: str) -> dt.tzinfo:
    if text == "Z":
        return dt.UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    h, m, s = int(digits[:2]), int(digits[2:4] or 0), int(digits[4:6] or 0)
    return dt.timezone(sign * dt.timedelta(hours=h, minutes=m, seconds=s))


def go_time_string(t: dt.datetime) -> str:
    """``fmt.Sprint(t)``: ``2006-01-02 15:04:05.999999999 -0700 MST``."""
    return go_format(t, "2006-01-02 15:04:05.999999999 -0700 MST")


