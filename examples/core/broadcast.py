"""Broadcast pub/sub: every subscriber of a subject gets its own copy of every message.

Use it when several independent services (a dashboard, a logger, an alerter) all need to
see the same events. Core NATS keeps nothing: a message published while nobody listens is
simply gone, which this script also shows.

    python examples/core/broadcast.py [--server nats://127.0.0.1:4222]
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from _common import check, connect, exit_code, main, wait_for_event
from nats.aio.msg import Msg

SUBJECT = "news.weather"
SUBSCRIBERS = ("dashboard", "logger", "alerts")
MESSAGES = [f"update {i}" for i in range(1, 6)]
TIMEOUT = 10.0


async def run(url: str) -> int:
    early = await connect(url, "early-publisher")

    # Nobody is subscribed yet, so the server drops this one (at-most-once delivery).
    await early.publish(SUBJECT, b"update 0")
    await early.flush()  # the server has routed it (to no one) once flush returns
    await early.close()
    print("published 'update 0' before anyone subscribed")

    received: dict[str, list[str]] = {name: [] for name in SUBSCRIBERS}
    all_in = asyncio.Event()

    def collector(name: str) -> Callable[[Msg], Awaitable[None]]:
        async def on_msg(msg: Msg) -> None:
            received[name].append(msg.data.decode())
            if all(len(got) >= len(MESSAGES) for got in received.values()):
                all_in.set()

        return on_msg

    subscribers = []
    for name in SUBSCRIBERS:  # one connection each, as if they were separate services
        nc = await connect(url, name)
        await nc.subscribe(SUBJECT, cb=collector(name))
        await nc.flush()  # the subscription is registered on the server once flush returns
        subscribers.append(nc)

    # A connection of its own for the broadcast: one that had published to this subject
    # before anyone subscribed was once seen (on the reference, under load) to keep
    # routing a few more messages past a new subscriber.
    publisher = await connect(url, "publisher")
    for text in MESSAGES:
        await publisher.publish(SUBJECT, text.encode())
    await publisher.flush()
    print(f"published {len(MESSAGES)} messages to {len(SUBSCRIBERS)} subscribers")

    await wait_for_event(all_in, TIMEOUT, "the subscribers")
    for nc in subscribers:
        await nc.drain()  # handle anything still buffered, then close
    await publisher.close()

    for name, got in received.items():
        print(f"{name} received: {', '.join(got)}")
    checks = [
        check(
            all(got[-len(MESSAGES) :] == MESSAGES for got in received.values()),
            f"each of the {len(SUBSCRIBERS)} subscribers received all {len(MESSAGES)} messages, in publish order",
        ),
        check(
            all("update 0" not in got for got in received.values()),
            "the message published before anyone subscribed reached no one",
        ),
    ]
    return exit_code(checks)


if __name__ == "__main__":
    sys.exit(main(run, "Broadcast pub/sub with nats-py."))
