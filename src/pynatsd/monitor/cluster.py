"""``/routez``, ``/gatewayz`` and ``/leafz``: the reference's documents for a server without
routes, gateways or leaf nodes (their issues fill them in). Their options are decoded, so
bad values get the reference's 400 texts."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pynatsd.monitor.common import Query, rfc3339

if TYPE_CHECKING:
    from pynatsd.server.internal import Internal


def routez(core: Internal, q: Query) -> dict[str, Any]:
    q.subs()
    return {
        "server_id": core.server_id,
        "server_name": core.server_name,
        "now": rfc3339(time.time()),
        "num_routes": 0,
        "routes": [],
    }


def gatewayz(core: Internal, q: Query) -> dict[str, Any]:
    q.subs()
    q.flag("accs")
    return {
        "server_id": core.server_id,
        "now": rfc3339(time.time()),
        "outbound_gateways": {},
        "inbound_gateways": {},
    }


def leafz(core: Internal, q: Query) -> dict[str, Any]:
    q.flag("subs")
    return {"server_id": core.server_id, "now": rfc3339(time.time()), "leafnodes": 0, "leafs": []}
