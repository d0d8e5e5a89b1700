"""The system account's monitoring requests: the HTTP endpoints' JSON over NATS.

A user of the system account asks every server (``$SYS.REQ.SERVER.PING[.<ENDPOINT>]``) or
one (``$SYS.REQ.SERVER.<id>.<ENDPOINT>``), or about one account
(``$SYS.REQ.ACCOUNT.<acc>.<CONNZ|SUBSZ|LEAFZ|INFO|STATZ>``); the request body holds the
endpoint's options as JSON (the reference's field names) plus the server filters
(``server_name``, ``host``, ``cluster``, ``exact_match``, ``tags``, ``domain``). The answer is
the reference's envelope: ``{"server": {...}, "data": ...}`` (``"statsz"`` for STATSZ, bare
for IDZ, ``"error": {"code", "description"}`` for bad options). This is what the ``nats
server list / info / ping`` commands ask.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pynatsd.monitor import accountz as accountz_mod
from pynatsd.monitor import cluster
from pynatsd.monitor import jsz as jsz_mod
from pynatsd.monitor.common import BadRequest, Query, go_float, render, rfc3339
from pynatsd.monitor.connz import OPEN, ConnzOptions, connz
from pynatsd.monitor.healthz import healthz
from pynatsd.monitor.process import cpu_percent, rss_bytes
from pynatsd.monitor.subsz import subsz
from pynatsd.monitor.varz import varz

if TYPE_CHECKING:
    from pynatsd.server.internal import Client, Internal, Subscription

PING = "$SYS.REQ.SERVER.PING"
SERVER_ENDPOINTS = (
    "IDZ",
    "STATSZ",
    "VARZ",
    "SUBSZ",
    "CONNZ",
    "ROUTEZ",
    "GATEWAYZ",
    "LEAFZ",
    "ACCOUNTZ",
    "JSZ",
    "HEALTHZ",
)
ACCOUNT_ENDPOINTS = ("SUBSZ", "CONNZ", "LEAFZ", "INFO", "STATZ")

Builder = Callable[[dict[str, Any], str], Any]


class _Skip(Exception):
    """Nothing to answer (the reference stays silent, e.g. an account with no connections)."""


def _q(**values: Any) -> Query:
    """Query-string values from JSON options, so both paths share one validation."""
    out: dict[str, str] = {}
    for k, v in values.items():
        if v is None or v is False or v == "":
            continue
        out[k] = "true" if v is True else str(v)
    return Query(out)


class SystemRequests:
    """Answers the system account's monitoring requests; an extension of the server."""

    def __init__(
        self, core: Internal, system: Internal, ports: Callable[[], tuple[int, int, dict[str, int]]]
    ) -> None:
        self.core = core
        self.system = system
        self._ports = ports  # (http port, https port, http request counts) of the monitor, if any
        self._subs: list[Subscription] = []
        self._seq = 0

    async def start(self) -> None:
        sid = self.core.server_id
        self._sub(PING, lambda opts, subject: self._statsz(opts), raw=True)
        for name in SERVER_ENDPOINTS:
            build = self._server_builder(name)
            raw = name in ("IDZ", "STATSZ")
            self._sub(f"$SYS.REQ.SERVER.{sid}.{name}", build, raw=raw)
            self._sub(f"{PING}.{name}", build, raw=raw)
        for name in ACCOUNT_ENDPOINTS:
            self._sub(f"$SYS.REQ.ACCOUNT.*.{name}", self._account_builder(name))
        self._sub("$SYS.REQ.ACCOUNT.PING.CONNZ", lambda o, s: connz(self.core, _connz_options(o)))

    async def stop(self) -> None:
        for sub in self._subs:
            self.system.unsubscribe(sub)
        self._subs.clear()

    # -- plumbing -------------------------------------------------------------------------
    def _sub(self, subject: str, build: Builder, raw: bool = False) -> None:
        def handle(
            sub: Subscription, pub: Client, subj: bytes, reply: bytes | None, hdr: int, msg: bytes
        ) -> bool | None:
            if reply is None:
                return None
            body = msg[hdr:] if hdr > 0 else msg
            try:
                answer = self._answer(build, body, subj.decode("utf-8", "replace"), raw)
            except Exception as exc:  # a bug here must not reach the requester's connection
                self.core.log.exception("Error answering %s", subj.decode("utf-8", "replace"))
                answer = self._envelope(error=(500, str(exc)))
            if answer is not None:
                self.system.publish(reply, answer)
            return None

        self._subs.append(self.system.subscribe(subject, handle))

    def _answer(self, build: Builder, body: bytes, subject: str, raw: bool) -> bytes | None:
        opts: Any = {}
        if body.strip():
            try:
                opts = json.loads(body)
            except ValueError as exc:
                return self._envelope(error=(400, f"invalid character in request: {exc}"))
            if not isinstance(opts, dict):
                return self._envelope(error=(400, "json: cannot unmarshal request into options"))
            if self._filtered(opts):
                return None
        try:
            data = build(opts, subject)
        except _Skip:
            return None
        except BadRequest as exc:
            return self._envelope(error=(500, str(exc)))
        except (TypeError, ValueError) as exc:
            return self._envelope(error=(400, f"json: cannot unmarshal request: {exc}"))
        if raw:
            return render(data, indent=False).encode()
        return self._envelope(data=data)

    def _filtered(self, o: dict[str, Any]) -> bool:
        """The reference's server filters: True when this server is not among those asked."""
        name, host = self.core.server_name, self.core.opts.host or "0.0.0.0"
        want_name, want_host, want_cluster = (
            o.get("server_name") or "",
            o.get("host") or "",
            o.get("cluster") or "",
        )
        if o.get("exact_match"):
            if (want_name and want_name != name) or (want_host and want_host != host) or want_cluster:
                return True
        elif (want_name and want_name not in name) or (want_host and want_host not in host) or want_cluster:
            return True
        if o.get("tags"):
            return True  # server tags are not supported: no tag matches
        domain = o.get("domain") or ""
        return bool(domain) and domain != self.core.opts.jetstream_domain

    def _server_info(self) -> dict[str, Any]:
        self._seq += 1
        js = self.core.opts.jetstream
        return {
            "name": self.core.server_name,
            "host": self.core.opts.host or "0.0.0.0",
            "id": self.core.server_id,
            "ver": self.core.identity()["version"],
            "jetstream": js,
            "flags": 1 if js else 0,
            "seq": self._seq,
            "time": rfc3339(time.time()),
        }

    def _envelope(self, data: Any = None, error: tuple[int, str] | None = None) -> bytes:
        doc: dict[str, Any] = {"server": self._server_info()}
        if error is not None:
            doc["error"] = {"code": error[0], "description": error[1]}
        else:
            doc["data"] = data
        return render(doc, indent=False).encode()

    # -- endpoints ------------------------------------------------------------------------
    def _server_builder(self, name: str) -> Builder:
        core = self.core
        if name == "IDZ":
            return lambda o, s: {
                "name": core.server_name,
                "host": core.opts.host or "0.0.0.0",
                "id": core.server_id,
            }
        if name == "STATSZ":
            return lambda o, s: self._statsz(o)
        if name == "VARZ":
            return lambda o, s: self._varz()
        if name == "SUBSZ":
            return lambda o, s: subsz(core, _subsz_query(o))
        if name == "CONNZ":
            return lambda o, s: connz(core, _connz_options(o))
        if name == "ROUTEZ":
            return lambda o, s: cluster.routez(core, _q())
        if name == "GATEWAYZ":
            return lambda o, s: cluster.gatewayz(core, _q())
        if name == "LEAFZ":
            return lambda o, s: cluster.leafz(core, _q())
        if name == "ACCOUNTZ":
            return lambda o, s: accountz_mod.accountz(core, _q(acc=o.get("account")))
        if name == "JSZ":
            return lambda o, s: _jsz(core, o)
        return lambda o, s: self._healthz(o)

    def _account_builder(self, name: str) -> Builder:
        core = self.core

        def account_of(subject: str) -> str:
            tokens = subject.split(".")
            if len(tokens) != 5:
                raise BadRequest(f"subject {subject!r} is malformed")
            return tokens[3]

        def build(o: dict[str, Any], subject: str) -> Any:
            acc = account_of(subject)
            if name == "CONNZ":
                if acc == "PING":
                    raise _Skip
                return connz(core, _connz_options({**o, "acc": acc}))
            if name == "SUBSZ":
                return subsz(core, _subsz_query({**o, "subscriptions": True, "account": acc}))
            if name == "LEAFZ":
                return cluster.leafz(core, _q())
            if name == "INFO":
                return accountz_mod.accountz(core, _q(acc=acc))["account_detail"]
            # STATZ, also for $SYS.REQ.ACCOUNT.PING.STATZ (every account with connections)
            unused = bool(o.get("include_unused"))
            stz = accountz_mod.accstatz(core, _q(unused=unused))
            if acc != "PING":
                stz["account_statz"] = [s for s in stz["account_statz"] if s["acc"] == acc]
            elif o.get("accounts"):
                stz["account_statz"] = [s for s in stz["account_statz"] if s["acc"] in o["accounts"]]
            if not stz["account_statz"] and not unused:
                raise _Skip
            return stz

        return build

    def _varz(self) -> dict[str, Any]:
        http, https, stats = self._ports()
        doc = varz(self.core, http, https, stats)
        return {k: v for k, v in doc.items() if v is not None}

    def _healthz(self, o: dict[str, Any]) -> dict[str, Any]:
        status, doc = healthz(
            self.core,
            _q(
                **{
                    "js-enabled-only": o.get("js-enabled-only"),
                    "js-server-only": o.get("js-server-only"),
                    "details": o.get("details"),
                    "account": o.get("account"),
                    "stream": o.get("stream"),
                    "consumer": o.get("consumer"),
                }
            ),
        )
        return {**doc, "status_code": status}

    def _statsz(self, o: dict[str, Any]) -> dict[str, Any]:
        n = self.core.counters()
        active = {c.account.name for c in self.core.connections()}
        stats: dict[str, Any] = {
            "start": rfc3339(self.core.start_time),
            "mem": rss_bytes(),
            "cores": os.cpu_count() or 1,
            "cpu": go_float(cpu_percent()),
            "connections": n.connections,
            "total_connections": n.total_connections,
            "active_accounts": len(active),
            "subscriptions": n.subscriptions,
            "sent": {"msgs": n.out_msgs, "bytes": n.out_bytes},
            "sent_to_clients": {"msgs": n.out_msgs, "bytes": n.out_bytes},
            "received": {"msgs": n.in_msgs, "bytes": n.in_bytes},
            "received_from_clients": {"msgs": n.in_msgs, "bytes": n.in_bytes},
            "slow_consumers": n.slow_consumers,
        }
        zeros = {"clients": 0, "routes": 0, "gateways": 0, "leafs": 0}
        if n.slow_consumers:
            stats["slow_consumer_stats"] = {**zeros, "clients": n.slow_consumers}
        if n.stale_connections:
            stats["stale_connections"] = n.stale_connections
            stats["stale_connection_stats"] = {**zeros, "clients": n.stale_connections}
        if n.stalls:
            stats["stalled_clients"] = n.stalls
        stats["active_servers"] = 1
        stats["gomaxprocs"] = 1
        return {"server": self._server_info(), "statsz": stats}


