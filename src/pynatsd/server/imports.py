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
from pynatsd.server import latency, msgtrace

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
        # the cluster a route layer named (JetStream places a stream in the requester's)
        d["cluster"] = c.server.info_field("cluster")
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
    __slots__ = ("expires", "importer", "lat", "reply", "singleton", "threshold")

    def __init__(
        self, importer: Account, reply: bytes, singleton: bool, threshold: float, now: float
    ) -> None:
        self.importer = importer
        self.reply = reply
        self.singleton = singleton
        self.threshold = threshold
        self.expires = now + threshold
        self.lat: latency.Tracked | None = None  # a sampled request of a latency-tracked export


class Responses:
    """The answers one exporting account owes: its ``_R_`` reply subjects, mapped back."""

    def __init__(self, server: NatsServer, exporter: Account) -> None:
        self._server = server
        self._exporter = exporter
        self.prefix = b"_R_." + "".join(secrets.choice(_B62) for _ in range(6)).encode() + b"."
        self._n = 0
        self.pending: dict[bytes, _Pending] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._watch: latency.InterestWatch | None = None
        self.sub = server.claim_prefix(exporter, self.prefix[:-1].decode(), self._answer)

    def track(
        self, importer: Account, reply: bytes, export: ExportConfig | None, lat: latency.Tracked | None = None
    ) -> bytes:
        """A reply subject of the exporter's standing in for ``reply`` of ``importer``."""
        self._n += 1
        subject = self.prefix + b"%d" % self._n
        singleton = export is None or export.response_type == "singleton"
        threshold = export.response_threshold if export is not None else 120.0
        entry = self.pending[subject] = _Pending(importer, reply, singleton, threshold, self._server.now)
        if lat is not None:
            entry.lat = lat
            if self._watch is None:
                self._watch = latency.InterestWatch(self._server, self._interest_lost)
            self._watch.add(subject, lat)
        if self._sweep is None:
            self._sweep = self._server.loop.call_later(_SWEEP, self._expire)
        return subject

    def drop(self, subject: bytes) -> None:
        """The request reached nobody."""
        entry = self.pending.pop(subject, None)
        if entry is not None and entry.lat is not None:
            self._untrack(subject, entry).failed(latency.NO_DELIVERY)

    def _untrack(self, subject: bytes, entry: _Pending) -> latency.Tracked:
        lat = entry.lat
        assert lat is not None
        entry.lat = None
        if self._watch is not None:
            self._watch.discard(subject)
        return lat

    def _interest_lost(self, subject: bytes) -> None:
        entry = self.pending.pop(subject, None)
        lat = entry.lat if entry is not None else None
        if lat is not None:
            lat.failed(latency.INTEREST_LOST)

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
        if entry.lat is not None:
            self._untrack(subject, entry).answered(pub)
        return _route(self._server, entry.importer, entry.reply, reply, hdr, msg)

    def _expire(self) -> None:
        self._sweep = None
        now = self._server.now
        for subject in [s for s, e in self.pending.items() if e.expires <= now]:
            entry = self.pending.pop(subject)
            if entry.lat is not None:
                self._untrack(subject, entry).failed(latency.TIMEOUT)
        if self.pending:
            self._sweep = self._server.loop.call_later(_SWEEP, self._expire)

    def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        if self._watch is not None:
            self._watch.close()
        self._server.unsubscribe_internal(self.sub)
        self.pending.clear()


