"""Shared fixtures: in-process pynatsd servers and a raw protocol client for wire tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import pynatsd

TIMEOUT = 10.0


class Raw:
    """A bare socket client: sends bytes, reads until an expected marker, sees the close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.info = b""
        self.buf = b""

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> Raw:
        reader, writer = await asyncio.open_connection(host, port)
        raw = cls(reader, writer)
        raw.info = await asyncio.wait_for(reader.readline(), TIMEOUT)
        return raw

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_until(self, marker: bytes, timeout: float = TIMEOUT) -> bytes:
        """Everything received up to and including ``marker``."""

        async def _read() -> bytes:
            while marker not in self.buf:
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise ConnectionError(f"closed before {marker!r}; got {self.buf!r}")
                self.buf += chunk
            i = self.buf.index(marker) + len(marker)
            out, self.buf = self.buf[:i], self.buf[i:]
            return out

        return await asyncio.wait_for(_read(), timeout)

    async def roundtrip(self, data: bytes) -> bytes:
        """Send ``data`` and a PING; return what came back before the PONG."""
        await self.send(data + b"PING\r\n")
        out = await self.read_until(b"PONG\r\n")
        return out[: -len(b"PONG\r\n")]

    async def read_to_close(self, timeout: float = TIMEOUT) -> bytes:
        """Everything until the server closes the connection."""

        async def _read() -> bytes:
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    out, self.buf = self.buf, b""
                    return out
                self.buf += chunk

        return await asyncio.wait_for(_read(), timeout)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


@pytest.fixture
async def server() -> AsyncIterator[pynatsd.Server]:
    async with pynatsd.Server() as srv:
        yield srv


@pytest.fixture
async def raw(server: pynatsd.Server) -> AsyncIterator[Raw]:
    r = await Raw.connect(server.port)
    yield r
    await r.close()


QUIET = b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n'
