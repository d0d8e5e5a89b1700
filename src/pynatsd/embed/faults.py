"""Transports that misbehave on purpose, put in front of one client's real transport.

The core writes to ``client.transport``; fault injection swaps that attribute for one of
these wrappers and back, so a connection without a fault runs the unchanged code path.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

__all__ = ["DelayedTransport", "SlowTransport", "unwrap"]

_TICK = 0.01  # seconds between drips of a slow transport


class _Wrapper:
    def __init__(self, real: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.real = real
        self.loop = loop
        self._handle: asyncio.TimerHandle | None = None
        self._closing = False  # close() came: the real close follows the held data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def abort(self) -> None:
        self.cancel()
        self.real.abort()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class DelayedTransport(_Wrapper):
    """Writes reach the socket ``delay`` seconds late, in order (latency, not backpressure)."""

    def __init__(self, real: asyncio.Transport, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        super().__init__(real, loop)
        self.delay = delay
        self._held: collections.deque[tuple[float, bytes | bytearray]] = collections.deque()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._held.append((self.loop.time() + self.delay, bytes(data)))
        if self._handle is None:
            self._handle = self.loop.call_at(self._held[0][0], self._release)

    def close(self) -> None:
        if self._held:
            self._closing = True
        else:
            self.real.close()

    def _release(self) -> None:
        self._handle = None
        now = self.loop.time()
        held = self._held
        while held and held[0][0] <= now:
            self.real.write(held.popleft()[1])
        if held:
            self._handle = self.loop.call_at(held[0][0], self._release)
        elif self._closing:
            self.real.close()

    def flush_now(self) -> None:
        """Write everything held (the fault is being removed)."""
        self.cancel()
        while self._held:
            self.real.write(self._held.popleft()[1])
        if self._closing:
            self.real.close()


class SlowTransport(_Wrapper):
    """A reader that takes only ``rate`` bytes a second: what it has not taken counts as
    pending output, so the server's slow-consumer rules apply as to a slow network peer."""

    def __init__(self, real: asyncio.Transport, loop: asyncio.AbstractEventLoop, rate: int) -> None:
        super().__init__(real, loop)
        self.rate = max(int(rate), 0)
        self._held = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._held += data
        if self._handle is None:
            self._handle = self.loop.call_later(_TICK, self._drip)

    def get_write_buffer_size(self) -> int:
        return len(self._held) + self.real.get_write_buffer_size()

    def close(self) -> None:
        if self._held:
            self._closing = True
        else:
            self.real.close()

    def _drip(self) -> None:
        self._handle = None
        n = max(int(self.rate * _TICK), 1) if self.rate else 0
        if n:
            self.real.write(bytes(self._held[:n]))
            del self._held[:n]
        if self._held:
            self._handle = self.loop.call_later(_TICK, self._drip)
        elif self._closing:
            self.real.close()

    def flush_now(self) -> None:
        self.cancel()
        if self._held:
            self.real.write(bytes(self._held))
            self._held.clear()
        if self._closing:
            self.real.close()


def unwrap(transport: Any) -> asyncio.Transport:
    """The real transport under any fault wrappers, their held data written first."""
    while isinstance(transport, (DelayedTransport, SlowTransport)):
        transport.flush_now()
        transport = transport.real
    return transport  # type: ignore[no-any-return]
