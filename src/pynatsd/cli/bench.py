"""``pynats bench``: a load generator fast enough to saturate a server doing millions of msgs/s.

nats-py spends microseconds of Python per message, which would make the client the bottleneck,
so this speaks the raw protocol over sockets instead:

* publishers pre-build a block of ``PUB`` frames once and send it with big ``sendall`` calls,
  with a ``PING`` every few MB (at most two outstanding) so the server never holds more than a
  bounded amount of unprocessed input, and a final ``PING`` whose ``PONG`` proves the server has
  processed every message;
* subscribers never parse messages: payloads are drawn from an alphabet without ``\\n``, so the
  byte string ``\\nMSG `` occurs exactly once per delivered frame and ``bytearray.count`` (C
  speed) over each large ``recv_into`` buffer counts them; a few carried-over bytes make the
  count exact across ``recv`` boundaries. From ``WALK_FROM_SIZE`` up, scanning every payload byte
  costs more than a little Python per frame, so large messages are counted by reading each header
  and jumping over the payload instead;
* publishers and subscribers are separate processes so the GIL does not cap the load.

Rates are measured from the first to the last message seen by each subscriber, and from the
first write to the final ``PONG`` at each publisher. Every wait has a deadline.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from pynatsd.version import __version__

if TYPE_CHECKING:
    from multiprocessing.context import ForkContext, SpawnContext
    from multiprocessing.process import BaseProcess
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Event

    from pynatsd.cli.pynats import ClientOptions, Endpoint

MSG_MARKER = b"\nMSG "
PONG_MARKER = b"\nPONG\r\n"
# No b"\n" in here, so a payload can never contain a marker.
PAYLOAD_ALPHABET = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

RECV_BUFFER = 4 * 1024 * 1024
PUB_BLOCK_BYTES = 512 * 1024
PING_EVERY_BYTES = 4 * 1024 * 1024
MAX_OUTSTANDING_PINGS = 2
POLL_SECONDS = 0.1
CONNECT_TIMEOUT = 10.0
MAX_SUBJECTS = 100_000
MB = 1_000_000
# From this payload size, walking headers costs less than scanning payloads for markers.
WALK_FROM_SIZE = 2048


class BenchError(Exception):
    """A scenario could not run to completion (server error, timeout, lost connection)."""


# --------------------------------------------------------------------------- frame counting


class StreamCounter:
    """Counts ``MSG`` frames in a subscriber's stream, received in arbitrary pieces.

    ``recv`` reads straight into a preallocated buffer, ``count(n)`` then inspects the ``n`` new
    bytes. In the drain phase ``count_until_pong`` also reports the ``PONG`` that ends the stream.
    """

    KEEP = 0

    def __init__(self, bufsize: int = RECV_BUFFER) -> None:
        self.bufsize = bufsize
        self.buf = bytearray(self.KEEP + bufsize)
        self.view = memoryview(self.buf)[self.KEEP :]

    def recv(self, sock: socket.socket) -> int:
        """One ``recv_into``; returns the byte count (0 = EOF)."""
        return sock.recv_into(self.view)

    def count(self, n: int) -> int:
        raise NotImplementedError

    def count_until_pong(self, n: int) -> tuple[int, bool]:
        raise NotImplementedError

    def _chunks(self, data: bytes) -> Iterator[int]:
        for start in range(0, len(data), self.bufsize):
            chunk = data[start : start + self.bufsize]
            self.view[: len(chunk)] = chunk
            yield len(chunk)

    def feed(self, data: bytes) -> int:
        """Count frames in bytes obtained elsewhere (handshake leftovers, tests)."""
        return sum(self.count(n) for n in self._chunks(data))

    def feed_until_pong(self, data: bytes) -> tuple[int, bool]:
        """``feed`` for the drain phase; bytes after the ``PONG`` are ignored."""
        total = 0
        for n in self._chunks(data):
            found, pong = self.count_until_pong(n)
            total += found
            if pong:
                return total, True
        return total, False


class MarkerCounter(StreamCounter):
    """Counts frames with one C-speed ``bytearray.count`` per read, never parsing them.

    Payloads come from ``PAYLOAD_ALPHABET`` (no ``\\n``), so ``\\nMSG `` occurs exactly once per
    frame. The buffer is preceded by the last ``KEEP`` bytes of the previous read, so a marker
    split across reads is still seen whole, and counting starts where a marker would end inside
    the new bytes, so none is counted twice. The carry is seeded with ``\\n`` because the stream
    starts right after the ``PONG\\r\\n`` of the handshake.
    """

    KEEP = max(len(MSG_MARKER), len(PONG_MARKER)) - 1
    _MSG_FROM = KEEP - len(MSG_MARKER) + 1

    def __init__(self, bufsize: int = RECV_BUFFER) -> None:
        super().__init__(bufsize)
        self.buf[: self.KEEP] = b"\0" * (self.KEEP - 1) + b"\n"

    def count(self, n: int) -> int:
        keep = self.KEEP
        end = keep + n
        buf = self.buf
        found = buf.count(MSG_MARKER, self._MSG_FROM, end)
        buf[:keep] = buf[end - keep : end]
        return found

    def count_until_pong(self, n: int) -> tuple[int, bool]:
        end = self.KEEP + n
        pos = self.buf.find(PONG_MARKER, 0, end)
        if pos < 0:
            return self.count(n), False
        return self.buf.count(MSG_MARKER, self._MSG_FROM, pos), True


class FrameWalker(StreamCounter):
    """Counts frames by reading each header and jumping over its payload.

    That is a few Python operations per frame instead of a scan of every payload byte, so it is
    the cheaper choice for large payloads (see ``WALK_FROM_SIZE``), and it works for any payload.
    A header split across reads is carried over; a payload split across reads is skipped.
    """

    def __init__(self, bufsize: int = RECV_BUFFER) -> None:
        super().__init__(bufsize)
        self.skip = 0
        self.partial = bytearray()

    def count(self, n: int) -> int:
        return self._walk(n, stop_at_pong=False)[0]

    def count_until_pong(self, n: int) -> tuple[int, bool]:
        return self._walk(n, stop_at_pong=True)

    def _walk(self, n: int, stop_at_pong: bool) -> tuple[int, bool]:
        buf = self.buf
        i = self.skip
        if i >= n:
            self.skip = i - n
            return 0, False
        self.skip = 0
        found = 0
        if self.partial:
            j = buf.find(b"\n", i, n)
            if j < 0:
                self.partial += buf[i:n]
                return 0, False
            line = bytes(self.partial + buf[i:j])
            self.partial.clear()
            i = j + 1
            if line.startswith(b"MSG "):
                found = 1
                i += int(line[line.rfind(b" ") + 1 :]) + 2
            elif stop_at_pong and line.startswith(b"PONG"):
                return 0, True
        while i < n:
            j = buf.find(b"\n", i, n)
            if j < 0:
                self.partial += buf[i:n]
                break
            if buf.startswith(b"MSG ", i):
                found += 1
                i = j + 3 + int(buf[buf.rfind(b" ", i, j) + 1 : j])
            elif stop_at_pong and buf.startswith(b"PONG", i):
                return found, True
            else:  # PING, +OK, INFO: nothing to count
                i = j + 1
        if i > n:
            self.skip = i - n
        return found, False


def frame_counter(size: int, bufsize: int = RECV_BUFFER) -> StreamCounter:
    """The cheaper counter for this payload size."""
    return FrameWalker(bufsize) if size >= WALK_FROM_SIZE else MarkerCounter(bufsize)


def make_payload(size: int) -> bytes:
    """A payload that cannot contain a frame marker (see ``PAYLOAD_ALPHABET``)."""
    reps = size // len(PAYLOAD_ALPHABET) + 1
    return (PAYLOAD_ALPHABET * reps)[:size]


def bench_subjects(base: str, spread: int) -> tuple[list[str], str]:
    """Publish subjects and the one subscription that matches them all."""
    if spread <= 1:
        return [base], base
    return [f"{base}.{i}" for i in range(spread)], f"{base}.*"


# --------------------------------------------------------------------------- raw connection


class RawConn:
    """A minimal blocking NATS client connection: handshake, control lines, ``MSG`` parsing."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.info: dict[str, Any] = {}

    @classmethod
    def open(
        cls, endpoint: Endpoint, name: str, deadline: float, subs: tuple[tuple[str, int], ...] = ()
    ) -> RawConn:
        """Connect, authenticate and subscribe; returns once the server has answered a PING."""
        timeout = max(0.01, min(CONNECT_TIMEOUT, deadline - time.monotonic()))
        try:
            sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
        except OSError as exc:
            raise BenchError(f"cannot connect to {endpoint.host}:{endpoint.port}: {exc}")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = cls(sock)
        try:
            conn._handshake(endpoint, name, deadline, subs)
        except BaseException:
            sock.close()
            raise
        return conn

    def _handshake(
        self, endpoint: Endpoint, name: str, deadline: float, subs: tuple[tuple[str, int], ...]
    ) -> None:
        line = self.read_line(deadline)
        if not line.startswith(b"INFO "):
            raise BenchError(f"expected INFO, got {line[:80]!r}")
        self.info = json.loads(line[5:])
        if self.info.get("tls_required"):
            raise BenchError("the server requires TLS, which the benchmark does not support")
        connect: dict[str, Any] = {
            "verbose": False,
            "pedantic": False,
            "lang": "python-raw",
            "headers": True,
            "no_responders": True,
            "version": __version__,
            "protocol": 1,
            "name": name,
        }
        if endpoint.user is not None:
            connect["user"] = endpoint.user
            connect["pass"] = endpoint.password or ""
        if endpoint.token is not None:
            connect["auth_token"] = endpoint.token
        out = [b"CONNECT " + json.dumps(connect, separators=(",", ":")).encode() + b"\r\n"]
        out += [f"SUB {subject} {sid}\r\n".encode() for subject, sid in subs]
        out.append(b"PING\r\n")
        self.sock.sendall(b"".join(out))
        self.wait_pong(deadline)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def take_buffered(self) -> bytes:
        """Hand over bytes read past the last parsed line (the start of a MSG stream)."""
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def recv_more(self, deadline: float, poll: float | None = None) -> bool:
        """Append whatever arrives; False if ``poll`` elapsed first. Raises past the deadline."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError("timed out waiting for the server")
            self.sock.settimeout(min(remaining, poll if poll is not None else 1.0))
            try:
                data = self.sock.recv(256 * 1024)
            except TimeoutError:
                if poll is not None:
                    return False
                continue
            if not data:
                raise BenchError("the server closed the connection")
            self.buf += data
            return True

    def read_line(self, deadline: float) -> bytes:
        while (idx := self.buf.find(b"\r\n")) < 0:
            self.recv_more(deadline)
        line = bytes(self.buf[:idx])
        del self.buf[: idx + 2]
        return line

    def _control(self, line: bytes) -> bool:
        """Handle a non-MSG line; True if it was a PONG."""
        if line == b"PONG":
            return True
        if line == b"PING":
            self.sock.sendall(b"PONG\r\n")
        elif line.startswith(b"-ERR"):
            raise BenchError(f"server error: {line[5:].decode(errors='replace')}")
        elif not (line == b"+OK" or line.startswith(b"INFO ")):
            raise BenchError(f"unexpected protocol line {line[:80]!r}")
        return False

    def wait_pong(self, deadline: float) -> None:
        while not self._control(self.read_line(deadline)):
            pass

    def parse_msg(self) -> tuple[bytes, bytes] | None:
        """Take one complete ``MSG`` (reply, payload) from the buffer, handling control lines."""
        while (idx := self.buf.find(b"\r\n")) >= 0:
            if self.buf.startswith(b"MSG "):
                args = self.buf[4:idx].split()
                size = int(args[-1])
                end = idx + 2 + size + 2
                if len(self.buf) < end:
                    return None
                reply = bytes(args[2]) if len(args) == 4 else b""
                payload = bytes(self.buf[idx + 2 : end - 2])
                del self.buf[:end]
                return reply, payload
            line = bytes(self.buf[:idx])
            del self.buf[: idx + 2]
            self._control(line)
        return None

    def read_msg(self, deadline: float) -> tuple[bytes, bytes]:
        while (msg := self.parse_msg()) is None:
            self.recv_more(deadline)
        return msg


# --------------------------------------------------------------------------- worker processes


@dataclass(frozen=True)
class _Signals:
    """What a worker needs from the coordinator; inherited by forked children."""

    go: Event
    pubs_done: Event
    stop: Event
    results: Queue[tuple[str, int, str, Any]]
    deadline: float


def _raise_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _worker(role: str, idx: int, sig: _Signals, target: Callable[..., dict[str, Any]], *args: Any) -> None:
    """Process entry point: report ready/result/error through the queue, never raise."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # forked: undo the coordinator's handler

    def ready() -> None:
        sig.results.put((role, idx, "ready", None))

    try:
        result = target(sig, ready, *args)
        sig.results.put((role, idx, "result", result))
    except BaseException as exc:
        sig.results.put((role, idx, "error", f"{role} {idx}: {type(exc).__name__}: {exc}"))


