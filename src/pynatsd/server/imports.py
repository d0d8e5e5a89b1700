"""Imports and exports between accounts, carried by in-process subscriptions.

* A **stream import** is a subscription in the exporting account on the imported subject;
  each message is routed again in the importing account, under its prefix or ``to``.
* A **service import** is a subscription in the importing account on the local subject
  (``to``); a request is routed again in the exporting account on the exported subject,
  with its reply subject replaced by a fresh ``_R_.<prefix>.<n>`` of the exporter's. The
  exporter's :class:`Responses` (a claimed prefix, so unique reply subjects skip the match
  cache) routes each answer back to the requester's reply subject: once for a singleton
  service, until the response threshold passes without an answer for streamed and
  chunked ones (the reference's response tracking).

Loops are refused when the config is loaded (``import forms a cycle``); a depth guard
still stops a message that would bounce between accounts forever.
"""

from __future__ import annotations

import json
import secrets
import weakref
from typing import TYPE_CHECKING, Any

from pynatsd.gocompat import format_time
from pynatsd.mapping import SubjectTransform, parse_transform
from pynatsd.server import msgtrace

if TYPE_CHECKING:
    import asyncio

    from pynatsd.options import ExportConfig, ImportConfig
    from pynatsd.server.account import Account
    from pynatsd.server.client import Client, Subscription
    from pynatsd.server.server import NatsServer

_MAX_DEPTH = 16  # accounts one message may cross
_SWEEP = 1.0  # seconds between expiry passes over pending responses
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_depth = 0
REQUEST_INFO = b"Nats-Request-Info"
_HDR_LINE = b"NATS/1.0\r\n"


# Per requester: (rtt, share, account, the JSON), rebuilt only when one of them changes.
_infos: weakref.WeakKeyDictionary[Client, tuple[float, bool, Account, bytes]] = weakref.WeakKeyDictionary()


def client_info(c: Client, share: bool) -> bytes:
    """The requester as the reference describes it to a service (its ClientInfo JSON, in the
    struct's field order): the account and RTT, and with ``share`` who and where it is."""
    cached = _infos.get(c)
    if cached is not None and cached[0] == c.rtt and cached[1] == share and cached[2] is c.account:
        return cached[3]
    info = _client_info(c, share)
    _infos[c] = (c.rtt, share, c.account, info)
    return info


def _client_info(c: Client, share: bool) -> bytes:
    d: dict[str, Any] = {}
    if share:
        d["start"] = format_time(int(c.start * 1e9))
        d["host"] = c.host
        d["id"] = c.cid
    d["acc"] = c.account.name
    if share:
        d["user"] = c.user
        d["name"] = c.name
        d["lang"] = c.lang
        d["ver"] = c.version
    d["rtt"] = round(c.rtt * 1e9)
    if share:
        d["server"] = c.server.server_name
        d["kind"] = "Client"
        d["client_type"] = "nats"
    return json.dumps({k: v for k, v in d.items() if v}, separators=(",", ":")).encode()


def with_header(hdr: int, msg: bytes, name: bytes, value: bytes) -> tuple[int, bytes]:
    """``msg`` (header block of ``hdr`` bytes, -1 for none, then payload) with header
    ``name`` set to ``value``, replacing any earlier one, as the reference's setHeader."""
    line = name + b": " + value + b"\r\n"
    if hdr < 0:
        block = _HDR_LINE + line + b"\r\n"
        return len(block), block + msg
    head, body = msg[:hdr], msg[hdr:]
    lines = head[:-4].split(b"\r\n") if head.endswith(b"\r\n\r\n") else head.split(b"\r\n")
    low = name.lower() + b":"
    kept = [ln for ln in lines if not ln.lower().startswith(low)]
    block = b"\r\n".join(kept) + b"\r\n" + line + b"\r\n"
    return len(block), block + body


def _transform(src: str, dest: str) -> SubjectTransform | None:
    """The mapping of an import between two different wildcard subjects (None: literal or equal)."""
    if src == dest or ("*" not in src and ">" not in src):
        return None
    n = 0
    tokens = []
    for t in dest.split("."):
        if t == "*":
            n += 1
            tokens.append(f"{{{{wildcard({n})}}}}")
        else:
            tokens.append(t)
    return parse_transform(src, ".".join(tokens), strict=True)


class _Pending:
    __slots__ = ("expires", "importer", "reply", "singleton", "threshold")

    def __init__(
        self, importer: Account, reply: bytes, singleton: bool, threshold: float, now: float
    ) -> None:
        self.importer = importer
        self.reply = reply
        self.singleton = singleton
        self.threshold = threshold
        self.expires = now + threshold


class Responses:
    """The answers one exporting account owes: its ``_R_`` reply subjects, mapped back."""

    def __init__(self, server: NatsServer, exporter: Account) -> None:
        self._server = server
        self._exporter = exporter
        self.prefix = b"_R_." + "".join(secrets.choice(_B62) for _ in range(6)).encode() + b"."
        self._n = 0
        self.pending: dict[bytes, _Pending] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self.sub = server.claim_prefix(exporter, self.prefix[:-1].decode(), self._answer)

    def track(self, importer: Account, reply: bytes, export: ExportConfig | None) -> bytes:
        """A reply subject of the exporter's standing in for ``reply`` of ``importer``."""
        self._n += 1
        subject = self.prefix + b"%d" % self._n
        singleton = export is None or export.response_type == "singleton"
        threshold = export.response_threshold if export is not None else 120.0
        self.pending[subject] = _Pending(importer, reply, singleton, threshold, self._server.now)
        if self._sweep is None:
            self._sweep = self._server.loop.call_later(_SWEEP, self._expire)
        return subject

    def drop(self, subject: bytes) -> None:
        self.pending.pop(subject, None)

    def _answer(
        self, sub: Subscription, pub: Client, subject: bytes, reply: bytes | None, hdr: int, msg: bytes
    ) -> bool:
        entry = self.pending.get(subject)
        if entry is None:
            return False
        if entry.singleton:
            del self.pending[subject]
        else:
            entry.expires = self._server.now + entry.threshold
        return _route(self._server, entry.importer, entry.reply, reply, hdr, msg)

    def _expire(self) -> None:
        self._sweep = None
        now = self._server.now
        for subject in [s for s, e in self.pending.items() if e.expires <= now]:
            del self.pending[subject]
        if self.pending:
            self._sweep = self._server.loop.call_later(_SWEEP, self._expire)

    def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        self._server.unsubscribe_internal(self.sub)
        self.pending.clear()


