"""Go's ``strconv`` as the reference's texts use it: ``%q`` quoting and ``Atoi`` errors.

Go quotes bytes, Python has text. A ``str`` here stands for the bytes Go would hold: its
UTF-8 encoding, with surrogate-escaped characters (how pynatsd decodes wire bytes that are
not UTF-8) turned back into the raw bytes they stand for, so ``"\\udcff"`` quotes as
``"\\xff"`` like Go's invalid byte 0xff.

Printable means Go's ``unicode.IsPrint``, taken here as Python's ``str.isprintable``: both
keep letters, marks, numbers, punctuation, symbols and the ASCII space. They agree as long
as their Unicode versions do (a rune assigned in a newer version than Python's is escaped
here and kept by Go).
"""

from __future__ import annotations

from typing import Final

__all__ = ["go_atoi", "go_parse_bool", "go_quote"]

_ESCAPES: Final = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def utf8_bytes(s: str) -> bytes:
    """The bytes Go would hold for ``s``: UTF-8, surrogate escapes back to their raw byte.

    A lone surrogate that is no escape (not U+DC80..U+DCFF) keeps its 3-byte encoding, which
    Go sees as three invalid bytes.
    """
    try:
        return s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return b"".join(
            ch.encode("utf-8", "surrogateescape" if 0xDC80 <= ord(ch) <= 0xDCFF else "surrogatepass")
            for ch in s
        )


def go_quote(s: str | bytes) -> str:
    """Go's ``%q`` / ``strconv.Quote`` of a string holding these bytes (a ``str``: see the module).

    Runes Go prints are kept, ``"`` and ``\\`` are escaped, then ``\\a\\b\\f\\n\\r\\t\\v``,
    ``\\xNN`` for other bytes below 0x20, 0x7f and bytes that are not valid UTF-8,
    ``\\uNNNN`` / ``\\UNNNNNNNN`` for the other runes Go does not print.
    """
    if isinstance(s, str) and s.isascii():
        if s.isprintable() and '"' not in s and "\\" not in s:
            return f'"{s}"'  # the common case (subjects, names), on every PubAck
        text = s  # ASCII: the same bytes either way, no need to encode
    else:
        # Go's view of the bytes: runes where they are valid UTF-8, surrogate escapes where not.
        text = (utf8_bytes(s) if isinstance(s, str) else s).decode("utf-8", "surrogateescape")
    out = ['"']
    for ch in text:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 0xDC80 <= o <= 0xDCFF:  # a byte that was not valid UTF-8 (valid UTF-8 has no surrogates)
            out.append(f"\\x{o - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def go_atoi(s: str) -> tuple[int, str | None]:
    """Go's ``strconv.Atoi`` (64-bit ``int``): the value, or the error text it would report."""

    def fail(why: str) -> tuple[int, str | None]:
        return 0, f"strconv.Atoi: parsing {go_quote(s)}: {why}"

    digits, negative = s, False
    if digits[:1] in ("+", "-"):
        negative, digits = digits[0] == "-", digits[1:]
    if not digits:
        return fail("invalid syntax")
    n = 0
    for ch in digits:
        if not "0" <= ch <= "9":
            return fail("invalid syntax")
        n = n * 10 + ord(ch) - 48
        if n >= 1 << 64:
            return fail("value out of range")
    if n > (1 << 63) - (0 if negative else 1):
        return fail("value out of range")
    return (-n if negative else n), None


_TRUE = frozenset(("1", "t", "T", "TRUE", "true", "True"))
_FALSE = frozenset(("0", "f", "F", "FALSE", "false", "False"))


def go_parse_bool(s: str) -> tuple[bool, str | None]:
    """Go's ``strconv.ParseBool``: the value, or the error text it would report."""
    if s in _TRUE:
        return True, None
    if s in _FALSE:
        return False, None
    return False, f"strconv.ParseBool: parsing {go_quote(s)}: invalid syntax"
