"""The cluster: the route listener, the routes this server dials, and what they share.

* **Interest.** Every local subscription change of any account (``Internal.enable_links``)
  is counted per (account, subject, queue); the first plain subscription on a subject sends
  ``RS+`` to every route, the last one ``RS-``; a queue group sends ``RS+`` with its new
  number of members (its weight) on every change, as the reference does.
* **Registration.** One route per remote server: a second connection to a known server is
  closed as a duplicate (the first one wins, as in the reference); a route this server
  dialled from the configuration is dialled again when it closes.
* **Gossip.** A new route's INFO is passed to the other routes, and an INFO about a server
  this one does not know makes it dial that server (an implicit route, tried
  ``connect_retries`` times), so a node that knows one seed learns the others.
* **Clients.** INFO carries the cluster's name and every server's client URLs
  (``connect_urls``, unless ``no_advertise``); clients are told whenever that changes.

Pooling is not built: this server's INFO carries no ``route_pool_size``, which the reference
treats as a peer without pooling (one connection for every account), whatever its own size.
"""

from __future__ import annotations

import asyncio
import base64
import random
import secrets
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pynatsd.cluster.protocol import info_frame, sub_frame, unsub_frame
from pynatsd.cluster.route import Route
from pynatsd.version import PROTO, REFERENCE_VERSION

if TYPE_CHECKING:
    from pynatsd.options import ClusterOptions
    from pynatsd.server.internal import Internal, Subscription
    from pynatsd.server.logging import ServerLogger

__all__ = ["Cluster"]

RECONNECT_DELAY = 1.0  # seconds between attempts to dial a route, as the reference's default
ROUTE_MAX_PING_INTERVAL = 30.0  # the reference caps the route ping interval


