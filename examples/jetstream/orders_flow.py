"""Seed note 001's mixed push/pull order flow on one ORDERS stream.

ORDERS.received -> a push consumer (NEW) checks each order and publishes ORDERS.processed
ORDERS.processed -> a pull consumer (DISPATCH) fetches in batches and publishes ORDERS.completed
ORDERS.completed -> a push consumer (MONITOR) records finished orders

Every step acknowledges only after its own publish was acknowledged by the stream, so a
crash between steps redelivers rather than loses an order (at-least-once).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))

from _common import check, connect, exit_code, main, wait_for_event

ORDERS = [f"order-{i:03d}" for i in range(25)]


async def run(url: str) -> int:
    nc = await connect(url, "orders-flow")
    js = nc.jetstream(timeout=10)
    await js.add_stream(name="ORDERS", subjects=["ORDERS.*"])

    completed: list[str] = []
    done = asyncio.Event()

    async def new_order(msg) -> None:  # type: ignore[no-untyped-def]
        order = msg.data.decode()
        await js.publish("ORDERS.processed", f"{order},processed".encode())
        await msg.ack()

    async def monitor(msg) -> None:  # type: ignore[no-untyped-def]
        completed.append(msg.data.decode().split(",")[0])
        await msg.ack()
        if len(completed) == len(ORDERS):
            done.set()

    await js.subscribe("ORDERS.received", durable="NEW", cb=new_order, manual_ack=True)
    await js.subscribe("ORDERS.completed", durable="MONITOR", cb=monitor, manual_ack=True)
    dispatch = await js.pull_subscribe("ORDERS.processed", "DISPATCH")

    for order in ORDERS:
        await js.publish("ORDERS.received", order.encode())
    print(f"published {len(ORDERS)} orders to ORDERS.received")

    async def dispatcher() -> None:
        while not done.is_set():
            try:
                msgs = await dispatch.fetch(10, timeout=1)
            except TimeoutError:
                continue
            for msg in msgs:
                order = msg.data.decode().split(",")[0]
                await js.publish("ORDERS.completed", f"{order},completed".encode())
                await msg.ack_sync()  # confirmed by the server: exactly-once on the receive side
            print(f"DISPATCH handled a batch of {len(msgs)}")

    task = asyncio.create_task(dispatcher())
    await wait_for_event(done, 20, "every order to complete")
    # the dispatcher ends after its current batch: its last acks are confirmed before we look
    await asyncio.wait_for(task, 10)
    info = await js.consumer_info("ORDERS", "DISPATCH")
    stream = await js.stream_info("ORDERS")
    checks = [
        check(sorted(completed) == ORDERS, f"all {len(ORDERS)} orders completed exactly once"),
        check(info.num_ack_pending == 0 and info.num_pending == 0, "DISPATCH has nothing pending"),
        check(stream.state.messages == 3 * len(ORDERS), "the stream kept received, processed and completed"),
    ]
    await nc.close()
    return exit_code(checks)


if __name__ == "__main__":
    sys.exit(main(run, "Seed 001: ORDERS received -> processed -> completed", jetstream=True))
