"""Broker suites run each test against pynatsd and against the reference binary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import jetstream_server


@pytest.fixture(params=["pynatsd", "reference"])
async def js_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with jetstream_server(request.param, tmp_path / "store") as url:
        yield url
