"""Go's ``time.Duration`` as text: ``time.ParseDuration`` and ``Duration.String``.

The reference reads durations in this syntax from its config file and from headers
(``Nats-TTL``), and prints them this way in errors and logs ("1m30s", "1.5s", "0s").
"""

from __future__ import annotations

from typing import Final

__all__ = ["format_duration", "parse_duration", "parse_duration_ns"]

_INT64_MAX: Final = (1 << 63) - 1
_NS_PER_UNIT: Final = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def parse_duration_ns(text: str) -> int:
    """Parse a Go duration string to nanoseconds; ValueError carries Go's message.

    The text goes into the message as given, where Go applies its time package's quoting
    (``\\xNN`` for non-ASCII and control bytes, ``\\"`` and ``\\\\`` escaped): the two differ
    only for such text.
    """
    orig, s = text, text
    invalid = f'time: invalid duration "{orig}"'
    neg = False
    if s[:1] in ("-", "+"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(invalid)
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise ValueError(invalid)
        i = 0
        while i < len(s) and "0" <= s[i] <= "9":
            i += 1
        whole, s = s[:i], s[i:]
        frac = ""
        if s.startswith("."):
            s = s[1:]
            j = 0
            while j < len(s) and "0" <= s[j] <= "9":
                j += 1
            frac, s = s[:j], s[j:]
        if not whole and not frac:
            raise ValueError(invalid)
        k = 0
        while k < len(s) and s[k] != "." and not "0" <= s[k] <= "9":
            k += 1
        if k == 0:
            raise ValueError(f'time: missing unit in duration "{orig}"')
        unit_name, s = s[:k], s[k:]
        unit = _NS_PER_UNIT.get(unit_name)
        if unit is None:
            raise ValueError(f'time: unknown unit "{unit_name}" in duration "{orig}"')
        value = int(whole or "0") * unit
        if frac:
            value += int(frac) * unit // 10 ** len(frac)
        total += value
        if total > _INT64_MAX + (1 if neg else 0):
            raise ValueError(invalid)
    return -total if neg else total


def parse_duration(text: str) -> float:
    """Parse a Go duration string ("2m", "1h30m", "500ms") to seconds."""
    return parse_duration_ns(text) / 1e9


def _decimal(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    width = len(str(unit)) - 1
    return f"{whole}.{frac:0{width}d}".rstrip("0")


def format_duration(ns: int) -> str:
    """Render nanoseconds the way Go prints a time.Duration ("1m30s", "1.5s", "0s")."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_decimal(u, 1_000)}\u00b5s"
    if u < 1_000_000_000:
        return f"{sign}{_decimal(u, 1_000_000)}ms"
    hours, rest = divmod(u, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    out = f"{_decimal(rest, 1_000_000_000)}s"
    if hours or minutes:
        out = f"{minutes}m{out}"
    if hours:
        out = f"{hours}h{out}"
    return sign + out
