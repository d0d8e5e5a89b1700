"""Embedding API: run a server inside a Python program, from async or sync code.

``async with Server() as srv`` runs it on the caller's event loop; ``with Server() as srv``
runs it on a background thread with a loop of its own, for synchronous test suites.
Unlike the command line, an embedded server is safe to run many times side by side: a
free port on 127.0.0.1, a private temporary JetStream store removed on exit (when no
``store_dir`` is given), and its log through Python's :mod:`logging` (the ``pynatsd``
logger) instead of stderr.

It also injects faults for tests (docs/TESTING.md): dropped connections, lame duck mode,
restart in place, paused delivery, slow or late readers and a controllable clock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from pynatsd.config.loader import load_config
from pynatsd.embed.clock import Clock
from pynatsd.embed.faults import DelayedTransport, SlowTransport, unwrap
from pynatsd.node import Node
from pynatsd.options import Options
from pynatsd.server.logging import PythonLogger, ServerLogger

if TYPE_CHECKING:
    from pynatsd.jetstream.consumer import Consumer
    from pynatsd.jetstream.engine import JetStreamEngine
    from pynatsd.server.client import Client
    from pynatsd.server.server import NatsServer

__all__ = ["Server", "new_event_loop"]

T = TypeVar("T")
_FOREVER_NS = 100 * 365 * 86400 * 1_000_000_000  # a pause with no end of its own


class Server:
    """An in-process pynatsd server.

    Pass an :class:`Options`, a ``config_file``, or option fields as keywords
    (``port=0`` or ``-1`` picks a free port; keywords override the file).

    ``log``: ``"logging"`` (the default: records on the ``pynatsd`` logger; unconfigured,
    Python shows only warnings and errors), ``"stderr"`` (the daemon's format and
    destination), or a :class:`ServerLogger`. A ``log_file`` option writes the daemon's
    format to that file. ``clock=True`` gives the server a controllable clock
    (:meth:`advance_clock`).
    """

    kind = "pynatsd"  # as the pytest plugin's reference server says "reference"

    def __init__(
        self,
        options: Options | None = None,
        *,
        config_file: str | None = None,
        log: str | ServerLogger = "logging",
        clock: bool = False,
        **fields: Any,
    ) -> None:
        if config_file:
            base = load_config(config_file)
        else:
            base = options.copy() if options is not None else Options(host="127.0.0.1", port=-1)
        self.options = base.merge(fields) if fields else base
        if not isinstance(log, ServerLogger) and log not in ("logging", "stderr"):
            raise ValueError(f"log must be 'logging', 'stderr' or a ServerLogger, not {log!r}")
        self._log_choice = log
        self.clock: Clock | None = Clock() if clock else None
        self._node: Node | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the (real) loop it runs on
        self._finished: asyncio.Event | None = None
        self._temp_store = ""  # our private JetStream store, removed at shutdown
        self._lame_duck_task: asyncio.Task[None] | None = None

    # -- properties ----------------------------------------------------------------
    @property
    def node(self) -> Node:
        if self._node is None:
            raise RuntimeError("server is not running")
        return self._node

    @property
    def server(self) -> NatsServer:
        """The core server (connections, routing, counters)."""
        return self.node.server

    @property
    def jetstream(self) -> JetStreamEngine | None:
        """The JetStream layer (``.account(name)`` is one account's), None when JetStream is off."""
        return self.node.jetstream

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def host(self) -> str:
        h = self.options.host
        return "127.0.0.1" if h in ("", "0.0.0.0", "::") else h

    @property
    def client_url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def http_url(self) -> str | None:
        port = self.node.http_port
        scheme = "https" if self.options.https_port and not self.options.http_port else "http"
        return f"{scheme}://{self.host}:{port}" if port else None

    @property
    def store_dir(self) -> str:
        """The JetStream store directory in use ("" without JetStream)."""
        return self.options.store_dir if self.options.jetstream else ""

    # -- async use ---------------------------------------------------------------------
    def _logger(self) -> ServerLogger | None:
        choice, opts = self._log_choice, self.options
        if isinstance(choice, ServerLogger):
            return choice
        if choice == "stderr" or opts.log_file:
            return None  # the core makes the daemon's logger from the options
        return PythonLogger(debug=opts.debug, trace=opts.trace)

    async def start(self) -> Server:
        opts = self.options
        if opts.jetstream and not opts.store_dir:
            # Embedded: never the shared <tmp>/nats/jetstream of the daemon's default.
            self._temp_store = opts.store_dir = tempfile.mkdtemp(prefix="pynatsd-js-")
        self._loop = asyncio.get_running_loop()
        self._finished = asyncio.Event()
        try:
            await self._start_node()
        except BaseException:
            await self._stop_node()
            self._remove_temp_store()
            raise
        return self

    async def _start_node(self) -> None:
        if self.clock is not None:
            self.clock.install()
        node = self._node = Node(self.options, self._logger())
        if self.clock is not None:
            node.server.wrap_loop = self.clock.wrap
        await node.server.start()

    async def _stop_node(self) -> None:
        try:
            if self._node is not None:
                await self._node.server.shutdown()
        finally:
            if self.clock is not None:
                self.clock.uninstall()

    def _remove_temp_store(self) -> None:
        if self._temp_store:
            shutil.rmtree(self._temp_store, ignore_errors=True)
            if self.options.store_dir == self._temp_store:
                self.options.store_dir = ""
            self._temp_store = ""

    async def shutdown(self) -> None:
        await self._on_server_loop(self._shutdown())

    async def _shutdown(self) -> None:
        try:
            await self._stop_node()
        finally:
            self._remove_temp_store()
            if self._finished is not None:
                self._finished.set()

    async def __aenter__(self) -> Server:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.shutdown()

    # -- sync use (background thread) ---------------------------------------------------------
    def start_in_thread(self, timeout: float = 30.0) -> Server:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = new_event_loop()
            self._thread_loop = loop
            asyncio.set_event_loop(loop)

            async def main() -> None:
                try:
                    await self.start()
                except BaseException as e:
                    failure.append(e)
                    started.set()
                    return
                started.set()
                assert self._finished is not None
                await self._finished.wait()

            try:
                loop.run_until_complete(main())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="pynatsd", daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise TimeoutError("pynatsd did not start in time")
        if failure:
            self._thread.join(timeout)
            self._thread = self._thread_loop = None
            raise failure[0]
        return self

    def stop(self, timeout: float = 30.0) -> None:
        loop, thread = self._thread_loop, self._thread
        if loop is None or thread is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        fut.result(timeout)
        thread.join(timeout)
        self._thread = self._thread_loop = None

    def __enter__(self) -> Server:
        return self.start_in_thread()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- running on the server's loop -----------------------------------------------------------
    async def _on_server_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the server's loop, from that loop or from any other."""
        loop = self._loop
        if loop is None or loop is asyncio.get_running_loop():
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    @property
    def sync(self) -> SyncFaults:
        """The fault-injection methods for synchronous code: ``srv.sync.restart()``."""
        return SyncFaults(self)

    # -- fault injection: connections --------------------------------------------------------
    def _clients(self, client: int | str | None) -> list[Client]:
        """Clients by id (``cid``), by the name they connected with, or all (None)."""
        found = [
            c
            for c in list(self.server.clients.values())
            if client is None or c.cid == client or (isinstance(client, str) and c.name == client)
        ]
        if client is not None and not found:
            raise LookupError(f"no client connection {client!r}")
        return found

    async def disconnect(self, client: int | str) -> int:
        """Drop a client's connection (by cid or connection name) as a network failure
        would: no goodbye, buffered output lost. The client sees a broken connection and
        reconnects if it is configured to. Returns how many connections were dropped."""
        return await self._on_server_loop(self._disconnect(client))

    async def disconnect_all(self) -> int:
        """Drop every client connection at once (the server stays up)."""
        return await self._on_server_loop(self._disconnect(None))

    async def _disconnect(self, client: int | str | None) -> int:
        clients = self._clients(client)
        for c in clients:
            if c.transport is not None:
                c.transport = unwrap(c.transport)
            c.close("Client Closed", flush=False)
        return len(clients)

    async def set_latency(self, client: int | str, seconds: float) -> None:
        """Deliver what the server sends this client ``seconds`` late (0 removes it)."""
        await self._on_server_loop(self._set_transport(client, "latency", seconds))

    async def make_slow(self, client: int | str, bytes_per_second: int | None) -> None:
        """Make this client read only ``bytes_per_second`` (None restores it): output piles
        up on the server until the slow-consumer limit (``max_pending``) cuts it off."""
        await self._on_server_loop(self._set_transport(client, "slow", bytes_per_second))

    async def _set_transport(self, client: int | str, kind: str, value: float | None) -> None:
        loop = asyncio.get_running_loop()
        for c in self._clients(client):
            if c.transport is None or c.closed:
                continue
            real = unwrap(c.transport)
            if kind == "latency" and value:
                c.transport = DelayedTransport(real, loop, float(value))  # type: ignore[assignment]
            elif kind == "slow" and value is not None:
                c.transport = SlowTransport(real, loop, int(value))  # type: ignore[assignment]
            else:
                c.transport = real

    # -- fault injection: server life ---------------------------------------------------------
    async def enter_lame_duck(self, duration: float | None = None, grace: float | None = None) -> None:
        """Enter lame duck mode: stop accepting, tell clients (their ``ldm`` INFO), close them
        over ``duration`` seconds after ``grace``, then shut down. Returns once clients were
        told; :meth:`wait_stopped` waits for the end."""
        await self._on_server_loop(self._lame_duck(duration, grace))

    async def _lame_duck(self, duration: float | None, grace: float | None) -> None:
        opts = self.server.opts
        if duration is not None:
            opts.lame_duck_duration = duration
        if grace is not None:
            opts.lame_duck_grace_period = grace
        srv = self.server
        task = asyncio.get_running_loop().create_task(srv.enter_lame_duck())
        self._lame_duck_task = task  # keep a reference until it ends
        while not srv.lame_duck and not task.done():
            await asyncio.sleep(0)

    async def wait_stopped(self) -> None:
        """Until the server has shut down (after lame duck mode, or a shutdown elsewhere)."""
        await self._on_server_loop(self.server.stopped.wait())

    async def restart(self) -> None:
        """Stop the server and start it again in place: same port, same options, same
        JetStream store (a temporary one is kept), so streams and consumers are recovered
        from disk as after a crash-restart. Clients see a disconnect and reconnect."""
        await self._on_server_loop(self._restart())

    async def _restart(self) -> None:
        port = self.server.port
        await self._stop_node()
        self.options.port = port
        await self._start_node()

    # -- fault injection: JetStream delivery -----------------------------------------------------
    def _consumers(self, stream: str, consumer: str | None, account: str) -> list[Consumer]:
        engine = self.jetstream
        js = engine.account(account) if engine is not None else None
        if js is None:
            raise LookupError(f"JetStream is not enabled for account {account!r}")
        st = js.streams.get(stream)
        if st is None:
            raise LookupError(f"no stream {stream!r}")
        if consumer is None:
            return list(st.consumers.values())
        c = st.consumers.get(consumer)
        if c is None:
            raise LookupError(f"no consumer {consumer!r} on stream {stream!r}")
        return [c]

    async def pause_delivery(
        self, stream: str, consumer: str | None = None, *, seconds: float | None = None, account: str = "$G"
    ) -> None:
        """Pause a consumer's delivery (every consumer of the stream when ``consumer`` is
        None) for ``seconds``, or until :meth:`resume_delivery`. This is the reference's
        consumer pause (``$JS.API.CONSUMER.PAUSE``): clients see ``paused`` in consumer
        info and the pause advisories."""
        await self._on_server_loop(self._pause(stream, consumer, seconds, account))

    async def resume_delivery(self, stream: str, consumer: str | None = None, *, account: str = "$G") -> None:
        """End a pause started by :meth:`pause_delivery` (or through the API)."""
        await self._on_server_loop(self._pause(stream, consumer, 0.0, account))

    async def _pause(self, stream: str, consumer: str | None, seconds: float | None, account: str) -> None:
        from pynatsd.gocompat import format_time

        now = self.clock.shifted.time_ns() if self.clock is not None else time.time_ns()
        for c in self._consumers(stream, consumer, account):
            if seconds == 0.0:
                c.pause(0, None)
            else:
                until = now + (round(seconds * 1e9) if seconds is not None else _FOREVER_NS)
                c.pause(until, format_time(until))

    # -- fault injection: time -----------------------------------------------------------------
    async def advance_clock(self, seconds: float) -> int:
        """Move the server's clock ``seconds`` forward and run every timer now due (message
        expiry, TTLs, ack waits and backoffs, pull request expiry, pause ends). Needs
        ``Server(clock=True)``. Returns how many timers fired."""
        clock = self.clock
        if clock is None:
            raise RuntimeError("the server has no controllable clock: start it with Server(clock=True)")

        async def advance() -> int:
            n = clock.advance(seconds)
            await asyncio.sleep(0)  # let what the timers scheduled run
            return n

        return await self._on_server_loop(advance())


class SyncFaults:
    """``srv.sync``: each fault-injection method of :class:`Server` as a blocking call."""

    def __init__(self, server: Server) -> None:
        self._server = server

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._server, name)
        loop = self._server._loop

        def call(*args: Any, **kwargs: Any) -> Any:
            if loop is None:
                raise RuntimeError("server is not running")
            fut: concurrent.futures.Future[Any] = asyncio.run_coroutine_threadsafe(
                method(*args, **kwargs), loop
            )
            return fut.result(60.0)

        return call


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it is installed, asyncio's otherwise."""
    try:
        import uvloop

        return uvloop.new_event_loop()  # type: ignore[no-any-return]
    except ImportError:  # pragma: no cover - platforms without uvloop
        return asyncio.new_event_loop()
