"""Channel bindings: move messages through asyncio.Queue and async iterators, like Go channels.

Go's EncodedConn can bind channels to subjects (BindSendChan / BindRecvChan), so the rest
of a program only talks to channels and never to the connection. The asyncio equivalent
of a channel is an asyncio.Queue: here a send queue is pumped onto a subject and a subject
fills a receive queue. A bounded receive queue also gives back-pressure, like an unbuffered
Go channel: the subscription waits until the reader has taken the previous value (the
messages behind it wait in the client's buffer). nats-py has the receiving half built in
too: a subscription without a callback is an async iterator (``async for msg in
sub.messages``), and ``unsubscribe(limit=n)`` makes it end by itself after n messages.

    python examples/core/channel_binding.py [--server nats://127.0.0.1:4222]
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, TypeVar

import msgspec
from _common import check, connect, exit_code, main
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

T = TypeVar("T")
SUBJECT = "hello"
TIMEOUT = 10.0


class Person(msgspec.Struct, rename="pascal"):  # the seed's Go `person`, same JSON field names
    name: str
    address: str
    age: int


async def bind_recv_queue(
    nc: Client, subject: str, value_type: type[T], queue: asyncio.Queue[T]
) -> Subscription:
    """Like BindRecvChan: every message on ``subject`` is decoded and put into ``queue``."""
    decoder = msgspec.json.Decoder(value_type)

    async def on_msg(msg: Msg) -> None:
        await queue.put(decoder.decode(msg.data))  # waits while a bounded queue is full

    return await nc.subscribe(subject, cb=on_msg)


def bind_send_queue(nc: Client, subject: str, queue: asyncio.Queue[Any]) -> asyncio.Task[None]:
    """Like BindSendChan: every value put into ``queue`` is published on ``subject``."""

    async def pump() -> None:
        while True:
            value = await queue.get()
            try:
                await nc.publish(subject, msgspec.json.encode(value))
            finally:
                queue.task_done()

    return asyncio.create_task(pump())


async def collect(sub: Subscription) -> list[Person]:
    """The built-in async iterator; the loop ends when the auto-unsubscribe limit is reached."""
    return [msgspec.json.decode(msg.data, type=Person) async for msg in sub.messages]


async def run(url: str) -> int:
    people = [
        Person(name="derek", address="140 New Montgomery Street", age=22),
        Person(name="ivan", address="1 Market Street", age=35),
        Person(name="waldemar", address="2 Harbour Road", age=41),
    ]
    receiver = await connect(url, "receiver")
    recv_q: asyncio.Queue[Person] = asyncio.Queue(maxsize=1)
    await bind_recv_queue(receiver, SUBJECT, Person, recv_q)
    iter_sub = await receiver.subscribe(SUBJECT)  # no callback: an async iterator
    await iter_sub.unsubscribe(limit=len(people))
    await receiver.flush()  # the subscriptions are registered on the server once flush returns
    iterated = asyncio.create_task(collect(iter_sub))

    sender = await connect(url, "sender")
    send_q: asyncio.Queue[Person] = asyncio.Queue()
    pump = bind_send_queue(sender, SUBJECT, send_q)

    for p in people:
        await send_q.put(p)  # sendCh <- me
    got: list[Person] = []
    try:
        for _ in people:
            who = await asyncio.wait_for(recv_q.get(), TIMEOUT)  # who := <-recvCh
            print(f"from the receive queue: {who!r}")
            got.append(who)
        from_iterator = await asyncio.wait_for(iterated, TIMEOUT)
    except TimeoutError:
        print(f"timed out after {TIMEOUT}s waiting for messages")
        from_iterator = []
    print(f"the async iterator yielded {len(from_iterator)} people and ended")

    pump.cancel()
    await sender.close()
    await receiver.close()
    checks = [
        check(
            got == people,
            f"the {len(people)} people put into the send queue came out of the receive queue, in order",
        ),
        check(
            from_iterator == people,
            f"the async iterator yielded the same {len(people)} people and ended after its unsubscribe limit",
        ),
    ]
    return exit_code(checks)


if __name__ == "__main__":
    sys.exit(main(run, "Go-channel style bindings with asyncio queues and nats-py."))
