"""Message tracing, as the reference's msgtrace.go: a publish that asks for it produces one
JSON event (``MsgTraceEvent``) describing what the server did with it.

A client publish (HPUB) is traced when its headers hold ``Nats-Trace-Dest: <subject>``,
or a sampled W3C ``traceparent`` while its account has ``msg_trace`` (then the account's
destination and sampling apply). ``Nats-Trace-Only: true`` traces without delivering. The
event lists, in order: the ingress (``in``), a subject mapping (``sm``), stream exports
crossed (``se``), service imports crossed (``si``), a JetStream stream (``js``) and every
egress to a client (``eg``), and goes to the destination subject in the publisher's
account once the message is processed (only when the server has a system account, as the
reference sends it from there).

The publish path pays one test (``hdr > 0``) for a message without headers; a message
with headers pays a byte search. Only a traced message takes this module's delivery loop
(:func:`deliver`, the core loop plus egress events); while it runs,
``NatsServer.msg_trace`` holds the trace so that imports (``server/imports.py``) and
JetStream (``Internal.msg_trace``) add their events. Routes, gateways and leaf nodes do
not exist here, so neither does the ``Nats-Trace-Hop`` header.
"""

from __future__ import annotations

import gzip
import json
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pynatsd.auth import RESERVED_REPLY_PREFIXES_B, is_reserved_reply, publish_violation, reply_violation
from pynatsd.gocompat import format_time, go_quote
from pynatsd.protocol import errors as E
from pynatsd.protocol.frames import OK, msg_tails
from pynatsd.protocol.subjects import is_valid_literal_subject, subset_of
from pynatsd.version import REFERENCE_VERSION

if TYPE_CHECKING:
    from pynatsd.options import ExportConfig, ImportConfig
    from pynatsd.server import latency
    from pynatsd.server.account import Account
    from pynatsd.server.client import Client, Subscription
    from pynatsd.server.server import NatsServer

TRACE_DEST = b"Nats-Trace-Dest"
TRACE_ONLY = "Nats-Trace-Only"
TRACE_HOP = "Nats-Trace-Hop"
ORIGIN_ACCOUNT = "Nats-Trace-Origin-Account"
TRACE_DISABLED = b"trace disabled"  # not a valid subject: turns tracing off downstream
_HDR_LINE = b"NATS/1.0\r\n"
_CLIENT = 0  # the reference's connection kind of a client

# Egress errors (the reference's texts).
ERR_NO_ECHO = "Not delivered because of no echo"
ERR_SUB_DENY = "Not delivered because subscription denies this subject"
ERR_SUB_CLOSED = "Not delivered because subscription is closed"

# The feature flags the reference (2.15) puts in every ServerInfo it sends.
_FEATURE_FLAGS = {
    "js_ack_fc_v2": False,
    "js_api_reply_v2": False,
    "js_raft_delete_range": True,
    "js_snapshot_sources": False,
}


def _now() -> str:
    return format_time(time.time_ns())


