"""Go durations: ``time.ParseDuration`` and ``Duration.String``, as the reference's config and
headers use them."""

from __future__ import annotations

import pytest

from pynatsd.gocompat import format_duration, parse_duration, parse_duration_ns


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("2m", 120.0),
        ("10s", 10.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        (".5s", 0.5),
        ("1.s", 1.0),
        ("-1m", -60.0),
        ("+3s", 3.0),
        ("100us", 0.0001),
        ("100µs", 0.0001),
        ("100ns", 1e-7),
        ("1h1m1s1ms", 3661.001),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'time: invalid duration ""'),
        ("bogus", 'time: invalid duration "bogus"'),
        ("10", 'time: missing unit in duration "10"'),
        ("10x", 'time: unknown unit "x" in duration "10x"'),
        ("1.5.5s", 'time: missing unit in duration "1.5.5s"'),
        (".s", 'time: invalid duration ".s"'),
        ("-", 'time: invalid duration "-"'),
        ("3000000h", 'time: invalid duration "3000000h"'),
    ],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (10 * 10**9, "10s"),
        (90 * 10**9, "1m30s"),
        (3600 * 10**9, "1h0m0s"),
        (1_500_000_000, "1.5s"),
        (1_500_000, "1.5ms"),
        (1_500, "1.5µs"),
        (15, "15ns"),
        (-2 * 10**9, "-2s"),
    ],
)
def test_format_duration(ns: int, text: str) -> None:
    assert format_duration(ns) == text
    assert parse_duration_ns(text) == ns
