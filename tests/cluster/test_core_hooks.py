"""The core's side of routes: a server without a cluster routes exactly as before, and one
with a cluster routes through server/remote.py everywhere (clients and Internal handles)."""

from __future__ import annotations

import nats

import pynatsd
from pynatsd.options import ClusterOptions
from pynatsd.server.server import NatsServer


async def test_without_a_cluster_deliver_is_the_single_server_method() -> None:
    async with pynatsd.Server() as srv:
        core = srv.server
        assert "deliver" not in vars(core)  # nothing shadows the method: no cost per publish
        assert core.internal._deliver.__func__ is NatsServer.deliver  # type: ignore[attr-defined]
        assert not core.linked


async def test_with_a_cluster_every_path_routes_with_links() -> None:
    async with pynatsd.Server(cluster=ClusterOptions(name="c", host="127.0.0.1", port=-1)) as srv:
        core = srv.server
        assert core.linked and "deliver" in vars(core)
        # Handles made before the cluster started were re-bound, and new ones bind the same.
        assert core.internal._deliver is core.deliver
        other = core.internal.for_account("$G")
        assert other is not None and other._deliver is core.deliver
        # A lone clustered server still serves its own clients.
        nc = await nats.connect(srv.client_url)
        sub = await nc.subscribe("lone")
        await nc.publish("lone", b"x")
        msg = await sub.next_msg(timeout=10)
        assert msg.data == b"x"
        assert core.internal.publish("lone", b"y")  # an Internal publish reaches the client too
        msg = await sub.next_msg(timeout=10)
        assert msg.data == b"y"
        await nc.close()