class MsgTrace:
    """One traced message: its event as it grows, where it goes, whether it is only traced."""

    __slots__ = ("account", "dest", "encoding", "events", "header", "js", "only", "server", "size")

    def __init__(
        self,
        server: NatsServer,
        account: Account,
        dest: str,
        only: bool,
        header: dict[str, list[str]],
        size: int,
        ingress: dict[str, Any],
    ) -> None:
        self.server = server
        self.account = account
        self.dest = dest
        self.only = only
        self.header = header
        self.size = size
        self.events: list[dict[str, Any]] = [ingress]
        self.js: dict[str, Any] | None = None
        accept = header.get("Accept-Encoding")
        self.encoding = _encoding(accept[0] if accept else "")

    # -- events --------------------------------------------------------------------------
    def ingress_error(self, text: str) -> None:
        self.events[0]["error"] = text

    def mapped(self, to: bytes) -> None:
        self.events.append({"type": "sm", "ts": _now(), "to": _s(to)})

    def stream_export(self, account: str, to: bytes) -> None:
        self.events.append({"type": "se", "ts": _now(), "acc": account, "to": _s(to)})

    def service_import(self, account: str, frm: bytes, to: bytes) -> None:
        self.events.append({"type": "si", "ts": _now(), "acc": account, "from": _s(frm), "to": _s(to)})

    def jetstream(self, stream: str) -> None:
        """A stream took the message; :meth:`jetstream_done` completes the event."""
        self.js = {"type": "js", "ts": _now(), "stream": stream}
        self.events.append(self.js)

    def jetstream_done(self, subject: str | None, no_interest: bool = False, error: str = "") -> None:
        js = self.js
        if js is None:
            return
        if subject is not None:
            js["ts"] = _now()
            if subject:
                js["subject"] = subject
            if no_interest:
                js["nointerest"] = True
        if error:
            js["error"] = error

    def egress(self, sub: Subscription, error: str = "", subject: str = "") -> None:
        """``subject``: the subscription's subject as the exporting account sees it."""
        c = sub.client
        e: dict[str, Any] = {"type": "eg", "ts": _now(), "kind": _CLIENT, "cid": c.cid}
        if c.name:
            e["name"] = c.name
        if c.account.name != self.events[0]["acc"]:
            e["acc"] = c.account.name
        e["sub"] = subject or sub.subject
        if sub.queue:
            e["queue"] = sub.queue
        if error:
            e["error"] = error
        self.events.append(e)

    # -- the event -----------------------------------------------------------------------
    def send(self) -> None:
        """Publish the event to its destination, from the publisher's account."""
        srv = self.server
        if srv.system_account is None:
            return  # the reference sends it through the system account's send queue
        srv.trace_seq += 1
        ident = srv.identity()
        info: dict[str, Any] = {"name": srv.server_name, "host": ident["host"], "id": srv.server_id}
        info["ver"] = REFERENCE_VERSION
        info["feature_flags"] = _FEATURE_FLAGS
        js = bool(srv.info().get("jetstream"))
        info["jetstream"] = js
        info["flags"] = 7 if js else 0  # JetStreamEnabled | BinaryStreamSnapshot | AccountNRG
        info["seq"] = srv.trace_seq
        info["time"] = _now()
        request: dict[str, Any] = {}
        if self.header:
            request["header"] = dict(sorted(self.header.items()))  # Go writes a map sorted
        if self.size:
            request["msgsize"] = self.size
        event = {"server": info, "request": request, "events": self.events}
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        hdr = -1
        if self.encoding:
            body, name = _compress(body, self.encoding)
            block = _HDR_LINE + b"Content-Encoding: " + name + b"\r\n\r\n"
            hdr, body = len(block), block + body
        prev, srv.msg_trace = srv.msg_trace, None
        try:
            srv.deliver(self.account.client, self.dest.encode(), None, hdr, b"%d" % len(body), body)
        finally:
            srv.msg_trace = prev


def _s(b: bytes) -> str:
    return b.decode("utf-8", "replace")


# -- recognising a traced publish ----------------------------------------------------------


def candidate(c: Client, hdr: int, msg: bytes) -> bool:
    """A cheap test on a publish with headers: might it ask for tracing?"""
    if msg.find(TRACE_DEST, 0, hdr) >= 0:
        return True
    return bool(c.account.trace_dest) and b"traceparent" in msg[:hdr].lower()


def header_map(head: bytes) -> tuple[dict[str, list[str]] | None, bool]:
    """The headers (names as written) when they ask for tracing, else None; and whether
    only a sampled ``traceparent`` asks (the account then decides)."""
    if not head.startswith(_HDR_LINE):
        return None, False
    keys: list[bytes] = []
    vals: list[bytes] = []
    dest_found = parent_found = False
    i = len(_HDR_LINE)
    n = len(head)
    while i < n:
        colon = head.find(b":", i)
        if colon < 0:
            break
        key = head[i:colon]
        i = colon + 1
        while i < n and head[i] in (32, 9):
            i += 1
        nl = head.find(b"\r\n", i)
        if nl < 0:
            break
        end = nl
        while end > i and head[end - 1] in (32, 9):
            end -= 1
        val = head[i:end]
        if key and val:
            vals.append(val)
            if not parent_found and key.lower() == b"traceparent":
                parts = val.split(b"-")
                if len(parts) == 4 and len(parts[3]) == 2:
                    try:
                        flags = int(parts[3], 16)
                    except ValueError:
                        flags = 0
                    if flags & 1 and flags < 128:  # Go parses it as an int8
                        parent_found = True
            elif not dest_found and key == TRACE_DEST:
                if val == TRACE_DISABLED:
                    return None, False
                dest_found = True
            keys.append(key)
        i = nl + 2
    if not dest_found and not parent_found:
        return None, False
    m: dict[str, list[str]] = {}
    for k, v in zip(keys, vals, strict=True):
        m.setdefault(_s(k), []).append(_s(v))
    return m, not dest_found and parent_found


