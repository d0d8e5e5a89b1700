"""``/connz``: open and recently closed client connections, as the reference lists them.

Options (the reference's): ``sort`` (``cid``/``start`` ascending; ``subs``, ``pending``,
``msgs_to``, ``msgs_from``, ``bytes_to``, ``bytes_from``, ``last``, ``idle``, ``rtt``
descending; ``uptime`` ascending; ``stop`` and ``reason`` only with ``state=closed``),
``subs`` / ``subs=detail``, ``auth``, ``offset``, ``limit`` (default 1024), ``cid``,
``state`` (``open``, ``closed``, ``any``/``all``), ``user``, ``acc``, ``mqtt_client``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pynatsd.monitor.common import BadRequest, Query, paginate, rfc3339, rtt_text, uptime

if TYPE_CHECKING:
    from pynatsd.server.internal import Client, ClosedClient, Internal, SubRecord

GLOBAL = "$G"
DEFAULT_LIMIT = 1024
OPEN, CLOSED, ANY = 0, 1, 2

_SORTS = (
    "",
    "cid",
    "start",
    "subs",
    "pending",
    "msgs_to",
    "msgs_from",
    "bytes_to",
    "bytes_from",
    "last",
    "idle",
    "uptime",
    "stop",
    "reason",
    "rtt",
)


@dataclass(slots=True)
class ConnzOptions:
    sort: str = ""
    auth: bool = False
    subs: bool = False
    subs_detail: bool = False
    offset: int = 0
    limit: int = 0
    cid: int = 0
    state: int = OPEN
    user: str = ""
    acc: str = ""
    mqtt_client: str = ""


def parse_options(q: Query) -> ConnzOptions:
    """The query as the reference's HandleConnz decodes it, in its order (first error wins)."""
    sort = q.get("sort")
    auth = q.flag("auth")
    subs, detail = q.subs()
    offset = q.integer("offset")
    limit = q.integer("limit")
    cid = q.uint("cid")
    state_text = q.get("state")
    state = {"": OPEN, "open": OPEN, "closed": CLOSED, "any": ANY, "all": ANY}.get(state_text.lower())
    if state is None:
        raise BadRequest(f"Error decoding state for {state_text}")
    return ConnzOptions(
        sort, auth, subs, detail, offset, limit, cid, state, q.get("user"), q.get("acc"), q.get("mqtt_client")
    )


@dataclass(slots=True)
class _Row:
    """One connection being listed, with the raw values sorting needs."""

    info: dict[str, Any]
    cid: int
    subs: int
    pending: int
    out_msgs: int
    in_msgs: int
    out_bytes: int
    in_bytes: int
    last: float
    start: float
    stop: float  # 0 while open
    reason: str
    rtt: float


def connz(core: Internal, o: ConnzOptions) -> dict[str, Any]:
    """The /connz document; raises BadRequest with the reference's texts."""
    if o.sort not in _SORTS:
        raise BadRequest(f"invalid sorting option: {o.sort}")
    sort = o.sort or "cid"
    offset = max(o.offset, 0)
    limit = o.limit if o.limit > 0 else DEFAULT_LIMIT
    if sort == "stop" and o.state != CLOSED:
        raise BadRequest("sort by stop only valid on closed connections")
    if sort == "reason" and o.state != CLOSED:
        raise BadRequest("sort by reason only valid on closed connections")
    if o.cid > 0:
        limit = 1
    now = time.time()
    doc: dict[str, Any] = {
        "server_id": "",
        "now": rfc3339(now),
        "num_connections": 0,
        "total": 0,
        "offset": offset,
        "limit": limit,
        "connections": None,
    }
    accounts = core.accounts()
    if o.acc and o.acc not in accounts:
        return doc  # as the reference: an unknown account answers an empty, id-less document
    doc["server_id"] = core.server_id
    opened = core.connections()
    if o.acc:
        opened = [c for c in opened if c.account.name == o.acc]
    closed: list[ClosedClient] = []
    total = 0
    if o.state in (OPEN, ANY):
        total += len(opened)
    if o.state in (CLOSED, ANY):
        closed = core.closed_connections()
        if o.acc:
            # As the reference: a closed connection keeps no account name for $G, so
            # acc=$G lists none of them.
            closed = [cc for cc in closed if cc.account == o.acc]
        total += len(closed)
    doc["total"] = total
    if o.state == CLOSED:
        opened = []
    if o.cid > 0:
        found = [c for c in opened if c.cid == o.cid]
        if found:
            opened, closed = found, []
        else:
            opened = []
            closed = [cc for cc in closed if cc.cid == o.cid][:1]
    else:
        opened = [
            c
            for c in opened
            if (not o.user or c.raw_auth_user() == o.user)
            and (not o.mqtt_client or _mqtt_id(c) == o.mqtt_client)
        ]
    rows = [_open_row(c, now, o) for c in opened]
    rows.extend(
        _closed_row(cc, o, accounts.keys())
        for cc in closed
        if (not o.user or cc.user == o.user) and not o.mqtt_client
    )
    if not rows:
        doc["connections"] = []
        return doc
    _sort(rows, sort, now)
    page = paginate(rows, offset, limit)
    doc["connections"] = [r.info for r in page]
    doc["num_connections"] = len(page)
    return doc


