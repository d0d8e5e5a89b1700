"""Ready-made servers for suites that run one scenario against pynatsd and the reference."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from .binary import find_nats_server
from .launcher import ServerProcess


class ReferenceServer(ServerProcess):
    """The reference binary on a free port on 127.0.0.1, started (and ready) on construction.

    Raises ``RuntimeError`` when the binary is missing or the server does not start.
    """

    def __init__(self, *args: str, timeout: float = 30.0) -> None:
        super().__init__([find_nats_server()], *args, name="reference")
        self.start(timeout=timeout)


@asynccontextmanager
async def jetstream_server(kind: str, store_dir: Path, *args: str) -> AsyncIterator[str]:
    """A JetStream-enabled server of either kind; yields its client URL.

    The reference runs as a child process, pynatsd in this event loop.
    """
    if kind == "reference":
        ref = ReferenceServer("-js", "-sd", str(store_dir), *args)
        try:
            yield ref.url
        finally:
            ref.stop()
    else:
        import pynatsd

        async with pynatsd.Server(jetstream=True, store_dir=str(store_dir)) as srv:
            yield srv.client_url