def _wait_go(sig: _Signals) -> None:
    if not sig.go.wait(max(0.0, sig.deadline - time.monotonic())):
        raise BenchError("timed out waiting for the start signal")
    if sig.stop.is_set():
        raise BenchError("stopped before start")


def _publisher(
    sig: _Signals,
    ready: Callable[[], None],
    endpoint: Endpoint,
    subjects: list[str],
    size: int,
    count: int,
    name: str,
) -> dict[str, Any]:
    """Send ``count`` messages round-robin over ``subjects``; time until the final PONG."""
    payload = make_payload(size)
    frames = [f"PUB {s} {size}\r\n".encode() + payload + b"\r\n" for s in subjects]
    avg = sum(map(len, frames)) / len(frames)
    per_block = max(1, int(PUB_BLOCK_BYTES // avg))
    per_block = math.ceil(per_block / len(frames)) * len(frames)  # each block covers all subjects evenly
    full, rest = divmod(count, per_block)
    block = b"".join(frames[i % len(frames)] for i in range(per_block)) if full else b""
    tail = b"".join(frames[i % len(frames)] for i in range(rest))
    deadline = sig.deadline

    conn = RawConn.open(endpoint, name, deadline)
    sock = conn.sock
    try:
        max_payload = int(conn.info.get("max_payload", size))
        if size > max_payload:
            raise BenchError(f"--size {size} exceeds the server's max_payload of {max_payload}")
        ready()
        _wait_go(sig)
        outstanding = 0
        since_ping = 0
        start = time.monotonic_ns()
        for _ in range(full):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or sig.stop.is_set():
                raise BenchError("timed out while publishing" if remaining <= 0 else "stopped")
            sock.settimeout(remaining)
            sock.sendall(block)
            since_ping += len(block)
            if since_ping >= PING_EVERY_BYTES:
                sock.sendall(b"PING\r\n")
                since_ping = 0
                outstanding += 1
                while outstanding > MAX_OUTSTANDING_PINGS:
                    conn.wait_pong(deadline)
                    outstanding -= 1
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        sock.sendall(tail + b"PING\r\n")
        for _ in range(outstanding + 1):
            conn.wait_pong(deadline)
        end = time.monotonic_ns()
    finally:
        conn.close()
    return {"msgs": count, "bytes": count * size, "start_ns": start, "end_ns": end}


def _subscriber(
    sig: _Signals,
    ready: Callable[[], None],
    endpoint: Endpoint,
    subject: str,
    expected: int,
    size: int,
    name: str,
) -> dict[str, Any]:
    """Count frames until ``expected``, then flush with PING/PONG to catch any extras."""
    deadline = sig.deadline
    conn = RawConn.open(endpoint, name, deadline, subs=((subject, 1),))
    sock = conn.sock
    counter = frame_counter(size)
    try:
        count = counter.feed(conn.take_buffered())
        first = last = last_seen = time.monotonic_ns() if count else 0
        ready()
        sock.settimeout(POLL_SECONDS)
        while True:
            if count >= expected:
                if not last:
                    last = last_seen
                if sig.pubs_done.is_set():
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"timed out with {count} of {expected} messages")
            try:
                n = counter.recv(sock)
            except TimeoutError:
                if sig.pubs_done.is_set() or sig.stop.is_set():
                    break
                continue
            if not n:
                raise BenchError(f"the server closed the connection after {count} of {expected} messages")
            found = counter.count(n)
            if found:
                last_seen = time.monotonic_ns()
                if not first:
                    first = last_seen
                count += found
        # Every publisher has had its final PONG, so everything it sent is queued for us ahead
        # of the PONG to this PING: after it, the count is final.
        sock.sendall(b"PING\r\n")
        while True:
            if time.monotonic() > deadline:
                raise BenchError(f"timed out draining with {count} of {expected} messages")
            try:
                n = counter.recv(sock)
            except TimeoutError:
                continue
            if not n:
                raise BenchError(f"the server closed the connection after {count} of {expected} messages")
            found, pong = counter.count_until_pong(n)
            if found:
                last_seen = time.monotonic_ns()
                first = first or last_seen
                count += found
            if pong:
                break
    finally:
        conn.close()
    last = last if last and count >= expected else last_seen
    return {"msgs": count, "bytes": count * size, "start_ns": first, "end_ns": last}


def _responder(sig: _Signals, ready: Callable[[], None], endpoint: Endpoint, subject: str) -> dict[str, Any]:
    """Echo each request to its reply subject, batching replies to whatever arrived together."""
    conn = RawConn.open(endpoint, "pynats-bench-responder", sig.deadline, subs=((subject, 1),))
    served = 0
    try:
        ready()
        while not sig.stop.is_set():
            if not conn.recv_more(sig.deadline, poll=POLL_SECONDS):
                continue
            out = []
            while (msg := conn.parse_msg()) is not None:
                reply, payload = msg
                if reply:
                    out.append(b"PUB %s %d\r\n%s\r\n" % (reply, len(payload), payload))
            if out:
                conn.sock.sendall(b"".join(out))
                served += len(out)
    finally:
        conn.close()
    return {"served": served}


def _requester(
    sig: _Signals, ready: Callable[[], None], endpoint: Endpoint, subject: str, count: int, size: int
) -> dict[str, Any]:
    """Sequential requests; one latency sample per round trip."""
    inbox = f"_INBOX.bench.{os.getpid()}"
    conn = RawConn.open(endpoint, "pynats-bench-requester", sig.deadline, subs=((inbox, 1),))
    frame = f"PUB {subject} {inbox} {size}\r\n".encode() + make_payload(size) + b"\r\n"
    samples = [0] * count
    sendall = conn.sock.sendall
    clock = time.perf_counter_ns
    try:
        ready()
        _wait_go(sig)
        start = time.monotonic_ns()
        for i in range(count):
            t0 = clock()
            sendall(frame)
            _reply, payload = conn.read_msg(sig.deadline)
            samples[i] = clock() - t0
            if len(payload) != size:
                raise BenchError(f"reply {i} has {len(payload)} bytes, expected {size}")
        end = time.monotonic_ns()
    finally:
        conn.close()
    return {"msgs": count, "start_ns": start, "end_ns": end, "samples": samples}


# --------------------------------------------------------------------------- coordination


@dataclass
class Rate:
    msgs: int
    bytes: int
    seconds: float
    msgs_per_sec: float
    mb_per_sec: float

    @classmethod
    def over(cls, parts: list[dict[str, Any]]) -> Rate:
        """Aggregate rate: all messages over the span from the earliest start to the latest end."""
        msgs = sum(p["msgs"] for p in parts)
        nbytes = sum(p["bytes"] for p in parts)
        starts = [p["start_ns"] for p in parts if p["start_ns"]]
        ends = [p["end_ns"] for p in parts if p["end_ns"]]
        seconds = (max(ends) - min(starts)) / 1e9 if starts and ends else 0.0
        return cls(
            msgs=msgs,
            bytes=nbytes,
            seconds=seconds,
            msgs_per_sec=msgs / seconds if seconds > 0 else 0.0,
            mb_per_sec=nbytes / MB / seconds if seconds > 0 else 0.0,
        )


@dataclass
class Latency:
    count: int
    min_us: float
    mean_us: float
    p50_us: float
    p90_us: float
    p99_us: float
    max_us: float

    @classmethod
    def of(cls, samples_ns: list[int]) -> Latency:
        ordered = sorted(samples_ns)

        def pct(p: float) -> float:
            if not ordered:
                return 0.0
            return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))] / 1000

        return cls(
            count=len(ordered),
            min_us=ordered[0] / 1000 if ordered else 0.0,
            mean_us=sum(ordered) / len(ordered) / 1000 if ordered else 0.0,
            p50_us=pct(50),
            p90_us=pct(90),
            p99_us=pct(99),
            max_us=ordered[-1] / 1000 if ordered else 0.0,
        )