class Cluster:
    """Routes to the other servers of one cluster (an Extension of the core)."""

    def __init__(self, core: Internal, opts: ClusterOptions) -> None:
        self.core = core
        self.opts = opts
        ident = core.identity()
        self.server_id: str = ident["server_id"]
        self.server_name: str = ident["server_name"]
        self.dynamic = not opts.name
        self.name = opts.name or _dynamic_name()
        self.routes: dict[str, Route] = {}  # registered, by remote server id
        self._pending: set[Route] = set()
        self._accounts: dict[str, Internal | None] = {}
        self._interest: dict[tuple[str, str, str | None], int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._url_ids: dict[str, str] = {}  # dialled URL -> the server id behind it
        self._listener: asyncio.AbstractServer | None = None
        self.port = 0
        self._rid = 0
        self._stopping = False
        self._ever_routed = False
        self._lame = False

    @property
    def log(self) -> ServerLogger:
        return self.core.log

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.core.loop

    def next_rid(self) -> int:
        self._rid += 1
        return self._rid

    def ping_interval(self) -> float:
        iv = self.opts.ping_interval or self.core.opts.ping_interval
        return min(iv, ROUTE_MAX_PING_INTERVAL) if iv > 0 else ROUTE_MAX_PING_INTERVAL

    def account(self, name: str) -> Internal | None:
        if name not in self._accounts:
            self._accounts[name] = self.core.for_account(name)
        return self._accounts[name]

    # -- life ---------------------------------------------------------------------------
    async def start(self) -> None:
        opts = self.opts
        self.core.enable_links(self._local_interest)
        for name in self.core.account_names():
            acc = self.account(name)
            for sub in acc.local_subscriptions() if acc is not None else ():
                self._local_interest(name, sub, True)
        self.core.add_reload_hook(self._reloaded)
        self._import_jetstream_api()
        self.core.add_lame_duck_hook(self._lame_duck)
        self._listener = await self.loop.create_server(
            lambda: Route(self),
            host=opts.host or None,
            port=opts.port if opts.port > 0 else 0,
            reuse_address=True,
        )
        self.port = self._listener.sockets[0].getsockname()[1]
        self.core.register_port("cluster", f"nats://{_client_host(opts.host)}:{self.port}")
        self.log.notice("Cluster name is %s", self.name)
        if self.dynamic:
            self.log.warn("Cluster name was dynamically generated, consider setting one")
        self.log.notice("Listening for route connections on %s", _join(opts.host or "0.0.0.0", self.port))
        self._spawn(self._after_ready())

    async def _after_ready(self) -> None:
        """Advertise and dial once clients are accepted (client URLs known), as the reference."""
        await self.core.wait_ready()
        self._advertise()
        self.core.send_info_update()
        for url in self.opts.routes:
            self._spawn(self._solicit(url, explicit=True))

    async def stop(self) -> None:
        self._stopping = True
        if self._listener is not None:
            self._listener.close()
        for task in list(self._tasks):
            task.cancel()
        for r in list(self.routes.values()) + list(self._pending):
            r.close("Server Shutdown")

    def _spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- dialling ---------------------------------------------------------------------------
    async def _solicit(self, url: str, explicit: bool) -> None:
        """Dial ``url`` until connected; an explicit (configured) route is dialled again
        whenever it closes, an implicit one gives up after ``connect_retries`` failures."""
        attempts = 0
        while not self._stopping:
            known = self._url_ids.get(url)
            if known is not None and (known in self.routes or known == self.server_id):
                if not explicit or known == self.server_id:
                    return
                await asyncio.sleep(RECONNECT_DELAY)  # routed already (the peer dialled us)
                continue
            u = urlsplit(url)
            self.log.debug("Trying to connect to route on %s", u.netloc.rsplit("@", 1)[-1])
            route = Route(self, url, implicit=not explicit)
            try:
                await self.loop.create_connection(lambda r=route: r, u.hostname or "", u.port or 0)  # type: ignore[misc]
            except OSError as exc:
                attempts += 1
                self.log.error("Error trying to connect to route (attempt %d): %s", attempts, exc)
                if not explicit and attempts > self.opts.connect_retries:
                    return
                await asyncio.sleep(RECONNECT_DELAY)
                continue
            attempts = 0
            self._pending.add(route)
            await route.closed_event.wait()
            if route.remote_id:
                self._url_ids[url] = route.remote_id
            if not explicit and not route.registered:
                return
            # Back off a little at random so that two servers dialling each other after a
            # duplicate was dropped on both sides do not collide again.
            await asyncio.sleep(RECONNECT_DELAY * random.uniform(0.2, 1.0))
            if not explicit and route.remote_id not in self.routes:
                attempts += 1
                if attempts > self.opts.connect_retries:
                    return

    def implicit_route(self, info: dict[str, Any]) -> None:
        """A peer told about a server (gossip): dial it unless known or configured."""
        sid = str(info.get("server_id", ""))
        if not sid or sid == self.server_id or sid in self.routes:
            return
        if any(r.remote_id == sid for r in self._pending):
            return
        host, port = str(info.get("host", "")), int(info.get("port", 0))
        ip = str(info.get("ip") or "")
        url = ip or f"nats-route://{_join(host, port)}/"
        candidates = {_join(host, port).lower()}
        if ip:
            try:
                candidates.add(_join(urlsplit(ip).hostname or "", port).lower())
            except ValueError:
                pass
        for configured in self.opts.routes:
            if urlsplit(configured).netloc.rsplit("@", 1)[-1].lower() in candidates:
                return
        if self._url_ids.get(url) == sid:
            return
        if info.get("auth_required") and self.opts.username:
            u = urlsplit(url)
            url = f"{u.scheme}://{self.opts.username}:{self.opts.password}@{u.netloc}/"
        self._url_ids[url] = sid
        self._spawn(self._solicit_implicit(url, sid))

    async def _solicit_implicit(self, url: str, sid: str) -> None:
        try:
            self._url_ids.pop(url, None)
            await self._solicit(url, explicit=False)
        finally:
            self._url_ids.setdefault(url, sid)

    # -- registration ----------------------------------------------------------------------
    def register(self, route: Route) -> bool:
        """A route finished its handshake: keep it unless its server is routed already."""
        self._pending.discard(route)
        sid = route.remote_id
        if sid in self.routes:
            return False
        self.routes[sid] = route
        self._ever_routed = True
        route.registered = True
        if route.url:
            self._url_ids[route.url] = sid
        self.log.debug("Registering remote route %s", sid)
        # Everything this server is interested in, in every account.
        frames = bytearray()
        for (acc, subject, queue), n in self._interest.items():
            frames += sub_frame(acc, subject, queue, n)
        if frames:
            route.queue(bytes(frames))
        if not (route.solicited and route.implicit):
            self._gossip(route)
        self.connect_urls_changed()
        return True

    def _gossip(self, new: Route) -> None:
        """Tell the other routes about the new one, so that they dial it."""
        info = {k: v for k, v in new.remote_info.items() if k != "nonce"}
        frame = info_frame(info)
        for sid, r in self.routes.items():
            if sid != new.remote_id:
                r.queue(frame)

    def route_closed(self, route: Route) -> None:
        self._pending.discard(route)
        if route.registered and self.routes.get(route.remote_id) is route:
            del self.routes[route.remote_id]
            self.connect_urls_changed()

    def _reloaded(self) -> None:
        self._accounts.clear()
        self._import_jetstream_api()  # a reload re-wired the imports without it

    def _import_jetstream_api(self) -> None:
        """As a reference server without JetStream in a cluster with only ``$G`` and the
        system account ("simple mixed mode"): ``$JS.API.>`` of ``$G`` is imported from the
        system account, so that this server's clients reach the JetStream of the cluster's
        JetStream servers (which serve the API in the system account) over the routes."""
        core = self.core
        system = core.system_account_name
        names = set(core.account_names())
        if core.opts.jetstream or not system or names != {"$G", system}:
            return
        g = self.account("$G")
        if g is not None:
            g.import_service(system, "$JS.API.>", share=True)

    def _lame_duck(self) -> None:
        """Tell every peer that this server is going away (INFO with ``ldm``), as the
        reference does, so that they stop offering its URLs to their clients."""
        frame = info_frame({**self.info(), "ldm": True})
        for r in self.routes.values():
            r.queue(frame)
        self._lame = True
        self._advertise()  # clients are offered the other servers only, as the reference

    def peer_lame_duck(self, route: Route) -> None:
        """A peer entered lame-duck mode: stop offering its URLs to clients."""
        route.connect_urls = []
        self.connect_urls_changed()

    def accept_cluster_name(self, name: str, dynamic: bool) -> bool:
        """Whether a peer of cluster ``name`` may join; a dynamic name yields to a
        configured one (or to a bigger dynamic one), as the reference negotiates."""
        if name == self.name:
            return True
        if self.dynamic and (not dynamic or self.name < name):
            self.name = name
            self.dynamic = dynamic
            self.log.notice("Cluster name updated to %s", name)
            self._advertise()
            return True
        return False

    # -- what this server says --------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """This server's route INFO (no pooling, no compression: see the module doc)."""
        core = self.core
        ident = core.identity()
        opts = self.opts
        d: dict[str, Any] = {
            "server_id": self.server_id,
            "server_name": self.server_name,
            "version": REFERENCE_VERSION,
            "proto": PROTO,
            "go": ident["go"],
            "host": opts.host or "0.0.0.0",
            "port": self.port,
            "headers": not core.opts.no_header_support,
        }
        if opts.username:
            d["auth_required"] = True
        d["max_payload"] = core.opts.max_payload
        if opts.advertise:
            d["ip"] = f"nats-route://{opts.advertise}/"
        d["cluster"] = self.name
        if self.dynamic:
            d["cluster_dynamic"] = True
        d["connect_urls"] = self.own_client_urls()
        d["compression"] = "off"
        return d

    def info_frame(self) -> bytes:
        return info_frame(self.info())

    def connect_frame(self, url: str) -> bytes:
        u = urlsplit(url)
        user = u.username or ""
        password = u.password or ""
        connect = {
            "echo": True,
            "verbose": False,
            "pedantic": False,
            "user": user,
            "pass": password,
            "tls_required": False,
            "name": self.server_id,
            "headers": not self.core.opts.no_header_support,
            "cluster": self.name,
            "dynamic": self.dynamic,
        }
        if not user:
            del connect["user"], connect["pass"]
        import json

        return b"CONNECT " + json.dumps(connect, separators=(",", ":")).encode() + b"\r\n"

    def own_client_urls(self) -> list[str]:
        core = self.core
        adv = core.opts.client_advertise
        if adv:
            return [adv]
        ident = core.identity()
        port = ident["port"]
        host = core.opts.host or "0.0.0.0"
        if host not in ("0.0.0.0", "::", ""):
            return [_join(host, port)]
        return [_join(ip, port) for ip in _local_ips()]

    def connect_urls_changed(self) -> None:
        self._advertise()
        self.core.send_info_update()

    def _advertise(self) -> None:
        fields: dict[str, Any] = {"cluster": self.name}
        # As the reference: no connect_urls until a first route has joined.
        if not self.opts.no_advertise and self._ever_routed:
            urls = [] if self._lame else list(self.own_client_urls())
            for r in self.routes.values():
                for u in r.connect_urls:
                    if u not in urls:
                        urls.append(u)
            fields["connect_urls"] = urls
        self.core.set_info_fields(**fields)

    # -- local interest -----------------------------------------------------------------------
    def _local_interest(self, account: str, sub: Subscription, added: bool) -> None:
        key = (account, sub.subject, sub.queue)
        n = self._interest.get(key, 0) + (1 if added else -1)
        if n > 0:
            self._interest[key] = n
        else:
            self._interest.pop(key, None)
            n = 0
        if not self.routes:
            return
        if n == 0:
            frame = unsub_frame(account, sub.subject, sub.queue)
        elif sub.queue is not None or (added and n == 1):
            frame = sub_frame(account, sub.subject, sub.queue, n)
        else:
            return
        for r in self.routes.values():
            r.queue(frame)

    def counters(self) -> dict[str, int]:
        return {"routes": len(self.routes)}


def _dynamic_name() -> str:
    """A made-up cluster name, as the reference's (a server id-like string)."""
    return base64.b32encode(secrets.token_bytes(15)).decode().rstrip("=")[:22]


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _client_host(host: str) -> str:
    return host if host not in ("", "0.0.0.0", "::") else "127.0.0.1"


def _local_ips() -> list[str]:
    """This machine's addresses for clients, loopback only when there is nothing else."""
    found: list[str] = []
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            ip = str(info[4][0])
            if ip not in found and not ip.startswith("127.") and ip != "::1":
                found.append(ip)
    except OSError:
        pass
    return found or ["127.0.0.1"]
