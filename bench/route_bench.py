#!/usr/bin/env python3
"""Cross-route benchmark: two servers routed together, publisher on one, subscriber on the other.

Four pairs are measured one after the other (never together: two cores): pynatsd+pynatsd,
reference+reference, and the mixed pair both ways (the publisher's server named first).
Scenarios: ``pubsub`` (one publisher on node A, one subscriber on node B: the subscriber's
rate from first to last message) and ``request`` (requester on A, responder on B: round-trip
latency). Same load generator as bench/harness.py (``pynatsd.cli.bench``).

    flock -x /tmp/heavy.lock python bench/route_bench.py [--msgs 500000] [--requests 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import nats  # noqa: E402
from nats.errors import NoRespondersError  # noqa: E402
from nats.errors import TimeoutError as NatsTimeout  # noqa: E402
from tests.support.launcher import ServerProcess, free_port, server_command  # noqa: E402

from pynatsd.cli.bench.core import run_pubsub, run_request  # noqa: E402
from pynatsd.cli.client_options import Endpoint  # noqa: E402

# ROUTE_BENCH_PAIRS="pynatsd>pynatsd,..." picks pairs (publisher's server first).
_DEFAULT_PAIRS = "pynatsd>pynatsd,reference>reference,pynatsd>reference,reference>pynatsd"
PAIRS = [tuple(p.split(">")) for p in os.environ.get("ROUTE_BENCH_PAIRS", _DEFAULT_PAIRS).split(",")]


def start(tmp: Path, kind: str, name: str, routes: list[int]) -> tuple[ServerProcess, int, int]:
    port, cport = free_port(), free_port()
    conf = tmp / f"{name}.conf"
    urls = ", ".join(f"nats-route://127.0.0.1:{p}" for p in routes)
    conf.write_text(
        f"server_name: {name}\nlisten: 127.0.0.1:{port}\n"
        f"cluster {{ name: bench, listen: 127.0.0.1:{cport}, routes: [ {urls} ] }}\n"
    )
    proc = ServerProcess(server_command(kind), "-c", str(conf), host=None, name=f"{kind}-{name}")
    proc.start()
    return proc, port, cport


def wait_interest(sub_port: int, pub_port: int) -> None:
    """Until a responder subscribed on the subscriber's server now answers from the
    publisher's: every interest registered before it crossed the route too."""

    async def go() -> None:
        subject = "sync." + uuid.uuid4().hex
        s = await nats.connect(f"nats://127.0.0.1:{sub_port}")
        p = await nats.connect(f"nats://127.0.0.1:{pub_port}")

        async def answer(msg: Any) -> None:
            await msg.respond(b"")

        await s.subscribe(subject, cb=answer)
        await s.flush()
        for _ in range(400):
            try:
                await p.request(subject, b"", timeout=1.0)
                break
            except (NoRespondersError, NatsTimeout):
                await asyncio.sleep(0.05)
        else:
            raise RuntimeError("interest never crossed the route")
        await s.close()
        await p.close()

    asyncio.run(go())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--msgs", type=int, default=500_000)
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    rows: list[tuple[str, float, float, float]] = []
    for pub_kind, sub_kind in PAIRS:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            a, a_port, a_cport = start(tmp, pub_kind, "A", [])
            b, b_port, _ = start(tmp, sub_kind, "B", [a_cport])
            try:
                wait_interest(b_port, a_port)
                pub, sub = Endpoint("127.0.0.1", a_port), Endpoint("127.0.0.1", b_port)
                rates, p50s, p99s = [], [], []
                for _ in range(args.runs):
                    r = run_pubsub(
                        pub,
                        msgs=args.msgs,
                        size=args.size,
                        sub_endpoint=sub,
                        before_publish=lambda b=b_port, a=a_port: wait_interest(b, a),  # type: ignore[misc]
                        timeout=300,
                    )
                    assert r.ok and r.sub is not None, r.errors
                    rates.append(r.sub.msgs_per_sec)
                    q = run_request(pub, msgs=args.requests, size=args.size, responder=sub, timeout=300)
                    assert q.ok and q.latency is not None, q.errors
                    p50s.append(q.latency.p50_us)
                    p99s.append(q.latency.p99_us)
                label = f"{pub_kind} -> {sub_kind}"
                rows.append(
                    (label, statistics.median(rates), statistics.median(p50s), statistics.median(p99s))
                )
                print(
                    f"{label}: sub {rows[-1][1]:,.0f} msgs/s, request p50 {rows[-1][2]:.0f} us p99 {rows[-1][3]:.0f} us"
                )
            finally:
                a.stop()
                b.stop()
    print("\n| pair (publisher -> subscriber) | cross-route sub msgs/s | request p50 µs | request p99 µs |")
    print("|---|---:|---:|---:|")
    for label, rate, p50, p99 in rows:
        print(f"| {label} | {rate:,.0f} | {p50:,.0f} | {p99:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
