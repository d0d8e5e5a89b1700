"""The core server: the listener, the connection registry, routing and the per-turn flush.

It names no layer above it: JetStream, monitoring and what comes next reach it through
:class:`~pynatsd.server.internal.Internal` and live in its life as extensions.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import os
import secrets
import socket
import sys
import time
import weakref
from collections.abc import Callable
from typing import Any

from pynatsd.auth import Authenticator, ClientPermissions
from pynatsd.config.operator import operator_start_error
from pynatsd.jwt.keys import CurveKey
from pynatsd.mapping import Mappings, build_mappings
from pynatsd.options import AccountConfig, Options, User
from pynatsd.protocol.frames import info_line, msg_tails
from pynatsd.server import imports, remote
from pynatsd.server.account import GLOBAL_ACCOUNT, SYSTEM_ACCOUNT, Account
from pynatsd.server.client import (
    Client,
    InternalClient,
    MsgCallback,
    Subscription,
    TracingClient,
    pick_member,
)
from pynatsd.server.closed import ClosedRing, SubRecord
from pynatsd.server.closed import record as closed_record
from pynatsd.server.errors import StartError, UnsupportedFeature
from pynatsd.server.internal import Extension, Internal
from pynatsd.server.logging import ServerLogger
from pynatsd.server.msgtrace import MsgTrace
from pynatsd.server.resolver import ResolverError, URLResolver
from pynatsd.server.sublist import MatchResult, Sublist
from pynatsd.server.tls_listener import TLSListener
from pynatsd.tls import TLSConfigError, build_context
from pynatsd.version import API_LEVEL, PROTO, REFERENCE_VERSION, __version__


def new_server_id() -> str:
    """An id shaped like the reference's (56 base32 characters, starting with N)."""
    raw = base64.b32encode(secrets.token_bytes(35)).decode().rstrip("=")
    return ("N" + raw)[:56]


# INFO fields in the order of the reference's Info struct; fields added by layers
# (``Internal.set_info_fields``) take their place in it.
INFO_ORDER = (
    "server_id",
    "server_name",
    "version",
    "pynatsd_version",
    "proto",
    "git_commit",
    "go",
    "host",
    "port",
    "headers",
    "auth_required",
    "tls_required",
    "tls_verify",
    "tls_available",
    "max_payload",
    "jetstream",
    "ip",
    "connect_urls",
    "ws_connect_urls",
    "ldm",
    "client_id",
    "client_ip",
    "nonce",
    "cluster",
    "cluster_dynamic",
    "domain",
    "api_lvl",
    "xkey",
)
_INFO_RANK = {k: i for i, k in enumerate(INFO_ORDER)}


def _mappings(opts: Options) -> Mappings | None:
    """The global account's subject mappings (validated by the config loader); no cluster yet."""
    return build_mappings(opts.mappings) if opts.mappings else None


