"""File engine with and without compression: append rate, bytes on disk, reads, restart.
The compression figures in docs/STORAGE.md come from this script.

    .venv/bin/python bench/compress_bench.py [--msgs 300000] [--size 512] [--dir /tmp/compress-bench]

Payloads are distinct JSON order events of ``--size`` bytes (``pynats bench --payload
json``), 10 subjects. Appends run on an event loop, one flush per 1,000 messages (one
loop turn's worth), so compression runs in its worker thread as in the server; the
append figure includes waiting for the last block's compression to finish.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import time
from pathlib import Path

from pynatsd.cli.bench.payloads import json_payloads
from pynatsd.store.base import StoreLimits
from pynatsd.store.file import FileStore

SUBJECTS = [f"orders.region{i}" for i in range(10)]


def disk(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir() if p.is_file())


async def append(directory: Path, n: int, payloads: list[bytes], compression: bool) -> tuple[float, float]:
    """(msgs/s until every sealed block is written as configured, msgs/s of the appends alone)"""
    store = FileStore(directory, StoreLimits(), compression=compression)
    t = time.perf_counter()
    for i in range(0, n, 1000):
        for j in range(i, min(n, i + 1000)):
            store.store(SUBJECTS[j % 10], b"", payloads[j % len(payloads)])
        await asyncio.sleep(0)
    appended = time.perf_counter() - t
    while not store._z.idle():
        await asyncio.sleep(0.001)
    settled = time.perf_counter() - t
    store.close()
    return n / settled, n / appended


def reads(directory: Path, n: int) -> tuple[float, float, float]:
    """(restart s, random loads/s, sequential batched msgs/s)"""
    t = time.perf_counter()
    store = FileStore(directory, StoreLimits())
    restart = time.perf_counter() - t
    rnd = random.Random(1)
    k = 20_000
    t = time.perf_counter()
    for _ in range(k):
        store.load(rnd.randint(1, n))
    rand = k / (time.perf_counter() - t)
    t = time.perf_counter()
    seq, got = 1, 0
    while seq <= n:
        batch = store.load_batch([], seq, 500)
        got += len(batch)
        seq = batch[-1].seq + 1
    batched = got / (time.perf_counter() - t)
    store.close()
    return restart, rand, batched


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--msgs", type=int, default=300_000)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--dir", default="/tmp/compress-bench")
    args = ap.parse_args()
    payloads = json_payloads(args.size, 4096)
    base = Path(args.dir)
    print(f"{args.msgs:,} messages of {args.size} B JSON, 10 subjects")
    for compression in (False, True):
        d = base / ("s2" if compression else "none")
        shutil.rmtree(d, ignore_errors=True)
        settled, appended = asyncio.run(append(d, args.msgs, payloads, compression))
        size = disk(d)
        restart, rand, batched = reads(d, args.msgs)
        print(
            f"compression {'s2  ' if compression else 'none'}: append {appended:,.0f} msgs/s "
            f"({settled:,.0f} with compression settled), on disk {size / 1e6:,.1f} MB "
            f"({size / (args.msgs * args.size):.2f} of the payload bytes), restart {restart:.3f} s, "
            f"random load {rand:,.0f}/s, batched read {batched:,.0f} msgs/s"
        )
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
