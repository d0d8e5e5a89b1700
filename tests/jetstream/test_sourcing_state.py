"""Mirrors and sources, second pass: message times, the per-source state a purge keeps,
on pynatsd and on the reference (``js_url``)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import nats
import pytest

from pynatsd.gocompat import parse_time
from tests.jetstream.test_mirrors import T, api, kill_mid_catch_up, until_messages, wait_for
from tests.jetstream.test_sources import _check_exact, _fill, _start
from tests.support import ServerProcess, free_port
from tests.support.binary import find_nats_server


async def msg_time(nc: Any, stream: str, seq: int) -> str:
    r = await api(nc, f"$JS.API.STREAM.MSG.GET.{stream}", {"seq": seq})
    return str(r["message"]["time"])


async def test_a_mirror_keeps_the_origin_times_a_source_does_not(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await js.add_stream(name="O", subjects=["o.>"])
    for i in range(5):
        await js.publish(f"o.{i}", b"m%d" % i)
    await api(nc, "$JS.API.STREAM.CREATE.M", {"name": "M", "mirror": {"name": "O"}})
    s = await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "sources": [{"name": "O"}]})
    created = parse_time(s["created"])
    m_info = await until_messages(nc, "M", 5)
    await until_messages(nc, "S", 5)
    o_info = await api(nc, "$JS.API.STREAM.INFO.O")
    # a mirror: every message at its origin's time (first_ts / last_ts too)
    for seq in range(1, 6):
        assert await msg_time(nc, "M", seq) == await msg_time(nc, "O", seq)
    assert m_info["state"]["first_ts"] == o_info["state"]["first_ts"]
    assert m_info["state"]["last_ts"] == o_info["state"]["last_ts"]
    # a source: stored at its own time, after the sourcing stream was created
    for seq in range(1, 6):
        assert parse_time(await msg_time(nc, "S", seq)) >= created > parse_time(await msg_time(nc, "O", seq))
    # live messages too
    await js.publish("o.live", b"live")
    await until_messages(nc, "M", 6)
    assert await msg_time(nc, "M", 6) == await msg_time(nc, "O", 6)
    await nc.close()


def _origin_consumer_view(c: dict[str, Any]) -> dict[str, Any]:
    cfg = c["config"]
    return {
        "name": c["name"],
        "durable_name": cfg.get("durable_name"),
        "ack_policy": cfg["ack_policy"],
        "sourcing": cfg.get("sourcing"),
        "flow_control": cfg.get("flow_control"),
        "idle_heartbeat": cfg.get("idle_heartbeat"),
        "max_ack_pending": cfg.get("max_ack_pending"),
        "max_deliver": cfg.get("max_deliver"),
        "metadata": {k: v for k, v in (cfg.get("metadata") or {}).items() if k.startswith("_nats.src")},
    }


async def test_work_queue_origin_gets_a_durable_flow_control_consumer(js_url: str) -> None:
    """On a work-queue (or interest) origin the source's consumer is a durable one named
    ``JS_SRC_<hash>``, acknowledged by flow-control answers: listed, counted, and the
    origin empties once everything is stored."""
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await api(nc, "$JS.API.STREAM.CREATE.WQ", {"name": "WQ", "subjects": ["wq"], "retention": "workqueue"})
    await api(nc, "$JS.API.STREAM.CREATE.L", {"name": "L", "subjects": ["l"]})
    for i in range(50):
        await js.publish("wq", b"w%d" % i)
        await js.publish("l", b"l%d" % i)
    r = await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "sources": [{"name": "WQ"}, {"name": "L"}]})
    assert "error" not in r
    await until_messages(nc, "S", 100)

    async def drained() -> bool:
        wq = await api(nc, "$JS.API.STREAM.INFO.WQ")
        return bool(wq["state"]["messages"] == 0)

    await wait_for(drained)
    wq = await api(nc, "$JS.API.STREAM.INFO.WQ")
    assert wq["state"]["consumer_count"] == 1
    listed = (await api(nc, "$JS.API.CONSUMER.LIST.WQ"))["consumers"]
    assert [_origin_consumer_view(c) for c in listed] == [
        {
            "name": "JS_SRC_N6lXlrSF",  # the reference's hash of "S $G", twice
            "durable_name": "JS_SRC_N6lXlrSF",
            "ack_policy": "flow_control",
            "sourcing": True,
            "flow_control": True,
            "idle_heartbeat": 1_000_000_000,
            "max_ack_pending": 1000,
            "max_deliver": -1,
            "metadata": {"_nats.src.stream": "S", "_nats.src.acc": "$G"},
        }
    ]

    async def acked() -> bool:
        c = await api(nc, "$JS.API.CONSUMER.INFO.WQ.JS_SRC_N6lXlrSF")
        return bool(c["ack_floor"]["stream_seq"] == 50 and c["num_ack_pending"] == 0)

    await wait_for(acked)
    # a limits origin's consumer stays internal
    assert (await api(nc, "$JS.API.STREAM.INFO.L"))["state"]["consumer_count"] == 0
    # live messages go the same way
    for i in range(5):
        await js.publish("wq", b"live%d" % i)
    await until_messages(nc, "S", 105)
    await wait_for(drained)
    # removing the source removes its consumer
    await api(nc, "$JS.API.STREAM.UPDATE.S", {"name": "S", "sources": [{"name": "L"}]})

    async def gone() -> bool:
        return bool((await api(nc, "$JS.API.STREAM.INFO.WQ"))["state"]["consumer_count"] == 0)

    await wait_for(gone)
    await nc.close()


async def test_a_mirror_and_a_source_on_a_configured_durable_consumer(js_url: str) -> None:
    """``consumer: {name, deliver_subject}``: the link takes up an existing durable consumer
    (ack ``flow_control``) of the origin, repositioned to its ack floor, and never deletes it;
    one with another ack policy is refused in the link's ``error``."""
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await js.add_stream(name="O", subjects=["o.>"])
    for i in range(20):
        await js.publish(f"o.{i % 2}", b"m%d" % i)
    base = {"deliver_policy": "all", "flow_control": True, "idle_heartbeat": 1_000_000_000}
    for name, deliver in (("DM", "dm.deliver"), ("DS", "ds.deliver")):
        r = await api(
            nc,
            f"$JS.API.CONSUMER.CREATE.O.{name}",
            {
                "stream_name": "O",
                "config": {
                    **base,
                    "durable_name": name,
                    "deliver_subject": deliver,
                    "ack_policy": "flow_control",
                    "max_ack_pending": 100,
                },
            },
        )
        assert "error" not in r, r
    r = await api(
        nc,
        "$JS.API.CONSUMER.CREATE.O.EXPL",
        {
            "stream_name": "O",
            "config": {
                **base,
                "durable_name": "EXPL",
                "deliver_subject": "ex.deliver",
                "ack_policy": "explicit",
            },
        },
    )
    assert "error" not in r, r
    r = await api(
        nc,
        "$JS.API.STREAM.CREATE.M",
        {"name": "M", "mirror": {"name": "O", "consumer": {"name": "DM", "deliver_subject": "dm.deliver"}}},
    )
    assert "error" not in r, r
    assert r["config"]["mirror"]["consumer"] == {"name": "DM", "deliver_subject": "dm.deliver"}
    r = await api(
        nc,
        "$JS.API.STREAM.CREATE.S",
        {
            "name": "S",
            "sources": [{"name": "O", "consumer": {"name": "DS", "deliver_subject": "ds.deliver"}}],
        },
    )
    assert "error" not in r, r
    await until_messages(nc, "M", 20)
    await until_messages(nc, "S", 20)
    for i in range(20, 25):
        await js.publish(f"o.{i % 2}", b"m%d" % i)
    await until_messages(nc, "M", 25)
    info = await until_messages(nc, "S", 25)
    assert info["sources"][0]["name"] == "O" and "error" not in info["sources"][0]

    async def acked(name: str) -> bool:
        c = await api(nc, f"$JS.API.CONSUMER.INFO.O.{name}")
        return bool(c["ack_floor"]["stream_seq"] == 25)

    await wait_for(lambda: acked("DM"))
    await wait_for(lambda: acked("DS"))
    # the origin's consumers are the configured ones only
    names = sorted((await api(nc, "$JS.API.CONSUMER.NAMES.O"))["consumers"])
    assert names == ["DM", "DS", "EXPL"]
    # a durable consumer with another ack policy: the link reports it
    r = await api(
        nc,
        "$JS.API.STREAM.CREATE.BAD",
        {
            "name": "BAD",
            "mirror": {"name": "O", "consumer": {"name": "EXPL", "deliver_subject": "ex.deliver"}},
        },
    )
    assert "error" not in r, r

    async def refused() -> bool:
        info = await api(nc, "$JS.API.STREAM.INFO.BAD")
        return bool(info["mirror"].get("error"))

    await wait_for(refused)
    info = await api(nc, "$JS.API.STREAM.INFO.BAD")
    assert info["mirror"]["error"] == {
        "code": 400,
        "err_code": 10214,
        "description": "stream mirror consumer requires flow control ack policy",
    }
    assert info["state"]["messages"] == 0
    # deleting the streams leaves the configured consumers in place
    await api(nc, "$JS.API.STREAM.DELETE.M")
    await api(nc, "$JS.API.STREAM.DELETE.S")
    names = sorted((await api(nc, "$JS.API.CONSUMER.NAMES.O"))["consumers"])
    assert names == ["DM", "DS", "EXPL"]
    await nc.close()