def _route(
    server: NatsServer,
    account: Account,
    subject: bytes,
    reply: bytes | None,
    hdr: int,
    msg: bytes,
    frame_subject: bytes | None = None,
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
        return server.deliver(account.client, subject, reply, hdr, b"%d" % len(msg), msg, frame_subject)
    finally:
        _depth -= 1


def carry_framed(
    server: NatsServer,
    exporter: Account,
    sub: Subscription,
    routed: bytes,
    frame: bytes,
    reply: bytes | None,
    hdr: int,
    msg: bytes,
) -> bool:
    """A message routed by one subject and framed with another (a push consumer's delivery
    to its deliver subject, framed with the stored subject) crossing a stream import: it is
    routed on in the importer by its routing subject and keeps its frame subject there."""
    importer, local = exporter.carriers[sub]
    mapped = local(routed)
    return mapped is not None and _route(server, importer, mapped, reply, hdr, msg, frame)


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

    def local(subject: bytes) -> bytes | None:
        """The subject a message on ``subject`` has in the importing account."""
        if prefix:
            return prefix + subject
        if transform is not None:
            return transform.map_bytes(subject)
        return literal_to or subject

    def carry(
        sub: Subscription, pub: Client, subject: bytes, reply: bytes | None, hdr: int, msg: bytes
    ) -> bool:
        mapped = local(subject)
        if mapped is None:
            return False
        t = server.msg_trace
        if t is not None:  # a traced message crosses the export (server/msgtrace.py)
            return msgtrace.stream_import(server, t, importer, imp, mapped, reply, hdr, msg)
        return _route(server, importer, mapped, reply, hdr, msg)

    sub = server.subscribe_internal(exporter, imp.subject, carry)
    importer.import_subs.append(sub)
    exporter.carriers[sub] = (importer, local)


def exact_interest(account: Account, subject: str, depth: int = 0) -> bool:
    """Whether a subscription is on exactly ``subject`` in ``account``, or, through a stream
    import, on exactly what it becomes in an importing account: the reference's shadow
    subscriptions make such interest exact in the exporter (a push consumer delivering
    into another account is bound by the importer's subscription)."""
    r = account.sublist.match(subject.encode())
    if not r.any:
        return False
    if any(sub.subject == subject for sub in r.psubs) or any(
        sub.subject == subject for members in r.qsubs for sub in members
    ):
        return True
    if depth >= _MAX_DEPTH or not account.carriers:
        return False
    for sub in r.psubs:
        carrier = account.carriers.get(sub)
        if carrier is not None:
            importer, local = carrier
            mapped = local(subject.encode())
            if mapped is not None and exact_interest(importer, mapped.decode(), depth + 1):
                return True
    return False


def add_service_import(server: NatsServer, importer: Account, exporter: Account, imp: ImportConfig) -> None:
    local_s = imp.to or imp.subject
    transform = _transform(local_s, imp.subject)
    remote = imp.subject.encode() if transform is None and local_s != imp.subject else None
    export = _find_export(exporter, imp.subject, True)
    share = imp.share
    tracker = None
    # results are the system's messages: none without a system account, as the reference
    if export is not None and export.latency is not None and server.system_account is not None:
        tracker = latency.Tracker(server, exporter, export.latency, client_info)

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
        lat = None
        if tracker is not None:  # the export tracks latency: is this request measured?
            lat = tracker.start(pub, share, hdr, msg, importer, reply)
        # as the reference: the service learns who asks (Nats-Request-Info)
        hdr, msg = with_header(hdr, msg, REQUEST_INFO, client_info(pub, share))
        if server.msg_trace is not None:  # a traced request (server/msgtrace.py)
            return msgtrace.service_request(
                server, importer, exporter, export, subject, target, reply, hdr, msg, lat
            )
        return route_request(server, importer, exporter, export, target, reply, hdr, msg, lat)

    importer.import_subs.append(server.subscribe_internal(importer, local_s, request, si=True))


def route_request(
    server: NatsServer,
    importer: Account,
    exporter: Account,
    export: ExportConfig | None,
    target: bytes,
    reply: bytes | None,
    hdr: int,
    msg: bytes,
    lat: latency.Tracked | None = None,
) -> bool:
    """Route a request in the exporting account, its reply mapped to a fresh ``_R_`` subject
    (``lat``: the latency measurement of a sampled request, server/latency.py)."""
    if reply is None:
        return _route(server, exporter, target, None, hdr, msg)
    responses = responses_of(server, exporter)
    resp = responses.track(importer, reply, export, lat)
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
        acc.carriers.clear()
        if acc.responses is not None:
            acc.responses.close()
            acc.responses = None
