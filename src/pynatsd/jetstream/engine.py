"""The server's JetStream: which accounts have it, and the resources they all share.

The reference enables JetStream per account. Without accounts of its own in the config
(only ``$G`` and the system account), ``$G`` has it with no limits of its own; with an
``accounts`` block, exactly the accounts whose ``jetstream`` is set have it, each with its
limits, and every other account except the system account answers the API with "JetStream
not enabled for account". The system account never has JetStream.

Each enabled account has a :class:`~pynatsd.jetstream.manager.JetStream` of its own (its
streams under ``<store_dir>/jetstream/<account>/streams``); this engine holds the server's
``max_memory`` / ``max_store``, refuses account limits the server cannot honour (at start,
as the reference, that stops the server), counts usage across accounts, and on a reload
enables, updates or disables accounts as the new config says, leaving stored data in
place for an account that loses JetStream.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pynatsd.jetstream import jsz
from pynatsd.jetstream.errors import ApiError, JSErr, api_error
from pynatsd.jetstream.manager import JetStream
from pynatsd.jetstream.not_enabled import NotEnabled
from pynatsd.jetstream.store_lock import StoreLock
from pynatsd.options import JsAccountLimits
from pynatsd.server.internal import StartError

if TYPE_CHECKING:
    from pynatsd.jetstream.stream import Stream
    from pynatsd.server.internal import Internal

__all__ = ["JetStreamEngine", "default_store_dir"]

GLOBAL_ACCOUNT = "$G"
_UNLIMITED = JsAccountLimits()


def default_store_dir() -> str:
    return os.path.join(tempfile.gettempdir(), "nats", "jetstream")


def _system_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 30


class JetStreamEngine:
    """Every account's JetStream and the server-wide limits over them (an extension)."""

    def __init__(self, core: Internal) -> None:
        self.core = core
        opts = core.opts
        base = opts.store_dir or default_store_dir()
        # The reference keeps everything under <store_dir>/jetstream.
        self.root = Path(base) if Path(base).name == "jetstream" else Path(base) / "jetstream"
        self.max_memory = (
            opts.jetstream_max_memory if opts.jetstream_max_memory >= 0 else _system_memory() * 3 // 4
        )
        self.max_store = opts.jetstream_max_store  # < 0: 3/4 of the free disk, known at start
        #: account name -> its JetStream
        self.accounts: dict[str, JetStream] = {}
        self._not_enabled: dict[str, NotEnabled] = {}
        # bytes in memory and on disk over all accounts: summed at most once a second
        # and counted up in between (summing every store on every publish would cost
        # more than storing the message)
        self._mem = self._disk = 0
        self._usage_at = 0.0
        self._lock = StoreLock(self.root)  # one server per store directory (store_lock.py)

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        core = self.core
        system = core.system_account_name
        if any(a.name == system and a.jetstream is not None for a in core.opts.accounts):
            raise StartError("Not allowed to enable JetStream on the system account")
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()  # store lock: refuses a directory another server uses
        if self.max_store < 0:
            self.max_store = shutil.disk_usage(self.root).free * 3 // 4
        log = core.log
        log.notice("Starting JetStream")
        log.notice("  Max Memory:      %s", _human(self.max_memory))
        log.notice("  Max Storage:     %s", _human(self.max_store))
        log.notice('  Store Directory: "%s"', self.root.parent)
        self.reconcile(starting=True)
        info: dict[str, object] = {"jetstream": True}
        if core.opts.jetstream_domain:
            info["domain"] = core.opts.jetstream_domain
        core.set_info_fields(**info)
        core.add_reload_hook(self.reconcile)
        core.offer("jsz", lambda **options: jsz.jsz(self, jsz.JszOptions(**options)))
        core.offer("varz.jetstream", self._varz)
        recovered = sum(len(js.streams) for js in self.accounts.values())
        log.notice("Server is running with JetStream: %d streams recovered", recovered)

    def _varz(self) -> dict[str, object]:
        """The ``jetstream`` block of ``/varz``: config, stats, limits."""
        return {
            "config": jsz.server_config(self),
            "stats": jsz.server_stats(self),
            "limits": jsz.server_limits(self),
        }

    async def stop(self) -> None:
        self.core.offer("jsz", None)
        self.core.offer("varz.jetstream", None)
        self.core.remove_reload_hook(self.reconcile)
        for js in self.accounts.values():
            js.close()
        self.accounts.clear()
        for responder in self._not_enabled.values():
            responder.close()
        self._not_enabled.clear()
        self._lock.release()  # store lock

    @property
    def streams(self) -> dict[str, Stream]:
        """The global account's streams (an embedded server's usual account; {} when it has
        no JetStream): :meth:`account` reaches the others."""
        js = self.accounts.get(GLOBAL_ACCOUNT)
        return js.streams if js is not None else {}

    def account(self, name: str = GLOBAL_ACCOUNT) -> JetStream | None:
        """The JetStream of account ``name``, None when that account has none."""
        return self.accounts.get(name)

    # -- which accounts have JetStream ---------------------------------------------------
    def _wanted(self) -> dict[str, JsAccountLimits | None]:
        """Each account's limits as the options say now; None = no JetStream."""
        core = self.core
        system = core.system_account_name
        operator = bool(core.opts.trusted_operators or core.opts.trusted_keys)
        global_only = not operator and all(name in (GLOBAL_ACCOUNT, system) for name in core.account_names())
        wanted: dict[str, JsAccountLimits | None] = {}
        for name in core.account_names():
            if global_only:
                wanted[name] = _UNLIMITED if name == GLOBAL_ACCOUNT else None
            elif name == system:
                wanted[name] = None
            else:  # the accounts block's, or in operator mode the account JWT's
                cfg = core.account_config(name)
                wanted[name] = cfg.jetstream if cfg is not None else None
        return wanted

    def reconcile(self, starting: bool = False) -> None:
        """Enable, update or disable JetStream per account to match the options.

        At start a refusal stops the server (as the reference's "Can't start JetStream");
        on a reload it is logged and that account keeps what it had."""
        wanted = self._wanted()
        system = self.core.system_account_name
        for name in [n for n in self.accounts if wanted.get(n) is None]:
            self.accounts.pop(name).close()  # streams stop; their files stay
            self.core.log.notice("JetStream disabled for account %r", name)
        for name in [n for n in self._not_enabled if n not in wanted or wanted[n] is not None]:
            self._not_enabled.pop(name).close()
        for name, limits in wanted.items():
            handle = self.core.for_account(name)
            if handle is None:
                continue
            if limits is None:
                if name not in self._not_enabled:
                    responder = self._not_enabled[name] = NotEnabled(handle, system=name == system)
                    responder.open()
                continue
            js = self.accounts.get(name)
            err = self.sufficient_resources(limits, js.limits if js is not None else None)
            if err is not None:
                text = f"Error enabling jetstream on configured accounts: {err.description} ({err.err_code})"
                if starting:
                    raise StartError(f"Can't start JetStream: {text}")
                self.core.log.error("%s", text)
                continue
            if js is not None:
                js.set_limits(limits)
                continue
            js = self.accounts[name] = JetStream(handle, self, limits)
            js.open()
            if not starting:
                self.core.log.notice("JetStream enabled for account %r", name)

    def sufficient_resources(self, limits: JsAccountLimits, had: JsAccountLimits | None) -> ApiError | None:
        """The reference's check of an account's limits against the server's: what the
        account would add (or, for an account already enabled, grow by) must fit beside
        the streams' reservations and beside every enabled account's limits."""
        add_mem = max(limits.max_memory, 0) - (max(had.max_memory, 0) if had is not None else 0)
        add_disk = max(limits.max_store, 0) - (max(had.max_store, 0) if had is not None else 0)
        res_mem, res_disk = self.reserved()
        if res_mem + add_mem > self.max_memory:
            return api_error(JSErr.MEMORY_RESOURCES_EXCEEDED)
        if res_disk + add_disk > self.max_store:
            return api_error(JSErr.STORAGE_RESOURCES_EXCEEDED)
        acc_mem = sum(max(js.limits.max_memory, 0) for js in self.accounts.values())
        acc_disk = sum(max(js.limits.max_store, 0) for js in self.accounts.values())
        if acc_mem + add_mem > self.max_memory:
            return api_error(JSErr.MEMORY_RESOURCES_EXCEEDED)
        if acc_disk + add_disk > self.max_store:
            return api_error(JSErr.STORAGE_RESOURCES_EXCEEDED)
        return None

    # -- resources -----------------------------------------------------------------------
    def reserved(self) -> tuple[int, int]:
        """Bytes reserved in memory and on disk: the ``max_bytes`` of every stream that has one."""
        mem = disk = 0
        for js in self.accounts.values():
            m, d = js.reserved()
            mem += m
            disk += d
        return mem, disk

    def check_resources(self, js: JetStream, stream: Stream, adding: int) -> None:
        """Refuse a message when the server is past a memory or disk limit (10023) or
        when it would take its account past one (10002), as the reference.

        For an account with limits, usage is counted per stream: each check brings the
        publishing stream's count up to date in O(1) (so what ``discard: old`` or a purge
        freed is seen at once). Other streams' changes (expiry, purges), and accounts
        without limits of their own (only the server's bound them: their messages are
        counted up), are summed again at most once a second, and exactly before any
        refusal. The passing cases are written out inline: they run for every stored
        message."""
        if time.monotonic() - self._usage_at > 1.0:
            self._recount()
        if js.unlimited:  # only the server's limits: counted up, summed again every second
            if stream.config.storage == "memory":
                if self._mem <= self.max_memory:
                    self._mem += adding
                    return
            elif self._disk <= self.max_store:
                self._disk += adding
                return
            self._refuse(js, stream.config.storage == "memory", adding)
            return
        delta = stream.store.used_bytes() - stream.counted_bytes
        if stream.config.storage == "memory":
            if delta:
                stream.counted_bytes += delta
                js.used_mem += delta
                self._mem += delta
            limit = js.limits.max_memory
            if self._mem <= self.max_memory and (limit < 0 or js.used_mem + adding <= limit):
                return
        else:
            if delta:
                stream.counted_bytes += delta
                js.used_disk += delta
                self._disk += delta
            limit = js.limits.max_store
            if self._disk <= self.max_store and (limit < 0 or js.used_disk + adding <= limit):
                return
        self._refuse(js, stream.config.storage == "memory", adding)

    def _refuse(self, js: JetStream, memory: bool, adding: int) -> None:
        """Count everything exactly, then refuse if a limit is still in the way."""
        self._recount()
        if memory:
            if self._mem > self.max_memory:
                raise api_error(JSErr.INSUFFICIENT_RESOURCES)
            if 0 <= js.limits.max_memory < js.used_mem + adding:
                raise api_error(JSErr.ACCOUNT_RESOURCES_EXCEEDED)
        else:
            if self._disk > self.max_store:
                raise api_error(JSErr.INSUFFICIENT_RESOURCES)
            if 0 <= js.limits.max_store < js.used_disk + adding:
                raise api_error(JSErr.ACCOUNT_RESOURCES_EXCEEDED)

    def forget(self, js: JetStream, stream: Stream) -> None:
        """A stream deleted or closed no longer counts."""
        n, stream.counted_bytes = stream.counted_bytes, 0
        if stream.config.storage == "memory":
            js.used_mem -= n
            self._mem -= n
        else:
            js.used_disk -= n
            self._disk -= n

    def _recount(self) -> None:
        self._usage_at = time.monotonic()
        self._mem = self._disk = 0
        for a in self.accounts.values():
            a.used_mem = a.used_disk = 0
            for st in a.streams.values():
                st.counted_bytes = st.store.used_bytes()
                if st.config.storage == "memory":
                    a.used_mem += st.counted_bytes
                else:
                    a.used_disk += st.counted_bytes
            self._mem += a.used_mem
            self._disk += a.used_disk


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{n} B"
        n //= 1024
    return str(n)
