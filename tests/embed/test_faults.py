"""Fault injection on an embedded server, each fault seen by real nats-py clients.

Dropped connections, lame duck mode, restart in place, paused delivery, a slow reader,
latency, and the controllable clock on the JetStream features that depend on time
(max_age, per-message TTLs, ack waits, backoffs).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, StorageType

import pynatsd

pytestmark = pytest.mark.timeout(90)
WAIT = 20.0


async def until(check: Callable[[], Awaitable[bool]] | Callable[[], bool], what: str) -> None:
    """Wait (generously) for a condition that the fault makes true."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Watched:
    """A nats-py connection whose disconnects and reconnects are counted."""

    def __init__(self) -> None:
        self.nc: NATS = NATS()
        self.disconnects = 0
        self.reconnects = 0
        self.lame_duck = asyncio.Event()

    async def connect(self, url: str, name: str, **kw: Any) -> NATS:
        async def dis() -> None:
            self.disconnects += 1

        async def re() -> None:
            self.reconnects += 1

        async def ldm() -> None:
            self.lame_duck.set()

        await self.nc.connect(
            url,
            name=name,
            disconnected_cb=dis,
            reconnected_cb=re,
            lame_duck_mode_cb=ldm,
            reconnect_time_wait=0.1,
            max_reconnect_attempts=-1,
            **kw,
        )
        return self.nc


@asynccontextmanager
async def clients(url: str, *names: str) -> AsyncIterator[list[Watched]]:
    out = [Watched() for _ in names]
    for w, name in zip(out, names, strict=True):
        await w.connect(url, name)
    try:
        yield out
    finally:
        for w in out:
            await w.nc.close()


async def test_disconnect_one_client_by_name() -> None:
    async with pynatsd.Server() as srv, clients(srv.client_url, "a", "b") as (a, b):
        assert await srv.disconnect("a") == 1
        await until(lambda: a.reconnects == 1, "a to reconnect")
        assert a.disconnects >= 1 and b.disconnects == 0
        sub = await b.nc.subscribe("x")
        await b.nc.flush()
        await a.nc.publish("x", b"after")
        assert (await sub.next_msg(timeout=WAIT)).data == b"after"
        with pytest.raises(LookupError):
            await srv.disconnect("nobody")


async def test_disconnect_all_clients() -> None:
    async with pynatsd.Server() as srv, clients(srv.client_url, "a", "b") as (a, b):
        assert await srv.disconnect_all() == 2
        await until(lambda: a.reconnects == 1 and b.reconnects == 1, "both to reconnect")
        assert len(srv.server.clients) == 2


async def test_lame_duck_mode() -> None:
    srv = await pynatsd.Server().start()
    try:
        async with clients(srv.client_url, "a") as (a,):
            await srv.enter_lame_duck(duration=1.0, grace=0.2)
            await asyncio.wait_for(a.lame_duck.wait(), WAIT)  # the client was told
            await asyncio.wait_for(srv.wait_stopped(), WAIT)  # then the server went away
            with pytest.raises(OSError):
                await asyncio.open_connection(srv.host, srv.port)
    finally:
        await srv.shutdown()


async def test_restart_in_place_keeps_streams_and_consumers() -> None:
    async with pynatsd.Server(jetstream=True) as srv, clients(srv.client_url, "app") as (app,):
        store = srv.store_dir
        js = app.nc.jetstream(timeout=10)
        await js.add_stream(name="ORDERS", subjects=["orders.>"], storage=StorageType.FILE)
        for i in range(5):
            await js.publish("orders.new", b"o%d" % i)
        psub = await js.pull_subscribe("orders.>", durable="worker")
        for m in await psub.fetch(2, timeout=10):
            await m.ack_sync()
        port = srv.port

        await srv.restart()

        assert srv.port == port and srv.store_dir == store
        await until(lambda: app.reconnects == 1, "the client to reconnect")
        info = await js.stream_info("ORDERS")
        assert info.state.messages == 5
        cinfo = await js.consumer_info("ORDERS", "worker")
        assert cinfo.ack_floor.stream_seq == 2 and cinfo.num_pending == 3
        msgs = await psub.fetch(1, timeout=10)
        assert msgs[0].data == b"o2"
    assert not __import__("os").path.exists(store)  # the temporary store outlived the restart only


