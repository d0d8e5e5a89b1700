"""Request-reply as an application-level ack: resend until the consumer says OK.

Core NATS is at-most-once: a message nobody receives, or a consumer that crashes halfway,
loses it. Making every job a request turns the reply into an acknowledgement: the consumer
answers "OK" once the job is done or "ERR <reason>" when it failed, and the producer resends
on an error reply or a timeout until each job is acknowledged. A resend can reach a
consumer that already did the work (its reply was merely late), so the consumer
deduplicates by job id: delivery becomes at-least-once, processing exactly-once.

The consumer here fails deterministically so that every path runs: it answers ERR the first
time it sees some jobs, "crashes" before doing one job (no reply, so the producer times out)
and loses the reply of another after doing it (the resend must not redo the work).

    python examples/core/request_reply_ack.py [--server nats://127.0.0.1:4222]
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

import nats
import nats.errors
from _common import check, connect, exit_code, main
from nats.aio.client import Client
from nats.aio.msg import Msg

SUBJECT = "orders.process"
JOBS = list(range(1, 11))
FAIL_FIRST_TIME = {3, 7}  # the consumer answers "ERR ..." on the first attempt
CRASH_FIRST_TIME = {5}  # the consumer never answers the first attempt -> the producer times out
LOSE_REPLY_FIRST_TIME = {9}  # the work is done but the first reply is lost -> timeout, duplicate
REQUEST_TIMEOUT = 2.0  # generous, so that only the simulated faults time out
MAX_ATTEMPTS = 5
RETRY_PAUSE = 0.1


class Consumer:
    """Processes jobs and acknowledges each request with OK or ERR <reason>."""

    def __init__(self) -> None:
        self.seen: Counter[int] = Counter()  # requests received per job
        self.completed: Counter[int] = Counter()  # times the work was actually done per job

    async def handle(self, msg: Msg) -> None:
        job = int(msg.data)
        self.seen[job] += 1
        attempt = self.seen[job]
        if self.completed[job]:
            print(f"consumer: job {job} attempt {attempt} -> already done, OK without redoing it")
            await msg.respond(b"OK")  # a duplicate: the work is done, just ack again
            return
        if job in CRASH_FIRST_TIME and attempt == 1:
            print(f"consumer: job {job} attempt {attempt} -> crashed before replying")
            return
        if job in FAIL_FIRST_TIME and attempt == 1:
            print(f"consumer: job {job} attempt {attempt} -> ERR")
            await msg.respond(b"ERR database unavailable")
            return
        self.completed[job] += 1  # ... the real work would happen here ...
        if job in LOSE_REPLY_FIRST_TIME and attempt == 1:
            print(f"consumer: job {job} attempt {attempt} -> done, but the reply was lost")
            return
        await msg.respond(b"OK")


async def send_until_acked(nc: Client, job: int) -> list[str]:
    """Send one job as a request, resending on an error reply or a timeout; the outcomes."""
    outcomes: list[str] = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            reply = await nc.request(SUBJECT, str(job).encode(), timeout=REQUEST_TIMEOUT)
            outcome = reply.data.decode()
        except nats.errors.NoRespondersError:
            outcome = "no responders"
        except nats.errors.TimeoutError:
            outcome = "timeout"
        outcomes.append(outcome)
        if outcome == "OK":
            return outcomes
        if attempt < MAX_ATTEMPTS:
            print(f"producer: job {job} attempt {attempt} -> {outcome}; resending")
            await asyncio.sleep(RETRY_PAUSE)  # don't hammer a consumer that is struggling
    print(f"producer: job {job} gave up after {MAX_ATTEMPTS} attempts")
    return outcomes


async def run(url: str) -> int:
    consumer = Consumer()
    consumer_nc = await connect(url, "consumer")
    # A queue group, so that more consumers could be started to share the work.
    await consumer_nc.subscribe(SUBJECT, queue="order-workers", cb=consumer.handle)
    await consumer_nc.flush()  # the subscription is registered on the server once flush returns

    producer_nc = await connect(url, "producer")
    results = await asyncio.gather(*(send_until_acked(producer_nc, job) for job in JOBS))
    outcomes = dict(zip(JOBS, results, strict=True))
    await producer_nc.close()
    await consumer_nc.drain()

    requests = sum(map(len, results))
    acked = [job for job, out in outcomes.items() if out[-1] == "OK"]
    print(
        f"{len(acked)} of {len(JOBS)} jobs acknowledged after {requests} requests ({requests - len(JOBS)} resends)"
    )
    checks = [
        check(acked == JOBS, f"all {len(JOBS)} jobs were acknowledged with OK"),
        check(
            all(outcomes[job][0].startswith("ERR") for job in FAIL_FIRST_TIME),
            f"jobs {sorted(FAIL_FIRST_TIME)} were resent after an ERR reply",
        ),
        check(
            all(outcomes[job][0] == "timeout" for job in CRASH_FIRST_TIME | LOSE_REPLY_FIRST_TIME),
            f"jobs {sorted(CRASH_FIRST_TIME | LOSE_REPLY_FIRST_TIME)} were resent after a timeout (no reply)",
        ),
        check(
            all(consumer.completed[job] == 1 for job in JOBS),
            "the consumer did the work of each job exactly once (the resent duplicate was not redone)",
        ),
    ]
    return exit_code(checks)


if __name__ == "__main__":
    sys.exit(main(run, "Request-reply as an application-level ack, with nats-py."))
