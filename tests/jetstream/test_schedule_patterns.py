"""Schedule patterns as the reference computes them.

``cron_reference/cron_cases.json`` holds 600 (ts ns, zone, pattern, next) rows produced by the
reference's own ``parseCron`` (server/cron.go built as a small Go program; "ERR" where it
refuses the pattern), over time zones with DST and odd offsets (Lord Howe, St John's,
Chatham) and instants next to DST changes, month ends and leap days. The other cases are the
reference's TestJetStreamScheduledMessageParse.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import zoneinfo
from pathlib import Path

import pytest

from pynatsd.jetstream import cron, schedules

NS = 1_000_000_000
CASES = json.loads((Path(__file__).parent / "cron_reference" / "cron_cases.json").read_text())


def _zone(name: str) -> dt.tzinfo | None:
    if not name:
        return None
    return dt.UTC if name == "UTC" else zoneinfo.ZoneInfo(name)


def test_cron_matches_reference_table() -> None:
    diffs = []
    for ts, zone, pattern, want in CASES:
        try:
            t = cron.next_time(pattern, _zone(zone), ts)
            got = f"{int(t.timestamp()) * NS + t.microsecond * 1000} {schedules.format_rfc3339nano(t)}"
        except cron.CronError:
            got = "ERR"
        if got != want:
            diffs.append((ts, zone, pattern, want, got))
    assert not diffs, diffs[:5]
    assert sum(1 for c in CASES if c[3] != "ERR") > 200  # the table is not mostly errors


def _round(ns: int) -> int:
    return (ns + NS // 2) // NS * NS


def test_at_and_every() -> None:
    now = time.time_ns()
    at = dt.datetime.fromtimestamp(now // NS, dt.UTC).replace(microsecond=now % NS // 1000)
    text = "@at " + at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert schedules.parse(text, None, 0)[0] == now // 1000 * 1000
    assert schedules.parse(text, None, 0)[2] is False
    assert schedules.parse("@at 0001-01-01T00:00:00Z", None, 0) is None  # Go's zero time: no schedule
    assert schedules.parse("@at 1970-01-01T00:00:00Z", None, 0) == (0, "1970-01-01T00:00:00Z", False)
    with pytest.raises(schedules.Invalid):
        schedules.parse(text, dt.UTC, 0)  # no zone with @at
    base = _round(time.time_ns())
    assert schedules.parse("@every 5s", None, base)[:1] == (base + 5 * NS,)
    assert schedules.parse("@every 5s", None, 0)[0] >= base + 5 * NS  # not a burst after downtime
    for bad in ("@every 999ms", "@every 0s", "@every -5s", "@every x"):
        with pytest.raises(schedules.Invalid):
            schedules.parse(bad, None, 0)
    anchor = time.time_ns() + NS
    first = schedules.parse("@every 1500ms", None, anchor)
    assert first[0] == _round(anchor) + 1_500_000_000 and first[2] is True
    assert schedules.parse("@every 1500ms", None, first[0])[0] == _round(first[0]) + 1_500_000_000
    assert first[1].endswith(".5Z")


def test_cron_next_second_and_predefined() -> None:
    now = _round(time.time_ns())
    assert schedules.parse("* * * * * *", None, now)[0] == now + NS
    late = now // NS * NS + NS - 1
    assert schedules.parse("* * * * * *", None, late)[0] == late // NS * NS + NS
    assert schedules.parse("* * * * * *", None, 0)[0] >= now + NS
    year = dt.datetime.now(dt.UTC).year + 2
    start = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    sunday = start + dt.timedelta(days=(6 - start.weekday()) % 7)
    expected = {
        "@yearly": start.replace(year=year + 1),
        "@annually": start.replace(year=year + 1),
        "@monthly": start.replace(month=2),
        "@weekly": sunday + dt.timedelta(days=7),
        "@daily": start + dt.timedelta(days=1),
        "@midnight": start + dt.timedelta(days=1),
        "@hourly": start + dt.timedelta(hours=1),
    }
    for pattern, want in expected.items():
        base = sunday if pattern == "@weekly" else start
        got = schedules.parse(pattern, None, int(base.timestamp()) * NS)
        assert got[0] == int(want.timestamp()) * NS, pattern
        assert got[2] is True


def test_cron_in_a_zone_names_the_offset() -> None:
    ams = zoneinfo.ZoneInfo("Europe/Amsterdam")
    now = _round(time.time_ns())
    due, text, _ = schedules.parse("* * * * * *", ams, now)
    assert due == now + NS
    offset = dt.datetime.fromtimestamp(due // NS, ams).strftime("%z")
    assert text.endswith(offset[:3] + ":" + offset[3:])