def _mqtt_id(c: Client) -> str:
    return ""  # no MQTT listener yet: no connection has an MQTT client id


def _sort(rows: list[_Row], sort: str, now: float) -> None:
    key: Callable[[_Row], Any]
    if sort in ("cid", "start"):
        rows.sort(key=lambda r: r.cid)
        return
    if sort == "uptime":
        rows.sort(key=lambda r: (r.stop or now) - r.start)
        return
    if sort == "reason":
        rows.sort(key=lambda r: r.reason)
        return
    key = {
        "subs": lambda r: r.subs,
        "pending": lambda r: r.pending,
        "msgs_to": lambda r: r.out_msgs,
        "msgs_from": lambda r: r.in_msgs,
        "bytes_to": lambda r: r.out_bytes,
        "bytes_from": lambda r: r.in_bytes,
        "last": lambda r: r.last,
        "idle": lambda r: now - r.last,
        "stop": lambda r: r.stop,
        "rtt": lambda r: r.rtt,
    }[sort]
    rows.sort(key=key, reverse=True)


def _open_row(c: Client, now: float, o: ConnzOptions) -> _Row:
    pending = c.pending_bytes()
    if not c.rtt and c.lang:
        c.send_rtt_ping()  # as the reference: measured now, shown next time
    tls_version, tls_cipher = c.tls_state()
    last = max(c.last_activity, c.start)  # activity is stamped by a coarse clock
    info = _base_info(
        c.cid,
        c.host,
        c.port,
        c.start,
        last,
        None,
        "",
        c.rtt,
        now,
        pending,
        c.in_msgs,
        c.out_msgs,
        c.in_bytes,
        c.out_bytes,
        c.stalls,
        len(c.subs),
        c.name,
        c.lang,
        c.version,
        tls_version,
        tls_cipher,
        c.tls_first,
    )
    subs = list(c.subs.values())
    if subs:
        if o.subs_detail:
            info["subscriptions_list_detail"] = [
                _sub_detail(s.subject, s.queue, s.sid, s.delivered, s.max_msgs, c.cid) for s in subs
            ]
        elif o.subs:
            info["subscriptions_list"] = [s.subject for s in subs]
    if o.auth:
        if tls_version:
            certs = c.tls_peer_certs()
            if certs:
                info["tls_peer_certs"] = certs
        user = c.raw_auth_user()
        if user:
            info["authorized_user"] = user
        acc = c.account.name
        if acc != GLOBAL:
            info["account"] = acc
        info["name_tag"] = acc
    info = _ordered(info)
    return _Row(
        info,
        c.cid,
        len(subs),
        pending,
        c.out_msgs,
        c.in_msgs,
        c.out_bytes,
        c.in_bytes,
        c.last_activity,
        c.start,
        0.0,
        "",
        c.rtt,
    )


