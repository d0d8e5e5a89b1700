"""Parser for the reference server's configuration format.

The format is loose (``key: value``, ``key = value`` and ``key value``; maps, arrays,
comments, quoted and bare strings, sizes, includes and ``$VAR`` references), and its
corners are defined by the reference's hand-written lexer rather than by a grammar. The
lexer below is therefore a state machine that makes the same decisions character by
character; where the reference merely misbehaves (hangs, include loops, values silently
dropped) we raise a ``ConfigError`` instead.

Every value comes back wrapped in a ``Node`` that remembers where it was written, so the
loader can report ``file:line:column: reason``. Map entries carry the position of their key
(as the reference reports them), array items their own position.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, auto
from typing import Any, TypeAlias

from pynatsd.config.errors import ConfigError, ConfigIssue, Position

__all__ = [
    "ConfigError",
    "ConfigIssue",
    "ConfigMap",
    "Node",
    "Position",
    "Scalar",
    "Value",
    "parse_file",
    "parse_string",
    "unwrap",
]

Scalar: TypeAlias = str | int | float | bool | datetime
Value: TypeAlias = "Scalar | list[Node] | dict[str, Node]"


@dataclass(slots=True)
class Node:
    """A parsed value and where it came from.

    ``used_as_variable`` is set when a later ``$NAME`` referred to this entry: the reference
    does not report such helper keys as unknown fields, and neither does our loader.
    """

    value: Value
    pos: Position
    used_as_variable: bool = False


ConfigMap: TypeAlias = dict[str, Node]

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

# ---------------------------------------------------------------------------------------
# Lexer
# ---------------------------------------------------------------------------------------


class _Kind(Enum):
    KEY = auto()
    STRING = auto()
    BOOL = auto()
    INTEGER = auto()
    FLOAT = auto()
    DATETIME = auto()
    ARRAY_START = auto()
    ARRAY_END = auto()
    MAP_START = auto()
    MAP_END = auto()
    VARIABLE = auto()
    INCLUDE = auto()
    EOF = auto()
    ERROR = auto()


@dataclass(slots=True)
class _Token:
    kind: _Kind
    text: str
    line: int
    column: int


_State: TypeAlias = Callable[[], "_State | None"]

_EOF = ""  # what _next() returns past the end of the input
_NUMBER_SUFFIXES = frozenset("kKmMgGtTpPeE")
_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
# What the first character of an include's value must not be (digits aside): "found ...".
_NOT_AN_INCLUDE = {
    "[": "start of an array",
    "{": "start of a map",
    "(": "start of a block",
    "-": "start of a number",
    "\\": "escape sequence",
    "\n": "new line",
    "\r": "new line",
}


def _is_space(c: str) -> bool:
    """Go's unicode.IsSpace, which differs from str.isspace on a few control characters."""
    if not c:
        return False
    if c <= "\xff":
        return c in "\t\n\v\f\r \x85\xa0"
    return unicodedata.category(c) in ("Zs", "Zl", "Zp")


def _is_ws(c: str) -> bool:
    return c == " " or c == "\t"


def _is_nl(c: str) -> bool:
    return c == "\n" or c == "\r"


def _is_digit(c: str) -> bool:
    return c.isdecimal()  # any Unicode decimal digit, like Go's unicode.IsDigit


def _is_ws_or_nl(c: str) -> bool:
    return _is_ws(c) or _is_nl(c)


def _ends_number(c: str) -> bool:
    """Whether ``c`` may follow a number (or a size) without making it a bare string."""
    return _is_nl(c) or c == _EOF or c in ("}", ";", ",") or _is_ws(c)


def _show(c: str) -> str:
    return "\\n" if c == "\n" else c