class NatsServer:
    """Everything that lives for the life of one server, bound to one event loop."""

    def __init__(self, opts: Options, log: ServerLogger | None = None) -> None:
        self.opts = opts
        self.log = log or ServerLogger(
            debug=opts.debug, trace=opts.trace, logtime=opts.logtime, utc=opts.logtime_utc, path=opts.log_file
        )
        self.server_id = new_server_id()
        self.server_name = opts.server_name or self.server_id
        self.sublist: Sublist[Subscription] = Sublist(cache=not opts.disable_sublist_cache)
        self._match_cache = self.sublist.cache_dict()
        self.auth = Authenticator(_auth_options(opts), log=self.log)
        self._activation_timer: asyncio.TimerHandle | None = None
        self.resolver: URLResolver | None = None  # operator mode's URL resolver (server/resolver.py)
        self._wire_operator(None)
        # The made-up no_auth_user of a system-account-only config still advertises auth.
        self._always_auth = self.auth.has_no_auth_user and not opts.no_auth_user
        self.clients: dict[int, Client] = {}
        self._cid = 0
        self._pre_flush: list[Callable[[], None]] = []
        # Callbacks waiting for a client to subscribe to exactly this subject.
        self.interest_watch: dict[str, list[Callable[[], None]]] = {}
        self.global_account = Account(GLOBAL_ACCOUNT, self.sublist)
        self.system_client = self.global_account.client = InternalClient(self, "$SYS", self.global_account)
        # Every account by name: $G, the accounts block, the system account (server/account.py).
        self.accounts: dict[str, Account] = {GLOBAL_ACCOUNT: self.global_account}
        self.system_account: Account | None = None
        self.internals: weakref.WeakSet[Internal] = weakref.WeakSet()  # every Internal handle
        self.internal = Internal(self, self.global_account)
        # Subject mappings of the config file (None without any: publishes pay nothing).
        self.global_account.mappings = _mappings(opts)
        # Claimed prefixes (Internal.claim_prefix): subjects under them are unique per
        # message, so they always miss the match cache; a claim no other subscription
        # overlaps takes them directly. Keyed by the prefix; ``_claim_roots`` maps a first
        # token (with its dot) to the token counts of the prefixes claimed under it; the
        # verdict on overlap is kept per sublist generation.
        self._claims: dict[bytes, Subscription] = {}
        self._claim_roots: dict[bytes, tuple[int, ...]] = {}
        self._claim_verdicts: dict[bytes, tuple[int, int, bool]] = {}
        self._extensions: list[Extension] = []
        # Links to other servers (routes): when set, deliver() hands every message to
        # server/remote.py; the listener hears of local interest changes per account.
        self.linked = False
        self._link_listener: Callable[[Account, Subscription, bool], None] | None = None
        self.reload_hooks: list[Callable[[], None]] = []  # Internal.add_reload_hook
        self.offers: dict[str, Callable[..., Any]] = {}  # Internal.offer
        self.lame_duck_hooks: list[Callable[[], None]] = []  # Internal.add_lame_duck_hook
        self._info_fields: dict[str, Any] = {}
        self._ports: dict[str, list[str]] = {}
        self._dirty: list[Client] = []
        self._flush_scheduled = False
        self.loop: asyncio.AbstractEventLoop = asyncio.get_event_loop_policy().get_event_loop()
        self._listener: asyncio.AbstractServer | TLSListener | None = None
        self._tls_listener: TLSListener | None = None
        self.port = 0
        self.start_time = time.time()
        self.now = time.time()
        self._housekeeping: asyncio.TimerHandle | None = None
        self.ready = asyncio.Event()
        self.shutdown_event = asyncio.Event()
        self.stopped = asyncio.Event()
        self.lame_duck = False
        #: embedding hook (pynatsd/embed/clock.py): wraps the layers' loop (``Internal.loop``)
        #: at start for a test clock; the core's own timers (pings, auth) keep real time
        self.wrap_loop: Callable[[asyncio.AbstractEventLoop], asyncio.AbstractEventLoop] | None = None
        self.layer_loop = self.loop
        self.config_time = time.time()
        # statistics; message counters live on the connections (see totals())
        self._closed_totals = (0, 0, 0, 0)
        self.slow_consumers = 0
        self.stalls = 0
        self.stale_connections = 0
        self.closed = ClosedRing(opts.max_closed_clients)
        self.auth_failures = 0
        self.total_connections = 0
        # The message being traced while its delivery runs (server/msgtrace.py), and the
        # sequence of the trace events sent.
        self.msg_trace: MsgTrace | None = None
        self.trace_seq = 0
        # In-process services the reference imports from the system account (the JetStream
        # API): a trace stops there (Internal.subscribe's system_service).
        self.system_services: set[Subscription] = set()
        self._configure_accounts(opts)
        if self.auth.operator is not None:  # operator mode: INFO names the server's curve key
            self._info_fields["xkey"] = CurveKey.create().public_key

    # -- lifecycle ----------------------------------------------------------------
    async def start(self) -> None:
        self.loop = self.layer_loop = asyncio.get_running_loop()
        if self.wrap_loop is not None:  # embedding hook: a controllable clock
            self.layer_loop = self.wrap_loop(self.loop)
        self.ready = asyncio.Event()
        self.shutdown_event = asyncio.Event()
        self.stopped = asyncio.Event()
        opts = self.opts
        if opts.unsupported:
            key, feature = next(iter(opts.unsupported.items()))
            raise UnsupportedFeature(f"{feature} is not supported by pynatsd yet (option {key!r})")
        reason = operator_start_error(opts)  # operator (JWT) mode: the reference's refusals
        if reason is not None:
            raise StartError(reason)
        op = self.auth.operator
        if op is not None and self.resolver is not None:
            # The URL resolver, as the reference: someone must answer at the URL itself; the
            # system account is fetched (a bare one stands in when that fails).
            try:
                await self.resolver.fetch("")
            except ResolverError as exc:
                raise StartError(str(exc)) from None
            if opts.system_account:
                await op.ensure_account(opts.system_account)
        if self.system_account is None and not opts.no_system_account:
            raise StartError("error resolving system account: account missing")
        log = self.log
        log.notice("Starting nats-server")
        log.notice("  Version:  %s (pynatsd %s)", REFERENCE_VERSION, __version__)
        log.notice("  Python:   %s", sys.version.split()[0])
        log.notice("  Name:     %s", self.server_name)
        log.notice("  ID:       %s", self.server_id)
        if opts.config_file:
            log.notice("Using configuration file: %s", opts.config_file)
        if self.auth.operator is not None:
            self.auth.operator.log_startup(opts, log)
        for ext in self._extensions:
            await ext.start()
        port = opts.port if opts.port > 0 else 0
        factory = TracingClient if (opts.trace or opts.debug) else Client
        if opts.tls is not None:
            # TLS clients go through a listener of their own; the plain path is unchanged.
            self._tls_listener = TLSListener(self, build_context(opts.tls), opts.tls, lambda: factory(self))
            await self._tls_listener.start(opts.host or "0.0.0.0", port)
            self._listener = self._tls_listener
        else:
            self._listener = await self.loop.create_server(
                lambda: factory(self), host=opts.host or None, port=port, reuse_address=True, backlog=1024
            )
        sock = self._listener.sockets[0]
        self.port = sock.getsockname()[1]
        for s in self._listener.sockets:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        log.notice("Listening for client connections on %s:%d", opts.host or "0.0.0.0", self.port)
        if opts.tls is not None:
            first_only = opts.tls.handshake_first and opts.tls.fallback_delay <= 0
            if opts.allow_non_tls and not first_only:
                log.notice("TLS available for client connections")
            else:
                log.notice("TLS required for client connections")
            if first_only:
                log.warn('Clients that are not using "TLS Handshake First" option will fail to connect')
        if opts.pid_file:
            with open(opts.pid_file, "w") as f:
                f.write(str(os.getpid()))
        if opts.ports_file_dir:
            self._write_ports_file()
        self._schedule_activation_expiry()  # operator mode: now that the loop runs
        log.notice("Server is ready")
        self._tick()
        self.ready.set()

    def _tick(self) -> None:
        self.now = time.time()
        self._housekeeping = self.loop.call_later(0.5, self._tick)

    async def shutdown(self) -> None:
        """Stop accepting, flush and close every client, release files."""
        if self.shutdown_event.is_set():
            return
        self.shutdown_event.set()
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        if self._listener is not None:
            self._listener.close()
        self._flush_all()
        for c in list(self.clients.values()):
            c.close("Server Shutdown")
        if self._listener is not None:
            try:
                await asyncio.wait_for(self._listener.wait_closed(), 2.0)
            except (TimeoutError, asyncio.CancelledError):
                pass
            self._listener = None
        for ext in reversed(self._extensions):
            try:
                await ext.stop()
            except Exception:
                self.log.exception("Error stopping %s", type(ext).__name__)
        if self._activation_timer is not None:
            self._activation_timer.cancel()
        if self.resolver is not None:
            await self.resolver.close()
        for path in (self.opts.pid_file, self._ports_file_path()):
            if path:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        self.log.notice("Server Exiting..")
        self.stopped.set()

    def _ports_file_path(self) -> str:
        d = self.opts.ports_file_dir
        if not d:
            return ""
        exe = os.path.basename(sys.argv[0]).removesuffix(".py")
        if exe in ("", "__main__", "-c"):
            exe = "pynatsd"  # python -m pynatsd, or embedded
        return os.path.join(d, f"{exe}_{os.getpid()}.ports")

    def _write_ports_file(self) -> None:
        host = self.opts.host if self.opts.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        ports: dict[str, Any] = {"nats": [f"nats://{host}:{self.port}"], **self._ports}
        with open(self._ports_file_path(), "w") as f:
            json.dump(ports, f)

    async def enter_lame_duck(self) -> None:
        """Stop accepting, tell clients, then close them spread over lame_duck_duration."""
        if self.lame_duck:
            return
        self.lame_duck = True
        opts = self.opts
        self.log.notice("Entering lame duck mode, stop accepting new clients")
        if self._listener is not None:
            self._listener.close()
        for hook in list(self.lame_duck_hooks):
            hook()
        for c in list(self.clients.values()):
            c.queue(self.info_line(c, ldm=True))
        self._flush_all()
        grace = min(opts.lame_duck_grace_period, opts.lame_duck_duration)
        await asyncio.sleep(grace)
        clients = list(self.clients.values())
        if clients:
            spread = max(opts.lame_duck_duration - grace, 0.0) / len(clients)
            for c in clients:
                c.close("Server Shutdown")
                if spread:
                    await asyncio.sleep(min(spread, 1.0))
        await self.shutdown()

    def reload(self, new: Options) -> None:
        """Apply auth, permissions and limits from a new option set to live connections."""
        old = self.opts
        if new.unsupported:
            key, feature = next(iter(new.unsupported.items()))
            self.log.error(
                "Failed to reload server configuration: %s is not supported by pynatsd yet (option %r)",
                feature,
                key,
            )
            return
        new.port, new.host, new.http_port = old.port, old.host, old.http_port  # listeners stay
        if not self._reload_tls(old, new):
            return
        self.opts = new
        self.closed.resize(new.max_closed_clients)
        old_auth, self.auth = self.auth, Authenticator(_auth_options(new), log=self.log)
        self._wire_operator(old_auth)
        self._always_auth = self.auth.has_no_auth_user and not new.no_auth_user
        self._configure_accounts(new)
        self.config_time = time.time()
        self.log.debug_on, self.log.trace_on = new.debug, new.trace
        if new.mappings is not None:  # as the reference: no mappings block keeps the current ones
            self.global_account.mappings = _mappings(new)
        kept: dict[Account, int] = {}  # operator mode: connections kept per account, oldest first
        for c in list(self.clients.values()):
            c.parser.max_payload = new.max_payload
            c.parser.max_control_line = new.max_control_line
            if not c.connect_received:
                continue
            if c.grant is not None and self.auth.operator is not None:
                self._recheck_jwt_client(c, kept)
                continue
            if old_auth.is_listed(c.user) and not self.auth.is_listed(c.user):
                c.close("Client Closed")  # its user or NKey was removed: no -ERR, as the reference
                continue
            if self.auth.auth_required or self.auth.has_no_auth_user:
                result = self.auth.authenticate(c.connect_opts, c.nonce, cert=c.cert, host=c.host)
                if result is None or self.accounts.get(result.account or GLOBAL_ACCOUNT) is not c.account:
                    c.auth_violation()  # as the reference: a user gone or moved to another account
                    continue
                c.perms = ClientPermissions(result.permissions) if result.permissions else None
            else:
                if c.account is not self.global_account:
                    c.auth_violation()
                    continue
                c.perms = None
            c.apply_account_limits()
            c.refresh_pub_checks()
        for hook in list(self.reload_hooks):
            try:
                hook()
            except Exception:
                self.log.exception("Error applying the reloaded configuration")
        self.log.notice("Reloaded server configuration")

    def _recheck_jwt_client(self, c: Client, kept: dict[Account, int]) -> None:
        """A user-JWT connection after its account's claims may have changed, as the
        reference applies an account update: the newest connections over the account's
        connection limit are closed, a revoked user gets ``User Authentication Revoked``,
        anything else no longer valid ``Authorization Violation``."""
        acc = c.account
        n = kept.get(acc, 0)
        if 0 <= acc.max_connections <= n:
            c.send_err("maximum account active connections exceeded")
            c.close("Maximum Account Connections Exceeded")
            return
        kept[acc] = n + 1  # counted before its own checks, as the reference counts it
        reasons: list[str] = []
        result = self.auth.authenticate(
            c.connect_opts, c.nonce, cert=c.cert, host=c.host, log=lambda _lvl, text: reasons.append(text)
        )
        if result is None or self.accounts.get(result.account) is not acc:
            if "User authentication revoked" in reasons:
                c.send_err("User Authentication Revoked")
                c.close("Authentication Revoked")
            else:
                c.auth_violation()
            return
        c.grant = result.grant
        c.perms = ClientPermissions(result.permissions) if result.permissions else None
        c.apply_account_limits()
        c.refresh_pub_checks()

    # -- accounts -------------------------------------------------------------------------
    def _wire_operator(self, old: Authenticator | None) -> None:
        """Operator mode with the URL resolver: accounts are fetched when a user needs one,
        then created here; a reload keeps those fetched before."""
        op = self.auth.operator
        if op is None or self.opts.account_resolver != "URL":
            return
        if old is not None and old.operator is not None:
            op.adopt(old.operator)
        if self.resolver is None or self.resolver.url != _slash(self.opts.resolver_url):
            self.resolver = URLResolver(self.opts.resolver_url, self.opts.resolver_tls)
        op.fetcher = self.resolver.fetch
        op.on_accounts_changed = lambda: self._configure_accounts(self.opts)

    def _configure_accounts(self, opts: Options) -> None:
        """Create (or on reload, keep and update) the accounts of ``opts`` and wire their
        imports; an account that is gone keeps its object until its clients are closed."""
        imports.unwire(self, self.accounts)
        # Operator mode: the accounts are the valid account JWTs (auth/operator.py).
        op_accounts = self.auth.operator.account_configs() if self.auth.operator is not None else []
        if self.resolver is not None and opts.system_account not in {a.name for a in op_accounts}:
            op_accounts.append(AccountConfig(opts.system_account))  # stands in until fetched
        names = [a.name for a in [*opts.accounts, *op_accounts]]
        system = opts.system_account or SYSTEM_ACCOUNT
        if not opts.no_system_account and system not in names and system == SYSTEM_ACCOUNT:
            names.append(system)  # the default one; a named one must be configured
        configs = {a.name: a for a in [*opts.accounts, *op_accounts]}
        for name in names:
            acc = self.accounts.get(name)
            if acc is None:
                sl: Sublist[Subscription] = Sublist(cache=not opts.disable_sublist_cache)
                acc = self.accounts[name] = Account(name, sl)
                acc.client = InternalClient(self, name, acc)
            acc.apply_config(configs.get(name))
            if self.auth.operator is not None:  # operator mode: the account JWT's claims
                jwt_acc = self.auth.operator.accounts.get(name)
                acc.jwt_claims = jwt_acc.claims if jwt_acc is not None else None
            if self._link_listener is not None and acc.sublist.listener is None:
                self._watch_account(acc)
        for name in [n for n in self.accounts if n != GLOBAL_ACCOUNT and n not in names]:
            del self.accounts[name]
        self.system_account = None if opts.no_system_account else self.accounts.get(system)
        imports.wire(self, self.accounts)
        self._schedule_activation_expiry()

    def _schedule_activation_expiry(self) -> None:
        """Operator mode: rebuild the imports when an activation token expires (its import
        stops, as the reference removes it)."""
        if self._activation_timer is not None:
            self._activation_timer.cancel()
            self._activation_timer = None
        op = self.auth.operator
        if op is None or not op.next_activation_expiry or not self.loop.is_running():
            return
        delay = max(op.next_activation_expiry - time.time(), 0.0) + 0.05
        self._activation_timer = self.loop.call_later(delay, self._configure_accounts, self.opts)

    # -- links to other servers (server/remote.py) ------------------------------------------
    def enable_links(self, listener: Callable[[Account, Subscription, bool], None]) -> None:
        """Route through server/remote.py from now on, and tell ``listener`` of every local
        subscription added (True) or removed (False) in any account."""
        self.linked = True
        self._link_listener = listener
        for acc in self.accounts.values():
            self._watch_account(acc)
        # From now on deliver() is remote.route_message: an instance attribute that shadows
        # the method, so a server without links pays nothing at all on the publish path.
        # Callers that bound the method earlier (Internal handles) are re-bound.
        self.deliver = functools.partial(remote.route_message, self)  # type: ignore[method-assign]
        for handle in list(self.internals):
            handle.rebind()

    def _watch_account(self, acc: Account) -> None:
        listener = self._link_listener
        assert listener is not None

        def changed(sub: Subscription, added: bool) -> None:
            if sub.__class__ is not remote.RemoteSubscription and not sub.si:
                listener(acc, sub, added)

        acc.sublist.listener = changed

    def send_async_info(self) -> None:
        """Send the current INFO to every client that takes INFO updates (protocol 1)."""
        for c in list(self.clients.values()):
            if c.connect_received and c.protocol >= 1 and not c.closed:
                c.queue(info_line(self.info(c, ldm=self.lame_duck, update=True)))

    def bind_account(self, c: Client, name: str) -> bool:
        """Move a client that just authenticated into its account; False (and the client
        closed) when the account's connection limit is reached."""
        acc = self.accounts.get(name or GLOBAL_ACCOUNT, self.global_account)
        if acc is not c.account:
            c.account.clients.discard(c)
            c.account = acc
            c.cache = acc.cache
        if acc.max_connections >= 0 and c not in acc.clients and len(acc.clients) >= acc.max_connections:
            c.send_err("maximum account active connections exceeded")
            c.close("Maximum Account Connections Exceeded")
            return False
        acc.clients.add(c)
        c.apply_account_limits()
        return True

    def _reload_tls(self, old: Options, new: Options) -> bool:
        """New certificates (and TLS settings) for connections accepted from now on, as the
        reference reloads them; turning TLS on or off needs a restart. False: reload refused."""
        if (old.tls is None) != (new.tls is None):
            self.log.error(
                "Failed to reload server configuration: TLS can not be turned on or off by a reload"
            )
            return False
        if new.tls is not None and self._tls_listener is not None:
            try:
                ctx = build_context(new.tls)
            except (TLSConfigError, OSError) as exc:
                self.log.error("Failed to reload server configuration: %s", exc)
                return False
            self._tls_listener.ctx, self._tls_listener.tls = ctx, new.tls
        return True

    # -- registry -------------------------------------------------------------------
    def next_cid(self) -> int:
        self._cid += 1
        return self._cid

    def register(self, c: Client) -> bool:
        if len(self.clients) >= self.opts.max_connections:
            return False
        self.clients[c.cid] = c
        c.registered = True
        self.total_connections += 1
        return True

    def unregister(self, c: Client, subs: tuple[SubRecord, ...] = ()) -> None:
        acc = c.account
        acc.clients.discard(c)
        if self.clients.pop(c.cid, None) is not None:
            c.registered = False
            im, ib, om, ob = self._closed_totals
            self._closed_totals = (im + c.in_msgs, ib + c.in_bytes, om + c.out_msgs, ob + c.out_bytes)
            im, ib, om, ob = acc.closed_totals
            acc.closed_totals = (im + c.in_msgs, ib + c.in_bytes, om + c.out_msgs, ob + c.out_bytes)
            self.closed.append(closed_record(c, subs, GLOBAL_ACCOUNT))
        elif c.close_reason == "Maximum Connections Exceeded" and self.closed.last_cid() != c.cid:
            self.closed.append(closed_record(c, subs, GLOBAL_ACCOUNT))  # refused, but seen

    def auth_timeout(self) -> float:
        return self.auth.auth_timeout

    def identity(self) -> dict[str, Any]:
        """What INFO and /varz both start with: who this server is and where it listens."""
        return {
            "server_id": self.server_id,
            "server_name": self.server_name,
            "version": REFERENCE_VERSION,
            "pynatsd_version": __version__,
            "proto": PROTO,
            "go": "python" + sys.version.split()[0],
            "host": self.opts.host or "0.0.0.0",
            "port": self.port,
        }

    def info(self, c: Client | None = None, ldm: bool = False, update: bool = False) -> dict[str, Any]:
        opts = self.opts
        d = self.identity()
        d["headers"] = not opts.no_header_support
        if self.auth.advertise_auth_required or self._always_auth:
            d["auth_required"] = True
        tls = opts.tls
        if tls is not None:
            if not opts.allow_non_tls or (c is not None and c.tls_first):
                d["tls_required"] = True
            else:
                d["tls_available"] = True
            if tls.verify:
                d["tls_verify"] = True
        d["max_payload"] = opts.max_payload
        if c is not None:
            d["client_id"] = c.cid
            d["client_ip"] = c.host
            # only the first INFO has it (not lame duck's, not an update), as the reference
            if c.nonce and not ldm and not update:
                d["nonce"] = c.nonce.decode("ascii")
        d["api_lvl"] = API_LEVEL  # with or without JetStream, as the reference
        if ldm:
            d["ldm"] = True
        if self._info_fields:
            d.update(self._info_fields)
        return dict(sorted(d.items(), key=lambda kv: _INFO_RANK.get(kv[0], len(_INFO_RANK))))

    def info_line(self, c: Client | None = None, ldm: bool = False) -> bytes:
        return info_line(self.info(c, ldm))

    # -- what layers add -----------------------------------------------------------------
    def add_extension(self, ext: Extension) -> None:
        self._extensions.append(ext)

    def set_info_fields(self, fields: dict[str, Any]) -> None:
        self._info_fields.update(fields)

    def info_field(self, name: str) -> Any:
        """A field a layer added to INFO (None if none did)."""
        return self._info_fields.get(name)

    def register_port(self, kind: str, url: str) -> None:
        self._ports.setdefault(kind, []).append(url)

    def add_pre_flush(self, hook: Callable[[], None]) -> None:
        self._pre_flush.append(hook)

    def remove_pre_flush(self, hook: Callable[[], None]) -> None:
        if hook in self._pre_flush:
            self._pre_flush.remove(hook)

    # -- routing --------------------------------------------------------------------
    def dirty(self, c: Client) -> None:
        self._dirty.append(c)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush_all)

    def _flush_all(self) -> None:
        self._flush_scheduled = False
        # Stores first: a PubAck must not reach a client before its message reaches the OS.
        for hook in self._pre_flush:
            hook()
        dirty = self._dirty
        if not dirty:
            return
        self._dirty = []
        for c in dirty:
            c.flush()

    def schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush_all)

    # -- in-process subscriptions (Internal) ------------------------------------------
    def subscribe_internal(
        self, account: Account, subject: str, cb: MsgCallback, queue: str | None = None, si: bool = False
    ) -> Subscription:
        """Subscribe an in-process handler; it is called synchronously for each message.
        ``si``: a service import's subscription (never announced to routes, as the reference)."""
        owner = account.client
        owner._isid += 1
        sub = Subscription(owner, subject, queue, b"%d" % owner._isid, cb)
        sub.si = si
        if not account.sublist.insert(sub):
            raise ValueError(f"invalid subject {subject!r}")
        owner.subs[sub.sid_b] = sub
        return sub

    def unsubscribe_internal(self, sub: Subscription) -> None:
        sub.client.remove_sub(sub)
        key = sub.subject.removesuffix(".>").encode()
        if self._claims.get(key) is sub:
            del self._claims[key]
            self._claim_verdicts.pop(key, None)
            self._index_claims()

    def watch_interest(self, subject: str, cb: Callable[[], None]) -> Callable[[], None]:
        self.interest_watch.setdefault(subject, []).append(cb)

        def cancel() -> None:
            watchers = self.interest_watch.get(subject)
            if watchers is not None and cb in watchers:
                watchers.remove(cb)
                if not watchers:
                    del self.interest_watch[subject]

        return cancel

    def interest_added(self, subject: str) -> None:
        """A client subscribed: wake whoever watches interest on exactly that subject."""
        watchers = self.interest_watch.get(subject)
        if watchers:
            for cb in list(watchers):
                cb()

    def claim_prefix(self, account: Account, prefix: str, cb: MsgCallback) -> Subscription:
        sub = self.subscribe_internal(account, prefix + ".>", cb)
        self._claims[prefix.encode()] = sub
        self._index_claims()
        return sub

    def _index_claims(self) -> None:
        roots: dict[bytes, set[int]] = {}
        for key in self._claims:
            roots.setdefault(key.split(b".", 1)[0] + b".", set()).add(key.count(b".") + 1)
        self._claim_roots = {root: tuple(sorted(depths)) for root, depths in roots.items()}

    def _claimed(self, subject: bytes, account: Account) -> Subscription | None:
        """The claim that alone receives ``subject``, if there is one."""
        first = subject.find(b".")
        depths = self._claim_roots.get(subject[: first + 1]) if first > 0 else None
        if depths is None:
            return None
        for depth in depths:
            parts = subject.split(b".", depth)  # one C call: the last part is what follows
            if len(parts) <= depth:
                continue
            key = subject[: len(subject) - len(parts[depth]) - 1]
            sub = self._claims.get(key)
            if sub is None or sub.closed or sub.client.account is not account:
                continue
            sl = account.sublist
            verdict = self._claim_verdicts.get(key)
            if verdict is None or verdict[0] != sl.inserts or verdict[1] != sl.removes:
                alone = sl.overlapping(sub.subject) == [sub]
                verdict = self._claim_verdicts[key] = (sl.inserts, sl.removes, alone)
            return sub if verdict[2] else None
        return None

    def deliver(
        self,
        pub: Client,
        subject: bytes,
        reply: bytes | None,
        hdr: int,
        size: bytes,
        msg: bytes,
        frame_subject: bytes | None = None,
    ) -> bool:
        """Route one message to every interested subscriber; False when nobody got it.

        ``frame_subject``: routed by ``subject``, the frames carry this one instead.
        """
        r = pub.cache.get(subject)
        if r is None:
            if self._claim_roots:
                claim = self._claimed(subject, pub.account)
                if claim is not None and claim.cb is not None:
                    claim.delivered += 1
                    claim.cb(claim, pub, subject, reply, hdr, msg)
                    self.schedule_flush()
                    return True
            r = pub.account.sublist.match(subject)
        if not r.any:
            return False
        n = len(msg)
        # Frame tails are built once per message, on the first receiver that needs a frame
        # (in-process subscribers take the message as it is).
        tail = tail_plain = b""
        heads: dict[Subscription, bytes] | None
        if frame_subject is not None:
            heads = _frame_heads(r, frame_subject)
            routed, subject = subject, frame_subject
        else:
            heads = r.heads
            if heads is None:
                heads = r.heads = _frame_heads(r, subject)
        targets = r.psubs
        if r.qsubs:
            picked = [pick_member(members, pub, subject) for members in r.qsubs]
            targets = targets + tuple(m for m in picked if m is not None)
        delivered = 0
        dirty = self._dirty
        for sub in targets:
            c = sub.client
            if sub.closed or (c is pub and not pub.echo):
                continue
            if c.perms is not None and not c.perms.can_receive(subject.decode("utf-8", "replace"), sub.queue):
                continue
            cb = sub.cb
            if cb is not None:
                # An in-process subscriber: handed the message, no frame. One that says
                # False passed it on to nobody (an import with no interest behind it).
                sub.delivered += 1
                if frame_subject is not None and sub in pub.account.carriers:
                    # a stream import carries it on by its routing subject, framed as it is
                    if imports.carry_framed(self, pub.account, sub, routed, subject, reply, hdr, msg):
                        delivered += 1
                elif cb(sub, pub, subject, reply, hdr, msg) is not False:
                    delivered += 1
                continue
            if not tail:
                tail, tail_plain = msg_tails(reply, hdr, size, msg)
            if hdr >= 0 and c.headers:
                c.out += b"H" + heads[sub] + tail
            else:
                c.out += heads[sub] + tail_plain
            if not c.flagged:
                c.flagged = True
                dirty.append(c)
            if c.stalled and c is not pub:
                pub.stall(c)
            delivered += 1
            c.out_msgs += 1
            c.out_bytes += n
            sub.delivered += 1
            if sub.max_msgs or c.perms is not None:
                self._after_delivery(sub, reply)
        if delivered and not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush_all)
        return delivered > 0

    def direct_target(self, subject: bytes, account: Account) -> Subscription | None:
        """See :meth:`Internal.direct_receiver`."""
        r = account.cache.get(subject)
        if r is None:
            r = account.sublist.match(subject)
        if r.qsubs or len(r.psubs) != 1:
            return None
        sub = r.psubs[0]
        c = sub.client
        if sub.cb is not None or sub.closed or sub.max_msgs or c.perms is not None or not c.headers:
            return None
        if c.closed or isinstance(c, InternalClient):
            return None
        return sub

    def write_frames(self, sub: Subscription, data: bytes, msgs: int, size: int) -> None:
        """See :meth:`Internal.write_frames`."""
        c = sub.client
        c.queue(data)
        c.out_msgs += msgs
        c.out_bytes += size
        sub.delivered += msgs

    @staticmethod
    def _after_delivery(sub: Subscription, reply: bytes | None) -> None:
        """Auto-unsubscribe and response permissions: rare, so kept off the hot path."""
        c = sub.client
        if sub.max_msgs and sub.delivered >= sub.max_msgs:
            c.remove_sub(sub)
        if reply and c.perms is not None:
            c.perms.track_reply(reply.decode("utf-8", "replace"))

    def totals(self) -> tuple[int, int, int, int]:
        """in_msgs, in_bytes, out_msgs, out_bytes over live and closed connections."""
        im, ib, om, ob = self._closed_totals
        for c in self.clients.values():
            im += c.in_msgs
            ib += c.in_bytes
            om += c.out_msgs
            ob += c.out_bytes
        return im, ib, om, ob


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _auth_options(opts: Options) -> Options:
    """The options authentication works from: when the accounts block holds only the system
    account (to give it users) and nothing else asks for credentials, the reference lets
    everyone else into $G through a made-up ``no_auth_user``; so do we."""
    system = opts.system_account or SYSTEM_ACCOUNT
    only_system = len(opts.accounts) == 1 and opts.accounts[0].name == system
    if not only_system or opts.no_auth_user or opts.auth_block or opts.no_system_account:
        return opts
    name = "nats-" + secrets.token_hex(4)
    fake = User(name, name[5:])
    return opts.merge({"users": [*opts.users, fake], "no_auth_user": name})


def _frame_heads(r: MatchResult[Subscription], subject: bytes) -> dict[Subscription, bytes]:
    """The frame head of every subscriber of a match result, built once per result
    (``frames.msg_head``, inlined: unique reply subjects make a result per message)."""
    start = b"MSG " + subject + b" "
    heads = {sub: start + sub.sid_b for sub in r.psubs}
    for members in r.qsubs:
        for sub in members:
            heads[sub] = start + sub.sid_b
    return heads