async def test_pause_and_resume_a_consumer() -> None:
    async with pynatsd.Server(jetstream=True) as srv, clients(srv.client_url, "app") as (app,):
        js = app.nc.jetstream(timeout=10)
        await js.add_stream(name="S", subjects=["s"])
        await js.publish("s", b"1")
        psub = await js.pull_subscribe("s", durable="C")
        await srv.pause_delivery("S", "C")
        assert (await js.consumer_info("S", "C")).paused is True
        with pytest.raises(nats.errors.TimeoutError):
            await psub.fetch(1, timeout=1.0)
        await srv.resume_delivery("S", "C")
        assert (await js.consumer_info("S", "C")).paused in (False, None)
        assert (await psub.fetch(1, timeout=10))[0].data == b"1"


async def test_pause_a_stream_pauses_all_its_consumers() -> None:
    async with pynatsd.Server(jetstream=True) as srv, clients(srv.client_url, "app") as (app,):
        js = app.nc.jetstream(timeout=10)
        await js.add_stream(name="S", subjects=["s"])
        await js.pull_subscribe("s", durable="C1")
        await js.pull_subscribe("s", durable="C2")
        await srv.pause_delivery("S")
        assert [(await js.consumer_info("S", c)).paused for c in ("C1", "C2")] == [True, True]
        with pytest.raises(LookupError):
            await srv.pause_delivery("NOPE")


async def test_a_slow_subscriber_is_cut_as_a_slow_consumer() -> None:
    async with (
        pynatsd.Server(max_pending=64 * 1024) as srv,
        clients(srv.client_url, "slow", "fast", "pub") as (slow, fast, pub),
    ):
        s1 = await slow.nc.subscribe("feed")
        s2 = await fast.nc.subscribe("feed")
        await slow.nc.flush()
        await fast.nc.flush()
        await srv.make_slow("slow", 1000)  # 1 kB/s
        for _ in range(200):
            await pub.nc.publish("feed", b"x" * 1024)
        await pub.nc.flush()
        await until(lambda: srv.server.slow_consumers == 1, "the slow consumer to be cut")
        await until(lambda: slow.disconnects >= 1, "the slow client to see the drop")
        got = 0
        while got < 200:
            await s2.next_msg(timeout=WAIT)
            got += 1
        assert fast.disconnects == 0
        del s1


async def test_latency_on_a_connection() -> None:
    async with pynatsd.Server() as srv, clients(srv.client_url, "late", "svc") as (late, svc):

        async def echo(msg: Any) -> None:
            await msg.respond(msg.data)

        await svc.nc.subscribe("echo", cb=echo)
        await svc.nc.flush()
        await srv.set_latency("late", 0.5)
        start = time.monotonic()
        reply = await late.nc.request("echo", b"ping", timeout=WAIT)
        assert reply.data == b"ping" and time.monotonic() - start >= 0.5
        await srv.set_latency("late", 0)  # removed: what was held is delivered, nothing lost
        assert (await late.nc.request("echo", b"again", timeout=WAIT)).data == b"again"


async def test_fault_methods_from_sync_code_on_a_threaded_server() -> None:
    with pynatsd.Server(jetstream=True) as srv:
        async with clients(srv.client_url, "a") as (a,):
            await asyncio.to_thread(srv.sync.disconnect, "a")
            await until(lambda: a.reconnects == 1, "a to reconnect")
            await srv.restart()  # the async method from another loop than the server's
            await until(lambda: a.reconnects == 2, "a to reconnect after the restart")


# -- the controllable clock ------------------------------------------------------------------


