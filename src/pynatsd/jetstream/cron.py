"""The cron patterns of message schedules (``Nats-Schedule: 0 30 9 * * mon-fri``).

Six fields: seconds, minutes, hours, day of month, month, day of week; each a comma list of
``*``/``?``, ``N``, ``N-M``, optionally ``/step`` (``N/step`` means ``N-max/step``); months
and weekdays also by three-letter name. When both day fields are restricted a day matching
either fires; a ``*`` in one of them means both must match. The next time is searched from
the second after ``ts`` in the schedule's time zone, at most five years ahead; a pattern
that never matches is invalid. These are the reference's rules (a port of robfig/cron's
search), so the same pattern fires at the same instants on both servers.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

_STAR: Final = 1 << 63
_INT = re.compile(r"[+-]?[0-9]+")
_MONTHS: Final = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_DAYS: Final = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (min, max, names) of each field
_BOUNDS: Final[tuple[tuple[int, int, dict[str, int] | None], ...]] = (
    (0, 59, None),
    (0, 59, None),
    (0, 23, None),
    (1, 31, None),
    (1, 12, _MONTHS),
    (0, 6, _DAYS),
)
_UTC = dt.UTC
_SECOND = dt.timedelta(seconds=1)
_MINUTE = dt.timedelta(minutes=1)
_HOUR = dt.timedelta(hours=1)


class CronError(ValueError):
    """A pattern the reference refuses."""


def _int(expr: str) -> int:
    if _INT.fullmatch(expr) is None:
        raise CronError(expr)
    n = int(expr)
    if n < 0:
        raise CronError(expr)
    return n


def _int_or_name(expr: str, names: dict[str, int] | None) -> int:
    if names is not None and expr.lower() in names:
        return names[expr.lower()]
    return _int(expr)


def _range(expr: str, lo: int, hi: int, names: dict[str, int] | None) -> int:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single = len(low_and_high) == 1
    extra = 0
    if low_and_high[0] in ("*", "?"):
        start, end, extra = lo, hi, _STAR
    else:
        start = _int_or_name(low_and_high[0], names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _int_or_name(low_and_high[1], names)
        else:
            raise CronError(expr)
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _int(range_and_step[1])
        if single:
            end = hi
        if step > 1:
            extra = 0
    else:
        raise CronError(expr)
    if start < lo or end > hi or start > end or step == 0:
        raise CronError(expr)
    bits = 0
    for i in range(start, end + 1, step):
        bits |= 1 << i
    return bits | extra


def _field(field: str, lo: int, hi: int, names: dict[str, int] | None) -> int:
    bits = 0
    for expr in field.split(","):
        if expr:
            bits |= _range(expr, lo, hi, names)
    return bits


def _local(t: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """A wall-clock time in ``tz`` (Go's ``time.Date`` in a location)."""
    return t.replace(tzinfo=tz)


def _add_date(t: dt.datetime, months: int, days: int, tz: dt.tzinfo) -> dt.datetime:
    """Go's ``AddDate(0, months, days)``: wall-clock fields added, overflow normalised
    (January 31st plus a month is March 3rd or 2nd)."""
    y, m = divmod(t.year * 12 + t.month - 1 + months, 12)
    base = dt.datetime(y, m + 1, 1, t.hour, t.minute, t.second)
    return _local(base + dt.timedelta(days=t.day - 1 + days), tz)


def _add(t: dt.datetime, delta: dt.timedelta, tz: dt.tzinfo) -> dt.datetime:
    """Elapsed-time addition (Go's ``Time.Add``), shown in ``tz``."""
    return (t.astimezone(_UTC) + delta).astimezone(tz)


def _day_matches(dom: int, dow: int, t: dt.datetime) -> bool:
    dom_match = bool(1 << t.day & dom)
    dow_match = bool(1 << ((t.weekday() + 1) % 7) & dow)
    if dom & _STAR or dow & _STAR:
        return dom_match and dow_match
    return dom_match or dow_match


def next_time(pattern: str, tz: dt.tzinfo | None, ts: int) -> dt.datetime:
    """The first instant after ``ts`` (ns since the epoch) that ``pattern`` names; raises
    :class:`CronError` for a pattern the reference refuses or that never fires."""
    fields = pattern.split()
    if len(fields) != 6:
        raise CronError(pattern)
    second, minute, hour, dom, month, dow = (
        _field(f, lo, hi, names) for f, (lo, hi, names) in zip(fields, _BOUNDS, strict=True)
    )
    mask = ~_STAR
    if not (second & mask and minute & mask and hour & mask and month & mask and (dom | dow) & mask):
        raise CronError(pattern)  # nothing can match: the reference gives up after five years
    zone = tz or _UTC
    secs = ts // 1_000_000_000
    t = dt.datetime.fromtimestamp(secs, _UTC).astimezone(zone)
    t = _add(t, _SECOND, zone)
    truncated = False
    year_limit = t.year + 5
    while True:
        if t.year > year_limit:
            raise CronError(pattern)
        wrapped = False
        while not 1 << t.month & month:
            if not truncated:
                truncated = True
                t = _local(dt.datetime(t.year, t.month, 1), zone)
            t = _add_date(t, 1, 0, zone)
            if t.month == 1:
                wrapped = True
                break
        if wrapped:
            continue
        while not _day_matches(dom, dow, t):
            if not truncated:
                truncated = True
                t = _local(dt.datetime(t.year, t.month, t.day), zone)
            t = _add_date(t, 0, 1, zone)
            if t.day == 1:
                wrapped = True
                break
        if wrapped:
            continue
        while not 1 << t.hour & hour:
            if not truncated:
                truncated = True
                t = _local(dt.datetime(t.year, t.month, t.day, t.hour), zone)
            t = _add(t, _HOUR, zone)
            if t.hour == 0:
                wrapped = True
                break
        if wrapped:
            continue
        while not 1 << t.minute & minute:
            if not truncated:
                truncated = True
                t = t.replace(second=0, microsecond=0)
            t = _add(t, _MINUTE, zone)
            if t.minute == 0:
                wrapped = True
                break
        if wrapped:
            continue
        while not 1 << t.second & second:
            if not truncated:
                truncated = True
                t = t.replace(microsecond=0)
            t = _add(t, _SECOND, zone)
            if t.second == 0:
                wrapped = True
                break
        if wrapped:
            continue
        return t
