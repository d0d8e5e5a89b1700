"""Seed 004's validation run with pynatsd.broker: a TEST stream for ``test.messages``, a
durable consumer ``validation-queue``, messages published and received in order.

    python examples/broker/validation.py                               # an embedded pynatsd
    python examples/broker/validation.py --server nats://127.0.0.1:4222  # any NATS server

Prints the seed's expected output, then one ``[ok]``/``[FAIL]`` line per expectation; exits
0 when all held, 1 otherwise, 2 when the server could not be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import nats.errors

from pynatsd.broker import Broker, Event

COUNT = 5
SUBJECT = "test.messages"
QUEUE = "validation-queue"


def check(ok: bool, what: str) -> bool:
    print(f"[{'ok' if ok else 'FAIL'}] {what}")
    return ok


async def run(url: str) -> int:
    received: list[str] = []
    arrived = asyncio.Event()
    async with Broker(servers=[url], fetch_wait=1.0, connect_options={"max_reconnect_attempts": 1}) as b:
        print(f"Connected to NATS at {url}")
        js = b.nc.jetstream()
        existed = "TEST" in [s.config.name for s in await js.streams_info()]

        async def handler(e: Event) -> None:
            text = e.body.decode()
            print(f"Received message: {text}")
            received.append(text)
            arrived.set()

        stream = await b.ensure_stream(SUBJECT)
        if not existed:
            print(f"Created stream {stream} for topic {SUBJECT}")
        await b.subscribe(SUBJECT, handler, queue=QUEUE)
        print(f"Subscribed to topic {SUBJECT} with durable consumer {QUEUE}")
        print("Publishing test messages...")
        for i in range(1, COUNT + 1):
            arrived.clear()
            await b.publish(SUBJECT, f"Test message {i}".encode(), headers={"seq": str(i)})
            print(f"Published message {i}")
            try:
                await asyncio.wait_for(arrived.wait(), 20)
            except TimeoutError:
                print(f"timed out waiting for message {i}")
        info = await js.stream_info("TEST")
        consumer = await js.consumer_info("TEST", QUEUE)
        counters = b.counters.as_dict()
    print("counters:", json.dumps(counters, sort_keys=True))
    checks = [
        check(
            received == [f"Test message {i}" for i in range(1, COUNT + 1)],
            f"all {COUNT} messages received in order",
        ),
        check(
            (info.config.retention, info.config.storage) == ("workqueue", "file"),
            "the TEST stream is a work queue on file storage",
        ),
        check(info.state.messages == 0, "every message was acked and removed from the work queue"),
        check(consumer.config.durable_name == QUEUE, f"the durable consumer {QUEUE} exists"),
        check(counters["published"] == counters["consumed"] == COUNT, "the counters agree"),
    ]
    return 0 if all(checks) else 1


async def embedded() -> int:
    import pynatsd

    async with pynatsd.Server(jetstream=True) as srv:
        return await run(srv.client_url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", metavar="URL", help="NATS server URL (default: an embedded pynatsd)")
    args = parser.parse_args()
    try:
        return asyncio.run(run(args.server) if args.server else embedded())
    except (nats.errors.NoServersError, OSError):
        print(f"could not connect to {args.server}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
