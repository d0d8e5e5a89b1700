"""``/jsz``: JetStream's report, asked of the JetStream layer through ``Internal.offered``.

The query is read as the reference reads it (``common.Query``: Go's ``strconv``, its 400
texts); the report itself is JetStream's own (``jetstream/jsz.py``), or the reference's
"disabled" form on a server without JetStream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pynatsd.monitor.common import Query, now_text

if TYPE_CHECKING:
    from pynatsd.server.internal import Internal

__all__ = ["jsz"]

# query parameter -> option name, booleans
_FLAGS = (
    ("accounts", "accounts"),
    ("streams", "streams"),
    ("consumers", "consumers"),
    ("direct-consumers", "direct_consumers"),
    ("config", "config"),
)


def options(q: Query) -> dict[str, Any]:
    """The reference's JSzOptions from a query, read in its order (the first bad value wins)."""
    out: dict[str, Any] = {name: q.flag(param) for param, name in _FLAGS}
    out["offset"] = q.integer("offset")
    out["limit"] = q.integer("limit")
    out["leader_only"] = q.flag("leader-only")
    out["raft"] = q.flag("raft")
    out["stream_leader_only"] = q.flag("stream-leader-only")
    out["account"] = q.get("acc")
    return out


def jsz(core: Internal, q: Query) -> dict[str, Any]:
    """The ``/jsz`` document (raises ``common.BadRequest`` for a value that does not parse)."""
    opts = options(q)
    report = core.offered("jsz")
    if report is not None:
        result: dict[str, Any] = report(**opts)
        return result
    return {
        "memory": 0,
        "storage": 0,
        "reserved_memory": 0,
        "reserved_storage": 0,
        "accounts": 0,
        "ha_assets": 0,
        "api": {"level": 0, "total": 0, "errors": 0},
        "server_id": core.server_id,
        "now": now_text(),
        "disabled": True,
        "config": {"max_memory": 0, "max_storage": 0},
        "streams": 0,
        "consumers": 0,
        "messages": 0,
        "bytes": 0,
        "total": 0,
    }