class _Lexer:
    """Character-level state machine; each state consumes a little input and names the next.

    Positions follow the reference: ``line`` counts ``\\n`` and a token's column is its
    offset from the last newline seen before it (so 0-based on line 1, 1-based after).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.pos = 0
        self.start = 0
        self.width = 0
        self.line = 1
        self.lstart = 0  # index of the last newline consumed
        self.ilstart = 0  # lstart when the current token started
        self.stack: list[_State] = []
        self.parts: list[str] = []  # pieces of a string with escapes
        self.string_state: _State = self._raw_string
        self.queue: deque[_Token] = deque()

    # -- plumbing ------------------------------------------------------------------------

    def tokens(self) -> Iterator[_Token]:
        """Yield tokens lazily so an include is read before later text is even looked at."""
        state: _State | None = self._top
        budget = 64 * (self.n + 16)  # every state call is bounded work; this cannot trip on valid input
        while True:
            while self.queue:
                tok = self.queue.popleft()
                yield tok
                if tok.kind is _Kind.EOF or tok.kind is _Kind.ERROR:
                    return
            if state is None:
                yield _Token(_Kind.EOF, "", self.line, self.pos - self.lstart)
                return
            budget -= 1
            if budget < 0:
                yield _Token(_Kind.ERROR, "Lexer made no progress.", self.line, self.pos - self.lstart)
                return
            state = state()

    def _next(self) -> str:
        if self.pos >= self.n:
            self.width = 0
            return _EOF
        c = self.text[self.pos]
        if c == "\n":
            self.line += 1
            self.lstart = self.pos
        self.width = 1
        self.pos += 1
        return c

    def _backup(self) -> None:
        self.pos -= self.width
        if self.pos < self.n and self.text[self.pos] == "\n":
            self.line -= 1

    def _peek(self) -> str:
        c = self._next()
        self._backup()
        return c

    def _ignore(self) -> None:
        self.start = self.pos
        self.ilstart = self.lstart

    def _push(self, state: _State) -> None:
        self.stack.append(state)

    def _pop(self) -> _State | None:
        if not self.stack:
            return self._error("BUG in lexer: no states to pop.")
        return self.stack.pop()

    def _emit(self, kind: _Kind) -> None:
        val = "".join(self.parts) + self.text[self.start : self.pos]
        self.parts.clear()
        self.queue.append(_Token(kind, val, self.line, self.pos - self.ilstart - len(val)))
        self.start = self.pos
        self.ilstart = self.lstart

    def _error(self, msg: str) -> _State | None:
        """Queue an error token and stop: the tokens() loop ends at the first error."""
        self.queue.append(_Token(_Kind.ERROR, msg, self.line, self.pos - self.lstart))
        return None

    def _comment(self, resume: _State) -> _State:
        self._push(resume)
        return self._comment_body

    def _comment_body(self) -> _State | None:
        c = self._peek()
        if _is_nl(c) or c == _EOF:
            self._ignore()
            return self._pop()
        self._next()
        return self._comment_body

    def _eof_or_error(self) -> _State | None:
        if self.pos > self.start:
            return self._error("Unexpected EOF.")
        self._emit(_Kind.EOF)
        return None

    # -- shared steps of the states --------------------------------------------------------

    def _skip(self, blank: Callable[[str], bool]) -> str:
        """Read the next character, dropping the ``blank`` ones before it from the token."""
        c = self._next()
        while blank(c):
            self._ignore()
            c = self._next()
        return c

    def _opens_comment(self, c: str) -> bool:
        """Whether ``c``, just read, starts a ``#`` or ``//`` comment (the second ``/`` is read too).

        After a lone ``/`` the character behind it is left unread; each state then treats
        the ``/`` like one of its other characters, as the reference does.
        """
        if c == "#":
            return True
        if c == "/":
            if self._next() == "/":
                return True
            self._backup()
        return False

    def _end_before(self, kind: _Kind) -> _State | None:
        """The character just read ends the token: put it back, emit the token, return."""
        self._backup()
        self._emit(kind)
        return self._pop()

    def _emit_skipping_quote(self, kind: _Kind) -> None:
        """Emit the token, which ends at the next character (its closing quote); drop that quote."""
        self._emit(kind)
        self._next()
        self._ignore()

    def _end_at_quote(self, kind: _Kind) -> _State | None:
        """The closing quote was just read: emit the token before it, drop the quote, return."""
        self._backup()
        self._emit_skipping_quote(kind)
        return self._pop()

    def _bare_string(self) -> _State:
        """Go on with the text read so far as a bare string."""
        self.string_state = self._raw_string
        return self._raw_string

    # -- top level and optional outer braces ----------------------------------------------

    def _top(self) -> _State | None:
        return self._block_entry(self._skip(_is_space), self._top, self._top, self._top_value_end)

    def _block_start(self) -> _State | None:
        c = self._skip(_is_space)
        if c == "}":
            self._ignore()
            return self._pop()
        return self._block_entry(c, self._block_start, self._block_end, self._block_value_end)

    def _block_entry(self, c: str, here: _State, after_block: _State, value_end: _State) -> _State | None:
        """Where a key may start (top level or inside braces): a nested ``{``, a comment, a key."""
        if c == "{":
            self._push(after_block)
            self._ignore()
            return self._block_start
        if self._opens_comment(c):
            return self._comment(here)
        if c == "/" or c == _EOF:
            return self._eof_or_error()
        self._backup()
        self._push(value_end)
        return self._key_start

    def _top_value_end(self) -> _State | None:
        c = self._skip(_is_ws)
        if self._opens_comment(c):
            return self._comment(self._top)
        if c == "/":  # a lone '/' is skipped
            return self._top_value_end
        if _is_nl(c) or c == _EOF or c in (";", ",", "}"):
            self._ignore()
            return self._top
        return self._error(
            f"Expected a top-level value to end with a new line, comment or EOF, but got '{_show(c)}' instead."
        )

    def _block_value_end(self) -> _State | None:
        c = self._skip(_is_ws)
        if self._opens_comment(c):
            return self._comment(self._block_value_end)
        if c == "/":  # a lone '/' is skipped
            return self._block_value_end
        if _is_nl(c) or c in (";", ","):
            self._ignore()
            return self._block_start
        if c == "}":
            self._backup()
            return self._block_end
        return self._error(
            f"Expected a block-level value to end with a new line, comment or EOF, but got '{_show(c)}' instead."
        )

    def _block_end(self) -> _State | None:
        c = self._skip(_is_ws_or_nl)
        if self._opens_comment(c):
            return self._comment(self._block_start)
        if c == "/":  # a lone '/' is skipped
            return self._block_end
        if c in (";", ","):
            self._ignore()
            return self._block_start
        if c == "}":
            self._ignore()
            return self._pop()
        return self._error(f"Expected a block-level to end with a '}}', but got '{_show(c)}' instead.")

    # -- keys --------------------------------------------------------------------------

    def _key_start(self) -> _State | None:
        c = self._peek()
        if c in ("=", ":"):
            return self._error(f"Unexpected key separator '{c}'")
        if _is_space(c):
            self._next()
            self._ignore()
            return self._key_start
        if c == '"' or c == "'":
            self._next()
            self._ignore()
            return self._quoted_key(c)
        self._ignore()
        self._next()
        return self._key

    def _quoted_key(self, quote: str) -> _State:
        def state() -> _State | None:
            c = self._peek()
            if c == quote:
                self._emit_skipping_quote(_Kind.KEY)
                return self._key_end
            if c == _EOF:
                return self._eof_or_error()
            self._next()
            return state

        return state

    def _key(self) -> _State | None:
        c = self._peek()
        if _is_space(c):
            return self._keyword(self._key_end, None)
        if c in ("=", ":") or c == _EOF:
            self._emit(_Kind.KEY)
            return self._key_end
        self._next()
        return self._key

    def _keyword(self, fallthrough: _State, resume: _State | None) -> _State | None:
        """A bare key followed by white space may be the ``include`` directive."""
        if self.text[self.start : self.pos].lower() == "include":
            self._ignore()
            if resume is not None:
                self._push(resume)
            return self._include_start
        self._emit(_Kind.KEY)
        return fallthrough

    def _key_end(self) -> _State | None:
        c = self._skip(_is_space)
        if c == _EOF:
            self._emit(_Kind.EOF)
            return None
        return self._separator(c, self._value)

    def _separator(self, c: str, value: _State) -> _State:
        """``c`` was read after a key: an optional ``=`` or ``:`` (dropped), then the value."""
        if c in ("=", ":"):
            self._ignore()
        else:
            self._backup()
        return value

    # -- include ---------------------------------------------------------------------------

    def _include_start(self) -> _State | None:
        self._skip(_is_ws)
        self._backup()
        return self._include_value

    def _include_value(self) -> _State | None:
        c = self._next()
        if c == "'" or c == '"':
            self._ignore()
            return self._include_quoted(c)
        found = "start of a number" if _is_digit(c) else _NOT_AN_INCLUDE.get(c)
        if found is not None:
            return self._error(f"Expected include value but found {found}")
        self._backup()
        return self._include_bare

    def _include_quoted(self, quote: str) -> _State:
        what = "quoted include" if quote == "'" else "double quoted include"

        def state() -> _State | None:
            c = self._next()
            if c == quote:
                return self._end_at_quote(_Kind.INCLUDE)
            if c == _EOF:
                return self._error(f"Unexpected EOF in {what}")
            return state

        return state

    def _include_bare(self) -> _State | None:
        c = self._next()
        if _is_nl(c) or c == _EOF or c in (";", "}") or _is_ws(c):
            return self._end_before(_Kind.INCLUDE)
        if c == "'":
            return self._end_at_quote(_Kind.INCLUDE)
        return self._include_bare

    # -- values ----------------------------------------------------------------------------

    def _value(self) -> _State | None:
        c = self._skip(_is_ws)
        if c == "[":
            self._ignore()
            self._emit(_Kind.ARRAY_START)
            return self._array_value
        if c == "{":
            self._ignore()
            self._emit(_Kind.MAP_START)
            return self._map_key_start
        if c == "'":
            self._ignore()
            return self._sq_string
        if c == '"':
            self._ignore()
            self.string_state = self._dq_string
            return self._dq_string
        if c == "-":
            return self._neg_number_start
        if c == "(":
            self._ignore()
            return self._block_string
        if _is_digit(c):
            self._backup()
            return self._number_start
        if c == ".":
            return self._error("Floats must start with a digit")
        if _is_nl(c):
            return self._error("Expected value but found new line")
        self._backup()
        return self._bare_string()

    def _array_value(self) -> _State | None:
        c = self._skip(_is_space)
        if self._opens_comment(c):
            return self._comment(self._array_value)
        if c in (",", "/"):  # a lone '/' is taken for the ','
            return self._error("Unexpected array value terminator ','.")
        if c == "]":
            return self._array_end
        self._backup()
        self._push(self._array_value_end)
        return self._value

    def _array_value_end(self) -> _State | None:
        c = self._skip(_is_ws)
        if self._opens_comment(c):
            return self._comment(self._array_value_end)
        if c in (",", "/") or _is_nl(c):  # a lone '/' ends the value like a ','
            self._ignore()
            return self._array_value
        if c == "]":
            return self._array_end
        return self._error(
            'Expected an array value terminator "," or an array terminator "]", '
            f"but got '{_show(c)}' instead."
        )

    def _array_end(self) -> _State | None:
        self._ignore()
        self._emit(_Kind.ARRAY_END)
        return self._pop()

    def _map_key_start(self) -> _State | None:
        c = self._peek()
        if c in ("=", ":"):
            return self._error(f"Unexpected key separator '{c}'.")
        if c == "]":
            return self._error("Unexpected array end ']' processing map.")
        if _is_space(c):
            self._next()
            self._ignore()
            return self._map_key_start
        if c == "}":
            self._next()
            self._ignore()
            return self._map_end
        if c == "#" or c == "/":
            self._next()
            if self._opens_comment(c):
                return self._comment(self._map_key_start)
            # a lone '/' is dropped and the key starts after it
        elif c == "'" or c == '"':
            self._next()
            self._ignore()
            return self._map_quoted_key(c)
        elif c == _EOF:
            return self._error("Unexpected EOF processing map.")
        self._ignore()
        self._next()
        return self._map_key

    def _map_quoted_key(self, quote: str) -> _State:
        what = "quoted map key" if quote == "'" else "double quoted map key"

        def state() -> _State | None:
            c = self._peek()
            if c == _EOF:
                return self._error(f"Unexpected EOF processing {what}.")
            if c == quote:
                self._emit_skipping_quote(_Kind.KEY)
                return self._map_key_end
            self._next()
            return state

        return state

    def _map_key(self) -> _State | None:
        c = self._peek()
        if c == _EOF:
            return self._error("Unexpected EOF processing map key.")
        if _is_space(c):
            return self._keyword(self._map_key_end, self._map_value_end)
        if c in ("=", ":"):
            self._emit(_Kind.KEY)
            return self._map_key_end
        self._next()
        return self._map_key

    def _map_key_end(self) -> _State | None:
        return self._separator(self._skip(_is_space), self._map_value)

    def _map_value(self) -> _State | None:
        c = self._skip(_is_space)
        if c == ",":
            return self._error('Unexpected map value terminator ",".')
        if c == "}":
            self._ignore()
            return self._map_end
        self._backup()
        self._push(self._map_value_end)
        return self._value

    def _map_value_end(self) -> _State | None:
        c = self._skip(_is_ws)
        if self._opens_comment(c):
            return self._comment(self._map_value_end)
        if c in (";", ",", "/") or _is_nl(c):  # a lone '/' ends the value like a ','
            self._ignore()
            return self._map_key_start
        if c == "}":
            self._ignore()
            return self._map_end
        return self._error(
            f'Expected a map value terminator "," or a map terminator "}}", but got \'{_show(c)}\' instead.'
        )

    def _map_end(self) -> _State | None:
        self._ignore()
        self._emit(_Kind.MAP_END)
        return self._pop()

    # -- strings ---------------------------------------------------------------------------

    def _sq_string(self) -> _State | None:
        c = self._next()
        if c == "'":
            return self._end_at_quote(_Kind.STRING)
        if c == _EOF:
            return self._eof_or_error()
        return self._sq_string

    def _dq_string(self) -> _State | None:
        c = self._next()
        if c == "\\":
            self._add_current_part()
            return self._escape
        if c == '"':
            return self._end_at_quote(_Kind.STRING)
        if c == _EOF:
            return self._eof_or_error()
        return self._dq_string

    def _raw_string(self) -> _State | None:
        c = self._next()
        if c == "\\":
            self._add_current_part()
            return self._escape
        if _is_nl(c) or c == _EOF or c in (";", ",", "]", "}") or _is_ws(c):
            self._backup()
            word = self.text[self.start : self.pos]
            if self.parts:
                self._emit(_Kind.STRING)
            elif word.lower() in _BOOLS:
                self._emit(_Kind.BOOL)
            elif word.startswith("$"):
                self.start += 1
                self._emit(_Kind.VARIABLE)
            else:
                self._emit(_Kind.STRING)
            return self._pop()
        if c == "'":
            return self._end_at_quote(_Kind.STRING)
        return self._raw_string

    def _block_string(self) -> _State | None:
        """``( ... )`` text, ended by a ``)`` alone at the start of a line."""
        c = self._next()
        if c == _EOF:
            return self._error("Unexpected EOF processing block.")
        if c == ")":
            close = self.pos - 1
            if close > 0 and self.text[close - 1] == "\n":
                after = self.text[close + 1 : close + 2]
                if after in ("\n", ""):
                    # The reference keeps the ')' when the block ends the file; so do we.
                    self.pos = close if after else close + 1
                    self._emit(_Kind.STRING)
                    self.pos = close + 1
                    self._ignore()
                    return self._pop()
        return self._block_string

    def _add_current_part(self) -> None:
        self.parts.append(self.text[self.start : self.pos - 1])
        self.start = self.pos

    def _add_part(self, s: str) -> _State:
        self.parts.append(s)
        self.start = self.pos
        return self.string_state

    def _escape(self) -> _State | None:
        c = self._next()
        simple = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "\\": "\\"}
        if c == "x":
            return self._hex_escape
        if c and c in simple:
            return self._add_part(simple[c])
        return self._error(
            f"Invalid escape character '{_show(c)}'. Only the following escape characters are allowed: "
            '\\xXX, \\t, \\n, \\r, \\", \\\\.'
        )

    def _hex_escape(self) -> _State | None:
        for _ in range(2):
            if _is_nl(self._next()):
                return self._error("Expected two hexadecimal digits after '\\x', but hit end of line")
        digits = self.text[max(self.pos - 2, 0) : self.pos]
        if len(digits) != 2 or not all(d in "0123456789abcdefABCDEF" for d in digits):
            return self._error(f"Expected two hexadecimal digits after '\\x', but got '{digits}'")
        return self._add_part(chr(int(digits, 16)))

    # -- numbers, dates and addresses ----------------------------------------------------------

    def _number_start(self) -> _State | None:
        self._next()  # a digit, checked by _value
        return self._number

    def _number(self) -> _State | None:
        c = self._next()
        if c == "-":
            if self.pos - self.start != 5:
                return self._error("All ISO8601 dates must be in full Zulu form.")
            return self._date_after_year
        if _is_digit(c):
            return self._number
        if not (c == "." or c in _NUMBER_SUFFIXES or _ends_number(c)):
            # Not a number after all (e.g. "10s"): the rest is a bare string, and the
            # character just read belongs to it even if it would end a string.
            return self._bare_string()
        return self._after_digits(c)

    def _after_digits(self, c: str) -> _State | None:
        """``c`` follows the digits of a number: a fraction, a size suffix, or the end."""
        if c == ".":
            return self._float_start
        if c in _NUMBER_SUFFIXES:
            return self._size_suffix
        return self._end_before(_Kind.INTEGER)

    def _size_suffix(self) -> _State | None:
        c = self._next()
        if c in ("b", "B", "i", "I"):
            return self._size_suffix
        if _ends_number(c):
            return self._end_before(_Kind.INTEGER)
        self._backup()
        return self._bare_string()

    def _date_after_year(self) -> _State | None:
        for want in "00-00T00:00:00Z":
            c = self._next()
            if want == "0":
                if not _is_digit(c):
                    return self._error(f"Expected digit in ISO8601 datetime, but found '{_show(c)}' instead.")
            elif c != want:
                return self._error(f"Expected '{want}' in ISO8601 datetime, but found '{_show(c)}' instead.")
        self._emit(_Kind.DATETIME)
        return self._pop()

    def _neg_number_start(self) -> _State | None:
        c = self._next()
        if not _is_digit(c):
            if c == ".":
                return self._error("Floats must start with a digit, not '.'.")
            return self._error(f"Expected a digit but got '{_show(c)}'.")
        return self._neg_number

    def _neg_number(self) -> _State | None:
        c = self._next()
        if _is_digit(c):
            return self._neg_number
        return self._after_digits(c)

    def _float_start(self) -> _State | None:
        c = self._next()
        if not _is_digit(c):
            return self._error(f"Floats must have a digit after the '.', but got '{_show(c)}' instead.")
        return self._float

    def _float(self) -> _State | None:
        c = self._next()
        if _is_digit(c):
            return self._float
        if c == ".":
            return self._ip_address  # "1.2.3" was not a float after all
        return self._end_before(_Kind.FLOAT)

    def _ip_address(self) -> _State | None:
        c = self._next()
        if _is_digit(c) or c in (".", ":", "-"):
            return self._ip_address
        return self._end_before(_Kind.STRING)


# ---------------------------------------------------------------------------------------
# Scalars
# ---------------------------------------------------------------------------------------

_SIZE_MULTIPLIERS: dict[str, int] = {"": 1}
for _i, _letter in enumerate("kmgtpe", start=1):
    _SIZE_MULTIPLIERS[_letter] = 1000**_i
    for _suffix in ("b", "i", "ib"):
        _SIZE_MULTIPLIERS[_letter + _suffix] = 1024**_i

_ASCII_INT = re.compile(r"-?[0-9]+\Z")
_ASCII_FLOAT = re.compile(r"-?[0-9]+\.[0-9]+\Z")


def _to_int(text: str, pos: Position) -> int:
    """Integers may carry a size suffix: k/m/g/t/p/e are powers of 1000, kb/ki/kib... of 1024."""
    n = 0
    while n < len(text) and (_is_digit(text[n]) or text[n] == "-"):
        n += 1
    digits, suffix = text[:n], text[n:].strip().lower()
    if not _ASCII_INT.match(digits):
        raise ConfigError.at(pos, f"expected integer, but got '{text}'")
    num = int(digits)
    if not INT64_MIN <= num <= INT64_MAX:
        raise ConfigError.at(pos, f"integer '{text}' is out of the range")
    mult = _SIZE_MULTIPLIERS.get(suffix)
    if mult is None:
        raise ConfigError.at(pos, f"invalid size suffix '{text[n:]}' in '{text}'")
    num *= mult
    if not INT64_MIN <= num <= INT64_MAX:
        raise ConfigError.at(pos, f"integer '{text}' is out of the range")
    return num


def _to_float(text: str, pos: Position) -> float:
    if not _ASCII_FLOAT.match(text):
        raise ConfigError.at(pos, f"expected float, but got '{text}'")
    num = float(text)
    if num in (float("inf"), float("-inf")):
        raise ConfigError.at(pos, f"float '{text}' is out of the range")
    return num


def _to_datetime(text: str, pos: Position) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError.at(pos, f"expected Zulu formatted DateTime, but got '{text}'")


# ---------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------

_MAX_ENV_DEPTH = 16


@dataclass(slots=True)
class _Frame:
    """An open map (``entries``) or array (``items``) and, for maps, the key awaiting a value."""

    entries: dict[str, Node] | None
    items: list[Node] | None
    pos: Position
    key: str | None = None
    key_pos: Position | None = None


def _read_text(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


def _os_reason(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return reason[:1].lower() + reason[1:]


class _Parser:
    def __init__(self, text: str, filename: str, include_stack: tuple[str, ...], env_depth: int) -> None:
        self.text = text
        self.filename = filename
        self.include_stack = include_stack
        self.env_depth = env_depth

    def parse(self) -> ConfigMap:
        root: dict[str, Node] = {}
        frames = [_Frame(root, None, Position(self.filename, 1, 0))]
        for tok in _Lexer(self.text).tokens():
            pos = Position(self.filename, tok.line, tok.column)
            top = frames[-1]
            kind = tok.kind
            if kind is _Kind.ERROR:
                raise ConfigError(ConfigIssue(pos, tok.text, syntax=True))
            if kind is _Kind.EOF:
                # A dangling key at the end is an error, except a lone '}' that closes
                # JSON-like files whose opening brace the lexer skipped.
                if top.key is not None and top.key != "}":
                    raise ConfigError.at(pos, "config is invalid")
                break
            if kind is _Kind.KEY:
                if top.key is not None and top.key_pos is not None:
                    raise ConfigError.at(top.key_pos, f'missing value for key "{top.key}"')
                top.key, top.key_pos = tok.text, pos
            elif kind is _Kind.MAP_START:
                frames.append(_Frame({}, None, pos))
            elif kind is _Kind.ARRAY_START:
                frames.append(_Frame(None, [], pos))
            elif kind is _Kind.MAP_END or kind is _Kind.ARRAY_END:
                done = frames.pop()
                if done.key is not None and done.key_pos is not None:
                    raise ConfigError.at(done.key_pos, f'missing value for key "{done.key}"')
                if not frames:  # pragma: no cover - the lexer never closes what it did not open
                    raise ConfigError.at(pos, "unbalanced brackets")
                value: Value = done.entries if done.entries is not None else (done.items or [])
                self._set(frames[-1], Node(value, done.pos))
            elif kind is _Kind.INCLUDE:
                self._include(top, tok.text, pos)
            elif kind is _Kind.VARIABLE:
                self._set(top, self._variable(frames, tok.text, pos))
            else:
                self._set(top, Node(self._scalar(kind, tok.text, pos), pos))
        return root

    @staticmethod
    def _scalar(kind: _Kind, text: str, pos: Position) -> Scalar:
        if kind is _Kind.STRING:
            return text
        if kind is _Kind.BOOL:
            return _BOOLS[text.lower()]
        if kind is _Kind.INTEGER:
            return _to_int(text, pos)
        if kind is _Kind.FLOAT:
            return _to_float(text, pos)
        return _to_datetime(text, pos)

    @staticmethod
    def _set(frame: _Frame, node: Node) -> None:
        if frame.items is not None:
            frame.items.append(node)
            return
        assert frame.entries is not None
        if frame.key is None or frame.key_pos is None:
            raise ConfigError.at(node.pos, "value without a key")
        node.pos = frame.key_pos
        frame.entries[frame.key] = node
        frame.key = frame.key_pos = None

    def _include(self, frame: _Frame, target: str, pos: Position) -> None:
        # Like the reference, every include path is joined to the including file's
        # directory, even one that starts with '/'.
        base = os.path.dirname(self.filename)
        path = os.path.normpath(os.path.join(base, target.lstrip("/"))) if target else (base or ".")
        try:
            real = os.path.realpath(path)
            if real in self.include_stack:
                raise ConfigError.at(
                    pos, f"error parsing include file '{target}', include cycle through {path}"
                )
            text = _read_text(path)
        except OSError as exc:
            raise ConfigError.at(
                pos, f"error parsing include file '{target}', open {path}: {_os_reason(exc)}"
            )
        except ValueError:  # e.g. a NUL in the name
            raise ConfigError.at(pos, f"error parsing include file '{target}', open {path}: invalid argument")
        included = _Parser(text, path, (*self.include_stack, real), self.env_depth).parse()
        if frame.entries is None:  # pragma: no cover - the lexer only allows include as a key
            raise ConfigError.at(pos, "include is only allowed where a key is expected")
        frame.entries.update(included)

    def _variable(self, frames: list[_Frame], name: str, pos: Position) -> Node:
        """Resolve ``$name`` from enclosing maps (innermost first), then the environment."""
        if name.startswith("2a$"):  # an unquoted bcrypt hash, not a reference
            return Node("$" + name, pos)
        for frame in reversed(frames):
            if frame.entries is not None and name in frame.entries:
                found = frame.entries[name]
                found.used_as_variable = True
                return Node(found.value, pos)
        raw = os.environ.get(name)
        if raw is None:
            raise ConfigError.at(pos, f"variable reference for '{name}' on line {pos.line} can not be found")
        # Environment values are typed as if they had been written in the file.
        try:
            if self.env_depth >= _MAX_ENV_DEPTH:
                raise ConfigError.at(pos, "too many nested variable references")
            sub = _Parser(f"pk={raw}", self.filename, self.include_stack, self.env_depth + 1).parse()
        except ConfigError as exc:
            raise ConfigError.at(
                pos, f"variable reference for '{name}' on line {pos.line} could not be parsed: {exc.reason}"
            )
        node = sub.get("pk")
        if node is None:
            raise ConfigError.at(pos, f"variable reference for '{name}' on line {pos.line} can not be found")
        _relocate(node, pos)
        return node


def _relocate(node: Node, pos: Position) -> None:
    """Point a value parsed from the environment (and everything inside it) at its reference."""
    todo = [node]
    while todo:
        n = todo.pop()
        n.pos = pos
        if isinstance(n.value, dict):
            todo.extend(n.value.values())
        elif isinstance(n.value, list):
            todo.extend(n.value)


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def parse_string(text: str, filename: str = "<string>") -> ConfigMap:
    """Parse config text; ``filename`` names it in errors and anchors relative includes."""
    return _Parser(text, filename, (), 0).parse()


def parse_file(path: str | os.PathLike[str]) -> ConfigMap:
    """Parse a config file (and the files it includes)."""
    name = os.fspath(path)
    try:
        text = _read_text(name)
        real = os.path.realpath(name)
    except OSError as exc:
        raise ConfigError.at(Position(name), f"error opening config file: open {name}: {_os_reason(exc)}")
    except ValueError:
        raise ConfigError.at(Position(name), f"error opening config file: open {name}: invalid argument")
    return _Parser(text, name, (real,), 0).parse()


def unwrap(value: Node | Mapping[str, Node] | list[Node] | Scalar) -> Any:
    """Strip positions: plain dicts, lists and scalars, for callers that do not report errors."""
    if isinstance(value, Node):
        return unwrap(value.value)
    if isinstance(value, Mapping):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value
