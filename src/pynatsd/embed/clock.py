"""A controllable clock for an embedded server: tests advance time instead of sleeping.

Two seams, both set up only when a server is started with ``clock=True`` (an unclocked
server runs exactly the code it always ran):

- the event loop the layers schedule on (``Internal.loop``) is wrapped
  (:class:`ClockedLoop`): ``time()``, ``call_later`` and ``call_at`` see virtual time, and
  :meth:`Clock.advance` fires every timer that has come due, in order, at once; the core's
  own timers (pings, auth timeout) keep the real loop;
- the ``time`` module the JetStream and store modules read (``time.time_ns()`` for message
  timestamps, ``max_age``, TTLs, ack deadlines, pause ends) is replaced in those modules by
  :class:`ShiftedTime`, the real clock plus the same offset.

The second seam is process-wide, so one clocked server runs at a time in a process.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import sys
import time as _time
from collections.abc import Callable
from typing import Any

__all__ = ["Clock", "ClockedLoop", "ShiftedTime"]

_NS = 1_000_000_000
_PATCHED_PREFIXES = ("pynatsd.jetstream.", "pynatsd.store.")
_active: list[Clock] = []


class ShiftedTime:
    """Stands in for the ``time`` module: wall and monotonic clocks plus an offset."""

    def __init__(self) -> None:
        self.offset_ns = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(_time, name)

    def time_ns(self) -> int:
        return _time.time_ns() + self.offset_ns

    def time(self) -> float:
        return _time.time() + self.offset_ns / _NS

    def monotonic(self) -> float:
        return _time.monotonic() + self.offset_ns / _NS

    def monotonic_ns(self) -> int:
        return _time.monotonic_ns() + self.offset_ns


class VirtualTimer:
    """What ``call_later`` returns: a timer due at a virtual time, backed by a real one."""

    __slots__ = ("_args", "_callback", "_cancelled", "_real", "_when")

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self._when = when
        self._callback = callback
        self._args = args
        self._cancelled = False
        self._real: asyncio.TimerHandle | None = None

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self._cancelled = True
        if self._real is not None:
            self._real.cancel()
            self._real = None

    def cancelled(self) -> bool:
        return self._cancelled

    def _fire(self) -> None:
        if not self._cancelled:
            self._cancelled = True
            self._real = None
            self._callback(*self._args)


class ClockedLoop:
    """The server's loop with virtual time for its timers; everything else is the loop's."""

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Clock) -> None:
        self._loop = loop
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    def time(self) -> float:
        return self._loop.time() + self._clock.offset

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any, **_: Any) -> VirtualTimer:
        return self._clock.schedule(self.time() + max(delay, 0.0), callback, args)

    def call_at(self, when: float, callback: Callable[..., object], *args: Any, **_: Any) -> VirtualTimer:
        return self._clock.schedule(when, callback, args)


class Clock:
    """The virtual clock of one embedded server (``srv.clock``)."""

    def __init__(self) -> None:
        self.offset = 0.0  # seconds ahead of the real clocks
        self.shifted = ShiftedTime()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: list[tuple[float, int, VirtualTimer]] = []
        self._seq = itertools.count()

    # -- life ----------------------------------------------------------------------------
    def wrap(self, loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
        """The loop the server will use (the core's ``wrap_loop`` hook)."""
        self._loop = loop
        self.patch_modules()
        return ClockedLoop(loop, self)  # type: ignore[return-value]

    def install(self) -> None:
        if _active and _active[0] is not self:
            raise RuntimeError("another server with a controllable clock is running in this process")
        if not _active:
            _active.append(self)
        self.patch_modules()

    def uninstall(self) -> None:
        if _active and _active[0] is self:
            _active.clear()
            for mod in list(sys.modules.values()):
                name = getattr(mod, "__name__", "")
                if name.startswith(_PATCHED_PREFIXES) and getattr(mod, "time", None) is self.shifted:
                    mod.time = _time  # type: ignore[attr-defined]

    def patch_modules(self) -> None:
        """Point the JetStream and store modules loaded so far at the shifted time."""
        for mod in list(sys.modules.values()):
            if (
                getattr(mod, "__name__", "").startswith(_PATCHED_PREFIXES)
                and getattr(mod, "time", None) is _time
            ):
                mod.time = self.shifted  # type: ignore[attr-defined]

    # -- timers ------------------------------------------------------------------------------
    def schedule(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]) -> VirtualTimer:
        assert self._loop is not None
        timer = VirtualTimer(when, callback, args)
        timer._real = self._loop.call_at(when - self.offset, timer._fire)
        heap = self._timers
        heapq.heappush(heap, (when, next(self._seq), timer))
        if len(heap) > 4096:  # fired and cancelled timers leave only at advance: compact
            heap[:] = [e for e in heap if not e[2]._cancelled]
            heapq.heapify(heap)
        return timer

    def now(self) -> float:
        """The server's loop time, virtual."""
        assert self._loop is not None
        return self._loop.time() + self.offset

    def advance(self, seconds: float) -> int:
        """Move time forward by ``seconds`` and run every timer now due, in due order.

        Call it on the server's loop (``Server.advance_clock`` does). Returns how many
        timers fired."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self.patch_modules()
        self.offset += seconds
        self.shifted.offset_ns = round(self.offset * _NS)
        fired = 0
        heap = self._timers
        while heap:
            when, _, timer = heap[0]
            if timer._cancelled:
                heapq.heappop(heap)
                continue
            if when > self.now():
                break
            heapq.heappop(heap)
            if timer._real is not None:
                timer._real.cancel()
            timer._fire()
            fired += 1
        # what is still pending is due sooner in real time now
        loop = self._loop
        assert loop is not None
        for when, _, timer in heap:
            if not timer._cancelled and timer._real is not None:
                timer._real.cancel()
                timer._real = loop.call_at(when - self.offset, timer._fire)
        return fired
