"""One client connection: an ``asyncio.Protocol`` driving the sans-IO parser.

No task and no await per message: bytes arrive in ``data_received``, the parser calls
back into this object, routing appends frames to the receivers' output buffers, and the
server flushes every touched connection once per loop turn.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from pynatsd.auth import (
    RESERVED_REPLY_PREFIXES_B,
    SYSTEM_QUEUE_GROUP,
    AuthResult,
    ClientPermissions,
    is_reserved_reply,
    publish_violation,
    reply_violation,
    subscribe_violation,
)
from pynatsd.gocompat import format_duration, go_quote
from pynatsd.protocol import errors as E
from pynatsd.protocol.frames import OK, PING, PONG, err_line, msg_frame
from pynatsd.protocol.nkeys import new_nonce
from pynatsd.protocol.parser import Parser
from pynatsd.protocol.subjects import is_valid_literal_subject
from pynatsd.server import msgtrace
from pynatsd.server.closed import sub_records
from pynatsd.tls import go_cipher_name, peer_cert_facts

if TYPE_CHECKING:
    from pynatsd.auth.operator import JwtGrant
    from pynatsd.server.account import Account
    from pynatsd.server.server import NatsServer
    from pynatsd.tls import CertIdentity

STALL_MAX = 1.0  # seconds a fast producer is paused at most per stall


# An in-process subscriber's handler: (subscription, publisher, subject, reply, hdr, msg).
# It may return False to say it passed the message on to nobody (an import without interest).
MsgCallback = Callable[["Subscription", "Client", bytes, "bytes | None", int, bytes], "bool | None"]


class Subscription:
    """A client's interest in a subject; ``max_msgs`` > 0 arms auto-unsubscribe.

    ``cb`` is set for in-process subscribers (layers above the core, through
    ``Internal.subscribe``): routing calls it instead of writing a MSG frame.
    """

    __slots__ = ("cb", "client", "closed", "delivered", "max_msgs", "queue", "si", "sid", "sid_b", "subject")

    def __init__(
        self, client: Client, subject: str, queue: str | None, sid: bytes, cb: MsgCallback | None = None
    ) -> None:
        self.cb = cb
        self.client = client
        self.subject = subject
        self.queue = queue
        self.sid = sid.decode("utf-8", "replace")
        self.sid_b = sid
        self.max_msgs = 0
        self.delivered = 0
        self.closed = False
        self.si = False  # a service import's: local, never announced to other servers


class Client(asyncio.Protocol):
    """Server side of one client connection."""

    def __init__(self, server: NatsServer) -> None:
        self.server = server
        self.cid = server.next_cid()
        # The account whose subject space this client lives in ($G until a login says
        # otherwise) and its match cache, read on every publish.
        self.account: Account = server.global_account
        self.cache = server.global_account.cache
        self.max_subs = server.opts.max_subscriptions
        self.transport: asyncio.Transport | None = None
        self.parser = Parser(self, server.opts.max_payload, server.opts.max_control_line)
        self.parser.headers_allowed = False  # until CONNECT asks for headers
        self.out = bytearray()
        self.flagged = False
        self.closed = False
        self.subs: dict[bytes, Subscription] = {}
        self._isid = 0  # sids for in-process subscriptions owned by this client
        # CONNECT options, with the reference's defaults for a bare "CONNECT {}".
        self.verbose = True
        self.pedantic = True
        self.echo = True
        self.headers = False
        self.no_responders = False
        self.name = ""
        self.lang = ""
        self.version = ""
        self.user = ""
        self.protocol = 0  # 1: takes INFO updates (connect_urls)
        self.connect_opts: dict[str, Any] = {}
        # Sent in INFO when NKey users exist (also by the TLS listener, before the
        # handshake); CONNECT's sig signs it.
        self.nonce = new_nonce() if server.auth.nonce_required else b""
        self.pub_checks = True  # pedantic, verbose, permissions or mappings: the slow publish path
        self.connect_received = False
        self.perms: ClientPermissions | None = None
        # Operator mode: what the user JWT granted (limits, expiry); None otherwise.
        self.grant: JwtGrant | None = None
        self._expire_handle: asyncio.TimerHandle | None = None
        # Set by the TLS listener (server/tls_listener.py) before connection_made.
        self.info_sent = False  # INFO went out in plaintext before the handshake
        self.tls_first = False  # the handshake came before INFO (handshake_first)
        self.cert: CertIdentity | None = None  # the client certificate, for verify_and_map
        self.host = ""
        self.port = 0
        self.start = time.time()
        self.last_activity = self.start
        self.in_msgs = 0
        self.in_bytes = 0
        self.out_msgs = 0
        self.out_bytes = 0
        self.pings_out = 0
        self.rtt = 0.0
        self._ping_sent_at = 0.0
        self._ping_handle: asyncio.TimerHandle | None = None
        self._auth_handle: asyncio.TimerHandle | None = None
        self._deadline_handle: asyncio.TimerHandle | None = None
        self.close_reason = ""
        self.registered = False  # counted in the server's registry (and so in /connz)
        self.stalls = 0  # times this publisher was paused for a slow receiver
        self.stalled = False  # our transport is above its high-water mark
        self._stalled_producers: set[Client] | None = None
        self._reading_paused = False
        self._stall_handle: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports are duck-typed
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if peer:
            self.host, self.port = peer[0], peer[1]
        srv = self.server
        opts = srv.opts
        transport.set_write_buffer_limits(high=min(opts.max_pending, 4 * 1024 * 1024))
        if not self.info_sent:
            self.transport.write(srv.info_line(self))
        if not srv.register(self):
            self.send_err(E.ERR_MAX_CONNECTIONS)
            self.close("Maximum Connections Exceeded")
            return
        loop = srv.loop
        auth = srv.auth
        if auth.has_no_auth_user:
            # Until CONNECT says otherwise, the connection acts as the no_auth_user.
            result = auth.authenticate({})
            if result is not None and result.account and not srv.bind_account(self, result.account):
                return
            if result is not None and result.permissions is not None:
                self.perms = ClientPermissions(result.permissions)
                self.pub_checks = True
        elif auth.auth_required:
            self.parser.auth_pending = True
        if auth.auth_required:
            self._auth_handle = loop.call_later(srv.auth_timeout(), self._auth_timeout)
        if opts.ping_interval > 0:
            self._ping_handle = loop.call_later(opts.ping_interval, self._ping_timer)

    def data_received(self, data: bytes) -> None:
        self.last_activity = self.server.now
        try:
            self.parser.feed(data)
        except Exception:  # never let a bug in one connection reach the loop
            self.server.log.exception("Error processing data from client %d", self.cid)
            self.close("Internal Error")

    def eof_received(self) -> bool | None:
        self.close("Client Closed")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.close("Client Closed" if exc is None else "Read Error")
        self._teardown()

    def pause_writing(self) -> None:
        self.stalled = True
        deadline = self.server.opts.write_deadline
        if deadline > 0 and self._deadline_handle is None:
            self._deadline_handle = self.server.loop.call_later(deadline, self._write_deadline_expired)

    def resume_writing(self) -> None:
        self.stalled = False
        if self._deadline_handle is not None:
            self._deadline_handle.cancel()
            self._deadline_handle = None
        self._release_producers()

    # -- fast producer stall ---------------------------------------------------------
    # A publisher feeding a receiver whose socket is backed up stops being read until
    # that receiver drains (or STALL_MAX passes): TCP then slows the publisher down, as
    # the reference stalls fast producers, instead of the receiver's buffer growing
    # until it is cut as a slow consumer.
    def stall(self, consumer: Client) -> None:
        waiters = consumer._stalled_producers
        if waiters is None:
            waiters = consumer._stalled_producers = set()
        waiters.add(self)
        if self._reading_paused or self.closed or self.transport is None:
            return
        self.stalls += 1
        self.server.stalls += 1
        self._reading_paused = True
        self.transport.pause_reading()
        self._stall_handle = self.server.loop.call_later(STALL_MAX, self.unstall)

    def unstall(self) -> None:
        if self._stall_handle is not None:
            self._stall_handle.cancel()
            self._stall_handle = None
        if self._reading_paused:
            self._reading_paused = False
            if not self.closed and self.transport is not None:
                self.transport.resume_reading()

    def _release_producers(self) -> None:
        waiters = self._stalled_producers
        if waiters:
            self._stalled_producers = None
            for producer in waiters:
                producer.unstall()

    # -- output ---------------------------------------------------------------------
    def queue(self, data: bytes) -> None:
        """Append to the output buffer and make sure a flush is scheduled."""
        self.out += data
        if not self.flagged:
            self.flagged = True
            self.server.dirty(self)

    def flush(self) -> None:
        """Write what is buffered: called by the server once per loop turn."""
        self.flagged = False
        t = self.transport
        if self.closed or t is None or not self.out:
            self.out = bytearray()
            return
        # Hand the buffer over: the transport may keep a view of it until written.
        data, self.out = self.out, bytearray()
        t.write(data)
        if t.get_write_buffer_size() > self.server.opts.max_pending:
            self.server.log.notice(
                "%s - cid:%d - Slow Consumer Detected: MaxPending of %d Exceeded",
                self.host,
                self.cid,
                self.server.opts.max_pending,
            )
            self.server.slow_consumers += 1
            self.account.slow_consumers += 1
            self.close("Slow Consumer (Pending Bytes)", flush=False)

    def send_err(self, text: str) -> None:
        self.queue(err_line(text))

    def close(self, reason: str, flush: bool = True) -> None:
        """Close the connection; buffered output is written first unless ``flush`` is False."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self.parser.dead = True
        t = self.transport
        if t is not None:
            if flush and self.out:
                t.write(self.out)
            self.out = bytearray()
            if flush:
                t.close()
            else:
                t.abort()
        self._teardown()

    def _teardown(self) -> None:
        for h in (self._ping_handle, self._auth_handle, self._deadline_handle, self._stall_handle):
            if h is not None:
                h.cancel()
        if self._expire_handle is not None:
            self._expire_handle.cancel()
            self._expire_handle = None
        self._ping_handle = self._auth_handle = self._deadline_handle = self._stall_handle = None
        self._release_producers()
        subs = sub_records(self) if self.subs and self.registered else ()
        if self.subs:
            sl = self.account.sublist
            for sub in self.subs.values():
                sub.closed = True
                sl.remove(sub)
            self.subs.clear()
        self.server.unregister(self, subs)

    # -- timers ---------------------------------------------------------------------
    def _auth_timeout(self) -> None:
        self._auth_handle = None
        if not self.closed and not self.connect_received:
            self.send_err(E.ERR_AUTH_TIMEOUT)
            self.close("Authentication Timeout")

    def _ping_timer(self) -> None:
        self._ping_handle = None
        if self.closed:
            return
        opts = self.server.opts
        if self.pings_out + 1 > opts.ping_max:
            self.server.stale_connections += 1
            self.send_err(E.ERR_STALE_CONNECTION)
            self.close("Stale Connection")
            return
        self.pings_out += 1
        self._ping_sent_at = time.monotonic()
        self.queue(PING)
        self._ping_handle = self.server.loop.call_later(opts.ping_interval, self._ping_timer)

    def _write_deadline_expired(self) -> None:
        self._deadline_handle = None
        if self.closed:
            return
        self.server.log.notice(
            "%s - cid:%d - Slow Consumer Detected: WriteDeadline of %s exceeded",
            self.host,
            self.cid,
            format_duration(round(self.server.opts.write_deadline * 1e9)),
        )
        self.server.slow_consumers += 1
        self.account.slow_consumers += 1
        self.close("Slow Consumer (Write Deadline)", flush=False)

    # -- parser callbacks -----------------------------------------------------------
    def on_connect(self, arg: bytes) -> bool:
        try:
            o = json.loads(arg)
        except ValueError:
            o = None
        if arg.strip() == b"null":
            o = {}
        if not isinstance(o, dict) or not _connect_types_ok(o):
            self.close("Protocol Violation")
            return False
        srv = self.server
        # A first RTT estimate, as the reference makes it (a PONG to our PING refines it).
        self.rtt = max(time.time() - self.start, 1e-9)
        # Fields merge onto the current options, as the reference decodes onto them.
        self.connect_opts = {**self.connect_opts, **o}
        self.verbose = bool(o.get("verbose", self.verbose))
        self.pedantic = bool(o.get("pedantic", self.pedantic))
        self.echo = bool(o.get("echo", self.echo))
        self.headers = bool(o.get("headers", self.headers)) and not srv.opts.no_header_support
        self.no_responders = bool(o.get("no_responders", self.no_responders))
        self.name = str(o.get("name", self.name) or "")
        self.lang = str(o.get("lang", self.lang) or "")
        self.version = str(o.get("version", self.version) or "")
        proto = o.get("protocol", 0)
        self.protocol = proto
        if proto < 0 or proto > 1:
            self.send_err("invalid client protocol")
            self.close("Protocol Violation")
            return False
        if self.no_responders and not self.headers:
            self.send_err("no responders requires headers support")
            self.close("Protocol Violation")
            return False
        auth = srv.auth
        if auth.auth_required or auth.has_no_auth_user:
            # Decided off the parser: bcrypt may run on a worker thread meanwhile.
            self.parser.paused = True
            if self.transport is not None:
                self.transport.pause_reading()
            task = srv.loop.create_task(
                auth.authenticate_async(
                    self.connect_opts, self.nonce, cert=self.cert, host=self.host, log=self._auth_log
                )
            )
            task.add_done_callback(self._connect_authenticated)
            return True
        self._connect_done()
        return True

    def _connect_authenticated(self, task: asyncio.Task[AuthResult | None]) -> None:
        if self.closed:
            return
        result = None if task.cancelled() or task.exception() else task.result()
        if result is None:
            self.auth_violation()
            return
        self.user = result.user or ""
        if result.grant is not None:
            self.grant = result.grant
        if (result.account or self.account is not self.server.global_account) and not self._rebind(
            result.account
        ):
            return
        self.perms = ClientPermissions(result.permissions) if result.permissions else None
        grant = result.grant
        if grant is not None and (grant.expires_in > 0 or grant.account_expires_in > 0):
            # Whichever JWT ends first ends the login: the user's or its account's.
            user_first = grant.expires_in > 0 and not 0 < grant.account_expires_in < grant.expires_in
            delay, text = (
                (grant.expires_in, E.ERR_USER_AUTH_EXPIRED)
                if user_first
                else (grant.account_expires_in, E.ERR_ACCOUNT_AUTH_EXPIRED)
            )
            self._expire_handle = self.server.loop.call_later(delay, self._jwt_expired, text)
        self._connect_done()
        if self.transport is not None:
            self.transport.resume_reading()
        try:
            self.parser.resume()
        except Exception:
            self.server.log.exception("Error processing data from client %d", self.cid)
            self.close("Internal Error")

    def _rebind(self, account: str) -> bool:
        """Bind to the login's account; a connection with subscriptions cannot change accounts."""
        target = self.server.accounts.get(account or "$G")
        if target is not self.account and self.subs:
            self.auth_violation()
            return False
        return self.server.bind_account(self, account)

    def apply_account_limits(self) -> None:
        """Payload and subscription limits: the account's where tighter than the server's."""
        opts = self.server.opts
        acc = self.account
        mpay = opts.max_payload
        if 0 < acc.max_payload < mpay:
            mpay = acc.max_payload
        self.parser.max_payload = mpay
        msubs = opts.max_subscriptions
        if acc.max_subscriptions > 0 and (msubs <= 0 or acc.max_subscriptions < msubs):
            msubs = acc.max_subscriptions
        grant = self.grant
        if grant is not None:  # a user JWT's own limits, where tighter
            if 0 < grant.payload < mpay:
                mpay = grant.payload
                self.parser.max_payload = mpay
            if grant.subs > 0 and (msubs <= 0 or grant.subs < msubs):
                msubs = grant.subs
        self.max_subs = msubs

    def _auth_log(self, level: str, text: str) -> None:
        """Why a user JWT was refused (or accepted), as the reference logs it."""
        log = self.server.log
        (log.error if level == "ERR" else log.debug)(
            "%s:%d - cid:%d - %s", self.host, self.port, self.cid, text
        )

    def _jwt_expired(self, text: str) -> None:
        self._expire_handle = None
        if not self.closed:
            self.server.log.debug("%s:%d - cid:%d - %s", self.host, self.port, self.cid, text)
            self.send_err(text)
            self.close("Authentication Expired")

    def _connect_done(self) -> None:
        self.connect_received = True
        # As the reference: the time CONNECT took is the first estimate of the round trip.
        now = time.time()
        self.last_activity = now
        if not self.rtt:
            self.rtt = max(now - self.start, 1e-9)
        self.refresh_pub_checks()
        self.parser.auth_pending = False
        self.parser.headers_allowed = self.headers
        if self._auth_handle is not None:
            self._auth_handle.cancel()
            self._auth_handle = None
        if self.verbose:
            self.queue(OK)

    def auth_violation(self) -> None:
        self.server.log.error("%s - cid:%d - authentication error%s", self.host, self.cid, self._auth_who())
        self.server.auth_failures += 1
        self.send_err(E.ERR_AUTH_VIOLATION)
        self.close("Authentication Failure")

    def _auth_who(self) -> str:
        """Who tried, for the log line, as the reference names them (NKey first; nobody in
        operator mode)."""
        if self.server.auth.operator is not None:
            return ""
        o = self.connect_opts
        for key, label in (("nkey", "Nkey"), ("user", "User")):
            v = o.get(key)
            if isinstance(v, str) and v:
                return f" - {label} {go_quote(v)}"
        return ' - Token "[REDACTED]"' if o.get("auth_token") else ""

    def on_auth_violation(self) -> None:
        self.auth_violation()

    def on_protocol_error(self, text: str | None) -> None:
        if text is not None:
            self.send_err(text)
        self.close(_CLOSE_REASONS.get(text, "Protocol Violation"))

    def on_ping(self) -> None:
        self.queue(PONG)

    def on_pong(self) -> None:
        self.pings_out = 0
        if self._ping_sent_at:
            self.rtt = time.monotonic() - self._ping_sent_at

    def on_info(self, arg: bytes) -> None:
        """Clients do not send INFO; the reference ignores it from them."""

    def on_err(self, arg: bytes) -> None:
        """A client's -ERR is logged and the connection closed, as the reference does."""
        self.close("Protocol Violation")

    def on_sub(self, subject_b: bytes, queue_b: bytes | None, sid: bytes) -> None:
        srv = self.server
        subject = subject_b.decode("utf-8", "replace")
        queue = queue_b.decode("utf-8", "replace") if queue_b is not None else None
        perms = self.perms
        if (perms is not None and not perms.can_subscribe(subject, queue)) or queue == SYSTEM_QUEUE_GROUP:
            self.server.log.error(
                "%s - cid:%d - Subscription Violation - User %r, Subject %r",
                self.host,
                self.cid,
                self.user,
                subject,
            )
            self.send_err(
                subscribe_violation(
                    subject_b.decode("utf-8", "surrogateescape"),
                    queue_b.decode("utf-8", "surrogateescape") if queue_b is not None else None,
                )
            )
            return
        max_subs = self.max_subs
        if max_subs > 0 and len(self.subs) >= max_subs:
            self.send_err(E.ERR_MAX_SUBSCRIPTIONS)
            return
        if sid not in self.subs:
            sub = Subscription(self, subject, queue, sid)
            if not self.account.sublist.insert(sub):
                self.send_err(E.ERR_INVALID_SUBJECT)
                return
            self.subs[sid] = sub
            if srv.interest_watch:
                srv.interest_added(subject)
        if self.verbose:
            self.queue(OK)

    def on_unsub(self, sid: bytes, max_msgs: int) -> None:
        sub = self.subs.get(sid)
        if self.verbose:
            self.queue(OK)
        if sub is None:
            return
        if max_msgs > 0 and max_msgs > sub.delivered:
            sub.max_msgs = max_msgs
        else:
            self.remove_sub(sub)

    def remove_sub(self, sub: Subscription) -> None:
        if sub.closed:
            return
        sub.closed = True
        self.subs.pop(sub.sid_b, None)
        self.account.sublist.remove(sub)

    def on_pub(self, subject: bytes, reply: bytes | None, hdr: int, size: bytes, msg: bytes) -> None:
        self.in_msgs += 1
        self.in_bytes += len(msg)
        if hdr > 0 and msgtrace.candidate(self, hdr, msg):  # message tracing (server/msgtrace.py)
            plain = msgtrace.publish(self, subject, reply, hdr, size, msg)
            if plain is None:
                return
            hdr, size, msg = plain
        if self.pub_checks:
            checked = self._check_pub(subject)
            if not checked:
                if checked is not None and reply and self.no_responders:
                    self.send_no_responders(checked, reply)  # mapped to no destination
                return
            subject = checked
        # Every request pays one C call; is_reserved_reply decides for the few candidates.
        if reply is not None and reply.startswith(RESERVED_REPLY_PREFIXES_B) and is_reserved_reply(reply):
            # Quoted from the raw bytes: Go writes an invalid UTF-8 byte as \xNN.
            self.send_err(reply_violation(reply.decode("utf-8", "surrogateescape")))
            return
        if not self.server.deliver(self, subject, reply, hdr, size, msg) and reply and self.no_responders:
            self.send_no_responders(subject, reply)

    def on_max_payload(self, subject: bytes, head: bytes, size: int) -> None:
        """An HPUB over the payload limit (the parser closes the connection next): its
        trace event, when the headers read so far ask for one (server/msgtrace.py)."""
        msgtrace.max_payload_event(self, subject, head, size)

    def _mapped(self, subject: bytes, mapped: bytes) -> None:
        """A publish was mapped to another subject (traced by TracingClient)."""

    def refresh_pub_checks(self) -> None:
        """Whether publishes take the slow path (:meth:`_check_pub`)."""
        self.pub_checks = (
            self.pedantic or self.verbose or self.perms is not None or self.account.mappings is not None
        )

    def _check_pub(self, subject: bytes) -> bytes | None:
        """Pedantic subject check, subject mapping, publish permissions (of the mapped subject)
        and verbose +OK, in the reference's order; the subject to route (empty when a mapping
        chose no destination), or None when refused."""
        if self.pedantic and not _valid_pub(subject):
            self.send_err(E.ERR_INVALID_PUB_SUBJECT)
        mappings = self.account.mappings
        if mappings is not None:
            mapped = mappings.map_bytes(subject)
            if mapped is not None:
                self._mapped(subject, mapped)
                if not mapped or mapped[:1] == b"." or mapped[-1:] == b"." or b".." in mapped:
                    # No destination (the weights chose none, or an empty token): delivered to
                    # nobody, as the reference's sublist matches nothing for such a subject.
                    if self.verbose:
                        self.queue(OK)
                    return b""
                subject = mapped
        perms = self.perms
        if perms is not None and not perms.can_publish(subject.decode("utf-8", "replace")):
            s = subject.decode("utf-8", "replace")
            self.server.log.error(
                "%s - cid:%d - Publish Violation - User %r, Subject %r", self.host, self.cid, self.user, s
            )
            self.send_err(publish_violation(subject.decode("utf-8", "surrogateescape")))
            return None
        if self.verbose:
            self.queue(OK)
        return subject

    def send_no_responders(self, subject: bytes, reply: bytes) -> None:
        """Tell a requester nobody listens: a 503 status on its own reply subscription."""
        r = self.account.sublist.match(reply)
        for sub in r.psubs:
            if sub.client is self:
                hdr = b"NATS/1.0 503\r\nNats-Subject: " + subject + b"\r\n\r\n"
                self.queue(msg_frame(reply, sub.sid_b, None, hdr, b""))
                return

    # -- introspection (monitoring) -------------------------------------------------
    def pending_bytes(self) -> int:
        """Output not yet taken by the kernel: our buffer plus the transport's."""
        t = self.transport
        n = len(self.out)
        if t is not None and not self.closed:
            n += t.get_write_buffer_size()
        return n

    def tls_state(self) -> tuple[str, str]:
        """TLS version and cipher suite as the reference names them ("1.3",
        "TLS_AES_128_GCM_SHA256"); empty strings on a plain connection."""
        t = self.transport
        obj = t.get_extra_info("ssl_object") if t is not None else None
        if obj is None:
            return "", ""
        version = str(obj.version() or "").removeprefix("TLSv")
        cipher = obj.cipher()
        return version, go_cipher_name(cipher[0]) if cipher else ""

    def tls_peer_certs(self) -> list[dict[str, str]]:
        """The client certificate's subject and hashes (/connz with auth); [] without one."""
        t = self.transport
        obj = t.get_extra_info("ssl_object") if t is not None else None
        return peer_cert_facts(obj) if obj is not None else []

    def raw_auth_user(self) -> str:
        """Who the connection said it was (NKey, user, or a redacted token), as the
        reference shows it in /connz, also for a login that failed."""
        o = self.connect_opts
        for key in ("nkey", "user"):
            v = o.get(key)
            if isinstance(v, str) and v:
                return v
        if self.user:
            return self.user  # no_auth_user, or a certificate's mapped user
        return "[REDACTED]" if o.get("auth_token") else ""

    def send_rtt_ping(self) -> None:
        """Measure the round trip with a PING, as the reference does when asked for a
        connection's RTT before it knows one (after the client's first PING)."""
        if self.closed or not self.connect_received:
            return
        self.pings_out += 1
        self._ping_sent_at = time.monotonic()
        self.queue(PING)

    def info(self) -> dict[str, Any]:
        return {
            "cid": self.cid,
            "ip": self.host,
            "port": self.port,
            "name": self.name,
            "lang": self.lang,
            "version": self.version,
            "subscriptions": len(self.subs),
            "in_msgs": self.in_msgs,
            "out_msgs": self.out_msgs,
            "in_bytes": self.in_bytes,
            "out_bytes": self.out_bytes,
        }


