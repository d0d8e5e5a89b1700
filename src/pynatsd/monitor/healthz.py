"""``/healthz``: whether the server accepts connections (and, with JetStream, whether it is
up), with the reference's options and its status codes and error bodies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pynatsd.monitor.common import Query

if TYPE_CHECKING:
    from pynatsd.server.internal import Internal


def healthz(core: Internal, q: Query) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body); bad booleans raise BadRequest as in the reference's order."""
    for name in ("js-enabled", "js-enabled-only", "js-server-only", "js-meta-only"):
        q.flag(name)
    details = q.flag("details")
    account, stream, consumer = q.get("account"), q.get("stream"), q.get("consumer")
    bad = ""
    if not account and stream:
        bad = '"account" must not be empty when checking stream health'
    elif not stream and consumer:
        bad = '"stream" must not be empty when checking consumer health'
    if bad:
        if details:
            return 400, {"status": "error", "errors": [{"type": "BAD_REQUEST", "error": bad}]}
        return 400, {"status": "error", "error": bad}
    # The server answers only once it accepts clients, and a JetStream server only once
    # JetStream has started (it is an extension started before the listener).
    return 200, {"status": "ok"}