@dataclass
class BenchResult:
    scenario: str
    server: str
    params: dict[str, Any]
    ok: bool = False
    errors: list[str] = field(default_factory=list)
    pub: Rate | None = None
    pub_clients: list[Rate] = field(default_factory=list)
    sub: Rate | None = None
    sub_clients: list[Rate] = field(default_factory=list)
    expected_per_sub: int = 0
    received: list[int] = field(default_factory=list)
    requests: Rate | None = None
    latency: Latency | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Coordinator:
    """Starts worker processes and collects their reports, tearing everything down on exit."""

    def __init__(self, timeout: float) -> None:
        # fork: workers start in milliseconds and inherit the events and queue.
        self.ctx: ForkContext | SpawnContext = (
            mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context("spawn")
        )
        self.sig = _Signals(
            go=self.ctx.Event(),
            pubs_done=self.ctx.Event(),
            stop=self.ctx.Event(),
            results=self.ctx.Queue(),
            deadline=time.monotonic() + timeout,
        )
        self.procs: dict[tuple[str, int], BaseProcess] = {}
        self.pending: dict[tuple[str, int], list[tuple[str, Any]]] = {}

    def __enter__(self) -> _Coordinator:
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


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def run_pubsub(
    endpoint: Endpoint,
    *,
    scenario: str = "pubsub",
    msgs: int,
    size: int,
    pubs: int = 1,
    subs: int = 1,
    subject: str = "bench",
    subjects: int = 1,
    timeout: float = 60.0,
) -> BenchResult:
    """``msgs`` messages split over ``pubs`` publishers; each of ``subs`` subscribers expects all."""
    if msgs < 1 or pubs < 1 or subs < 0 or size < 0 or not 1 <= subjects <= MAX_SUBJECTS:
        raise BenchError("invalid parameters")
    pub_subjects, sub_subject = bench_subjects(subject, subjects)
    result = BenchResult(
        scenario=scenario,
        server=f"nats://{endpoint.host}:{endpoint.port}",
        params={
            "msgs": msgs,
            "size": size,
            "pubs": pubs,
            "subs": subs,
            "subject": subject,
            "subjects": subjects,
        },
        expected_per_sub=msgs if subs else 0,
    )
    try:
        with _Coordinator(timeout) as co:
            sub_keys = [("sub", i) for i in range(subs)]
            pub_keys = [("pub", i) for i in range(pubs)]
            for _, i in sub_keys:
                co.start("sub", i, _subscriber, endpoint, sub_subject, msgs, size, f"pynats-bench-sub-{i}")
            co.wait("ready", sub_keys)
            for (_, i), count in zip(pub_keys, _split(msgs, pubs), strict=True):
                co.start("pub", i, _publisher, endpoint, pub_subjects, size, count, f"pynats-bench-pub-{i}")
            co.wait("ready", pub_keys)
            co.sig.go.set()
            pub_results = co.wait("result", pub_keys)
            co.sig.pubs_done.set()
            sub_results = co.wait("result", sub_keys)
    except BenchError as exc:
        result.errors.append(str(exc))
        return result
    pub_parts = [pub_results[k] for k in pub_keys]
    sub_parts = [sub_results[k] for k in sub_keys]
    result.pub = Rate.over(pub_parts)
    result.pub_clients = [Rate.over([p]) for p in pub_parts]
    if subs:
        result.sub = Rate.over(sub_parts)
        result.sub_clients = [Rate.over([p]) for p in sub_parts]
        result.received = [p["msgs"] for p in sub_parts]
    for i, got in enumerate(result.received):
        if got != msgs:
            result.errors.append(f"subscriber {i} received {got} messages, expected {msgs}")
    result.ok = not result.errors
    return result


