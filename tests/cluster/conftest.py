"""Shared fixtures of the cluster tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.test_routes import Node


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    """Nodes a test started; stopped at the end whatever happens."""
    started: list[Node] = []
    yield started
    for n in started:
        n.proc.stop()