async def test_consumer_reset(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await js.add_stream(name="O", subjects=["o"])
    for i in range(10):
        await js.publish("o", b"%d" % i)
    await api(
        nc,
        "$JS.API.CONSUMER.CREATE.O.P",
        {"stream_name": "O", "config": {"durable_name": "P", "ack_policy": "explicit"}},
    )
    inbox = await nc.subscribe("pull.inbox")

    async def next_msg() -> Any:
        await nc.publish("$JS.API.CONSUMER.MSG.NEXT.O.P", b"1", reply="pull.inbox")
        return await inbox.next_msg(T)

    await (await next_msg()).ack()
    for _ in range(3):
        await next_msg()
    r = await api(nc, "$JS.API.CONSUMER.RESET.O.P")
    assert r["type"] == "io.nats.jetstream.api.v1.consumer_reset_response"
    assert r["reset_seq"] == 2 and r["name"] == "P"
    assert r["delivered"]["consumer_seq"] == 0 and r["delivered"]["stream_seq"] == 1
    assert r["ack_floor"]["consumer_seq"] == 0 and r["ack_floor"]["stream_seq"] == 1
    assert r["num_ack_pending"] == 0 and r["num_pending"] == 9
    m = await next_msg()
    assert m.data == b"1" and m.reply.split(".")[5:7] == ["2", "1"]
    r = await api(nc, "$JS.API.CONSUMER.RESET.O.P", {"seq": 7})
    assert r["reset_seq"] == 7 and r["num_pending"] == 4
    m = await next_msg()
    assert m.data == b"6"
    # a start sequence below the configured one is refused
    await api(
        nc,
        "$JS.API.CONSUMER.CREATE.O.Q",
        {
            "stream_name": "O",
            "config": {"durable_name": "Q", "deliver_policy": "by_start_sequence", "opt_start_seq": 5},
        },
    )
    r = await api(nc, "$JS.API.CONSUMER.RESET.O.Q", {"seq": 3})
    assert r["error"] == {"code": 400, "err_code": 10204, "description": "invalid reset: below start seq"}
    await nc.close()


async def test_work_queue_origin_drains_after_kill_9(tmp_path: Path) -> None:
    """kill -9 mid catch-up from a work-queue origin: after the restart the durable
    flow-control consumer is taken up at its ack floor, every message is stored exactly
    once and nothing stays in the origin (pynatsd only: the reference is not killed)."""
    n = 30_000
    store, port = tmp_path / "js", free_port()
    server = _start(store, port)
    try:
        nc = await nats.connect(server.url)
        await api(nc, "$JS.API.STREAM.CREATE.A", {"name": "A", "subjects": ["a.>"], "retention": "workqueue"})
        await _fill(nc, "A", n)
        await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "sources": [{"name": "A"}]})
        await kill_mid_catch_up(server, nc, "S", n)
        server = _start(store, port)
        nc = await nats.connect(server.url)
        await _check_exact(nc, {"A": n})

        async def drained() -> bool:
            return bool((await api(nc, "$JS.API.STREAM.INFO.A"))["state"]["messages"] == 0)

        await wait_for(drained)
        await nc.close()
    finally:
        server.kill()
        await asyncio.sleep(0)