def _closed_row(cc: ClosedClient, o: ConnzOptions, accounts: Any) -> _Row:
    info = _base_info(
        cc.cid,
        cc.ip,
        cc.port,
        cc.start,
        cc.last_activity,
        cc.stop,
        cc.reason,
        cc.rtt,
        cc.stop,
        cc.pending_bytes,
        cc.in_msgs,
        cc.out_msgs,
        cc.in_bytes,
        cc.out_bytes,
        cc.stalls,
        cc.num_subs,
        cc.name,
        cc.lang,
        cc.version,
        cc.tls_version,
        cc.tls_cipher,
        cc.tls_first,
    )
    if cc.subs:
        if o.subs_detail:
            info["subscriptions_list_detail"] = [_closed_sub(s) for s in cc.subs]
        elif o.subs:
            info["subscriptions_list"] = [s.subject for s in cc.subs]
    if o.auth:
        if cc.user:
            info["authorized_user"] = cc.user
        if cc.account and cc.account != GLOBAL:
            info["account"] = cc.account
            if cc.account in accounts:
                info["name_tag"] = cc.account
    info = _ordered(info)
    return _Row(
        info,
        cc.cid,
        cc.num_subs,
        cc.pending_bytes,
        cc.out_msgs,
        cc.in_msgs,
        cc.out_bytes,
        cc.in_bytes,
        cc.last_activity,
        cc.start,
        cc.stop,
        cc.reason,
        cc.rtt,
    )


def _base_info(
    cid: int,
    ip: str,
    port: int,
    start: float,
    last: float,
    stop: float | None,
    reason: str,
    rtt: float,
    now: float,
    pending: int,
    in_msgs: int,
    out_msgs: int,
    in_bytes: int,
    out_bytes: int,
    stalls: int,
    num_subs: int,
    name: str,
    lang: str,
    version: str,
    tls_version: str,
    tls_cipher: str,
    tls_first: bool,
) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cid": cid,
        "kind": "Client",
        "type": "nats",
        "ip": ip if port else "",
        "port": port,
        "start": rfc3339(start),
        "last_activity": rfc3339(last),
    }
    if stop is not None:
        info["stop"] = rfc3339(stop)
    if reason:
        info["reason"] = reason
    info["rtt"] = rtt_text(rtt)
    info["uptime"] = uptime(now - start)
    info["idle"] = uptime(now - last)
    info["pending_bytes"] = pending
    info["in_msgs"] = in_msgs
    info["out_msgs"] = out_msgs
    info["in_bytes"] = in_bytes
    info["out_bytes"] = out_bytes
    if stalls:
        info["stalls"] = stalls
    info["subscriptions"] = num_subs
    for k, v in (("name", name), ("lang", lang), ("version", version)):
        if v:
            info[k] = v
    if tls_version:
        info["tls_version"] = tls_version
        info["tls_cipher_suite"] = tls_cipher
        if tls_first:
            info["tls_first"] = True
    return info


# The reference's ConnInfo field order, for the optional fields added after the base ones.
_ORDER = {
    k: i
    for i, k in enumerate(
        (
            "cid",
            "kind",
            "type",
            "ip",
            "port",
            "start",
            "last_activity",
            "stop",
            "reason",
            "rtt",
            "uptime",
            "idle",
            "pending_bytes",
            "in_msgs",
            "out_msgs",
            "in_bytes",
            "out_bytes",
            "stalls",
            "subscriptions",
            "name",
            "lang",
            "version",
            "tls_version",
            "tls_cipher_suite",
            "tls_peer_certs",
            "tls_first",
            "authorized_user",
            "account",
            "subscriptions_list",
            "subscriptions_list_detail",
            "jwt",
            "issuer_key",
            "name_tag",
            "tags",
            "mqtt_client",
            "proxy",
        )
    )
}


def _ordered(info: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(info.items(), key=lambda kv: _ORDER.get(kv[0], len(_ORDER))))


def _sub_detail(
    subject: str, queue: str | None, sid: str, msgs: int, max_msgs: int, cid: int
) -> dict[str, Any]:
    """A subscription under its connection (the reference leaves the account out there)."""
    d: dict[str, Any] = {"subject": subject}
    if queue:
        d["qgroup"] = queue
    d["sid"] = sid
    d["msgs"] = msgs
    if max_msgs:
        d["max"] = max_msgs
    d["cid"] = cid
    return d


def _closed_sub(s: SubRecord) -> dict[str, Any]:
    """A closed connection's subscription: the reference kept its account with it."""
    return {
        "account": s.account,
        "account_tag": s.account,
        **_sub_detail(s.subject, s.queue, s.sid, s.msgs, s.max, s.cid),
    }
