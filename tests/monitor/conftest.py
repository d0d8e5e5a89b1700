"""Monitoring servers for differential tests: the same scenario runs on the reference and
on pynatsd, each a child process with a monitoring port, and the answers are compared."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.support.binary import require_reference
from tests.support.launcher import Kind, ServerProcess, server_command


class Monitored:
    """One running server with its client URL and its monitoring port."""

    def __init__(self, kind: Kind, proc: ServerProcess) -> None:
        self.kind = kind
        self.proc = proc
        self.url = proc.url
        self.http = f"http://127.0.0.1:{proc.monitor_port}"

    async def get(self, path: str) -> tuple[int, str, str]:
        """(status, Content-Type, body) of a GET on the monitoring port."""
        return await asyncio.to_thread(_get, self.http + path)

    async def json(self, path: str) -> Any:
        status, ctype, body = await self.get(path)
        assert status == 200, (self.kind, path, status, body)
        assert ctype == "application/json", (self.kind, path, ctype)
        return json.loads(body)

    async def connect(self, **kw: Any) -> nats.NATS:
        return await nats.connect(self.url, allow_reconnect=False, **kw)

    async def wait_for(self, path: str, pred: Callable[[Any], bool], timeout: float = 20.0) -> Any:
        """Poll ``path`` until ``pred`` holds (the reference records closed connections
        asynchronously); the last document otherwise, for the assertion to show."""
        doc = await self.json(path)
        deadline = asyncio.get_running_loop().time() + timeout
        while not pred(doc) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
            doc = await self.json(path)
        return doc


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


@asynccontextmanager
async def monitored(kind: Kind, tmp: Path, config: str = "", *args: str) -> AsyncIterator[Monitored]:
    """A server of ``kind`` with ``config`` (file contents) and ``-m <free port>``."""
    extra: list[str] = []
    if config:
        path = tmp / f"{kind}.conf"
        path.write_text(config)
        extra = ["-c", str(path)]
    proc = ServerProcess(server_command(kind), *extra, *args, monitor=True, name=kind, cwd=tmp)
    await asyncio.to_thread(proc.start)
    try:
        yield Monitored(kind, proc)
    finally:
        await asyncio.to_thread(proc.stop)


@pytest.fixture
def reference() -> str:
    return require_reference()
