"""``/jsz``: JetStream's report, asked of the JetStream layer through ``Internal.offered``.

The query is read as the reference reads it (Go's ``strconv`` for booleans and integers,
its 400 texts for values that do not parse); the report itself is JetStream's own
(``jetstream/jsz.py``), or the reference's "disabled" form on a server without it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pynatsd.gocompat import format_time, go_atoi, go_parse_bool

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pynatsd.server.internal import Internal

__all__ = ["QueryError", "jsz_report"]

# query parameter -> (option name, kind)
_PARAMS: tuple[tuple[str, str, str], ...] = (
    ("accounts", "accounts", "bool"),
    ("streams", "streams", "bool"),
    ("consumers", "consumers", "bool"),
    ("direct-consumers", "direct_consumers", "bool"),
    ("config", "config", "bool"),
    ("offset", "offset", "int"),
    ("limit", "limit", "int"),
    ("leader-only", "leader_only", "bool"),
    ("raft", "raft", "bool"),
    ("stream-leader-only", "stream_leader_only", "bool"),
)


class QueryError(ValueError):
    """A query value that does not parse: the reference answers 400 with this text."""


def _options(query: Mapping[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {"account": query.get("acc", "")}
    for param, name, kind in _PARAMS:
        text = query.get(param, "")
        if not text:
            continue
        if kind == "bool":
            value, err = go_parse_bool(text)
            if err is not None:
                raise QueryError(f"Error decoding boolean for '{param}': {err}")
            options[name] = value
        else:
            number, err = go_atoi(text)
            if err is not None:
                raise QueryError(f"Error decoding int for '{param}': {err}")
            options[name] = number
    return options


def jsz_report(core: Internal, query: Mapping[str, str]) -> dict[str, Any]:
    """The ``/jsz`` document for ``query``; raises :class:`QueryError` for a bad value."""
    options = _options(query)
    report = core.offered("jsz")
    if report is not None:
        result: dict[str, Any] = report(**options)
        return result
    return {
        "memory": 0,
        "storage": 0,
        "reserved_memory": 0,
        "reserved_storage": 0,
        "accounts": 0,
        "ha_assets": 0,
        "api": {"level": 0, "total": 0, "errors": 0},
        "server_id": core.identity()["server_id"],
        "now": format_time(time.time_ns()),
        "disabled": True,
        "config": {"max_memory": 0, "max_storage": 0},
        "streams": 0,
        "consumers": 0,
        "messages": 0,
        "bytes": 0,
        "total": 0,
    }
