"""drain() versus close(): what happens to messages a subscriber has received but not handled.

A client library buffers delivered messages and hands them to the handler one at a time, so
at shutdown some are usually still waiting. close() tears the connection down at once and
those buffered messages are lost; drain() first unsubscribes (no new messages), lets the
handler work through everything already received, and only then closes. Use drain() for a
graceful shutdown, scale-in or redeploy, close() only when losing them is acceptable.

To make the outcome deterministic the handler pauses after PAUSE_AFTER messages (as a slow
handler would), and shutdown starts while all MESSAGES are already in the client's buffer.

    python examples/core/drain_vs_close.py [--server nats://127.0.0.1:4222]
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import Literal

from _common import check, connect, exit_code, main
from nats.aio.msg import Msg

MESSAGES = 50
PAUSE_AFTER = 10
TIMEOUT = 10.0


@dataclass
class Outcome:
    received: int  # messages in the client when shutdown started
    handled_before: int  # ... of which the handler had finished
    handled_after: int  # messages handled in the end


async def shut_down_with(url: str, how: Literal["close", "drain"]) -> Outcome:
    subject = f"demo.{how}"
    handled = 0
    paused = asyncio.Event()
    resume = asyncio.Event()

    async def handler(msg: Msg) -> None:
        nonlocal handled
        if handled == PAUSE_AFTER:
            paused.set()
            await resume.wait()  # a slow handler, busy while shutdown begins
        handled += 1

    consumer = await connect(url, f"{how}-consumer")
    sub = await consumer.subscribe(subject, cb=handler)
    await consumer.flush()  # the subscription is registered on the server once flush returns

    producer = await connect(url, "producer")
    for i in range(MESSAGES):
        await producer.publish(subject, str(i).encode())
    await producer.flush()  # the server has routed all of them ...
    await consumer.flush()  # ... and its PONG comes after them: all are in the client's buffer
    await asyncio.wait_for(paused.wait(), TIMEOUT)

    received, handled_before = sub.delivered, handled
    if how == "close":
        await consumer.close()  # cancels the handler, discards the buffered messages
    else:
        draining = asyncio.create_task(consumer.drain())
        resume.set()  # the handler goes on; drain() returns when the buffer is empty
        await asyncio.wait_for(draining, TIMEOUT)
    resume.set()
    await producer.close()
    outcome = Outcome(received, handled_before, handled)
    print(
        f"{how}(): {outcome.received} messages received, {outcome.handled_before} handled when"
        f" {how}() was called, {outcome.handled_after} handled in the end,"
        f" {outcome.received - outcome.handled_after} dropped"
    )
    return outcome


async def run(url: str) -> int:
    closed = await shut_down_with(url, "close")
    drained = await shut_down_with(url, "drain")
    checks = [
        check(
            closed.received == drained.received == MESSAGES,
            f"all {MESSAGES} messages had reached the subscriber before shutdown started",
        ),
        check(
            closed.handled_before == drained.handled_before == PAUSE_AFTER,
            f"only {PAUSE_AFTER} had been handled when close() or drain() was called",
        ),
        check(
            closed.handled_after == PAUSE_AFTER,
            f"close() dropped the {MESSAGES - PAUSE_AFTER} received but unhandled messages",
        ),
        check(drained.handled_after == MESSAGES, f"drain() handled all {MESSAGES} received messages"),
    ]
    return exit_code(checks)


if __name__ == "__main__":
    sys.exit(main(run, "drain() versus close() with nats-py."))
