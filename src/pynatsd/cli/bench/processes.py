"""Worker processes and their coordinator: publishers and subscribers run in separate
processes so the GIL does not cap the load.

A worker target is called as ``target(sig, ready, *args)``: it connects, calls ``ready()``,
waits for the start signal (``wait_go``) and returns its report, which the ``Coordinator``
collects through a queue. Every wait has a deadline, and leaving the coordinator's ``with``
block stops, then terminates, then kills whatever is still running.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pynatsd.cli.bench.results import BenchError

if TYPE_CHECKING:
    from multiprocessing.context import ForkContext, SpawnContext
    from multiprocessing.process import BaseProcess
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Event

POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Signals:
    """What a worker needs from the coordinator; inherited by forked children."""

    go: Event
    pubs_done: Event
    stop: Event
    results: Queue[tuple[str, int, str, Any]]
    deadline: float


def _raise_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _worker(role: str, idx: int, sig: Signals, target: Callable[..., dict[str, Any]], *args: Any) -> None:
    """Process entry point: report ready/result/error through the queue, never raise."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # forked: undo the coordinator's handler

    def ready() -> None:
        sig.results.put((role, idx, "ready", None))

    try:
        result = target(sig, ready, *args)
        sig.results.put((role, idx, "result", result))
    except BaseException as exc:
        sig.results.put((role, idx, "error", f"{role} {idx}: {type(exc).__name__}: {exc}"))


def wait_go(sig: Signals) -> None:
    if not sig.go.wait(max(0.0, sig.deadline - time.monotonic())):
        raise BenchError("timed out waiting for the start signal")
    if sig.stop.is_set():
        raise BenchError("stopped before start")


class Coordinator:
    """Starts worker processes and collects their reports, tearing everything down on exit."""

    def __init__(self, timeout: float) -> None:
        # fork: workers start in milliseconds and inherit the events and queue.
        self.ctx: ForkContext | SpawnContext = (
            mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context("spawn")
        )
        self.sig = Signals(
            go=self.ctx.Event(),
            pubs_done=self.ctx.Event(),
            stop=self.ctx.Event(),
            results=self.ctx.Queue(),
            deadline=time.monotonic() + timeout,
        )
        self.procs: dict[tuple[str, int], BaseProcess] = {}
        self.pending: dict[tuple[str, int], list[tuple[str, Any]]] = {}

    def __enter__(self) -> Coordinator:
        # A SIGTERM to the coordinator must still reach __exit__, or the workers outlive it.
        self._old_sigterm: Any = None
        if threading.current_thread() is threading.main_thread():
            self._old_sigterm = signal.signal(signal.SIGTERM, _raise_exit)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
        self.sig.stop.set()
        self.sig.go.set()
        self.sig.pubs_done.set()
        for proc in self.procs.values():
            proc.join(timeout=2.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=2.0)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=2.0)
        self.sig.results.close()
        self.sig.results.cancel_join_thread()

    def start(self, role: str, idx: int, target: Callable[..., dict[str, Any]], *args: Any) -> None:
        proc = self.ctx.Process(
            target=_worker,
            args=(role, idx, self.sig, target, *args),
            name=f"pynats-bench-{role}-{idx}",
            daemon=True,
        )
        proc.start()
        self.procs[(role, idx)] = proc

    def wait(self, kind: str, keys: list[tuple[str, int]]) -> dict[tuple[str, int], Any]:
        """Wait for a ``kind`` report from each worker; a worker error or death aborts the run."""
        got: dict[tuple[str, int], Any] = {}
        for key in keys:
            for k, v in self.pending.pop(key, []):
                if k == kind:
                    got[key] = v
        while len(got) < len(keys):
            remaining = self.sig.deadline - time.monotonic()
            if remaining <= 0:
                missing = sorted(set(keys) - set(got))
                raise BenchError(
                    f"timed out waiting for {kind} from {', '.join(f'{r} {i}' for r, i in missing)}"
                )
            try:
                role, idx, what, value = self.sig.results.get(timeout=min(remaining, POLL_SECONDS))
            except queue.Empty:
                for key in set(keys) - set(got):
                    proc = self.procs[key]
                    if not proc.is_alive() and self.sig.results.empty():
                        raise BenchError(f"{key[0]} {key[1]} exited with code {proc.exitcode} before {kind}")
                continue
            if what == "error":
                raise BenchError(str(value))
            if (role, idx) in keys and what == kind:
                got[(role, idx)] = value
            else:
                self.pending.setdefault((role, idx), []).append((what, value))
        return got


def split_evenly(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]
