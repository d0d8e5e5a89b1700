"""Service latency tracking: what a service export's ``latency`` setting makes the server do.

For a sampled request through a service import, the server notes when it passed the request
on; when the service answers it publishes a ``ServiceLatency`` JSON (the reference's
``io.nats.server.metric.v1.service_latency``) on the results subject in the **exporting**
account, with the requestor (details only when the import shares them), the responder and
the service, system and total latencies. A request that cannot be measured gets a result
with the reference's error status instead: 400 (no reply subject), 503 (nobody to serve it),
504 (no answer within the response threshold), 408 (the requestor's interest in its reply
went away before the answer).

Sampling is a percentage, or (``headers``) the tracing headers the reference recognises:
Uber-Trace-Id, X-B3-*, B3 and Traceparent; the headers that decided it go into the result.

:mod:`pynatsd.server.imports` calls this module only for exports that track latency, so a
service without it pays one ``is None`` test per request.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pynatsd.gocompat import format_time, marshal_json

if TYPE_CHECKING:
    import asyncio

    from pynatsd.options import ServiceLatency
    from pynatsd.server.account import Account
    from pynatsd.server.client import Client
    from pynatsd.server.server import NatsServer

Header = dict[str, list[str]]
InfoOf = Callable[["Client", bool], bytes]

TYPE = "io.nats.server.metric.v1.service_latency"
_WATCH = 0.25  # seconds between checks that a tracked requestor still listens for its answer
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# the reference's statuses for a request it could not measure
BAD_REQUEST = (400, "Bad Request")
INTEREST_LOST = (408, "Request Timeout")
NO_DELIVERY = (503, "Service Unavailable")
TIMEOUT = (504, "Service Timeout")


class _EventIds:
    """22-character unique ids (a random prefix and a counter, in base 62), like a NUID."""

    def __init__(self) -> None:
        self._prefix = "".join(secrets.choice(_B62) for _ in range(12))
        self._n = random.randrange(62**10)

    def next(self) -> str:
        self._n = (self._n + 1) % 62**10
        n, out = self._n, []
        for _ in range(10):
            n, d = divmod(n, 62)
            out.append(_B62[d])
        return self._prefix + "".join(reversed(out))


_ids = _EventIds()


class Tracker:
    """The latency tracking of one service export, as one import of it sees it."""

    __slots__ = ("exporter", "info_of", "sampling", "server", "subject")

    def __init__(self, server: NatsServer, exporter: Account, cfg: ServiceLatency, info_of: InfoOf) -> None:
        self.server = server
        self.exporter = exporter
        self.subject = cfg.subject.encode()
        self.sampling = cfg.sampling
        self.info_of = info_of  # imports.client_info: the ClientInfo JSON of a client

    def sample(self, hdr: int, msg: bytes) -> tuple[bool, Header | None]:
        """Whether to measure this request, and the tracing headers that decided it (the
        reference's shouldSample: the percentage first, then the headers)."""
        sampling = self.sampling
        if sampling >= 100:
            return True, None
        if sampling > 0 and random.randrange(100) <= sampling:
            return True, None
        if hdr <= 0:
            return False, None
        h = parse_header(msg[:hdr])
        if not h:
            return False, None
        return sample_by_header(h)

    def start(
        self, requestor: Client, share: bool, hdr: int, msg: bytes, importer: Account, reply: bytes | None
    ) -> Tracked | None:
        """A request through the import: its measurement when sampled (None otherwise, and
        for a sampled request without a reply subject, which gets its 400 right away)."""
        sampled, header = self.sample(hdr, msg)
        if not sampled:
            return None
        if reply is None:
            self.bad_request(requestor, share, header)
            return None
        return Tracked(self, requestor, share, header, importer, reply)

    def bad_request(self, requestor: Client, share: bool, header: Header | None) -> None:
        """A sampled request without a reply subject: nothing to measure (400)."""
        rtt = _ns(requestor.rtt)
        self._publish(
            BAD_REQUEST, self.info_of(requestor, share), None, header, time.time_ns() - rtt, 0, 0, 0
        )

    def _publish(
        self,
        status: tuple[int, str],
        requestor: bytes | None,
        responder: bytes | None,
        header: Header | None,
        start: int,
        service: int,
        system: int,
        total: int,
    ) -> None:
        code, description = status
        parts = [
            b'{"type":"' + TYPE.encode() + b'","id":"' + _ids.next().encode() + b'","timestamp":"',
            format_time(time.time_ns()).encode(),
            b'","status":%d' % code,
        ]
        if code != 200:
            parts.append(b',"description":' + marshal_json(description))
        if requestor is not None:
            parts.append(b',"requestor":' + requestor)
        if responder is not None:
            parts.append(b',"responder":' + responder)
        if header:
            parts.append(b',"header":' + marshal_json(dict(sorted(header.items()))))
        parts.append(
            b',"start":"%s","service":%d,"system":%d,"total":%d}'
            % (format_time(start).encode(), max(service, 0), max(system, 0), total)
        )
        payload = b"".join(parts)
        ex = self.exporter
        self.server.deliver(ex.client, self.subject, None, -1, b"%d" % len(payload), payload)


class Tracked:
    """A sampled request on its way: who asked, when, and what decided to measure it."""

    __slots__ = ("header", "importer", "reply", "requestor", "share", "tracker", "ts")

    def __init__(
        self,
        tracker: Tracker,
        requestor: Client,
        share: bool,
        header: Header | None,
        importer: Account,
        reply: bytes,
    ) -> None:
        self.tracker = tracker
        self.requestor = requestor
        self.share = share
        self.header = header
        self.importer = importer
        self.reply = reply
        self.ts = time.time_ns()

    def answered(self, responder: Client) -> None:
        """The service answered: the measurement (200), before the answer goes on."""
        now = time.time_ns()
        t = self.tracker
        requestor = t.info_of(self.requestor, self.share)
        responder_info = t.info_of(responder, True)
        req_rtt, resp_rtt = _ns(self.requestor.rtt), _ns(responder.rtt)
        service_rtt = now - self.ts
        total = req_rtt + service_rtt
        system = 0
        if resp_rtt > 0:
            system = time.time_ns() - now
            total += system
        t._publish(
            (200, ""),
            requestor,
            responder_info,
            self.header,
            self.ts - req_rtt,
            service_rtt - resp_rtt,
            system,
            total,
        )

    def failed(self, status: tuple[int, str]) -> None:
        """The request was never answered (503, 504 or 408)."""
        t = self.tracker
        t._publish(
            status,
            t.info_of(self.requestor, self.share),
            None,
            self.header,
            self.ts - _ns(self.requestor.rtt),
            0,
            0,
            0,
        )

    def listening(self) -> bool:
        """Whether the requestor's account still has interest in the reply subject."""
        acc = self.importer
        r = acc.cache.get(self.reply)
        if r is None:
            r = acc.sublist.match(self.reply)
        return any(not s.closed for s in r.psubs) or any(not s.closed for g in r.qsubs for s in g)


class InterestWatch:
    """Tracked requests whose requestor listened for the answer when it asked: when that
    interest goes away (unsubscribe, disconnect) before the answer, ``lost`` is called with
    the request's reply subject of the exporter (the reference reports 408 then)."""

    def __init__(self, server: NatsServer, lost: Callable[[bytes], None]) -> None:
        self._server = server
        self._lost = lost
        self._tracked: dict[bytes, Tracked] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, subject: bytes, t: Tracked) -> None:
        if not t.listening():
            return  # nobody listened to begin with: the reference never sees interest go
        self._tracked[subject] = t
        if self._timer is None:
            self._timer = self._server.loop.call_later(_WATCH, self._check)

    def discard(self, subject: bytes) -> None:
        self._tracked.pop(subject, None)

    def _check(self) -> None:
        self._timer = None
        gone = [s for s, t in self._tracked.items() if not t.listening()]
        for s in gone:
            del self._tracked[s]
            self._lost(s)
        if self._tracked:
            self._timer = self._server.loop.call_later(_WATCH, self._check)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._tracked.clear()


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


