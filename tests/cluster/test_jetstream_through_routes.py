"""JetStream and a clustered pynatsd: a pynatsd node runs without JetStream, and its clients
use the JetStream of the reference nodes of the cluster through the routes (as clients of a
reference node without JetStream do: ``$JS.API.>`` of ``$G`` imported from the system account)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import APIError, ServiceUnavailableError

from tests.cluster.test_routes import Node, connect, in_sync, start_node
from tests.support import free_port

T = 30.0


async def test_pynatsd_clients_use_the_reference_nodes_jetstream(tmp_path: Path, nodes: list[Node]) -> None:
    # Two reference nodes with JetStream (a JetStream cluster needs a quorum of its own) and a
    # pynatsd seed without; the reference nodes route to the seed and to each other.
    store = tmp_path / "js"
    py = start_node(tmp_path, "pynatsd", "P", [])
    nodes.append(py)
    r1_port, r2_port = free_port(), free_port()
    js_conf = "jetstream {{ store_dir: {!r} }}"
    r1 = start_node(
        tmp_path,
        "reference",
        "R1",
        [py.cluster_port, r2_port],
        extra=js_conf.format(str(store / "r1")),
        cluster_port=r1_port,
    )
    nodes.append(r1)
    r2 = start_node(
        tmp_path,
        "reference",
        "R2",
        [py.cluster_port, r1_port],
        extra=js_conf.format(str(store / "r2")),
        cluster_port=r2_port,
    )
    nodes.append(r2)
    nr, np_ = await connect(r1), await connect(py)
    try:
        await in_sync(nr, np_)
        js = np_.jetstream(timeout=T)
        # The reference nodes elect their JetStream metadata leader before they answer.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2 * T
        while True:
            try:
                await js.account_info()
                break
            except (ServiceUnavailableError, APIError, NatsTimeout) as exc:
                assert loop.time() < deadline, repr(exc)
                await asyncio.sleep(0.2)
        # Placement waits for the JetStream servers to learn each other's resources.
        while True:
            try:
                info = await js.add_stream(name="ORDERS", subjects=["orders.>"], num_replicas=1)
                break
            except APIError as exc:
                assert exc.err_code == 10005 and loop.time() < deadline, repr(exc)
                await asyncio.sleep(0.5)
        assert info.config.name == "ORDERS"
        for i in range(5):
            ack = await js.publish("orders.new", b"%d" % i, headers={"I": str(i)})
            assert ack.stream == "ORDERS" and ack.seq == i + 1
        psub = await js.pull_subscribe("orders.>", durable="worker")
        msgs = await psub.fetch(5, timeout=T)
        assert [m.data for m in msgs] == [b"%d" % i for i in range(5)]
        assert msgs[3].headers == {"I": "3"}
        # Delivered framed with the stored subject and the plain ack reply (the reference
        # sends them across the route as "<reply>@<subject>").
        assert {m.subject for m in msgs} == {"orders.new"}
        assert "@" not in msgs[0].reply
        for m in msgs:
            await m.ack_sync(timeout=T)
        assert (await js.consumer_info("ORDERS", "worker")).num_ack_pending == 0
        assert (await js.stream_info("ORDERS")).state.messages == 5
    finally:
        await nr.close()
        await np_.close()


async def test_without_a_jetstream_node_the_api_gets_no_responders(tmp_path: Path, nodes: list[Node]) -> None:
    """pynatsd does not answer for a JetStream it does not run."""
    a = start_node(tmp_path, "pynatsd", "A", [])
    nodes.append(a)
    nc = await nats.connect(a.url)
    try:
        js = nc.jetstream(timeout=5)
        with pytest.raises(ServiceUnavailableError):  # no responders: nobody serves $JS.API
            await js.account_info()
    finally:
        await nc.close()
