"""Shared fixtures: an in-process pynatsd server and a raw protocol client connected to it.

The client class and the QUIET connect line live in tests/support/wire.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import pynatsd
from tests.support.wire import AsyncWireClient


@pytest.fixture
async def server() -> AsyncIterator[pynatsd.Server]:
    async with pynatsd.Server() as srv:
        yield srv


@pytest.fixture
async def raw(server: pynatsd.Server) -> AsyncIterator[AsyncWireClient]:
    r = await AsyncWireClient.connect(server.port)
    yield r
    await r.close()