# -- tracing headers ------------------------------------------------------------------


_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def canonical_key(key: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey: ``x-b3-traceid`` -> ``X-B3-Traceid``."""
    raw = key.encode()
    if not raw or any(b not in _TOKEN for b in raw):
        return key
    out, upper = [], True
    for ch in key:
        out.append(ch.upper() if upper else ch.lower())
        upper = ch == "-"
    return "".join(out)


def parse_header(block: bytes) -> Header | None:
    """A message's header block as Go's textproto reads it (keys canonical, values trimmed);
    None when it is malformed."""
    lines = block.split(b"\r\n")
    h: Header = {}
    for raw in lines[1:]:
        if not raw:
            break
        key_b, sep, value_b = raw.partition(b":")
        if not sep or not key_b or any(b not in _TOKEN for b in key_b):
            return None  # Go: "malformed MIME header line", and no header at all
        h.setdefault(canonical_key(key_b.decode()), []).append(
            value_b.decode("utf-8", "replace").strip(" \t")
        )
    return h


_UBER = "Uber-Trace-Id"
_UBER_CTX = "Uberctx-"
_B3 = "B3"
_B3_SAMPLED = "X-B3-Sampled"
_B3_TRACE = "X-B3-Traceid"
_B3_PARENT = "X-B3-Parentspanid"
_B3_SPAN = "X-B3-Spanid"
_CTX = "Traceparent"
_CTX_STATE = "Tracestate"


def sample_by_header(h: Header) -> tuple[bool, Header | None]:
    """The reference's header sampling: the first tracing header present decides."""
    uber = h.get(_UBER)
    if uber:
        tk = uber[0].split(":")
        last = tk[3][-1:] if len(tk) == 4 and 1 <= len(tk[3].encode()) <= 2 else ""
        # sic: the reference decodes only the flags' last hex digit
        if last and last in _HEX and int(last, 16) & 1:
            return True, {_UBER: uber, **{k: v for k, v in h.items() if k.startswith(_UBER_CTX)}}
        return False, None
    sampled = h.get(_B3_SAMPLED)
    if sampled and sampled[0] == "1":
        return True, _b3(h)
    if sampled and sampled[0] == "0":
        return False, None
    if _B3_TRACE in h:
        return True, _b3(h)  # present, not denied: sampling left to the recipient
    b3 = h.get(_B3)
    if b3:
        tk = b3[0].split("-")
        if (len(tk) > 2 and tk[2] == "0") or (len(tk) == 1 and tk[0] == "0"):
            return False, None
        return True, {_B3: b3}
    ctx = h.get(_CTX)
    if ctx:
        tk = ctx[0].split("-")
        flags = _int8_hex(tk[3]) if len(tk) == 4 and len(tk[3].encode()) == 2 else None
        if flags is not None and flags & 1:
            out = {_CTX: ctx}
            if _CTX_STATE in h:
                out[_CTX_STATE] = h[_CTX_STATE]
            return True, out
        return False, None
    return False, None


_HEX = "0123456789abcdefABCDEF"


def _int8_hex(s: str) -> int | None:
    """Go's strconv.ParseInt(s, 16, 8): a signed hex byte, or None."""
    digits = s[1:] if s[:1] in ("+", "-") else s
    if not digits or any(c not in _HEX for c in digits):
        return None
    v = int(s, 16)
    return v if -128 <= v <= 127 else None


def _b3(h: Header) -> Header:
    return {k: h[k] for k in (_B3_SAMPLED, _B3_TRACE, _B3_PARENT, _B3_SPAN) if k in h}
