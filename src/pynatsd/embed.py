"""Embedding API: run a server inside a Python program, from async or sync code.

``async with Server() as srv`` runs it on the caller's event loop; ``with Server() as srv``
runs it on a background thread with a loop of its own, for synchronous test suites.
Unlike the command line, the embedded default is a free port on 127.0.0.1, so that
many servers can run side by side in one test session.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pynatsd.config.loader import load_config
from pynatsd.node import Node
from pynatsd.options import Options
from pynatsd.server.logging import ServerLogger

if TYPE_CHECKING:
    from pynatsd.jetstream.engine import JetStreamEngine
    from pynatsd.server.server import NatsServer


class Server:
    """An in-process pynatsd server.

    Pass an :class:`Options`, a ``config_file``, or option fields as keywords
    (``port=0`` or ``-1`` picks a free port; keywords override the file).
    """

    def __init__(
        self, options: Options | None = None, *, config_file: str | None = None, **fields: Any
    ) -> None:
        if config_file:
            base = load_config(config_file)
        else:
            base = options.copy() if options is not None else Options(host="127.0.0.1", port=-1)
        self.options = base.merge(fields) if fields else base
        self._node: Node | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._log: ServerLogger | None = None

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

    # -- async use ---------------------------------------------------------------------
    async def start(self) -> Server:
        self._node = Node(self.options, self._log)
        await self._node.server.start()
        return self

    async def shutdown(self) -> None:
        if self._node is not None:
            await self._node.server.shutdown()

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
                await self.server.stopped.wait()

            try:
                loop.run_until_complete(main())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="pynatsd", daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise TimeoutError("pynatsd did not start in time")
        if failure:
            raise failure[0]
        return self

    def stop(self, timeout: float = 30.0) -> None:
        loop, thread = self._thread_loop, self._thread
        if loop is None or thread is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self.shutdown(), loop)
        fut.result(timeout)
        thread.join(timeout)
        self._thread = self._thread_loop = None

    def __enter__(self) -> Server:
        return self.start_in_thread()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it is installed, asyncio's otherwise."""
    try:
        import uvloop

        return uvloop.new_event_loop()  # type: ignore[no-any-return]
    except ImportError:  # pragma: no cover - platforms without uvloop
        return asyncio.new_event_loop()