def run_request(
    endpoint: Endpoint, *, msgs: int, size: int, subject: str = "bench.req", timeout: float = 60.0
) -> BenchResult:
    """One responder, one requester, ``msgs`` sequential round trips."""
    if msgs < 1 or size < 0:
        raise BenchError("invalid parameters")
    result = BenchResult(
        scenario="request",
        server=f"nats://{endpoint.host}:{endpoint.port}",
        params={"msgs": msgs, "size": size, "subject": subject},
    )
    try:
        with _Coordinator(timeout) as co:
            co.start("responder", 0, _responder, endpoint, subject)
            co.wait("ready", [("responder", 0)])
            co.start("requester", 0, _requester, endpoint, subject, msgs, size)
            co.wait("ready", [("requester", 0)])
            co.sig.go.set()
            req = co.wait("result", [("requester", 0)])[("requester", 0)]
            co.sig.stop.set()
            co.wait("result", [("responder", 0)])
    except BenchError as exc:
        result.errors.append(str(exc))
        return result
    samples: list[int] = req.pop("samples")
    result.requests = Rate.over([{**req, "bytes": 2 * size * req["msgs"]}])
    result.latency = Latency.of(samples)
    result.received = [len(samples)]
    result.expected_per_sub = msgs
    if len(samples) != msgs:
        result.errors.append(f"{len(samples)} replies, expected {msgs}")
    result.ok = not result.errors
    return result