def _opt(o: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    """An option of the request's JSON, of the type Go decodes it into (TypeError if not,
    answered with code 400 as the reference's json.Unmarshal error)."""
    v = o.get(key)
    if v is None:
        return default
    if kind is int and (isinstance(v, bool) or not isinstance(v, int)):
        raise TypeError(f"json: cannot unmarshal {type(v).__name__} into Go struct field .{key} of type int")
    if kind is not int and not isinstance(v, kind):
        raise TypeError(
            f"json: cannot unmarshal {type(v).__name__} into Go struct field .{key} of type {kind.__name__}"
        )
    return v


def _connz_options(o: dict[str, Any]) -> ConnzOptions:
    """ConnzOptions from the reference's JSON names (``state`` is 0 open, 1 closed, 2 any)."""
    return ConnzOptions(
        sort=_opt(o, "sort", str, ""),
        auth=_opt(o, "auth", bool, False),
        subs=_opt(o, "subscriptions", bool, False),
        subs_detail=_opt(o, "subscriptions_detail", bool, False),
        offset=_opt(o, "offset", int, 0),
        limit=_opt(o, "limit", int, 0),
        cid=_opt(o, "cid", int, 0),
        state=_opt(o, "state", int, OPEN),
        user=_opt(o, "user", str, ""),
        acc=_opt(o, "acc", str, ""),
        mqtt_client=_opt(o, "mqtt_client", str, ""),
    )


def _subsz_query(o: dict[str, Any]) -> Query:
    return _q(
        subs=_opt(o, "subscriptions", bool, False),
        offset=_opt(o, "offset", int, 0) or None,
        limit=_opt(o, "limit", int, 0) or None,
        acc=_opt(o, "account", str, ""),
        test=_opt(o, "test", str, ""),
    )


# the reference's JSzOptions JSON field -> the option of JetStream's report
_JSZ_FIELDS = {
    "account": "account",
    "accounts": "accounts",
    "streams": "streams",
    "consumer": "consumers",
    "direct_consumer": "direct_consumers",
    "config": "config",
    "leader_only": "leader_only",
    "offset": "offset",
    "limit": "limit",
    "raft": "raft",
    "stream_leader_only": "stream_leader_only",
}


def _jsz(core: Internal, o: dict[str, Any]) -> Any:
    """JSZ: JetStream's report with the request's options; the "disabled" document (or,
    asked for leaders only, no answer) without JetStream."""
    report = core.offered("jsz")
    if report is None:
        if o.get("leader_only"):
            raise _Skip
        return jsz_mod.jsz(core, Query({}))
    return report(**{name: o[field] for field, name in _JSZ_FIELDS.items() if field in o})
