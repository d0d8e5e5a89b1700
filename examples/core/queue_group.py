"""Queue groups: subscribers that share a queue name split the messages between them.

Use it to scale a worker pool horizontally: each job goes to exactly one member of the
group (the server picks one at random), with no coordination between workers. A plain
subscriber on the same subject still sees everything, so auditing or metrics can sit next
to the pool.

    python examples/core/queue_group.py [--server nats://127.0.0.1:4222]
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from _common import check, connect, exit_code, main, wait_for_event
from nats.aio.msg import Msg

SUBJECT = "jobs.resize"
GROUP = "resizers"
WORKERS = ("worker-1", "worker-2", "worker-3")
JOBS = 60
TIMEOUT = 10.0


async def run(url: str) -> int:
    handled: dict[str, list[int]] = {name: [] for name in WORKERS}
    audited: list[int] = []
    all_in = asyncio.Event()

    def note_progress() -> None:
        if sum(map(len, handled.values())) >= JOBS and len(audited) >= JOBS:
            all_in.set()

    def worker(name: str) -> Callable[[Msg], Awaitable[None]]:
        async def on_job(msg: Msg) -> None:
            handled[name].append(int(msg.data))
            note_progress()

        return on_job

    async def auditor(msg: Msg) -> None:
        audited.append(int(msg.data))
        note_progress()

    consumers = []
    for name in WORKERS:  # one connection per worker, as if each were its own process
        nc = await connect(url, name)
        await nc.subscribe(SUBJECT, queue=GROUP, cb=worker(name))
        await nc.flush()  # the subscription is registered on the server once flush returns
        consumers.append(nc)
    audit = await connect(url, "auditor")
    await audit.subscribe(SUBJECT, cb=auditor)  # no queue name: gets its own copy of everything
    await audit.flush()
    consumers.append(audit)

    producer = await connect(url, "producer")
    for job in range(JOBS):
        await producer.publish(SUBJECT, str(job).encode())
    await producer.flush()
    print(f"published {JOBS} jobs to queue group {GROUP!r} ({len(WORKERS)} workers) and one auditor")

    await wait_for_event(all_in, TIMEOUT, "the jobs")
    for nc in consumers:
        await nc.drain()  # anything already delivered is handled (and counted) before closing
    await producer.close()

    for name, jobs in handled.items():
        print(f"{name} handled {len(jobs)} jobs")
    print(f"auditor saw {len(audited)} jobs")
    all_handled = sorted(job for jobs in handled.values() for job in jobs)
    checks = [
        check(all_handled == list(range(JOBS)), f"each of the {JOBS} jobs was handled by exactly one worker"),
        check(sorted(audited) == list(range(JOBS)), f"the auditor outside the group saw all {JOBS} jobs"),
        check(sum(1 for jobs in handled.values() if jobs) > 1, "the jobs were spread over several workers"),
    ]
    return exit_code(checks)


if __name__ == "__main__":
    sys.exit(main(run, "Queue groups (load-balanced workers) with nats-py."))
