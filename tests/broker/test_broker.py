"""pynatsd.broker (seed 004 in Python) on both servers: auto streams, work queue, order,
redelivery after an error or a crash, naming rules, drain on disconnect, durable consumers
kept, and back-off while the server is away."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
import pytest
from nats.js.api import RetentionPolicy, StorageType

import pynatsd
from pynatsd.broker import Broker, Event, HandlerError, stream_name, validate_queue_name
from tests.support import free_port

pytestmark = pytest.mark.timeout(120)
WAIT = 20.0


async def until(check: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        r = check()
        if asyncio.iscoroutine(r):
            r = await r
        if r:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_stream_names_and_queue_rules() -> None:
    assert stream_name("orders.created") == "ORDERS"
    assert stream_name("user-events.login") == "USER_EVENTS"
    for good in ("order-processor", "user_events_handler", "payment-service-v2"):
        assert validate_queue_name(good) == good
    for bad in ("my.queue", "my queue", "orders/handler", "a\\b", "x*", "y>", "tab\t", ""):
        with pytest.raises(ValueError):
            validate_queue_name(bad)


async def test_subscribe_refuses_bad_queue_names_before_touching_the_server(js_url: str) -> None:
    async with Broker(servers=[js_url]) as b:

        async def handler(e: Event) -> None:
            pass

        for bad in ("my.queue", "my queue", "orders/handler"):
            with pytest.raises(ValueError, match="invalid queue name"):
                await b.subscribe("orders.created", handler, queue=bad)
        js = b.nc.jetstream()
        assert [s.config.name for s in await js.streams_info()] == []


async def test_publish_creates_the_stream_of_the_first_token(js_url: str) -> None:
    async with Broker(servers=[js_url], stream_config={"max_msgs": 1000}) as b:
        ack = await b.publish("orders.created", b'{"id": "123"}', headers={"type": "order"})
        assert (ack.stream, ack.seq) == ("ORDERS", 1)
        await b.publish("user-events.login", b"alice")
        js = b.nc.jetstream()
        orders = await js.stream_info("ORDERS")
        assert orders.config.subjects == ["orders.>"]
        assert orders.config.retention == RetentionPolicy.WORK_QUEUE
        assert orders.config.storage == StorageType.FILE
        assert orders.config.max_msgs == 1000
        assert (await js.stream_info("USER_EVENTS")).config.subjects == ["user-events.>"]
        assert b.counters.published == 2


async def test_work_queue_in_order_acked_and_removed(js_url: str) -> None:
    got: list[Event] = []
    async with Broker(servers=[js_url], batch_size=3, fetch_wait=1.0) as b:

        async def handler(e: Event) -> None:
            got.append(e)

        await b.subscribe("orders.created", handler, queue="order-processor")
        assert b.counters.active_subscriptions == 1
        for i in range(7):
            await b.publish("orders.created", b"m%d" % i, headers={"n": str(i)})
        await until(lambda: len(got) == 7, "7 messages")
        assert [e.body for e in got] == [b"m%d" % i for i in range(7)]
        assert got[3].headers["n"] == "3" and got[0].subject == "orders.created"
        js = b.nc.jetstream()

        async def empty() -> bool:
            return bool((await js.stream_info("ORDERS")).state.messages == 0)

        await until(empty, "the work queue to be empty after the acks")
        assert b.counters.consumed == 7


async def test_an_error_or_a_crash_naks_for_redelivery(js_url: str, caplog: pytest.LogCaptureFixture) -> None:
    attempts: dict[bytes, int] = {}
    done: list[bytes] = []
    async with Broker(servers=[js_url], fetch_wait=1.0) as b:

        async def handler(e: Event) -> None:
            n = attempts[e.body] = attempts.get(e.body, 0) + 1
            if n == 1 and e.body == b"fails":
                raise HandlerError("database unavailable")
            if n == 1 and e.body == b"crashes":
                raise ZeroDivisionError("bug")
            done.append(e.body)

        await b.subscribe("jobs.run", handler, queue="workers")
        for body in (b"fails", b"crashes", b"fine"):
            await b.publish("jobs.run", body)
        await until(lambda: sorted(done) == [b"crashes", b"fails", b"fine"], "all three done")
        assert attempts == {b"fails": 2, b"crashes": 2, b"fine": 1}
        c = b.counters
        assert (c.handler_errors, c.handler_crashes, c.consumed) == (1, 1, 3)
    assert "ZeroDivisionError: bug" in caplog.text  # the crash was logged with its traceback


async def test_disconnect_drains_the_message_in_hand(js_url: str) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[bytes] = []
    b = await Broker(servers=[js_url], fetch_wait=1.0).connect()

    async def handler(e: Event) -> None:
        started.set()
        await release.wait()
        finished.append(e.body)

    await b.subscribe("orders.created", handler, queue="slow")
    await b.publish("orders.created", b"in flight")
    await asyncio.wait_for(started.wait(), WAIT)
    closing = asyncio.create_task(b.disconnect())
    await asyncio.sleep(0.2)
    assert not closing.done()  # waits for the handler
    release.set()
    await asyncio.wait_for(closing, WAIT)
    assert finished == [b"in flight"] and b.counters.consumed == 1
    nc = await nats.connect(js_url)
    js = nc.jetstream()
    assert (await js.stream_info("ORDERS")).state.messages == 0  # it was acked before closing
    assert (await js.consumer_info("ORDERS", "slow")).name == "slow"  # the durable consumer stays
    await nc.close()


async def test_unsubscribe_keeps_the_durable_consumer_and_resumes(js_url: str) -> None:
    got: list[bytes] = []
    async with Broker(servers=[js_url], fetch_wait=1.0) as b:

        async def handler(e: Event) -> None:
            got.append(e.body)

        sub = await b.subscribe("orders.created", handler, queue="proc")
        await b.publish("orders.created", b"1")
        await until(lambda: got == [b"1"], "the first message")
        await sub.unsubscribe()
        assert b.counters.active_subscriptions == 0
        await b.publish("orders.created", b"2")  # stored while nobody listens
        js = b.nc.jetstream()
        assert (await js.consumer_info("ORDERS", "proc")).num_pending == 1
        await b.subscribe("orders.created", handler, queue="proc")
        await until(lambda: got == [b"1", b"2"], "the message kept for the durable consumer")


async def test_fetch_errors_back_off_while_the_server_is_away(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pynatsd.broker")

    def waits() -> list[str]:
        return [
            r.getMessage().rsplit("retrying in ", 1)[1]
            for r in caplog.records
            if r.name == "pynatsd.broker" and "retrying in" in r.getMessage()
        ]

    port = free_port()
    opts = {"jetstream": True, "store_dir": str(tmp_path), "port": port}
    got: list[bytes] = []
    srv = await pynatsd.Server(**opts).start()
    b = await Broker(
        servers=[srv.client_url], fetch_wait=0.5, connect_options={"reconnect_time_wait": 0.2}
    ).connect()
    try:

        async def handler(e: Event) -> None:
            got.append(e.body)

        sub = await b.subscribe("orders.created", handler, queue="proc")
        await b.publish("orders.created", b"before")
        await until(lambda: got == [b"before"], "the first message")
        await srv.shutdown()
        await until(lambda: "1 s, 2 s, 4 s" in ", ".join(waits()), "waits of 1 s, 2 s, 4 s")
        assert b.counters.fetch_errors >= 3
        srv = await pynatsd.Server(**opts).start()
        await until(lambda: b.nc.is_connected, "the broker to reconnect")
        await b.publish("orders.created", b"after")
        await until(lambda: got == [b"before", b"after"], "consumption to resume after the back-off")
        assert sub.backoff == 1.0  # reset by a successful fetch
    finally:
        await b.disconnect()
        await srv.shutdown()


def test_broker_logs_under_its_own_logger() -> None:
    assert logging.getLogger("pynatsd.broker").parent is logging.getLogger("pynatsd")


async def test_counters_are_exported_through_an_embedded_server_s_monitoring(tmp_path: Path) -> None:
    import aiohttp

    async with pynatsd.Server(jetstream=True, store_dir=str(tmp_path), http_port=-1) as srv:
        assert srv.http_url is not None
        async with aiohttp.ClientSession() as http:
            async with http.get(srv.http_url + "/brokerz") as r:
                assert r.status == 404  # nothing exported yet
            async with Broker(servers=[srv.client_url], client_name="orders-svc", fetch_wait=1.0) as b:
                b.export_metrics(srv)
                got: list[bytes] = []

                async def handler(e: Event) -> None:
                    got.append(e.body)

                await b.subscribe("orders.created", handler, queue="proc")
                await b.publish("orders.created", b"1")
                await until(lambda: got == [b"1"], "the message")
                async with http.get(srv.http_url + "/brokerz") as r:
                    doc = await r.json()
        assert doc["brokers"]["orders-svc"] == {
            "published": 1,
            "consumed": 1,
            "handler_errors": 0,
            "handler_crashes": 0,
            "fetch_errors": 0,
            "active_subscriptions": 1,
        }