# Protocol errors the reference closes with a reason of their own (shown by /connz).
_CLOSE_REASONS: dict[str | None, str] = {
    E.ERR_MAX_PAYLOAD: "Maximum Message Payload Exceeded",
    E.ERR_MAX_CONTROL_LINE: "Maximum Control Line Exceeded",
}


# CONNECT fields whose JSON type the reference enforces (a wrong type closes silently).
_CONNECT_TYPES: dict[str, tuple[type, ...]] = {
    "verbose": (bool,),
    "pedantic": (bool,),
    "echo": (bool,),
    "headers": (bool,),
    "no_responders": (bool,),
    "tls_required": (bool,),
    "name": (str,),
    "lang": (str,),
    "version": (str,),
    "user": (str,),
    "pass": (str,),
    "auth_token": (str,),
    "nkey": (str,),
    "sig": (str,),
    "jwt": (str,),
    "protocol": (int,),
}


def _connect_types_ok(o: dict[str, Any]) -> bool:
    for key, types in _CONNECT_TYPES.items():
        v = o.get(key)
        if v is None:
            continue
        if not isinstance(v, types) or (types == (int,) and isinstance(v, bool)):
            return False
    return True


_valid_cache: dict[bytes, bool] = {}


def _valid_pub(subject: bytes) -> bool:
    """Pedantic publish-subject check, cached because it runs on every message."""
    ok = _valid_cache.get(subject)
    if ok is None:
        ok = is_valid_literal_subject(subject.decode("utf-8", "replace"))
        if len(_valid_cache) > 65536:
            _valid_cache.clear()
        _valid_cache[subject] = ok
    return ok