def set_header(hdr: int, msg: bytes, name: bytes, value: bytes) -> tuple[int, bytes]:
    """The header set (any earlier one removed, the new one last), as the reference's
    client setHeader."""
    from pynatsd.server.imports import with_header

    return with_header(hdr, msg, name, value)


# -- the traced publish --------------------------------------------------------------------


def publish(
    c: Client, subject: bytes, reply: bytes | None, hdr: int, size: bytes, msg: bytes
) -> tuple[int, bytes, bytes] | None:
    """A client publish whose headers may ask for tracing. None when handled here (traced,
    or dropped as the reference drops it); else the (possibly rewritten) message for the
    ordinary path: ``(hdr, size, msg)``."""
    t = begin(c, subject, msg[:hdr], len(msg))
    if t is _PLAIN:
        return hdr, size, msg
    if t is _DROP:
        return None
    if t is _DISABLE:
        return _disabled(hdr, msg)
    assert isinstance(t, MsgTrace)
    srv = c.server
    prev, srv.msg_trace = srv.msg_trace, t
    try:
        _traced_pub(c, t, subject, reply, hdr, size, msg)
    finally:
        srv.msg_trace = prev
    t.send()
    return None


def max_payload_event(c: Client, subject: bytes, head: bytes, size: int) -> None:
    """A publish refused for its size: when the part of its headers already read asks for
    tracing, the event has the ingress error alone (the connection is then closed)."""
    t = begin(c, subject, head, size)
    if isinstance(t, MsgTrace):
        t.ingress_error("maximum payload exceeded")
        t.send()


_PLAIN, _DROP, _DISABLE = "plain", "drop", "disable"


def begin(c: Client, subject: bytes, head: bytes, size: int) -> MsgTrace | str:
    """The trace a publish asks for (the reference's initMsgTrace), or what to do instead:
    go on untraced (``_PLAIN``), drop the message (``_DROP``, a trace-only message that
    cannot be traced, or a destination the publisher may not publish to), or deliver it
    with its ``Nats-Trace-Dest`` set to ``trace disabled`` (``_DISABLE``)."""
    headers, external = header_map(head)
    if headers is None:
        return _PLAIN
    only = False
    dest = ""
    if not external:
        to = headers.get(TRACE_ONLY)
        only = to is not None and to[0].lower() in ("1", "true", "on")
        dest = headers[TRACE_DEST.decode()][0]
    origin = headers.get(ORIGIN_ACCOUNT)
    if origin is not None:
        _log(
            c,
            f"Message tracing disabled because of header {go_quote(ORIGIN_ACCOUNT)} "
            f"with value={go_quote(origin[0])}",
        )
        return _DROP if only else _DISABLE
    acc = c.account
    if external:
        dest = acc.trace_dest
        if not dest:
            return _PLAIN
        if not _sample(acc.trace_sampling):
            return _DISABLE
    if not is_valid_literal_subject(dest):
        _log(c, f"Destination {go_quote(dest)} is not valid, won't be able to trace events")
        return _DROP if only else _PLAIN
    if not _may_publish(c, dest):
        c.send_err(publish_violation(dest))
        _log(c, f"Publish Violation - Subject {go_quote(dest)}")
        return _DROP
    ingress: dict[str, Any] = {"type": "in", "ts": _now(), "kind": _CLIENT, "cid": c.cid}
    if c.name:
        ingress["name"] = c.name
    ingress["acc"] = acc.name
    ingress["subj"] = _s(subject)
    return MsgTrace(c.server, acc, dest, only, headers, size, ingress)


def _disabled(hdr: int, msg: bytes) -> tuple[int, bytes, bytes]:
    hdr, msg = set_header(hdr, msg, TRACE_DEST, TRACE_DISABLED)
    return hdr, b"%d" % len(msg), msg


def _sample(sampling: int) -> bool:
    if sampling <= 0 or sampling >= 100:
        return True
    return random.randrange(100) <= sampling


def _may_publish(c: Client, dest: str) -> bool:
    if dest.startswith("$GNR."):
        return False
    if dest.startswith("$NRG.") and c.account is not c.server.system_account:
        return False
    perms = c.perms
    return perms is None or perms.can_publish(dest)


def _log(c: Client, text: str) -> None:
    c.server.log.error("%s - cid:%d - %s", c.host, c.cid, text)


