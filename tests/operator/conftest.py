"""Operator-mode suites: each test runs one scenario on the reference and on pynatsd, both
reading the same config file, and asserts the same outcome on both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.launcher import Kind, ServerProcess, server_command
from tests.support.operator import World

Serve = Callable[..., "contextmanager[ServerProcess]"]


@pytest.fixture(params=["pynatsd", "reference"])
def kind(request: pytest.FixtureRequest) -> Kind:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@contextmanager
def serve(kind: Kind, config: Path, *args: str) -> Iterator[ServerProcess]:
    """A server of ``kind`` on the config, with debug logs (the reasons of refusals)."""
    server = ServerProcess(server_command(kind), "-c", str(config), "-D", *args, name=kind, cwd=config.parent)
    server.start()
    try:
        yield server
    finally:
        server.stop()
