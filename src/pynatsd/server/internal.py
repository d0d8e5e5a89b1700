"""The one interface through which a layer above the core uses the server.

JetStream and monitoring today, and next accounts, routes, gateways, leaf nodes and the
WebSocket and MQTT listeners, all plug into the core the same way: they never touch
``NatsServer``'s own state, they hold an :class:`Internal` and use what it declares:

* act as the server's own client in one account's subject space: subscribe with an
  in-process callback, publish (also a delivery that is routed by one subject and framed
  with another), ask whether anybody listens;
* hook into the per-turn flush (a store hands its writes to the OS before any reply of
  the same turn is written) and into interest (a callback when a client subscribes to a
  subject);
* claim a subject prefix: messages on ``<prefix>.>`` go straight to one handler while no
  other subscription overlaps it, skipping the match cache that unique subjects (acks)
  would only pollute;
* write ready-made frames to a receiver when routing to it is that simple;
* add fields to INFO, a port to the ports file, and a start/stop pair to the server's
  life (:class:`Extension`);
* read the server's identity, options and counters, and (for monitoring) snapshots of
  its open connections, its recently closed ones and its accounts;
* reach the other accounts, and hear when a reload changed them;
* link to other servers (routes): hear of every local subscription change, hold a remote
  server's interest as subscriptions of a link, hand over the messages a link brings in
  (delivered locally only), and tell clients about new servers (INFO updates).

An :class:`Internal` is bound to one account (``$G`` for the core's own; each account has
its own subject index and internal client), so layers written against this interface
work per account unchanged. Route, gateway and leaf
connections are not clients; they reach routing through this same interface.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pynatsd.server import imports, remote
from pynatsd.server.account import Account
from pynatsd.server.client import Client, MsgCallback, Subscription
from pynatsd.server.closed import ClosedClient, SubRecord
from pynatsd.server.errors import StartError
from pynatsd.server.msgtrace import MsgTrace

if TYPE_CHECKING:
    import asyncio

    from pynatsd.options import AccountConfig, Options
    from pynatsd.server.logging import ServerLogger
    from pynatsd.server.server import NatsServer

__all__ = [
    "Account",
    "Client",
    "ClosedClient",
    "Extension",
    "Internal",
    "MsgCallback",
    "MsgTrace",
    "ServerCounters",
    "StartError",
    "SubRecord",
    "Subscription",
]


#: See :meth:`Internal.link_deliverer`.
LinkDeliverer = Callable[
    [bytes, "bytes | None", int, bytes, bytes, "bytes | None", "list[bytes] | None"], bool
]


class Extension(Protocol):
    """A layer that lives as long as the server: started before clients are accepted (in
    the order added), stopped after they are closed (in reverse order)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ServerCounters:
    """A snapshot of the server's statistics, over live and closed connections."""

    connections: int
    total_connections: int
    in_msgs: int
    in_bytes: int
    out_msgs: int
    out_bytes: int
    slow_consumers: int
    subscriptions: int
    stalls: int = 0
    stale_connections: int = 0