def _start_kind(kind: str, store: Path, port: int) -> ServerProcess:
    if kind == "pynatsd":
        return _start(store, port)
    return ServerProcess([find_nats_server()], "-js", "-sd", str(store), port=port, name="reference").start()


@pytest.mark.parametrize("kind", ["pynatsd", "reference"])
async def test_source_positions_survive_a_full_purge_and_kill_9(kind: str, tmp_path: Path) -> None:
    """A full purge of the destination removes every ``Nats-Stream-Source`` header; the
    sources' positions are kept (persisted), so after a ``kill -9`` and restart only new
    origin messages arrive, nothing is sourced again."""
    store, port = tmp_path / "js", free_port()
    server = _start_kind(kind, store, port)
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream(timeout=T)
        await js.add_stream(name="A", subjects=["a.>"])
        await js.add_stream(name="B", subjects=["b.>"])
        for i in range(30):
            await js.publish(f"a.{i % 3}", b"A-%08d" % i)
            await js.publish(f"b.{i % 3}", b"B-%08d" % i)
        await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "sources": [{"name": "A"}, {"name": "B"}]})
        await until_messages(nc, "S", 60)
        purged = await api(nc, "$JS.API.STREAM.PURGE.S")
        assert purged["purged"] == 60
        os.kill(server.pid, signal.SIGKILL)
        server.wait(T)
        await nc.close()
        server = _start_kind(kind, store, port)
        nc = await nats.connect(server.url)
        js = nc.jetstream(timeout=T)
        for i in range(30, 33):
            await js.publish(f"a.{i % 3}", b"A-%08d" % i)
        info = await until_messages(nc, "S", 3)
        assert info["state"]["first_seq"] == 61 and info["state"]["last_seq"] == 63
        by_name = {s["name"]: s for s in info["sources"]}
        assert by_name["A"]["seq"] == 33
        # B (nothing new) sends nothing again either
        await js.publish("b.x", b"B-%08d" % 30)
        info = await until_messages(nc, "S", 4)
        assert {s["name"]: s["seq"] for s in info["sources"]} == {"A": 33, "B": 31}
        await nc.close()
    finally:
        server.kill()
        await asyncio.sleep(0)
