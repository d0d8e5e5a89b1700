"""Go's ``time.Time`` text: RFC 3339 output, parsing and Go's parse errors."""

from __future__ import annotations

import pytest

from pynatsd.gocompat import ZERO_TIME, GoTimeError, format_time, go_time_text, parse_time

# (text, time.Parse(time.RFC3339, text) error), printed once by Go (go1.26) and pasted here.
# They cover the time package's own quoting: ASCII kept, ``"`` and ``\`` escaped, \xNN for
# every byte of a non-ASCII rune.
GO_PARSE_ERRORS = [
    ("x", 'parsing time "x" as "2006-01-02T15:04:05Z07:00": cannot parse "x" as "2006"'),
    ("2020-13-01T00:00:00Z", 'parsing time "2020-13-01T00:00:00Z": month out of range'),
    ("2021-02-29T00:00:00Z", 'parsing time "2021-02-29T00:00:00Z": day out of range'),
    ("2020-01-01T25:00:00Z", 'parsing time "2020-01-01T25:00:00Z": hour out of range'),
    (
        "2020-01-01T00:00:00Z\u00e9",
        'parsing time "2020-01-01T00:00:00Z\\xc3\\xa9": extra text: "\\xc3\\xa9"',
    ),
    (
        "\u00e9",
        'parsing time "\\xc3\\xa9" as "2006-01-02T15:04:05Z07:00": cannot parse "\\xc3\\xa9" as "2006"',
    ),
    (
        '\x7f"\\',
        'parsing time "\x7f\\"\\\\" as "2006-01-02T15:04:05Z07:00": cannot parse "\x7f\\"\\\\" as "2006"',
    ),
    (
        "\ufffd",
        'parsing time "\\xef\\xbf\\xbd" as "2006-01-02T15:04:05Z07:00": cannot parse "\\xef\\xbf\\xbd" as "2006"',
    ),
    (
        "2020-01-01 00:00:00Z",
        'parsing time "2020-01-01 00:00:00Z" as "2006-01-02T15:04:05Z07:00": cannot parse " 00:00:00Z" as "T"',
    ),
    (
        "2020-01-01T00:00:00",
        'parsing time "2020-01-01T00:00:00" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "Z07:00"',
    ),
]


def test_format_and_parse_time() -> None:
    assert format_time(0) == ZERO_TIME
    assert format_time(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert format_time(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert format_time(1_700_000_000_000_000_001) == "2023-11-14T22:13:20.000000001Z"
    assert parse_time("2023-11-14T22:13:20.12Z") == 1_700_000_000_120_000_000
    assert parse_time("2023-11-15T00:13:20.12+02:00") == 1_700_000_000_120_000_000
    assert parse_time(ZERO_TIME) == -62135596800 * 1_000_000_000


@pytest.mark.parametrize(("text", "message"), GO_PARSE_ERRORS)
def test_parse_time_errors_are_go_s(text: str, message: str) -> None:
    with pytest.raises(GoTimeError) as info:
        parse_time(text)
    assert str(info.value) == message


def test_go_time_text() -> None:
    assert go_time_text("2024-01-01T02:00:00.500+02:00") == "2024-01-01T02:00:00.5+02:00"
    assert go_time_text("2024-01-01T02:00:00.500+02:00", utc=True) == "2024-01-01T00:00:00.5Z"
    assert go_time_text("2024-01-01T00:00:00+00:00") == "2024-01-01T00:00:00Z"
    assert go_time_text("2024-01-01T00:00:00.000000001-00:00") == "2024-01-01T00:00:00.000000001Z"
    assert go_time_text("0001-01-01T00:00:00Z") == "0001-01-01T00:00:00Z"
    assert go_time_text("2024-03-01T00:30:00-01:30", utc=True) == "2024-03-01T02:00:00Z"
