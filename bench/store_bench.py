"""Storage engine figures: append throughput, group-commit throughput, restart time and
memory per message, read speed. The numbers in docs/STORAGE.md come from this script.

    .venv/bin/python bench/store_bench.py [--msgs 1000000] [--dir /tmp/store-bench]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pynatsd.store.base import StoreLimits
from pynatsd.store.file import FileStore
from pynatsd.store.memory import MemoryStore

SUBJECTS = [f"orders.region{i}" for i in range(10)]
PAYLOAD = b"p" * 100


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def append(store: FileStore | MemoryStore, n: int, batch: int = 1000) -> float:
    """Messages per second, flushing once per ``batch`` (one loop turn's worth)."""
    t = time.perf_counter()
    for i in range(0, n, batch):
        for j in range(i, min(n, i + batch)):
            store.store(SUBJECTS[j % 10], b"", PAYLOAD)
        store.flush()
    return n / (time.perf_counter() - t)


async def group_commit(directory: Path, conc: int, seconds: float = 2.0) -> float:
    """``conc`` publishers, each waiting for durability before its next message."""
    shutil.rmtree(directory, ignore_errors=True)
    store = FileStore(directory, StoreLimits(), sync_always=True)
    loop = asyncio.get_running_loop()
    done = 0
    stop = time.perf_counter() + seconds

    async def producer(k: int) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            fut: asyncio.Future[None] = loop.create_future()
            store.store(SUBJECTS[k % 10], b"", PAYLOAD)
            store.when_durable(functools.partial(fut.set_result, None))
            await fut
            done += 1

    t = time.perf_counter()
    await asyncio.gather(*(producer(k) for k in range(conc)))
    rate = done / (time.perf_counter() - t)
    store.close()
    return rate


def reads(store: FileStore | MemoryStore, n: int) -> tuple[float, float, float]:
    t = time.perf_counter()
    seq, count = 1, 0
    while count < 100_000:
        m = store.load_next(["orders.region3"], seq)
        if m is None:
            break
        seq, count = m.seq + 1, count + 1
    r_next = count / (time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(100_000):
        store.load_last(SUBJECTS[i % 10])
    r_last = 100_000 / (time.perf_counter() - t)
    rnd = random.Random(1)
    t = time.perf_counter()
    for _ in range(100_000):
        store.load(rnd.randint(1, n))
    r_load = 100_000 / (time.perf_counter() - t)
    return r_next, r_last, r_load


def reopen_child(directory: str, n: int) -> None:
    """Runs in a fresh interpreter: restart time and memory of a store of ``n`` messages."""
    gc.collect()
    r0 = rss_mb()
    t = time.perf_counter()
    store = FileStore(directory, StoreLimits())
    dt = time.perf_counter() - t
    gc.collect()
    mem = rss_mb() - r0
    assert store.state().msgs == n, store.state()
    print(f"  restart {dt:.2f} s, RSS +{mem:.1f} MB = {mem * 2**20 / n:.0f} bytes/message")
    r = reads(store, n)
    print(f"  load_next(literal) {r[0]:,.0f}/s, load_last {r[1]:,.0f}/s, random load {r[2]:,.0f}/s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--msgs", type=int, default=1_000_000)
    ap.add_argument("--dir", default="/tmp/store-bench")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    base = Path(args.dir)
    if args.child:
        reopen_child(str(base / "file"), args.msgs)
        return
    n = args.msgs
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)

    gc.collect()
    r0 = rss_mb()
    mem = MemoryStore(StoreLimits())
    rate = append(mem, n)
    gc.collect()
    print(f"memory: append {rate:,.0f} msgs/s, RSS +{rss_mb() - r0:.0f} MB for {n:,} x 100 B payloads")
    r = reads(mem, n)
    print(f"  load_next(literal) {r[0]:,.0f}/s, load_last {r[1]:,.0f}/s, random load {r[2]:,.0f}/s")
    del mem
    gc.collect()

    store = FileStore(base / "file", StoreLimits())
    rate = append(store, n)
    disk = sum(p.stat().st_size for p in (base / "file").iterdir())
    print(f"file: append {rate:,.0f} msgs/s (async), {disk / 1e6:.0f} MB on disk")
    store.close()
    child = [sys.executable, __file__, "--child", "--msgs", str(n), "--dir", str(base)]
    print("file, clean restart (index files for every block):")
    subprocess.run(child, check=True)
    # A crash leaves the newest block without its index: remove it to time the replay.
    idx = sorted((base / "file").glob("*.idx"))[-1]
    idx.unlink()
    print("file, restart after a crash (newest block replayed):")
    subprocess.run(child, check=True)

    for conc in (1, 16, 256, 1024):
        rate = asyncio.run(group_commit(base / "sync", conc))
        print(f"file, sync_always, {conc} publishers waiting for durability: {rate:,.0f} msgs/s")
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