def _route(
    server: NatsServer, account: Account, subject: bytes, reply: bytes | None, hdr: int, msg: bytes
) -> bool:
    """Route a message again, as ``account``'s internal client, with a guard on depth."""
    global _depth
    if _depth >= _MAX_DEPTH:
        return False
    _depth += 1
    try:
        t = server.msg_trace
        if t is not None:  # a traced message: egress events (server/msgtrace.py)
            return msgtrace.deliver(server, t, account.client, subject, reply, hdr, b"%d" % len(msg), msg)
        return server.deliver(account.client, subject, reply, hdr, b"%d" % len(msg), msg)
    finally:
        _depth -= 1


def _find_export(exporter: Account, subject: str, service: bool) -> ExportConfig | None:
    from pynatsd.protocol.subjects import subset_of

    cfg = exporter.config
    if cfg is None:
        return None
    return next((e for e in cfg.exports if e.service == service and subset_of(subject, e.subject)), None)


def add_stream_import(server: NatsServer, importer: Account, exporter: Account, imp: ImportConfig) -> None:
    if imp.prefix:
        prefix = (imp.prefix.rstrip(".") + ".").encode()
        transform = None
    else:
        prefix = b""
        transform = _transform(imp.subject, imp.to) if imp.to else None
    literal_to = imp.to.encode() if imp.to and transform is None and imp.to != imp.subject else None

    def carry(
        sub: Subscription, pub: Client, subject: bytes, reply: bytes | None, hdr: int, msg: bytes
    ) -> bool:
        if prefix:
            local = prefix + subject
        elif transform is not None:
            mapped = transform.map_bytes(subject)
            if mapped is None:
                return False
            local = mapped
        else:
            local = literal_to or subject
        t = server.msg_trace
        if t is not None:  # a traced message crosses the export (server/msgtrace.py)
            return msgtrace.stream_import(server, t, importer, imp, local, reply, hdr, msg)
        return _route(server, importer, local, reply, hdr, msg)

    importer.import_subs.append(server.subscribe_internal(exporter, imp.subject, carry))


def add_service_import(server: NatsServer, importer: Account, exporter: Account, imp: ImportConfig) -> None:
    local_s = imp.to or imp.subject
    transform = _transform(local_s, imp.subject)
    remote = imp.subject.encode() if transform is None and local_s != imp.subject else None
    export = _find_export(exporter, imp.subject, True)
    share = imp.share

    def request(
        sub: Subscription, pub: Client, subject: bytes, reply: bytes | None, hdr: int, msg: bytes
    ) -> bool:
        if transform is not None:
            mapped = transform.map_bytes(subject)
            if mapped is None:
                return False
            target = mapped
        else:
            target = remote or subject
        # as the reference: the service learns who asks (Nats-Request-Info)
        hdr, msg = with_header(hdr, msg, REQUEST_INFO, client_info(pub, share))
        if server.msg_trace is not None:  # a traced request (server/msgtrace.py)
            return msgtrace.service_request(
                server, importer, exporter, export, subject, target, reply, hdr, msg
            )
        return route_request(server, importer, exporter, export, target, reply, hdr, msg)

    importer.import_subs.append(server.subscribe_internal(importer, local_s, request))


def route_request(
    server: NatsServer,
    importer: Account,
    exporter: Account,
    export: ExportConfig | None,
    target: bytes,
    reply: bytes | None,
    hdr: int,
    msg: bytes,
) -> bool:
    """Route a request in the exporting account, its reply mapped to a fresh ``_R_`` subject."""
    if reply is None:
        return _route(server, exporter, target, None, hdr, msg)
    responses = responses_of(server, exporter)
    resp = responses.track(importer, reply, export)
    if not _route(server, exporter, target, resp, hdr, msg):
        responses.drop(resp)
        return False
    return True


def responses_of(server: NatsServer, exporter: Account) -> Responses:
    """The exporting account's response map, made on first use."""
    responses = exporter.responses
    if responses is None:
        responses = exporter.responses = Responses(server, exporter)
    return responses


def wire(server: NatsServer, accounts: dict[str, Account]) -> None:
    """Create the subscriptions of every account's imports (after :func:`unwire` on reload)."""
    for acc in accounts.values():
        cfg = acc.config
        if cfg is None:
            continue
        for imp in cfg.imports:
            exporter = accounts.get(imp.account)
            if exporter is None:
                continue
            if imp.service:
                add_service_import(server, acc, exporter, imp)
            else:
                add_stream_import(server, acc, exporter, imp)


def unwire(server: NatsServer, accounts: dict[str, Account]) -> None:
    """Remove every import subscription and forget pending responses."""
    for acc in accounts.values():
        for sub in acc.import_subs:
            server.unsubscribe_internal(sub)
        acc.import_subs.clear()
        if acc.responses is not None:
            acc.responses.close()
            acc.responses = None
