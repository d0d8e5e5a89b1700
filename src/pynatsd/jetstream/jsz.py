"""JetStream's report for monitoring (``/jsz``, and the ``jetstream`` block of ``/varz``).

Built here, where the streams are, and offered to the monitoring layer through
``Internal.offer`` (monitoring may not import JetStream). The shape is the reference's
``JSInfo`` (nats-server 2.15, monitor.go) field for field, including its quirks: an
account's ``reserved_memory`` / ``reserved_storage`` are its limits as unsigned numbers
(-1 shows as 2^64-1) and its API ``level`` is 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from pynatsd.gocompat import format_time
from pynatsd.jetstream import schemas as S

if TYPE_CHECKING:
    from pynatsd.jetstream.engine import JetStreamEngine
    from pynatsd.jetstream.manager import JetStream
    from pynatsd.jetstream.stream import Stream

__all__ = ["JszOptions", "jsz", "server_config", "server_limits", "server_stats"]

_U64 = 1 << 64
_DEFAULT_LIMIT = 1024


@dataclass(frozen=True)
class JszOptions:
    """The reference's JSzOptions, as ``/jsz`` and ``$SYS.REQ.SERVER.PING.JSZ`` take them."""

    account: str = ""
    accounts: bool = False
    streams: bool = False
    consumers: bool = False
    direct_consumers: bool = False
    config: bool = False
    leader_only: bool = False
    offset: int = 0
    limit: int = 0
    raft: bool = False
    stream_leader_only: bool = False


def server_stats(engine: JetStreamEngine) -> dict[str, Any]:
    """The server's JetStreamStats: usage, reservations, accounts, API counts."""
    mem = disk = 0
    total = errors = 0
    for js in engine.accounts.values():
        m, d = js.usage()
        mem += m
        disk += d
        total += js.api_total
        errors += js.api_errors
    res_mem, res_disk = engine.reserved()
    return {
        "memory": mem,
        "storage": disk,
        "reserved_memory": res_mem,
        "reserved_storage": res_disk,
        "accounts": len(engine.accounts),
        "ha_assets": 0,
        "api": {"level": S.API_LEVEL, "total": total, "errors": errors},
    }


def server_config(engine: JetStreamEngine) -> dict[str, Any]:
    """The server's JetStreamConfig as the reference reports it."""
    opts = engine.core.opts
    cfg: dict[str, Any] = {
        "max_memory": engine.max_memory,
        "max_storage": engine.max_store,
        "store_dir": str(engine.root),
        "sync_interval": round(opts.sync_interval * 1e9),
    }
    if opts.sync_always:
        cfg["sync_always"] = True
    if opts.jetstream_domain:
        cfg["domain"] = opts.jetstream_domain
    # the reference sets compress_ok unless it made the config up (either size unset)
    if opts.jetstream_max_memory > 0 and opts.jetstream_max_store > 0:
        cfg["compress_ok"] = True
    if opts.jetstream_strict:
        cfg["strict"] = True
    return cfg


def server_limits(engine: JetStreamEngine) -> dict[str, Any]:
    """The server's ``jetstream { limits }`` (the reference's JSLimitOpts, zeros left out)."""
    opts = engine.core.opts
    fields = (
        ("max_request_batch", opts.jetstream_max_request_batch),
        ("max_ack_pending", opts.jetstream_max_ack_pending),
        ("max_ha_assets", opts.jetstream_max_ha_assets),
        ("max_duplicate_window", opts.jetstream_duplicate_window),
        ("max_batch_inflight_per_stream", opts.jetstream_batch_max_inflight_per_stream),
        ("max_batch_inflight_total", opts.jetstream_batch_max_inflight_total),
        ("max_batch_size", opts.jetstream_batch_max_msgs),
        ("max_batch_timeout", round(opts.jetstream_batch_timeout * 1e9)),
        ("default_max_consumers", opts.jetstream_default_max_consumers),
    )
    return {k: v for k, v in fields if v > 0}


def jsz(engine: JetStreamEngine, o: JszOptions) -> dict[str, Any]:
    """The reference's ``Jsz``: server totals always; account, stream and consumer detail
    as the options ask (``consumers`` implies ``streams``, which implies ``accounts``)."""
    limit = o.limit if o.limit != 0 else _DEFAULT_LIMIT
    offset = max(o.offset, 0)
    streams_opt = o.streams or o.consumers
    accounts_opt = o.accounts or (streams_opt and not o.account)
    out: dict[str, Any] = server_stats(engine)
    out["server_id"] = engine.core.identity()["server_id"]
    out["now"] = format_time(time.time_ns())
    out["config"] = server_config(engine)
    out["limits"] = server_limits(engine)
    accounts = list(engine.accounts.values())
    n_streams = n_consumers = msgs = nbytes = 0
    for js in accounts:
        for stream in js.streams.values():
            st = stream.store.state()
            n_streams += 1
            msgs += st.msgs
            nbytes += st.bytes
            n_consumers += sum(1 for c in stream.consumers.values() if not c.config.direct)
    out["streams"] = n_streams
    out["consumers"] = n_consumers
    out["messages"] = msgs
    out["bytes"] = nbytes
    picked = [js for js in accounts if js.core.account_name == o.account]
    if not picked and accounts_opt:
        picked = sorted(accounts, key=lambda js: js.core.account_name)
        if limit > 0:
            picked = picked[offset:][:limit]
    if picked:
        out["account_details"] = [_account_detail(js, streams_opt, o) for js in picked]
    out["total"] = len(accounts)
    return out


def _account_detail(js: JetStream, streams: bool, o: JszOptions) -> dict[str, Any]:
    name = js.core.account_name
    mem, disk = js.usage()
    detail: dict[str, Any] = {
        "name": name,
        "id": name,
        "memory": mem,
        "storage": disk,
        "reserved_memory": js.limits.max_memory % _U64,
        "reserved_storage": js.limits.max_store % _U64,
        "accounts": 0,
        "ha_assets": 0,
        "api": {"level": 0, "total": js.api_total, "errors": js.api_errors},
    }
    if streams and js.streams:
        detail["stream_detail"] = [_stream_detail(s, o) for s in js.streams.values()]
    return detail


def _stream_detail(stream: Stream, o: JszOptions) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": stream.name,
        "created": format_time(stream.created),
        "cluster": {"leader": stream.core.server_name},
    }
    if o.config:
        d["config"] = msgspec.to_builtins(stream.config)
    d["state"] = msgspec.to_builtins(stream.state_struct())
    if o.consumers:
        public = [c for c in stream.consumers.values() if not c.config.direct]
        if public:
            d["consumer_detail"] = [_consumer_info(c, o.config) for c in public]
        if o.direct_consumers:
            direct = [c for c in stream.consumers.values() if c.config.direct]
            if direct:
                d["direct_consumer_detail"] = [_consumer_info(c, o.config) for c in direct]
    if stream.sourcing is not None:
        mirror = stream.sourcing.mirror_info()
        if mirror is not None:
            d["mirror"] = msgspec.to_builtins(mirror)
        sources = stream.sourcing.sources_info()
        if sources:
            d["sources"] = msgspec.to_builtins(sources)
    return d


def _consumer_info(c: Any, with_config: bool) -> dict[str, Any]:
    info = c.info()
    info.config = c.config if with_config else None  # as stored: no _nats.ver / _nats.level
    out: dict[str, Any] = msgspec.to_builtins(info)
    return out