def pick_member(members: tuple[Subscription, ...], publisher: Client, subject: bytes) -> Subscription | None:
    """One member of a queue group that can take the message, at random, as the reference picks."""
    n = len(members)
    start = random.randrange(n) if n > 1 else 0
    for i in range(n):
        sub = members[(start + i) % n]
        c = sub.client
        if sub.closed or (c is publisher and not publisher.echo):
            continue
        if c.perms is not None and not c.perms.can_receive(subject.decode("utf-8", "replace"), sub.queue):
            continue
        return sub
    return None


class InternalClient(Client):
    """The server's own connection-less client in an account: publisher for the layers
    above the core, owner of their in-process subscriptions. It is never registered,
    flushed or closed."""

    def __init__(self, server: NatsServer, name: str, account: Account) -> None:
        super().__init__(server)
        self.account = account
        self.cache = account.cache
        self.name = name
        self.headers = True
        self.verbose = False
        self.pedantic = False
        self.pub_checks = False
        self.connect_received = True
        self.parser.dead = True

    def queue(self, data: bytes) -> None:
        """Nothing is ever written to an internal client."""


class TracingClient(Client):
    """A client that logs every protocol operation (``-V`` / ``trace``) and lifecycle event.

    A subclass rather than checks in :class:`Client`, so that the untraced hot path pays
    nothing for tracing being possible.
    """

    def _tag(self) -> str:
        return f"{self.host}:{self.port} - cid:{self.cid}"

    def _in(self, op: str, arg: bytes | str = b"") -> None:
        text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else arg
        limit = self.server.opts.max_traced_msg_len
        if limit > 0 and len(text) > limit:
            text = text[:limit] + "..."
        self.server.log.trace("%s - <<- [%s]", self._tag(), f"{op} {text}".rstrip())

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.server.log.debug("%s - Client connection created", self._tag())

    def _mapped(self, subject: bytes, mapped: bytes) -> None:
        self._in("MAPPING", subject + b" -> " + mapped)

    def _teardown(self) -> None:
        if not getattr(self, "_traced_close", False):
            self._traced_close = True
            self.server.log.debug("%s - Client connection closed: %s", self._tag(), self.close_reason)
        super()._teardown()

    def queue(self, data: bytes) -> None:
        text = data.decode("utf-8", "replace").rstrip("\r\n")
        self.server.log.trace("%s - ->> [%s]", self._tag(), text.split("\r\n", 1)[0])
        super().queue(data)

    def on_connect(self, arg: bytes) -> bool:
        self._in("CONNECT", _hide_password(arg))
        return super().on_connect(arg)

    def on_sub(self, subject_b: bytes, queue_b: bytes | None, sid: bytes) -> None:
        self._in("SUB", b" ".join(x for x in (subject_b, queue_b, sid) if x is not None))
        super().on_sub(subject_b, queue_b, sid)

    def on_unsub(self, sid: bytes, max_msgs: int) -> None:
        self._in("UNSUB", sid + (b" %d" % max_msgs if max_msgs >= 0 else b""))
        super().on_unsub(sid, max_msgs)

    def on_pub(self, subject: bytes, reply: bytes | None, hdr: int, size: bytes, msg: bytes) -> None:
        op = "PUB" if hdr < 0 else "HPUB"
        parts = [subject] + ([reply] if reply else []) + ([str(hdr).encode()] if hdr >= 0 else []) + [size]
        self._in(op, b" ".join(parts))
        self._in("MSG_PAYLOAD:", repr(msg.decode("utf-8", "replace")))
        super().on_pub(subject, reply, hdr, size, msg)

    def on_ping(self) -> None:
        self._in("PING")
        super().on_ping()

    def on_pong(self) -> None:
        self._in("PONG")
        super().on_pong()


def _hide_password(arg: bytes) -> bytes:
    """CONNECT as traced: passwords and tokens masked, as the reference does."""
    try:
        o = json.loads(arg)
    except ValueError:
        return arg
    if isinstance(o, dict):
        for k in ("pass", "auth_token"):
            if k in o:
                o[k] = "[REDACTED]"
        return json.dumps(o, separators=(",", ":")).encode()
    return arg
