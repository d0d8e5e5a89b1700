"""``/varz``: the server's identity, limits and counters, with every key of the reference
(2.15) except ``jetstream`` (JetStream adds its block itself) and those of features pynatsd
does not have (operators, OCSP cache, proxies, feature flags)."""

from __future__ import annotations

import hashlib
import os
import time
from typing import TYPE_CHECKING, Any

from pynatsd.config.parser import parse_file, unwrap
from pynatsd.gocompat import format_time, marshal_json
from pynatsd.monitor.common import go_float, rfc3339, uptime
from pynatsd.monitor.process import cpu_percent, rss_bytes

if TYPE_CHECKING:
    from pynatsd.server.internal import Internal


def varz(
    core: Internal, http_port: int, https_port: int = 0, http_req_stats: dict[str, int] | None = None
) -> dict[str, Any]:
    """The /varz document; ``None`` values are left out by the HTTP layer."""
    opts = core.opts
    tls = opts.tls
    now_ns = time.time_ns()
    now = now_ns / 1e9
    n = core.counters()
    zeros = {"clients": 0, "routes": 0, "gateways": 0, "leafs": 0}
    return {
        **core.identity(),
        "auth_required": core.auth_required or None,
        "tls_required": (tls is not None and not opts.allow_non_tls) or None,
        "tls_verify": (tls is not None and tls.verify) or None,
        "max_connections": opts.max_connections,
        "max_subscriptions": opts.max_subscriptions or None,
        "ping_interval": int(opts.ping_interval * 1e9),
        "ping_max": opts.ping_max,
        "http_host": opts.http_host or opts.host or "0.0.0.0",
        "http_port": http_port,
        "http_base_path": opts.http_base_path,
        "https_port": https_port,
        "auth_timeout": go_float(core.auth_timeout),
        "max_control_line": opts.max_control_line,
        "max_payload": opts.max_payload,
        "max_pending": opts.max_pending,
        "cluster": {},
        "gateway": {},
        "leaf": {},
        "mqtt": {},
        "websocket": {},
        "jetstream": _jetstream(core),
        "tls_timeout": go_float(tls.timeout if tls is not None and tls.timeout > 0 else 2.0),
        "write_deadline": int(opts.write_deadline * 1e9),
        "start": rfc3339(core.start_time),
        "now": format_time(now_ns),
        "uptime": uptime(now - core.start_time),
        "mem": rss_bytes(),
        "cores": os.cpu_count() or 1,
        "gomaxprocs": 1,  # one event loop
        "cpu": go_float(cpu_percent()),
        "connections": n.connections,
        "total_connections": n.total_connections,
        "routes": 0,
        "remotes": 0,
        "leafnodes": 0,
        "in_msgs": n.in_msgs,
        "in_bytes": n.in_bytes,
        # Without routes, gateways or leaf nodes every message counted comes from a client.
        "in_client_msgs": n.in_msgs,
        "in_client_bytes": n.in_bytes,
        "out_msgs": n.out_msgs,
        "out_bytes": n.out_bytes,
        "out_client_msgs": n.out_msgs,
        "out_client_bytes": n.out_bytes,
        "slow_consumers": n.slow_consumers,
        "stale_connections": n.stale_connections,
        "stalled_clients": n.stalls,
        "subscriptions": n.subscriptions,
        "http_req_stats": dict(sorted((http_req_stats or {}).items())),
        "config_load_time": rfc3339(core.config_time),
        "config_digest": config_digest(opts.config_file, core.config_time),
        "system_account": core.system_account_name or None,
        "slow_consumer_stats": {**zeros, "clients": n.slow_consumers},
        "stale_connection_stats": {**zeros, "clients": n.stale_connections},
        "disk_io_wait_stats": {"waiters": 0, "waits": 0, "wait_time": 0, "max_wait_time": 0},
    }


_digests: dict[tuple[str, float], str] = {}


def config_digest(path: str, loaded: float) -> str:
    """The reference's ``config_digest``: SHA-256 of the parsed configuration as Go's JSON
    encoder writes it (keys sorted, one trailing newline); "" without a config file. Kept
    per load, so a file edited since is not reported before it is reloaded."""
    if not path:
        return ""
    key = (path, loaded)
    digest = _digests.get(key)
    if digest is None:
        try:
            doc = unwrap(parse_file(path))
        except Exception:  # the file changed into something unreadable since it was loaded
            return ""
        digest = "sha256:" + hashlib.sha256(marshal_json(doc) + b"\n").hexdigest()
        _digests.clear()
        _digests[key] = digest
    return digest


def _jetstream(core: Internal) -> dict[str, Any]:
    """JetStream's block (config, stats, limits), offered by the JetStream layer; {} without it."""
    block = core.offered("varz.jetstream")
    return block() if block is not None else {}
