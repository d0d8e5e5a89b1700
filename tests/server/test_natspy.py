"""The official Python client against pynatsd: the seed notes' core patterns."""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.errors import NoRespondersError, TimeoutError

import pynatsd

T = 10.0


async def test_broadcast_fan_out(server: pynatsd.Server) -> None:
    nc = await nats.connect(server.client_url)
    received: dict[int, list[bytes]] = {0: [], 1: [], 2: []}
    done = asyncio.Event()

    def handler(i: int):  # type: ignore[no-untyped-def]
        async def cb(msg) -> None:  # type: ignore[no-untyped-def]
            received[i].append(msg.data)
            if all(len(v) == 10 for v in received.values()):
                done.set()

        return cb

    for i in range(3):
        await nc.subscribe("news.*", cb=handler(i))
    for n in range(10):
        await nc.publish(f"news.{n}", str(n).encode())
    await asyncio.wait_for(done.wait(), T)
    assert all(v == [str(n).encode() for n in range(10)] for v in received.values())
    await nc.close()


async def test_queue_group_each_message_once(server: pynatsd.Server) -> None:
    nc = await nats.connect(server.client_url)
    got: list[tuple[int, bytes]] = []
    done = asyncio.Event()

    def worker(i: int):  # type: ignore[no-untyped-def]
        async def cb(msg) -> None:  # type: ignore[no-untyped-def]
            got.append((i, msg.data))
            if len(got) == 100:
                done.set()

        return cb

    for i in range(3):
        await nc.subscribe("jobs", queue="workers", cb=worker(i))
    for n in range(100):
        await nc.publish("jobs", str(n).encode())
    await asyncio.wait_for(done.wait(), T)
    await nc.flush()
    assert sorted(int(d) for _, d in got) == list(range(100))
    assert len({i for i, _ in got}) > 1  # spread over members (random choice)
    await nc.close()


async def test_request_reply_and_headers(server: pynatsd.Server) -> None:
    nc = await nats.connect(server.client_url)

    async def responder(msg) -> None:  # type: ignore[no-untyped-def]
        if msg.headers:
            await nc.publish(msg.reply, msg.data, headers={"Echo": msg.headers.get("X-Id", "")})
        else:
            await msg.respond(b"re:" + msg.data)

    await nc.subscribe("svc", cb=responder)
    r = await nc.request("svc", b"ping", timeout=T)
    assert r.data == b"re:ping"
    r = await nc.request("svc", b"h", timeout=T, headers={"X-Id": "42"})
    assert r.headers == {"Echo": "42"} and r.data == b"h"
    await nc.close()


async def test_no_responders(server: pynatsd.Server) -> None:
    nc = await nats.connect(server.client_url)
    with pytest.raises(NoRespondersError):
        await nc.request("nobody.home", b"x", timeout=T)
    await nc.close()


async def test_request_timeout_when_responder_silent(server: pynatsd.Server) -> None:
    nc = await nats.connect(server.client_url)

    async def ignore(msg) -> None:  # type: ignore[no-untyped-def]
        return None

    await nc.subscribe("silent", cb=ignore)
    with pytest.raises(TimeoutError):
        await nc.request("silent", b"x", timeout=0.5)
    await nc.close()


async def test_drain_delivers_in_flight_messages(server: pynatsd.Server) -> None:
    nc = await nats.connect(server.client_url)
    pub = await nats.connect(server.client_url)
    got: list[bytes] = []

    async def slow(msg) -> None:  # type: ignore[no-untyped-def]
        await asyncio.sleep(0)
        got.append(msg.data)

    await nc.subscribe("d", cb=slow)
    await nc.flush()
    for i in range(200):
        await pub.publish("d", str(i).encode())
    await pub.flush()
    await nc.flush()
    await nc.drain()
    assert got == [str(i).encode() for i in range(200)]
    assert nc.is_closed
    await pub.close()


async def test_auto_unsubscribe_and_sync_iteration(server: pynatsd.Server) -> None:
    nc = await nats.connect(server.client_url)
    sub = await nc.subscribe("limited")
    await sub.unsubscribe(limit=3)
    for i in range(5):
        await nc.publish("limited", str(i).encode())
    await nc.flush()
    msgs = [await sub.next_msg(timeout=T) for _ in range(3)]
    assert [m.data for m in msgs] == [b"0", b"1", b"2"]
    with pytest.raises(Exception):  # noqa: B017 - subscription is gone after its limit
        await sub.next_msg(timeout=0.3)
    await nc.close()


async def test_large_payload_and_max_payload(server: pynatsd.Server) -> None:
    nc = await nats.connect(server.client_url)
    sub = await nc.subscribe("big")
    data = bytes(range(256)) * 4096  # exactly 1 MiB, the default limit
    await nc.publish("big", data)
    msg = await sub.next_msg(timeout=T)
    assert msg.data == data
    with pytest.raises(nats.errors.MaxPayloadError):
        await nc.publish("big", data + b"!")
    await nc.close()


async def test_echo_false_option(server: pynatsd.Server) -> None:
    nc = await nats.connect(server.client_url, no_echo=True)
    other = await nats.connect(server.client_url)
    sub = await nc.subscribe("e")
    await nc.flush()
    await nc.publish("e", b"self")
    await other.publish("e", b"other")
    await other.flush()
    assert (await sub.next_msg(timeout=T)).data == b"other"
    await nc.close()
    await other.close()


def test_sync_embedding_in_a_thread() -> None:
    with pynatsd.Server() as srv:

        async def roundtrip() -> bytes:
            nc = await nats.connect(srv.client_url)
            sub = await nc.subscribe("t")
            await nc.publish("t", b"from sync")
            m = await sub.next_msg(timeout=T)
            await nc.close()
            return bytes(m.data)

        assert asyncio.run(roundtrip()) == b"from sync"
