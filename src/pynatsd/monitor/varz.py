"""``/varz``: the server's identity, limits and counters, in the reference's JSON shape."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from pynatsd.gocompat import format_time

if TYPE_CHECKING:
    from pynatsd.server.internal import Internal


def varz(core: Internal, http_port: int, https_port: int = 0) -> dict[str, Any]:
    """The /varz document; ``None`` values are left out by the HTTP layer."""
    opts = core.opts
    tls = opts.tls
    now_ns = time.time_ns()
    now = now_ns / 1e9
    n = core.counters()
    return {
        **core.identity(),
        "auth_required": core.auth_required or None,
        "tls_required": (tls is not None and not opts.allow_non_tls) or None,
        "tls_verify": (tls is not None and tls.verify) or None,
        "max_connections": opts.max_connections,
        "ping_interval": int(opts.ping_interval * 1e9),
        "ping_max": opts.ping_max,
        "http_host": opts.http_host or opts.host or "0.0.0.0",
        "http_port": http_port,
        "http_base_path": opts.http_base_path,
        "https_port": https_port,
        "auth_timeout": core.auth_timeout,
        "tls_timeout": _go_float(tls.timeout if tls is not None and tls.timeout > 0 else 2.0),
        "max_control_line": opts.max_control_line,
        "max_payload": opts.max_payload,
        "max_pending": opts.max_pending,
        "write_deadline": int(opts.write_deadline * 1e9),
        "start": _rfc3339(core.start_time),
        "now": format_time(now_ns),
        "uptime": _uptime(now - core.start_time),
        "mem": _rss_bytes(),
        "cores": os.cpu_count() or 1,
        "gomaxprocs": 1,
        "cpu": 0,
        "connections": n.connections,
        "total_connections": n.total_connections,
        "routes": 0,
        "remotes": 0,
        "leafnodes": 0,
        "in_msgs": n.in_msgs,
        "out_msgs": n.out_msgs,
        "in_bytes": n.in_bytes,
        "out_bytes": n.out_bytes,
        "slow_consumers": n.slow_consumers,
        "subscriptions": n.subscriptions,
        "config_load_time": _rfc3339(core.config_time),
        "system_account": "",
    }


def _go_float(x: float) -> float | int:
    """A float64 as Go's encoding/json writes it: 2, not 2.0."""
    return int(x) if x.is_integer() else x


def _rfc3339(t: float) -> str:
    """A time kept as float seconds, as Go's RFC 3339 with nanoseconds writes it."""
    return format_time(int(t * 1e9))


def _uptime(seconds: float) -> str:
    """Go's uptime text as the reference writes it: ``1d2h3m4s``, leading zero units left out."""
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    out = ""
    if d:
        out += f"{d}d"
    if d or h:
        out += f"{h}h"
    if d or h or m:
        out += f"{m}m"
    return out + f"{s}s"


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