# --------------------------------------------------------------------------- output


def _fmt(n: float) -> str:
    return f"{n:,.0f}" if n >= 100 else f"{n:,.2f}"


def render(result: BenchResult, console: Console) -> None:
    """Human-readable tables for one result."""
    p = result.params
    if "pubs" in p:
        title = f"{result.scenario}: {p['msgs']:,} msgs x {p['size']} B, {p['pubs']} pub -> {p['subs']} sub"
        if p["subjects"] > 1:
            title += f", {p['subjects']} subjects"
    else:
        title = f"{result.scenario}: {p['msgs']:,} sequential requests x {p['size']} B"
    console.print(f"[bold]{title}[/bold] [dim]({result.server})[/dim]", highlight=False)
    if result.latency is not None and result.requests is not None:
        lat = result.latency
        table = Table()
        for col in ("requests", "req/s", "min µs", "mean µs", "p50 µs", "p90 µs", "p99 µs", "max µs"):
            table.add_column(col, justify="right")
        table.add_row(
            f"{lat.count:,}",
            _fmt(result.requests.msgs_per_sec),
            *(_fmt(v) for v in (lat.min_us, lat.mean_us, lat.p50_us, lat.p90_us, lat.p99_us, lat.max_us)),
        )
        console.print(table)
    elif result.pub is not None or result.sub is not None:
        table = Table()
        for col in ("side", "msgs", "seconds", "msgs/s", "MB/s"):
            table.add_column(col, justify="right" if col != "side" else "left")

        def row(label: str, r: Rate) -> None:
            table.add_row(label, f"{r.msgs:,}", f"{r.seconds:.3f}", _fmt(r.msgs_per_sec), _fmt(r.mb_per_sec))

        if result.pub is not None:
            row("pub (all)" if len(result.pub_clients) > 1 else "pub", result.pub)
        if len(result.pub_clients) > 1:
            for i, r in enumerate(result.pub_clients):
                row(f"  pub {i}", r)
        if result.sub is not None:
            row("sub (all)" if len(result.sub_clients) > 1 else "sub", result.sub)
            if len(result.sub_clients) > 1:
                for i, r in enumerate(result.sub_clients):
                    row(f"  sub {i}", r)
        console.print(table)
    for err in result.errors:
        console.print(f"[red]error:[/red] {err}")
    if result.ok and result.received:
        console.print(
            f"[green]ok[/green]: every subscriber received exactly {result.expected_per_sub:,} messages"
        )