class Internal:
    """A layer's handle on the core, bound to one account's subject space."""

    __slots__ = ("__weakref__", "_account", "_client", "_deliver", "_server", "route")

    def __init__(self, server: NatsServer, account: Account) -> None:
        self._server = server
        self._account = account
        self._client = account.client
        self._deliver = server.deliver
        #: ``route(subject, reply, hdr_len, size, msg)``: routing as the internal client with
        #: the message already framed as the parser hands it over (``msg`` is header block
        #: plus payload, ``hdr_len`` -1 without headers, ``size`` its length as digits).
        #: The shortest path, with no Python frame of its own: for replies sent once per
        #: message (PubAcks). Returns False when nobody received it.
        self.route: Callable[[bytes, bytes | None, int, bytes, bytes], bool] = functools.partial(
            server.deliver, account.client
        )
        server.internals.add(self)

    def rebind(self) -> None:
        """Take the server's current routing function (it changes once links are on)."""
        server = self._server
        self._deliver = server.deliver
        self.route = functools.partial(server.deliver, self._account.client)

    @property
    def msg_trace(self) -> MsgTrace | None:
        """The traced message being delivered, if any: a layer receiving it adds its event
        (server/msgtrace.py)."""
        return self._server.msg_trace

    @contextlib.contextmanager
    def without_msg_trace(self) -> Iterator[None]:
        """Work done for a traced message (storing it, replies, republishing) whose own
        messages are not part of the trace."""
        srv = self._server
        t, srv.msg_trace = srv.msg_trace, None
        try:
            yield
        finally:
            srv.msg_trace = t

    # -- identity, options, clock ---------------------------------------------------------
    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._server.layer_loop  # the server's loop (a test clock's wrapper: embed/clock.py)

    @property
    def log(self) -> ServerLogger:
        return self._server.log

    @property
    def opts(self) -> Options:
        """The options in force: a reload replaces the object, so do not keep it."""
        return self._server.opts

    @property
    def server_name(self) -> str:
        return self._server.server_name

    @property
    def account_name(self) -> str:
        return self._account.name

    @property
    def start_time(self) -> float:
        return self._server.start_time

    @property
    def config_time(self) -> float:
        return self._server.config_time

    @property
    def auth_required(self) -> bool:
        return self._server.auth.auth_required

    @property
    def auth_timeout(self) -> float:
        return self._server.auth_timeout()

    def identity(self) -> dict[str, Any]:
        """Server id and name, versions, host and client port, as INFO starts."""
        return self._server.identity()

    def counters(self) -> ServerCounters:
        srv = self._server
        in_msgs, in_bytes, out_msgs, out_bytes = srv.totals()
        return ServerCounters(
            connections=len(srv.clients),
            total_connections=srv.total_connections,
            in_msgs=in_msgs,
            in_bytes=in_bytes,
            out_msgs=out_msgs,
            out_bytes=out_bytes,
            slow_consumers=srv.slow_consumers,
            subscriptions=sum(acc.sublist.count for acc in srv.accounts.values()),
            stalls=srv.stalls,
            stale_connections=srv.stale_connections,
        )

    # -- accounts -------------------------------------------------------------------------
    def account_names(self) -> list[str]:
        """Every account the server has now: ``$G``, the config's, the system account."""
        return list(self._server.accounts)

    @property
    def system_account_name(self) -> str:
        """The system account's name, "" when the server runs without one."""
        acc = self._server.system_account
        return acc.name if acc is not None else ""

    def account_config(self, name: str) -> AccountConfig | None:
        """What configures account ``name``: its entry of the ``accounts`` block, or in
        operator mode what its account JWT says; None for ``$G`` and unknown names."""
        acc = self._server.accounts.get(name)
        return acc.config if acc is not None else None

    def for_account(self, name: str) -> Internal | None:
        """A handle bound to another account (None if the server has no such account);
        handles on an account a reload removed stay valid but reach nobody."""
        acc = self._server.accounts.get(name)
        return Internal(self._server, acc) if acc is not None else None

    def offer(self, name: str, fn: Callable[..., Any] | None) -> None:
        """Make ``fn`` available to other layers under ``name`` (None withdraws it): layers
        may not import each other, so monitoring asks JetStream for its report this way."""
        if fn is None:
            self._server.offers.pop(name, None)
        else:
            self._server.offers[name] = fn

    def offered(self, name: str) -> Callable[..., Any] | None:
        """What a layer offers under ``name``, None when no layer does."""
        return self._server.offers.get(name)

    def import_service(self, exporter: str, subject: str, share: bool = False) -> bool:
        """A service import into this account of ``subject`` from account ``exporter`` (as
        a config's ``imports``, undone by a reload, which then calls the reload hooks);
        False when there is no such account."""
        from pynatsd.options import ImportConfig

        exp = self._server.accounts.get(exporter)
        if exp is None:
            return False
        imp = ImportConfig(account=exporter, subject=subject, service=True, share=share)
        imports.add_service_import(self._server, self._account, exp, imp)
        return True

    def add_reload_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` after a reload has applied new options and accounts."""
        self._server.reload_hooks.append(hook)

    def add_lame_duck_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` when the server enters lame-duck mode, before clients are told
        (INFO with ``ldm``) and long before they are closed."""
        self._server.lame_duck_hooks.append(hook)

    def remove_reload_hook(self, hook: Callable[[], None]) -> None:
        if hook in self._server.reload_hooks:
            self._server.reload_hooks.remove(hook)

    # -- what monitoring reads (snapshots; nothing here is on the message path) -----------
    def connections(self) -> list[Client]:
        """The open client connections, in the order they were accepted."""
        return list(self._server.clients.values())

    def connection(self, cid: int) -> Client | None:
        return self._server.clients.get(cid)

    def closed_connections(self) -> list[ClosedClient]:
        """The newest closed connections (at most ``max_closed_clients``), oldest first."""
        return self._server.closed.snapshot()

    def accounts(self) -> dict[str, Account]:
        """Every account by name ($G, the configured ones, the system account)."""
        return dict(self._server.accounts)

    @property
    def server_id(self) -> str:
        return self._server.server_id

    # -- the server's own client ----------------------------------------------------------
    def subscribe(
        self, subject: str, cb: MsgCallback, queue: str | None = None, system_service: bool = False
    ) -> Subscription:
        """An in-process subscription: ``cb`` is called synchronously for each message,
        with no frame built. Raises ValueError for an invalid subject.

        ``system_service``: a service the reference imports from the system account (the
        JetStream API); a traced message stops at it as at a service import without
        ``allow_trace`` (server/msgtrace.py)."""
        sub = self._server.subscribe_internal(self._account, subject, cb, queue)
        if system_service:
            self._server.system_services.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._server.system_services.discard(sub)
        self._server.unsubscribe_internal(sub)

    def publish(
        self,
        subject: str | bytes,
        data: bytes,
        reply: str | bytes | None = None,
        hdr: bytes = b"",
        frame_subject: bytes | None = None,
    ) -> bool:
        """Publish as the account's internal client; False when nobody received it.

        ``frame_subject``: route by ``subject`` (an inbox or deliver subject) but write
        frames that carry ``frame_subject`` (the stored message's own subject).
        """
        subj = subject.encode() if isinstance(subject, str) else subject
        rep = reply.encode() if isinstance(reply, str) else reply
        if hdr:
            msg = hdr + data
            return self._deliver(
                self._client, subj, rep or None, len(hdr), b"%d" % len(msg), msg, frame_subject
            )
        return self._deliver(self._client, subj, rep or None, -1, b"%d" % len(data), data, frame_subject)

    def no_responders(self, requester: Client, subject: bytes, reply: bytes) -> None:
        """Answer a request as if nobody listened on ``subject``: a 503 status to the
        requester, if it asked for those (a layer that serves a subject only in part)."""
        if requester.no_responders:
            requester.send_no_responders(subject, reply)

    def has_interest(self, subject: str | bytes) -> bool:
        """Whether a message on ``subject`` would reach any subscription."""
        subj = subject.encode() if isinstance(subject, str) else subject
        return self._account.sublist.match(subj).any

    def has_subscription_on(self, subject: str) -> bool:
        """Whether some subscription is on exactly ``subject`` (here, or on what it becomes
        in an account that imports it); a wildcard one that merely covers it does not
        count (as the reference judges a push consumer bound)."""
        return imports.exact_interest(self._account, subject)

    # -- hooks ------------------------------------------------------------------------------
    def add_pre_flush(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` at the end of every loop turn that writes, before any client output
        of that turn (a PubAck must not overtake its message on the way to the OS)."""
        self._server.add_pre_flush(hook)

    def remove_pre_flush(self, hook: Callable[[], None]) -> None:
        self._server.remove_pre_flush(hook)

    def schedule_flush(self) -> None:
        """Make sure the end-of-turn flush (and so the pre-flush hooks) runs this turn."""
        self._server.schedule_flush()

    def watch_interest(self, subject: str, cb: Callable[[], None]) -> Callable[[], None]:
        """Call ``cb`` whenever a client subscribes to exactly ``subject``; returns the
        function that stops watching."""
        return self._server.watch_interest(subject, cb)

    def claim_prefix(self, prefix: str, cb: MsgCallback) -> Subscription:
        """Subscribe ``cb`` to ``<prefix>.>`` and let messages on it bypass the match cache:
        while no other subscription overlaps, each goes to ``cb`` directly. For subjects
        that are unique per message (acks); undone by :meth:`unsubscribe`."""
        return self._server.claim_prefix(self._account, prefix, cb)

    def direct_receiver(self, subject: bytes) -> Subscription | None:
        """The one client subscription a message on ``subject`` reaches when routing is
        that simple (no queue group, no in-process handler, no permissions, no
        auto-unsubscribe, a header-aware connection); None otherwise. Frames for it may
        then be written with :meth:`write_frames` in the same turn."""
        return self._server.direct_target(subject, self._account)

    def write_frames(self, sub: Subscription, frames: bytes, msgs: int, payload_bytes: int) -> None:
        """Append ``msgs`` ready-made MSG/HMSG frames for ``sub`` (from :meth:`direct_receiver`)."""
        self._server.write_frames(sub, frames, msgs, payload_bytes)

    # -- what the server tells the world --------------------------------------------------
    def set_info_fields(self, **fields: Any) -> None:
        """Fields this layer adds to every INFO (placed in the reference's field order)."""
        self._server.set_info_fields(fields)

    def register_port(self, kind: str, url: str) -> None:
        """A listener of this layer, for the ports file (``{"monitoring": [url]}``)."""
        self._server.register_port(kind, url)

    def add_extension(self, ext: Extension) -> None:
        self._server.add_extension(ext)

    async def wait_ready(self) -> None:
        """Return once the server accepts clients (its client port is known)."""
        await self._server.ready.wait()

    def send_info_update(self) -> None:
        """Send the current INFO (after :meth:`set_info_fields`) to every client that takes
        updates, as the reference tells clients about new cluster members."""
        self._server.send_async_info()

    # -- links to other servers (server/remote.py) ----------------------------------------
    def enable_links(self, listener: Callable[[str, Subscription, bool], None]) -> None:
        """Route every message with remote interest in mind from now on (with no links
        the core never pays for them), and call ``listener(account, sub, added)`` whenever
        a local subscription of any account is added or removed."""
        self._server.enable_links(lambda acc, sub, added: listener(acc.name, sub, added))

    def local_subscriptions(self) -> list[Subscription]:
        """Every local subscription of this account (what a new link is told about)."""
        subs = self._account.sublist.overlapping(">")
        return [s for s in subs if s.__class__ is not remote.RemoteSubscription and not s.closed and not s.si]

    def link_client(self, link: remote.Link, name: str) -> remote.LinkClient:
        """A link's presence in this account: it owns the link's remote interest and
        publishes the messages the link brings in."""
        return remote.LinkClient(self._server, self._account, link, name)

    def add_remote_interest(
        self, owner: remote.LinkClient, subject: str, queue: str | None, weight: int
    ) -> remote.RemoteSubscription | None:
        """Interest of the server behind ``owner`` (a queue group with ``weight`` members
        there); None for an invalid subject."""
        sub = remote.RemoteSubscription(owner, subject, queue, weight)
        return sub if self._account.sublist.insert(sub) else None

    def remove_remote_interest(self, sub: remote.RemoteSubscription) -> None:
        if not sub.closed:
            sub.closed = True
            self._account.sublist.remove(sub)

    def link_deliverer(self, owner: remote.LinkClient) -> LinkDeliverer:
        """The function that delivers a message ``owner``'s link brought in to local
        receivers only (a queue group only if ``queues`` names it): called as
        ``deliver(subject, reply, hdr_len, size, msg, None, queues)``, False when nobody
        here received it. Bound once per link and account: no lookup per message."""
        return functools.partial(remote.route_message, self._server, owner)
