"""The process's own CPU and memory use, from /proc (Linux) as the reference's ``pse``
reads them; 0 where /proc is not available."""

from __future__ import annotations

import os
import time

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_last: tuple[float, float] | None = None  # (wall clock, CPU seconds) of the previous sample


def _cpu_seconds() -> float | None:
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime
    except (OSError, ValueError, IndexError):
        return None


def _start_time() -> float | None:
    """When this process started (seconds since the epoch)."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/stat") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith("btime"))
        return btime + int(fields[19]) / _TICKS
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def cpu_percent() -> float:
    """CPU use in percent of one core since the previous call (since the process started
    on the first), rounded to one decimal as the reference's ``cpu``."""
    global _last
    cpu = _cpu_seconds()
    if cpu is None:
        return 0.0
    now = time.time()
    if _last is None:
        started = _start_time()
        prev = (started if started is not None else now, 0.0)
    else:
        prev = _last
    _last = (now, cpu)
    elapsed = now - prev[0]
    if elapsed <= 0:
        return 0.0
    return round(max(cpu - prev[1], 0.0) / elapsed * 100, 1)


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