# --------------------------------------------------------------------------- click commands


def _endpoint(ctx: click.Context) -> Endpoint:
    from pynatsd.cli.pynats import DEFAULT_SERVER, parse_server_url

    opts: ClientOptions | None = ctx.find_root().obj
    if opts is None:
        return parse_server_url(DEFAULT_SERVER)
    return opts.endpoints()[0]


def _finish(result: BenchResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        render(result, Console())
    if not result.ok:
        sys.exit(1)


_F = TypeVar("_F", bound=Callable[..., None])


def _options(*options: Callable[[_F], _F]) -> Callable[[_F], _F]:
    """Stack click options into one decorator; ``--help`` lists them in the order given."""

    def apply(func: _F) -> _F:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


def _size_option(help: str) -> Callable[[_F], _F]:
    return click.option("--size", default=128, show_default=True, type=click.IntRange(0), help=help)


_TIMEOUT_OPTION = click.option(
    "--timeout",
    default=120.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds before giving up.",
)
_JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON (for bench/harness.py)."
)
_PUBS_OPTION = click.option(
    "--pubs", default=1, show_default=True, type=click.IntRange(1, 16), help="Publisher processes."
)


def _subs_option(default: int) -> Callable[[_F], _F]:
    return click.option(
        "--subs", default=default, show_default=True, type=click.IntRange(1, 16), help="Subscriber processes."
    )


