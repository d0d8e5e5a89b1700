"""Limits and protection: connections, subscriptions, slow consumers, stale and silent clients."""

from __future__ import annotations

import asyncio

import pynatsd
from tests.support.wire import QUIET
from tests.support.wire import AsyncWireClient as Raw


async def test_max_connections() -> None:
    async with pynatsd.Server(max_connections=1) as srv:
        first = await Raw.connect(srv.port)
        await first.roundtrip(QUIET)
        second = await Raw.connect(srv.port)
        assert await second.read_to_close() == b"-ERR 'maximum connections exceeded'\r\n"
        assert await first.roundtrip(b"") == b""  # the first one is unaffected
        await first.close()


async def test_max_subscriptions() -> None:
    async with pynatsd.Server(max_subscriptions=2) as srv:
        r = await Raw.connect(srv.port)
        out = await r.roundtrip(QUIET + b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPUB c 0\r\n\r\nPUB a 0\r\n\r\n")
        assert out == b"-ERR 'maximum subscriptions exceeded'\r\nMSG a 1 0\r\n\r\n"
        await r.close()


async def test_slow_consumer_is_cut_and_publisher_goes_on() -> None:
    async with pynatsd.Server(max_pending=64 * 1024) as srv:
        slow = await Raw.connect(srv.port)
        await slow.roundtrip(QUIET + b"SUB flood 1\r\n")
        # Stop reading on the slow side so its socket buffers fill up.
        slow.writer.transport.pause_reading()  # type: ignore[attr-defined]
        watcher = await Raw.connect(srv.port)
        await watcher.roundtrip(QUIET + b"SUB flood 1\r\n")
        pub = await Raw.connect(srv.port)
        await pub.roundtrip(QUIET)
        payload = b"x" * 8192
        frame = b"PUB flood %d\r\n%b\r\n" % (len(payload), payload)
        sent = 0
        while srv.server.slow_consumers == 0 and sent < 20000:
            await pub.roundtrip(frame * 50)
            sent += 50
            # the watcher keeps reading, so it is never the slow one
            await watcher.read_until(b"MSG flood 1 8192\r\n" + payload + b"\r\n" * 1)
            watcher.buf = b""
        assert srv.server.slow_consumers == 1
        assert await pub.roundtrip(b"PUB flood 1\r\nz\r\n") == b""
        slow.writer.transport.resume_reading()  # type: ignore[attr-defined]
        await slow.read_to_close()  # cut by the server
        for r in (watcher, pub, slow):
            await r.close()


async def test_stale_connection_closed_after_ping_max() -> None:
    async with pynatsd.Server(ping_interval=0.05, ping_max=2) as srv:
        r = await Raw.connect(srv.port)
        await r.send(QUIET)
        out = await r.read_to_close()
        assert out == b"PING\r\nPING\r\n-ERR 'Stale Connection'\r\n"


async def test_pong_keeps_connection_alive() -> None:
    async with pynatsd.Server(ping_interval=0.05, ping_max=1) as srv:
        r = await Raw.connect(srv.port)
        await r.send(QUIET)
        for _ in range(5):
            await r.read_until(b"PING\r\n")
            await r.send(b"PONG\r\n")
        assert await r.roundtrip(b"") == b""
        await r.close()


async def test_auth_timeout() -> None:
    async with pynatsd.Server(authorization="secret", auth_timeout=0.1) as srv:
        r = await Raw.connect(srv.port)
        assert await r.read_to_close() == b"-ERR 'Authentication Timeout'\r\n"


async def test_max_payload_setting() -> None:
    async with pynatsd.Server(max_payload=10) as srv:
        r = await Raw.connect(srv.port)
        assert b'"max_payload":10' in r.info
        await r.send(QUIET + b"PUB a 11\r\n")
        assert await r.read_to_close() == b"-ERR 'Maximum Payload Violation'\r\n"


async def test_many_clients_churn() -> None:
    async with pynatsd.Server() as srv:
        clients = await asyncio.gather(*(Raw.connect(srv.port) for _ in range(50)))
        for i, c in enumerate(clients):
            await c.roundtrip(QUIET + b"SUB churn.%d 1\r\nSUB churn.* 2\r\n" % i)
        for c in clients[::2]:
            await c.close()
        pub = await Raw.connect(srv.port)
        await pub.roundtrip(QUIET + b"PUB churn.1 1\r\nx\r\n")
        # the reference's order: the literal match before the wildcard on the last token
        assert await clients[1].roundtrip(b"") == b"MSG churn.1 1 1\r\nx\r\nMSG churn.1 2 1\r\nx\r\n"
        assert srv.server.sublist.count == 50
        for c in clients[1::2]:
            await c.close()
        await pub.close()


async def test_write_deadline_cuts_a_consumer_that_stops_reading() -> None:
    async with pynatsd.Server(write_deadline=0.3, max_pending=512 * 1024 * 1024) as srv:
        stuck = await Raw.connect(srv.port)
        await stuck.roundtrip(QUIET + b"SUB w 1\r\n")
        stuck.writer.transport.pause_reading()  # type: ignore[attr-defined]
        pub = await Raw.connect(srv.port)
        await pub.roundtrip(QUIET)
        frame = b"PUB w 65536\r\n" + b"y" * 65536 + b"\r\n"
        sent = 0
        while srv.server.slow_consumers == 0 and sent < 5000:
            await pub.roundtrip(frame * 16)
            sent += 16
        assert srv.server.slow_consumers == 1
        assert await pub.roundtrip(b"PUB w 0\r\n\r\n") == b""  # the publisher goes on
        stuck.writer.transport.resume_reading()  # type: ignore[attr-defined]
        await stuck.read_to_close()
        await pub.close()
        await stuck.close()


async def test_lame_duck_mode() -> None:
    async with pynatsd.Server(lame_duck_duration=0.2, lame_duck_grace_period=0.05) as srv:
        r = await Raw.connect(srv.port)
        await r.roundtrip(QUIET)
        task = asyncio.get_running_loop().create_task(srv.server.enter_lame_duck())
        info = await r.read_until(b"\r\n")
        assert info.startswith(b"INFO ") and b'"ldm":true' in info
        assert await r.read_to_close() == b""
        await asyncio.wait_for(task, 10)
        try:
            late = await Raw.connect(srv.port)
        except OSError:
            return  # refused: the listener is gone
        assert await late.read_to_close() == b""  # pragma: no cover - depends on OS timing
