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
from pynatsd.server.internal import ClosedClient

if TYPE_CHECKING:
    from pynatsd.server.internal import Client, Internal, SubRecord

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
    """The options from a query string or a system-account request (``state``: 0 open,
    1 closed, 2 any, as the reference's JSON has it)."""

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
    """One connection being listed: its record (sorting reads it) and, while it is open,
    the connection itself (for its subscriptions and TLS peer, read for the page only)."""

    rec: ClosedClient
    conn: Client | None


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
    rows = [_Row(_live(c), c) for c in opened]
    rows.extend(_Row(cc, None) for cc in closed if (not o.user or cc.user == o.user) and not o.mqtt_client)
    if not rows:
        doc["connections"] = []
        return doc
    _sort(rows, sort, now)
    page = paginate(rows, offset, limit)  # sorted on raw values, rendered for the page only
    doc["connections"] = [_info(r, now, o, accounts.keys()) for r in page]
    doc["num_connections"] = len(page)
    return doc


def _mqtt_id(c: Client) -> str:
    return ""  # no MQTT listener yet: no connection has an MQTT client id


def _sort(rows: list[_Row], sort: str, now: float) -> None:
    key: Callable[[_Row], Any]
    if sort in ("cid", "start"):
        rows.sort(key=lambda r: r.rec.cid)
        return
    if sort == "uptime":
        rows.sort(key=lambda r: (r.rec.stop or now) - r.rec.start)
        return
    if sort == "reason":
        rows.sort(key=lambda r: r.rec.reason)
        return
    key = {
        "subs": lambda r: r.rec.num_subs,
        "pending": lambda r: r.rec.pending_bytes,
        "msgs_to": lambda r: r.rec.out_msgs,
        "msgs_from": lambda r: r.rec.in_msgs,
        "bytes_to": lambda r: r.rec.out_bytes,
        "bytes_from": lambda r: r.rec.in_bytes,
        "last": lambda r: r.rec.last_activity,
        "idle": lambda r: now - r.rec.last_activity,
        "stop": lambda r: r.rec.stop,
        "rtt": lambda r: r.rec.rtt,
    }[sort]
    rows.sort(key=key, reverse=True)


def _live(c: Client) -> ClosedClient:
    """An open connection's record, as a closed one's but without stop and reason."""
    tls_version, tls_cipher = c.tls_state()
    rec = ClosedClient(
        cid=c.cid,
        ip=c.host,
        port=c.port,
        start=c.start,
        last_activity=max(c.last_activity, c.start),  # activity is stamped by a coarse clock
        stop=0.0,
        reason="",
        rtt=c.rtt,
        pending_bytes=c.pending_bytes(),
        in_msgs=c.in_msgs,
        out_msgs=c.out_msgs,
        in_bytes=c.in_bytes,
        out_bytes=c.out_bytes,
        stalls=c.stalls,
        num_subs=len(c.subs),
        name=c.name,
        lang=c.lang,
        version=c.version,
        tls_version=tls_version,
        tls_cipher=tls_cipher,
        tls_first=c.tls_first,
        user=c.raw_auth_user(),
        account=c.account.name,
    )
    if not c.rtt and c.lang:
        c.send_rtt_ping()  # as the reference: measured now, shown next time
    return rec


def _info(row: _Row, now: float, o: ConnzOptions, accounts: Any) -> dict[str, Any]:
    """The reference's ConnInfo of one listed connection."""
    r, c = row.rec, row.conn
    end = now if c is not None else r.stop
    info: dict[str, Any] = {
        "cid": r.cid,
        "kind": "Client",
        "type": "nats",
        "ip": r.ip if r.port else "",
        "port": r.port,
        "start": rfc3339(r.start),
        "last_activity": rfc3339(r.last_activity),
    }
    if c is None:
        info["stop"] = rfc3339(r.stop)
        if r.reason:
            info["reason"] = r.reason
    info["rtt"] = rtt_text(r.rtt)
    info["uptime"] = uptime(end - r.start)
    info["idle"] = uptime(end - r.last_activity)
    info["pending_bytes"] = r.pending_bytes
    info["in_msgs"] = r.in_msgs
    info["out_msgs"] = r.out_msgs
    info["in_bytes"] = r.in_bytes
    info["out_bytes"] = r.out_bytes
    if r.stalls:
        info["stalls"] = r.stalls
    info["subscriptions"] = r.num_subs
    for k, v in (("name", r.name), ("lang", r.lang), ("version", r.version)):
        if v:
            info[k] = v
    if r.tls_version:
        info["tls_version"] = r.tls_version
        info["tls_cipher_suite"] = r.tls_cipher
        if o.auth and c is not None:
            certs = c.tls_peer_certs()
            if certs:
                info["tls_peer_certs"] = certs
        if r.tls_first:
            info["tls_first"] = True
    if o.auth and r.user:
        info["authorized_user"] = r.user
    if c is not None:
        if o.auth and r.account != GLOBAL:
            info["account"] = r.account
        subs = list(c.subs.values())
        if subs and o.subs_detail:
            info["subscriptions_list_detail"] = [
                _sub_detail(s.subject, s.queue, s.sid, s.delivered, s.max_msgs, c.cid) for s in subs
            ]
        elif subs and o.subs:
            info["subscriptions_list"] = [s.subject for s in subs]
        if o.auth:
            info["name_tag"] = r.account
    else:
        if o.auth and r.account and r.account != GLOBAL:
            info["account"] = r.account
        if r.subs and o.subs_detail:
            info["subscriptions_list_detail"] = [_closed_sub(s) for s in r.subs]
        elif r.subs and o.subs:
            info["subscriptions_list"] = [s.subject for s in r.subs]
        if o.auth and r.account and r.account != GLOBAL and r.account in accounts:
            info["name_tag"] = r.account
    return info


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