def _traced_pub(
    c: Client, t: MsgTrace, subject: bytes, reply: bytes | None, hdr: int, size: bytes, msg: bytes
) -> None:
    """:meth:`Client.on_pub`'s checks and routing, recording what happens."""
    srv = c.server
    if c.pedantic and not is_valid_literal_subject(_s(subject)):
        c.send_err(E.ERR_INVALID_PUB_SUBJECT)
    mappings = c.account.mappings
    if mappings is not None:
        mapped = mappings.map_bytes(subject)
        if mapped is not None:
            c._mapped(subject, mapped)
            t.mapped(mapped)
            if not mapped or mapped[:1] == b"." or mapped[-1:] == b"." or b".." in mapped:
                if c.verbose:
                    c.queue(OK)
                if reply and c.no_responders:
                    c.send_no_responders(mapped, reply)
                return
            subject = mapped
    perms = c.perms
    if perms is not None and not perms.can_publish(_s(subject)):
        text = publish_violation(subject.decode("utf-8", "surrogateescape"))
        t.ingress_error(text)
        _log(c, f"Publish Violation - Subject {go_quote(_s(subject))}")
        c.send_err(text)
        return
    if reply is not None and reply.startswith(RESERVED_REPLY_PREFIXES_B) and is_reserved_reply(reply):
        text = reply_violation(reply.decode("utf-8", "surrogateescape"))
        t.ingress_error(text)
        c.send_err(text)
        return
    if c.verbose:
        c.queue(OK)
    if not deliver(srv, t, c, subject, reply, hdr, size, msg) and reply and c.no_responders:
        c.send_no_responders(subject, reply)


def deliver(
    srv: NatsServer,
    t: MsgTrace,
    pub: Client,
    subject: bytes,
    reply: bytes | None,
    hdr: int,
    size: bytes,
    msg: bytes,
    export: tuple[str, bool, Callable[[str], str]] | None = None,
) -> bool:
    """``NatsServer.deliver`` for a traced message: each receiver gets an egress event (a
    trace-only message is not written); in-process receivers (imports, streams) are called
    as usual and record their own events. ``export``: the message crossed a stream export
    into this account (its name, and whether the import allows tracing): each receiver is
    preceded by an ``se`` event and, without ``allow_trace``, gets the message untraced
    (or, when it is only traced, not at all)."""
    from pynatsd.server.client import pick_member

    r = pub.account.sublist.match(subject)
    if not r.any:
        return False
    targets = r.psubs
    if r.qsubs:
        picked = [pick_member(members, pub, subject) for members in r.qsubs]
        targets = targets + tuple(m for m in picked if m is not None)
    delivered = False
    tail = tail_plain = b""
    n = len(msg)
    for sub in targets:
        traced = True
        seen_as = ""
        if export is not None:
            seen_as = export[2](sub.subject)
            t.stream_export(export[0], subject)
            if not export[1]:
                if t.only:
                    delivered = True
                    continue
                traced = False
        c = sub.client
        if sub.closed:
            if traced and sub.cb is None:
                t.egress(sub, ERR_SUB_CLOSED, seen_as)
            continue
        if c is pub and not pub.echo:
            if traced and sub.cb is None:
                t.egress(sub, ERR_NO_ECHO, seen_as)
            continue
        if c.perms is not None and not c.perms.can_receive(_s(subject), sub.queue):
            if traced:
                t.egress(sub, ERR_SUB_DENY, seen_as)
            continue
        cb = sub.cb
        if cb is not None:
            if traced and sub in srv.system_services:
                # a service import from the system account without allow_trace
                sysacc = srv.system_account.name if srv.system_account is not None else "$SYS"
                t.service_import(sysacc, subject, subject)
                if t.only:
                    continue
                traced = False
                h, m = set_header(hdr, msg, TRACE_DEST, TRACE_DISABLED)
            else:
                h, m = hdr, msg
            if not (traced and t.only):  # a trace-only message does not count (auto-unsubscribe)
                sub.delivered += 1
            if traced:
                ok = cb(sub, pub, subject, reply, h, m)
            else:
                srv.msg_trace = None
                try:
                    ok = cb(sub, pub, subject, reply, h, m)
                finally:
                    srv.msg_trace = t
            if ok is not False:
                delivered = True
            continue
        if traced and t.only:
            t.egress(sub, "", seen_as)
            delivered = True
            continue
        if not tail:
            tail, tail_plain = msg_tails(reply, hdr, size, msg)
        head = b"MSG " + subject + b" " + sub.sid_b
        c.queue(b"H" + head + tail if hdr >= 0 and c.headers else head + tail_plain)
        if c.stalled and c is not pub:
            pub.stall(c)
        c.out_msgs += 1
        c.out_bytes += n
        sub.delivered += 1
        if traced:
            t.egress(sub, "", seen_as)
        delivered = True
        if sub.max_msgs or c.perms is not None:
            srv._after_delivery(sub, reply)
    return delivered