# The options every throughput scenario shares (pub, pubsub, fanout: all ``run_pubsub``).
_throughput_options = _options(
    click.option(
        "-n",
        "--msgs",
        default=1_000_000,
        show_default=True,
        type=click.IntRange(1),
        help="Messages to publish (split over publishers).",
    ),
    _size_option("Payload bytes per message."),
    click.option(
        "--subject", default="bench", show_default=True, help="Subject (base subject with --subjects)."
    ),
    click.option(
        "--subjects",
        default=1,
        show_default=True,
        type=click.IntRange(1, MAX_SUBJECTS),
        help="Spread over SUBJECT.0..K-1; subscribers use SUBJECT.*",
    ),
    _TIMEOUT_OPTION,
    _JSON_OPTION,
    _PUBS_OPTION,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def bench() -> None:
    """Benchmark a server with a raw-protocol, multi-process load generator.

    \b
    pub      publishers only: the server's ingest rate
    pubsub   publishers -> subscribers (add --subjects K for a wildcard spread)
    fanout   every message to each of N subscribers
    request  sequential request-reply round trips: latency percentiles
    """


def _throughput_command(name: str, subs: int | None, help: str) -> click.Command:
    """``bench NAME``: ``run_pubsub`` with the throughput options and ``--subs`` defaulting to
    ``subs``, or with no subscribers at all when ``subs`` is None."""

    @click.pass_context
    def command(ctx: click.Context, /, as_json: bool, **params: Any) -> None:
        _finish(run_pubsub(_endpoint(ctx), scenario=name, **{"subs": 0, **params}), as_json)

    if subs is not None:
        command = _subs_option(subs)(command)
    return bench.command(name, help=help)(_throughput_options(command))


bench_pub = _throughput_command(
    "pub", None, "Publish only (no subscribers): the server's ingest rate, measured at the publishers."
)
bench_pubsub = _throughput_command(
    "pubsub", 1, "Publishers to subscribers; rates measured from first to last message at the subscribers."
)
bench_fanout = _throughput_command("fanout", 4, "Every message delivered to each of N subscribers.")


@bench.command("request")
@_options(
    click.option(
        "-n", "--msgs", default=10_000, show_default=True, type=click.IntRange(1), help="Sequential requests."
    ),
    _size_option("Payload bytes per request and reply."),
    click.option(
        "--subject", default="bench.req", show_default=True, help="Subject the responder listens on."
    ),
    _TIMEOUT_OPTION,
    _JSON_OPTION,
)
@click.pass_context
def bench_request(ctx: click.Context, /, as_json: bool, **params: Any) -> None:
    """Request-reply latency: one requester, one responder, sequential round trips."""
    _finish(run_request(_endpoint(ctx), **params), as_json)


# JetStream and Key-Value scenarios live in their own modules and register themselves on ``bench``.
from pynatsd.cli import bench_js as _bench_js  # noqa: E402, F401
from pynatsd.cli import bench_kv as _bench_kv  # noqa: E402, F401
