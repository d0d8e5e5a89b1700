"""``go_quote`` and ``go_atoi`` against Go's own ``strconv``.

The expected strings were generated once with the Go toolchain (go1.26, ``strconv.Quote`` and
``strconv.Atoi`` of the same bytes) and pasted here; they are not computed by these tests.
"""

from __future__ import annotations

import pytest

from pynatsd.gocompat import go_atoi, go_quote

# (bytes Go held, strconv.Quote of them), printed by Go.
GO_QUOTE = [
    (b"", '""'),
    (b"abc", '"abc"'),
    (b"$JS.API.>", '"$JS.API.>"'),
    (b'a"b\\c', '"a\\"b\\\\c"'),
    (b"'`", '"\'`"'),
    (b" ~", '" ~"'),
    (b"\x07\x08\x0c\n\r\t\x0b", '"\\a\\b\\f\\n\\r\\t\\v"'),
    (b"\x00\x01\x1f\x7f", '"\\x00\\x01\\x1f\\x7f"'),
    (b"h\xc3\xa9llo", '"h\u00e9llo"'),
    (b"\xe6\x97\xa5\xe6\x9c\xac", '"\u65e5\u672c"'),
    (b"\xf0\x9f\x98\x80", '"\U0001f600"'),
    (b"\xc2\xa0", '"\\u00a0"'),
    (b"\xc2\xad", '"\\u00ad"'),
    (b"\xe2\x80\x8b", '"\\u200b"'),
    (b"\xe2\x80\xa8\xe2\x80\xa9", '"\\u2028\\u2029"'),
    (b"\xe3\x80\x80", '"\\u3000"'),
    (b"\xef\xbb\xbf", '"\\ufeff"'),
    (b"\xcd\xb8", '"\\u0378"'),
    (b"\xf3\xa0\x80\x81", '"\\U000e0001"'),
    (b"\xf4\x8f\xbf\xbf", '"\\U0010ffff"'),
    (b"\xef\xbf\xbd", '"\ufffd"'),
    (b"\xff", '"\\xff"'),
    (b"a\xffb", '"a\\xffb"'),
    (b"\x80", '"\\x80"'),
    (b"\xc3", '"\\xc3"'),
    (b"\xc3\xa9", '"\u00e9"'),
    (b"\xe2\x82", '"\\xe2\\x82"'),
    (b"\xe2\x82A", '"\\xe2\\x82A"'),
    (b"\xed\xa0\x80", '"\\xed\\xa0\\x80"'),
    (b"\xed\xb3\xbf", '"\\xed\\xb3\\xbf"'),
    (b"\xc0\xaf", '"\\xc0\\xaf"'),
    (b"\xf4\x90\x80\x80", '"\\xf4\\x90\\x80\\x80"'),
    (b"a\xc3\xa9\xed\xa0\x80\x01", '"a\u00e9\\xed\\xa0\\x80\\x01"'),
]

# (text, strconv.Atoi error or "" when it parses), printed by Go.
GO_ATOI = [
    ("12", ""),
    ("-7", ""),
    ("+3", ""),
    ("", 'strconv.Atoi: parsing "": invalid syntax'),
    ("-", 'strconv.Atoi: parsing "-": invalid syntax'),
    ("1x", 'strconv.Atoi: parsing "1x": invalid syntax'),
    ("9223372036854775807", ""),
    ("9223372036854775808", 'strconv.Atoi: parsing "9223372036854775808": value out of range'),
    ("-9223372036854775808", ""),
    ("-9223372036854775809", 'strconv.Atoi: parsing "-9223372036854775809": value out of range'),
    ("99999999999999999999", 'strconv.Atoi: parsing "99999999999999999999": value out of range'),
    (b"a\xff".decode("utf-8", "surrogateescape"), 'strconv.Atoi: parsing "a\\xff": invalid syntax'),
    ("\u00e9", 'strconv.Atoi: parsing "\u00e9": invalid syntax'),
]


@pytest.mark.parametrize(("raw", "quoted"), GO_QUOTE)
def test_go_quote_bytes(raw: bytes, quoted: str) -> None:
    assert go_quote(raw) == quoted


@pytest.mark.parametrize(("raw", "quoted"), GO_QUOTE)
def test_go_quote_str_is_the_bytes_it_encodes_to(raw: bytes, quoted: str) -> None:
    # How pynatsd holds wire bytes that are not UTF-8: surrogate-escaped.
    assert go_quote(raw.decode("utf-8", "surrogateescape")) == quoted


def test_go_quote_str_corner_cases() -> None:
    assert go_quote("\udcff") == '"\\xff"'
    # Escapes of bytes that form valid UTF-8 together are that character, as Go sees the bytes.
    assert go_quote("\udcc3\udca9") == '"\u00e9"'
    # A lone surrogate that is no escape: its 3 bytes (ED A0 80), which Go finds invalid.
    assert go_quote("a\ud800") == '"a\\xed\\xa0\\x80"'


@pytest.mark.parametrize(("text", "error"), GO_ATOI)
def test_go_atoi(text: str, error: str) -> None:
    value, err = go_atoi(text)
    assert (err or "") == error
    if not error:
        assert value == int(text)