# -- imports -------------------------------------------------------------------------------


def stream_import(
    srv: NatsServer,
    t: MsgTrace,
    importer: Account,
    imp: ImportConfig,
    local: bytes,
    reply: bytes | None,
    hdr: int,
    msg: bytes,
) -> bool:
    """A traced message crossing a stream export into ``importer`` (on ``local``). Egress
    events name each subscription as the exporting account sees it (the reference's shadow
    subscription): its subject mapped back through the import, or the imported subject
    when the subscription is wider than the import."""
    pattern = imp.prefix.rstrip(".") + "." + imp.subject if imp.prefix else imp.to or imp.subject

    def seen_as(subject: str) -> str:
        if not subset_of(subject, pattern):
            return imp.subject
        return _map_back(subject, pattern, imp.subject)

    size = b"%d" % len(msg)
    return deliver(
        srv, t, importer.client, local, reply, hdr, size, msg, (importer.name, imp.allow_trace, seen_as)
    )


def _map_back(subject: str, local: str, source: str) -> str:
    """``subject`` (within ``local``) as the matching subject of ``source``: the wildcard
    tokens of ``local`` carried, in order, into those of ``source``."""
    tokens = subject.split(".")
    captured: list[str] = []
    for i, tok in enumerate(local.split(".")):
        if tok == "*":
            captured.append(tokens[i])
        elif tok == ">":
            captured.append(".".join(tokens[i:]))
    out: list[str] = []
    for tok in source.split("."):
        if tok in ("*", ">") and captured:
            out.append(captured.pop(0))
        else:
            out.append(tok)
    return ".".join(out)


def service_request(
    srv: NatsServer,
    importer: Account,
    exporter: Account,
    export: ExportConfig | None,
    frm: bytes,
    to: bytes,
    reply: bytes | None,
    hdr: int,
    msg: bytes,
    lat: latency.Tracked | None = None,
) -> bool:
    """A traced request crossing a service import into ``exporter`` (on ``to``): the ``si``
    event. Without the export's ``allow_trace`` the request goes on untraced, its trace
    destination disabled (or, when only traced, nowhere). With it, the trace destination
    the service sees is a reply subject of the exporter's mapped back to the real one, as
    the reference (which needs it across servers) shows it."""
    from pynatsd.server.imports import responses_of, route_request

    t = srv.msg_trace
    assert t is not None
    t.service_import(exporter.name, frm, to)
    if export is None or not export.allow_trace:
        if t.only:
            return False
        hdr, msg = set_header(hdr, msg, TRACE_DEST, TRACE_DISABLED)
        srv.msg_trace = None
        try:
            return route_request(srv, importer, exporter, export, to, reply, hdr, msg, lat)
        finally:
            srv.msg_trace = t
    responses = responses_of(srv, exporter)
    stand_in = responses.track(importer, t.dest.encode(), export)
    hdr, msg = set_header(hdr, msg, TRACE_DEST, stand_in)
    pending = set(responses.pending) if t.only and reply is not None else None
    try:
        return route_request(srv, importer, exporter, export, to, reply, hdr, msg, lat)
    finally:
        responses.drop(stand_in)
        if pending is not None:  # nobody will answer a request that was only traced
            for subject in set(responses.pending) - pending:
                responses.drop(subject)


def _encoding(accept: str) -> str:
    if not accept:
        return ""
    low = accept.lower()
    if "snappy" in low or "s2" in low:
        return "snappy"
    if "gzip" in low:
        return "gzip"
    return "identity"


def _compress(body: bytes, encoding: str) -> tuple[bytes, bytes]:
    if encoding == "gzip":
        return gzip.compress(body), b"gzip"
    if encoding == "snappy":
        import cramjam  # the framed format, as the reference's S2 writer in Snappy mode

        return bytes(cramjam.snappy.compress(body)), b"snappy"
    return body, b"identity"
