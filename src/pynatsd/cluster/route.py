"""One route: a connection to another server of the cluster, either side having dialled.

It speaks the reference's route protocol (cluster/protocol.py): the handshake (CONNECT
from the dialling side, INFO from both), interest (RS+/RS-), messages (RMSG/HMSG) and
PING/PONG. What the remote server subscribes to becomes remote interest in the core
(``Internal.add_remote_interest``); what it publishes is delivered to local receivers
only (``Internal.deliver_from_link``). Registration, gossip and local interest are the
cluster's (cluster/manager.py).
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import TYPE_CHECKING, Any, cast

from pynatsd.cluster.protocol import RouteParseError, RouteParser, msg_frame
from pynatsd.gocompat import go_quote

if TYPE_CHECKING:
    from pynatsd.cluster.manager import Cluster
    from pynatsd.server.internal import LinkDeliverer
    from pynatsd.server.remote import LinkClient, RemoteSubscription

__all__ = ["Route"]


class Route(asyncio.Protocol):
    """Server side of one route connection."""

    def __init__(self, cluster: Cluster, url: str | None = None, implicit: bool = False) -> None:
        self.cluster = cluster
        self.rid = cluster.next_rid()
        self.url = url  # set when this side dialled
        self.solicited = url is not None
        self.implicit = implicit
        self.parser = RouteParser(self)
        self.transport: asyncio.Transport | None = None
        self.out = bytearray()
        self._flush_scheduled = False
        self.closed = False
        self.closed_event = asyncio.Event()
        self.registered = False
        self.connect_received = False
        self.remote_id = ""
        self.remote_name = ""
        self.remote_info: dict[str, Any] = {}
        self.connect_urls: list[str] = []
        self.host = ""
        self.port = 0
        self.start = time.time()
        self.pings_out = 0
        self._ping_handle: asyncio.TimerHandle | None = None
        self._auth_handle: asyncio.TimerHandle | None = None
        self._clients: dict[str, LinkClient] = {}
        self._rsubs: dict[tuple[str, str, str | None], RemoteSubscription] = {}
        self._acc_b: dict[str, bytes] = {}
        self._deliverers: dict[bytes, LinkDeliverer] = {}
        self.out_msgs = 0

    def _tag(self) -> str:
        return f"{self.host}:{self.port} - rid:{self.rid}"

    # -- asyncio.Protocol --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        t = cast(asyncio.Transport, transport)
        self.transport = t
        peer = t.get_extra_info("peername")
        if peer:
            self.host, self.port = peer[0], peer[1]
        sock = t.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        c = self.cluster
        c.log.notice("%s - Route connection created", self._tag())
        if self.solicited:
            self.queue(c.connect_frame(self.url or ""))
        else:
            self.parser.expect_connect = True
            timeout = c.opts.auth_timeout or 2.0
            self._auth_handle = c.loop.call_later(timeout, self._handshake_timeout)
        self.queue(c.info_frame())
        self._ping_handle = c.loop.call_later(c.ping_interval(), self._ping_timer)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed(data)
        except RouteParseError as exc:
            self.send_err(str(exc))
            self.close("Protocol Violation")
        except Exception:
            self.cluster.log.exception("%s - Error processing route data", self._tag())
            self.close("Internal Error")

    def eof_received(self) -> bool | None:
        self.close("Client Closed")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.close("Client Closed" if exc is None else "Read Error")

    # -- output -----------------------------------------------------------------------
    def queue(self, data: bytes) -> None:
        if self.closed:
            return
        self.out += data
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.cluster.loop.call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        t = self.transport
        if self.closed or t is None or not self.out:
            return
        data, self.out = self.out, bytearray()
        t.write(data)
        limit = self.cluster.core.opts.max_pending
        if t.get_write_buffer_size() > limit:
            # A peer that stopped reading: cut it rather than buffer without bound.
            self.cluster.log.notice(
                "%s - Slow Consumer Detected: MaxPending of %d Exceeded", self._tag(), limit
            )
            self.close("Slow Consumer (Pending Bytes)")

    def send_err(self, text: str) -> None:
        self.queue(f"-ERR '{text}'\r\n".encode())

    def send_msg(
        self, account: str, subject: bytes, reply: bytes | None, hdr: int, msg: bytes, queues: list[bytes]
    ) -> None:
        """A message for the remote server's interest (called by the core's routing)."""
        acc = self._acc_b.get(account)
        if acc is None:
            acc = self._acc_b[account] = account.encode()
        self.out_msgs += 1
        if self.closed:
            return
        if hdr < 0 and not queues:  # the common frame, built here without a call
            if reply:
                self.out += b"RMSG %s %s %s %d\r\n%s\r\n" % (acc, subject, reply, len(msg), msg)
            else:
                self.out += b"RMSG %s %s %d\r\n%s\r\n" % (acc, subject, len(msg), msg)
        else:
            self.out += msg_frame(acc, subject, reply, hdr, msg, queues)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.cluster.loop.call_soon(self.flush)

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        if self.out and self.transport is not None:
            self.transport.write(bytes(self.out))  # what was queued (an -ERR) goes out first
        self.out = bytearray()
        self.parser.dead = True
        for h in (self._ping_handle, self._auth_handle):
            if h is not None:
                h.cancel()
        if self.transport is not None:
            self.transport.close()
        self.remove_remote_interest()
        kind = "Router" if self.registered else "Route"
        self.cluster.log.notice("%s - %s connection closed: %s", self._tag(), kind, reason)
        self.cluster.route_closed(self)
        self.closed_event.set()

    # -- timers -----------------------------------------------------------------------
    def _handshake_timeout(self) -> None:
        self._auth_handle = None
        if not self.connect_received and not self.closed:
            self.send_err("Authentication Timeout")
            self.close("Authentication Timeout")

    def _ping_timer(self) -> None:
        self._ping_handle = None
        if self.closed:
            return
        c = self.cluster
        if self.pings_out + 1 > c.core.opts.ping_max:
            self.send_err("Stale Connection")
            self.close("Stale Connection")
            return
        self.pings_out += 1
        self.queue(b"PING\r\n")
        self._ping_handle = c.loop.call_later(c.ping_interval(), self._ping_timer)

    # -- protocol operations ------------------------------------------------------------
    def on_ping(self) -> None:
        self.queue(b"PONG\r\n")

    def on_pong(self) -> None:
        self.pings_out = 0

    def on_err(self, text: str) -> None:
        self.cluster.log.error("%s - Route Error %s", self._tag(), go_quote(text))
        self.close("Parse Error" if "Parse" in text else "Route Error")

    def on_connect(self, connect: dict[str, Any]) -> None:
        c = self.cluster
        if connect.get("lang"):
            self.send_err("attempted to connect to route port")
            self.close("Incorrect Port")
            return
        if connect.get("gateway"):
            text = f"Rejecting connection from gateway {go_quote(str(connect['gateway']))} on the Route port"
            c.log.error("%s - %s", self._tag(), text)
            self.send_err(text)
            self.close("Wrong Gateway")
            return
        opts = c.opts
        if opts.username and (connect.get("user") != opts.username or connect.get("pass") != opts.password):
            c.log.error("%s - authentication error", self._tag())
            self.send_err("Authorization Violation")
            self.close("Authentication Failure")
            return
        name = str(connect.get("cluster", ""))
        if not c.accept_cluster_name(name, bool(connect.get("dynamic"))):
            text = f"Rejecting connection, cluster name {go_quote(name)} does not match {go_quote(c.name)}"
            c.log.error("%s - %s", self._tag(), text)
            self.send_err(text)
            self.close("Cluster Name Conflict")
            return
        self.connect_received = True
        if self._auth_handle is not None:
            self._auth_handle.cancel()
            self._auth_handle = None
        self.remote_id = str(connect.get("name", ""))

    def on_info(self, info: dict[str, Any]) -> None:
        c = self.cluster
        sid = str(info.get("server_id", ""))
        if self.registered:
            if sid and sid != self.remote_id:
                c.implicit_route(info)  # gossip: a server this peer knows
            elif info.get("ldm"):
                c.peer_lame_duck(self)
            elif "connect_urls" in info:
                self.connect_urls = [str(u) for u in info.get("connect_urls") or []]
                c.connect_urls_changed()
            return
        if not self.solicited and not self.connect_received:
            self.send_err("Authorization Violation")
            self.close("Authentication Failure")
            return
        if sid == c.server_id:
            self.remote_id = sid
            self.close("Duplicate Route")
            return
        name = str(info.get("cluster", ""))
        if name and not c.accept_cluster_name(name, bool(info.get("cluster_dynamic"))):
            self.close("Cluster Name Conflict")
            return
        if not self.solicited and info.get("name") == c.server_name and c.server_name != c.server_id:
            c.log.error(
                "%s - Remote server has a duplicate name: %s", self._tag(), go_quote(str(info.get("name")))
            )
            self.close("Duplicate Server Name")
            return
        self.remote_id = sid
        self.remote_name = str(info.get("name") or info.get("server_name") or sid)
        self.connect_urls = [str(u) for u in info.get("connect_urls") or []]
        if not info.get("ip"):
            info = {**info, "ip": f"nats-route://{_join(self.host, int(info.get('port', 0)))}/"}
        self.remote_info = info
        if not c.register(self):
            c.log.debug("%s - Detected duplicate remote route %s", self._tag(), go_quote(sid))
            self.close("Duplicate Route")

    def on_sub(self, account: str, subject: str, queue: str | None, weight: int) -> None:
        if not self.registered:
            return
        key = (account, subject, queue)
        old = self._rsubs.get(key)
        if old is not None:
            if queue is not None:
                old.weight = weight  # read at delivery time: the cached match stays valid
            return
        owner = self._owner(account)
        if owner is None:
            self.cluster.log.error(
                "%s - Unknown account %s for remote subject %s",
                self._tag(),
                go_quote(account),
                go_quote(subject),
            )
            return
        internal = self.cluster.account(account)
        assert internal is not None
        sub = internal.add_remote_interest(owner, subject, queue, weight)
        if sub is None:
            self.send_err("Invalid Subscription")
            return
        self._rsubs[key] = sub

    def on_unsub(self, account: str, subject: str, queue: str | None) -> None:
        sub = self._rsubs.pop((account, subject, queue), None)
        if sub is not None:
            internal = self.cluster.account(account)
            if internal is not None:
                internal.remove_remote_interest(sub)

    def on_msg(
        self,
        account: bytes,
        subject: bytes,
        reply: bytes | None,
        queues: list[bytes] | None,
        hdr: int,
        size: bytes,
        msg: bytes,
    ) -> None:
        deliver = self._deliverers.get(account)
        if deliver is None:
            owner = self._owner(account.decode("utf-8", "replace"))
            if owner is None:
                return
            internal = self.cluster.account(owner.account.name)
            assert internal is not None
            deliver = self._deliverers[account] = internal.link_deliverer(owner)
        self.parser.fast_account, self.parser.fast_deliver = account, deliver
        frame_subject = None
        if reply is not None and reply.startswith(b"$JS.ACK."):
            reply, frame_subject = _split_ack_reply(reply)
        deliver(subject, reply, hdr, size, msg, frame_subject, queues)

    # -- remote interest ---------------------------------------------------------------------
    def _owner(self, account: str) -> LinkClient | None:
        owner = self._clients.get(account)
        if owner is None:
            internal = self.cluster.account(account)
            if internal is None:
                return None
            owner = self._clients[account] = internal.link_client(self, f"route:{self.remote_id}")
        return owner

    def remove_remote_interest(self) -> None:
        subs, self._rsubs = self._rsubs, {}
        for (account, _, _), sub in subs.items():
            internal = self.cluster.account(account)
            if internal is not None:
                internal.remove_remote_interest(sub)

    def subscription_count(self) -> int:
        return len(self._rsubs)


def _split_ack_reply(reply: bytes) -> tuple[bytes, bytes | None]:
    """A JetStream delivery routed by its deliver subject carries the stored subject after
    an ``@`` that follows the eighth dot of its ``$JS.ACK...`` reply (the reference's
    encoding across routes): the reply, and the subject to frame the message with."""
    dots = 0
    for i, b in enumerate(reply):
        if b == 0x2E:  # "."
            dots += 1
        elif b == 0x40 and dots >= 8:  # "@"
            return reply[:i], reply[i + 1 :] or None
    return reply, None


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
