"""The server's JetStream limits (``jetstream { limits { ... } }``) on both servers: the
defaults they give consumers and streams, and the errors past them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.support.binary import require_reference
from tests.support.jetstream import api
from tests.support.launcher import KINDS, Kind, ServerProcess, start_server

CONFIG = """
jetstream {
  store_dir: "%(store)s"
  limits { max_ack_pending: 50, max_request_batch: 20, duplicate_window: "30s", max_ha_assets: 4, default_max_consumers: 2 }
}
"""


@pytest.fixture(params=KINDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    kind: Kind = request.param
    if kind == "reference":
        require_reference()
    path = tmp_path / f"{kind}.conf"
    path.write_text(CONFIG % {"store": tmp_path / f"store-{kind}"})
    srv = start_server(kind, "-c", str(path))
    try:
        yield srv
    finally:
        srv.stop()


def err(reply: dict[str, Any]) -> tuple[int, str] | None:
    e = reply.get("error")
    return (e["err_code"], e["description"]) if e else None


async def test_server_limits_default_and_bound_streams_and_consumers(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        made = await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "subjects": ["s"]})
        assert made["config"]["duplicate_window"] == 30 * 10**9  # the default, capped by the limit
        too_long = await api(nc, "$JS.API.STREAM.CREATE.T", {"name": "T", "duplicate_window": 60 * 10**9})
        assert err(too_long) == (10052, "duplicates window can not be larger then server limit of 30s")
        pedantic = await api(nc, "$JS.API.STREAM.CREATE.P", {"name": "P", "pedantic": True})
        assert err(pedantic) == (
            10157,
            "pedantic mode: duplicate window limits are higher than current limits",
        )
        pull = await api(
            nc, "$JS.API.CONSUMER.CREATE.S", {"stream_name": "S", "config": {"ack_policy": "explicit"}}
        )
        assert (pull["config"]["max_ack_pending"], pull["config"]["max_batch"]) == (50, 20)
        over = {"stream_name": "S", "config": {"ack_policy": "explicit", "max_ack_pending": 51}}
        assert err(await api(nc, "$JS.API.CONSUMER.CREATE.S", over)) == (
            10121,
            "consumer max ack pending exceeds system limit of 50",
        )
        batch = {"stream_name": "S", "config": {"ack_policy": "explicit", "max_batch": 21}}
        assert err(await api(nc, "$JS.API.CONSUMER.CREATE.S", batch)) == (
            10125,
            "consumer max request batch exceeds server limit of 20",
        )
    finally:
        await nc.close()


async def test_default_max_consumers_applies_where_nothing_else_limits(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "$JS.API.STREAM.CREATE.D", {"name": "D", "subjects": ["d"]})
        await api(nc, "$JS.API.STREAM.CREATE.E", {"name": "E", "subjects": ["e"], "max_consumers": 3})
        pull = {"config": {"ack_policy": "explicit"}}
        made = [
            err(await api(nc, "$JS.API.CONSUMER.CREATE.D", {"stream_name": "D", **pull})) for _ in range(3)
        ]
        assert made == [None, None, (10026, "maximum consumers limit reached")]
        more = [
            err(await api(nc, "$JS.API.CONSUMER.CREATE.E", {"stream_name": "E", **pull})) for _ in range(4)
        ]
        assert more == [None, None, None, (10026, "maximum consumers limit reached")]
    finally:
        await nc.close()
