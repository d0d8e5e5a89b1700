"""Go's ``time.Time`` in JSON: RFC 3339 text with nanoseconds, and Go's parse errors.

Times are integers of nanoseconds since the epoch (UTC), like ``time.time_ns()``; the text is
what the reference writes and reads (``time.RFC3339Nano`` output, ``time.RFC3339`` parsing).
"""

from __future__ import annotations

import calendar
import datetime
import time
from typing import Final

from pynatsd.gocompat._strconv import utf8_bytes

__all__ = ["ZERO_TIME", "GoTimeError", "format_time", "go_time_text", "parse_time"]

ZERO_TIME: Final = "0001-01-01T00:00:00Z"
"""Go's zero ``time.Time`` as it writes it, what :func:`format_time` gives for 0."""

_NS: Final = 1_000_000_000
_LAYOUT: Final = "2006-01-02T15:04:05Z07:00"
_DAYS_IN: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_EPOCH: Final = datetime.datetime(1970, 1, 1)


class GoTimeError(ValueError):
    """A time string Go's RFC 3339 parser rejects; the message is Go's."""


def format_time(ns: int) -> str:
    """Go's RFC 3339 form of a UTC time in ns since the epoch; 0 is Go's zero time.

    Nanoseconds are written without trailing zeros, and not at all when zero:
    ``2026-11-21T07:39:16.48795578Z``, ``2024-01-01T00:00:00Z``.
    """
    if ns == 0:
        return ZERO_TIME
    secs, frac = divmod(ns, _NS)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        return f"{base}.{frac:09d}".rstrip("0") + "Z"
    return base + "Z"


def _time_quote(s: str) -> str:
    """The time package's own quoting (not ``%q``): ASCII kept, ``"`` and ``\\`` escaped, every
    byte of a non-ASCII rune or control character (and every invalid byte) as ``\\xNN``."""
    out = ['"']
    for b in utf8_bytes(s):
        if b >= 0x80 or b < 0x20:
            out.append(f"\\x{b:02x}")
        else:
            out.append("\\" + chr(b) if b in (0x22, 0x5C) else chr(b))
    out.append('"')
    return "".join(out)


def _getnum(value: str, fixed: bool) -> tuple[int, str] | None:
    if not value or not value[0].isdigit() or not value[0].isascii():
        return None
    if len(value) < 2 or not (value[1].isascii() and value[1].isdigit()):
        if fixed:
            return None
        return int(value[0]), value[1:]
    return int(value[:2]), value[2:]


def parse_time(s: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time, as Go's ``time.Time`` JSON decoding reads it.

    Raises :class:`GoTimeError` with Go's message (``parsing time "x" as "2006-01-02T15:04:05Z07:00":
    cannot parse "x" as "2006"``, ``parsing time "...": month out of range``...).
    """
    whole = _time_quote(s)

    def bad(rest: str, elem: str) -> GoTimeError:
        return GoTimeError(
            f"parsing time {whole} as {_time_quote(_LAYOUT)}: cannot parse {_time_quote(rest)} as {_time_quote(elem)}"
        )

    def out_of_range(what: str) -> GoTimeError:
        return GoTimeError(f"parsing time {whole}: {what} out of range")

    v = s
    if len(v) < 4 or not v[:4].isascii() or not v[:4].isdigit():
        raise bad(v, "2006")
    year, v = int(v[:4]), v[4:]
    fields: list[int] = []
    for sep, elem, fixed, hi, name in (
        ("-", "01", True, 12, "month"),
        ("-", "02", True, 31, "day"),
        ("T", "15", False, 23, "hour"),
        (":", "04", True, 59, "minute"),
        (":", "05", True, 59, "second"),
    ):
        if not v.startswith(sep):
            raise bad(v, sep)
        v = v[1:]
        got = _getnum(v, fixed)
        if got is None:
            raise bad(v, elem)
        n, v = got
        lo = 1 if name in ("month", "day") else 0
        if not lo <= n <= hi:
            raise out_of_range(name)
        fields.append(n)
    month, day, hour, minute, second = fields
    frac_ns = 0
    if len(v) >= 2 and v[0] in ".," and v[1].isascii() and v[1].isdigit():
        i = 1
        while i < len(v) and v[i].isascii() and v[i].isdigit():
            i += 1
        digits = v[1:i]
        frac_ns = int((digits + "000000000")[:9])
        v = v[i:]
    offset = 0
    if v.startswith("Z"):
        v = v[1:]
    elif len(v) >= 6 and v[0] in "+-" and v[3] == ":" and v[1:3].isdigit() and v[4:6].isdigit():
        hh, mm = int(v[1:3]), int(v[4:6])
        if hh > 24 or mm > 59:
            raise GoTimeError(f"parsing time {whole}: time zone offset out of range")
        offset = (hh * 3600 + mm * 60) * (1 if v[0] == "+" else -1)
        v = v[6:]
    else:
        raise bad(v, "Z07:00")
    if v:
        raise GoTimeError(f"parsing time {whole}: extra text: {_time_quote(v)}")
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day > _DAYS_IN[month - 1] + (1 if month == 2 and leap else 0):
        raise out_of_range("day")
    secs = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    return secs * _NS + frac_ns


def go_time_text(text: str, *, utc: bool = False) -> str:
    """An RFC 3339 time as Go writes it back: fraction without trailing zeros, the offset it was
    given in ("Z" for a zero offset), or converted to UTC with ``utc``.

    Go keeps a parsed time's offset, so a configuration echoes a time in the zone it was sent in.
    ``2024-01-01T02:00:00.500+02:00`` -> ``2024-01-01T02:00:00.5+02:00``; ``...+00:00`` -> ``...Z``.
    The text must be one :func:`parse_time` accepts.
    """
    ns = parse_time(text)
    offset = 0
    if not utc and not text.endswith("Z") and len(text) >= 6 and text[-6] in "+-":
        offset = (int(text[-5:-3]) * 3600 + int(text[-2:]) * 60) * (1 if text[-6] == "+" else -1)
    secs, frac = divmod(ns + offset * _NS, _NS)
    try:
        t = _EPOCH + datetime.timedelta(seconds=secs)
    except OverflowError:
        return text
    out = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    if frac:
        out += f".{frac:09d}".rstrip("0")
    if offset == 0:
        return out + "Z"
    sign = "+" if offset > 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{out}{sign}{hours:02d}:{minutes:02d}"
