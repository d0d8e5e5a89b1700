"""What every monitoring endpoint shares: Go's query decoding and error texts, Go's time and
uptime texts, and JSON indented as Go's ``json.MarshalIndent`` writes it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import msgspec

from pynatsd.gocompat import format_duration, format_time, go_atoi, go_json_escape, go_parse_bool, go_quote

_U64_MAX = (1 << 64) - 1


class BadRequest(Exception):
    """A bad query option: answered with status 400 and this text (plain, as the reference)."""


def go_float(x: float) -> float | int:
    """A float64 as Go's encoding/json writes it: 2, not 2.0."""
    return int(x) if float(x).is_integer() else x


def rfc3339(t: float) -> str:
    """A time kept as float seconds, as Go's RFC 3339 with nanoseconds writes it (UTC)."""
    return format_time(int(t * 1e9))


def now_text() -> str:
    return format_time(time.time_ns())


def uptime(seconds: float) -> str:
    """The reference's uptime text (``1y2d3h4m5s``, leading zero units left out)."""
    s = max(int(seconds), 0)
    mins, hrs, days = s // 60, s // 3600, s // 86400
    years = days // 365
    if years:
        return f"{years}y{days % 365}d{hrs % 24}h{mins % 60}m{s % 60}s"
    if days:
        return f"{days}d{hrs % 24}h{mins % 60}m{s % 60}s"
    if hrs:
        return f"{hrs}h{mins % 60}m{s % 60}s"
    if mins:
        return f"{mins}m{s % 60}s"
    return f"{s}s"


def rtt_text(seconds: float) -> str:
    """A round trip as Go's time.Duration prints it, truncated to microseconds between
    1µs and 1ms, as the reference does."""
    ns = int(seconds * 1e9)
    if 1_000 < ns < 1_000_000:
        ns -= ns % 1_000
    return format_duration(ns)


def render(data: Any, indent: bool = True) -> str:
    """JSON as the reference writes it (MarshalIndent with two spaces, Go's escapes); msgspec
    in C, so that /connz with thousands of connections is rendered quickly."""
    raw = msgspec.json.encode(data)
    if indent:
        raw = msgspec.json.format(raw, indent=2)
    return go_json_escape(raw).decode()


class Query:
    """A request's query string read as Go's ``url.Values.Get`` and the reference's
    ``decodeBool`` / ``decodeInt`` / ``decodeUint64`` read it (first value; "" = unset)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def get(self, name: str) -> str:
        return self._values.get(name, "")

    def flag(self, name: str) -> bool:
        s = self.get(name)
        if s == "":
            return False
        value, err = go_parse_bool(s)
        if err is not None:
            raise BadRequest(f"Error decoding boolean for '{name}': {err}")
        return value

    def integer(self, name: str) -> int:
        s = self.get(name)
        if s == "":
            return 0
        value, err = go_atoi(s)
        if err is not None:
            raise BadRequest(f"Error decoding int for '{name}': {err}")
        return value

    def uint(self, name: str) -> int:
        s = self.get(name)
        if s == "":
            return 0
        why = ""
        if not s or not s.isascii() or not s.isdigit():
            why = "invalid syntax"
        elif int(s) > _U64_MAX:
            why = "value out of range"
        if why:
            raise BadRequest(
                f"Error decoding uint64 for '{name}': strconv.ParseUint: parsing {go_quote(s)}: {why}"
            )
        return int(s)

    def subs(self) -> tuple[bool, bool]:
        """``subs``: (list, detail) — ``subs=detail`` asks for the details."""
        if self.get("subs").lower() == "detail":
            return False, True
        return self.flag("subs"), False


def paginate(items: list[Any], offset: int, limit: int) -> list[Any]:
    """The reference's page: offset clamped into the list, at most ``limit`` items."""
    n = len(items)
    lo = min(max(offset, 0), n)
    return items[lo : lo + min(limit, n - lo)]