async def test_max_age_expires_when_the_clock_advances() -> None:
    async with pynatsd.Server(jetstream=True, clock=True) as srv, clients(srv.client_url, "app") as (app,):
        js = app.nc.jetstream(timeout=10)
        await js.add_stream(name="S", subjects=["s"], max_age=3600)
        for i in range(3):
            await js.publish("s", b"%d" % i)
        await srv.advance_clock(1800)
        assert (await js.stream_info("S")).state.messages == 3
        await srv.advance_clock(1801)
        await until(lambda: _messages(js, "S", 0), "the messages to expire")


async def _messages(js: Any, stream: str, n: int) -> bool:
    return bool((await js.stream_info(stream)).state.messages == n)


async def test_a_message_ttl_expires_when_the_clock_advances() -> None:
    async with pynatsd.Server(jetstream=True, clock=True) as srv, clients(srv.client_url, "app") as (app,):
        js = app.nc.jetstream(timeout=10)
        await js.add_stream(name="T", subjects=["t"], allow_msg_ttl=True)
        await js.publish("t", b"short", headers={"Nats-TTL": "10m"})
        await js.publish("t", b"long", headers={"Nats-TTL": "2h"})
        await srv.advance_clock(601)
        await until(lambda: _messages(js, "T", 1), "the 10m message to expire")
        await srv.advance_clock(7200)
        await until(lambda: _messages(js, "T", 0), "the 2h message to expire")


async def test_ack_wait_and_backoff_follow_the_clock() -> None:
    async with pynatsd.Server(jetstream=True, clock=True) as srv, clients(srv.client_url, "app") as (app,):
        js = app.nc.jetstream(timeout=10)
        await js.add_stream(name="W", subjects=["w"])
        await js.publish("w", b"job")
        cfg = ConsumerConfig(
            durable_name="C", ack_policy=AckPolicy.EXPLICIT, backoff=[60.0, 600.0], max_deliver=5
        )
        psub = await js.pull_subscribe("w", durable="C", config=cfg)
        first = (await psub.fetch(1, timeout=10))[0]
        assert first.metadata.num_delivered == 1
        await srv.advance_clock(30)  # within the first backoff: nothing comes
        with pytest.raises(nats.errors.TimeoutError):
            await psub.fetch(1, timeout=0.5)
        await srv.advance_clock(31)  # past 60 s: redelivered
        second = (await psub.fetch(1, timeout=10))[0]
        assert second.metadata.num_delivered == 2
        await srv.advance_clock(300)  # the second backoff is 600 s
        with pytest.raises(nats.errors.TimeoutError):
            await psub.fetch(1, timeout=0.5)
        await srv.advance_clock(301)
        third = (await psub.fetch(1, timeout=10))[0]
        assert third.metadata.num_delivered == 3
        await third.ack_sync()


async def test_advance_needs_a_clock_and_one_clock_per_process() -> None:
    async with pynatsd.Server() as plain:
        with pytest.raises(RuntimeError, match="controllable clock"):
            await plain.advance_clock(1)
    async with pynatsd.Server(jetstream=True, clock=True):
        with pytest.raises(RuntimeError, match="another server with a controllable clock"):
            await pynatsd.Server(clock=True).start()
    async with pynatsd.Server(clock=True):  # released at shutdown
        pass


async def test_the_clock_leaves_the_core_s_own_timers_alone() -> None:
    # pings (every 2 min, 2 unanswered close a connection) keep real time: hours passing
    # for JetStream in a few milliseconds must not cut clients off as stale
    async with pynatsd.Server(jetstream=True, clock=True) as srv, clients(srv.client_url, "a") as (a,):
        for _ in range(10):
            await srv.advance_clock(3600)
        sub = await a.nc.subscribe("x")
        await a.nc.publish("x", b"still here")
        assert (await sub.next_msg(timeout=WAIT)).data == b"still here"
        assert a.disconnects == 0 and srv.server.clients
