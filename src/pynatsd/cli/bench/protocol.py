"""The raw NATS protocol, spoken fast enough to saturate a server doing millions of msgs/s.

nats-py spends microseconds of Python per message, which would make the client the bottleneck,
so the benchmark speaks the raw protocol over blocking sockets instead (``RawConn``), and
subscribers never parse messages: payloads are drawn from an alphabet without ``\\n``
(``make_payload``), so the byte string ``\\nMSG `` occurs exactly once per delivered frame and
``bytearray.count`` (C speed) over each large ``recv_into`` buffer counts them
(``MarkerCounter``); a few carried-over bytes make the count exact across ``recv`` boundaries.
From ``WALK_FROM_SIZE`` up, scanning every payload byte costs more than a little Python per
frame, so large messages are counted by reading each header and jumping over the payload
instead (``FrameWalker``).
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

from pynatsd.cli.bench.results import BenchError
from pynatsd.cli.client_options import Endpoint
from pynatsd.version import __version__

MSG_MARKER = b"\nMSG "
PONG_MARKER = b"\nPONG\r\n"
# No b"\n" in here, so a payload can never contain a marker.
PAYLOAD_ALPHABET = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

RECV_BUFFER = 4 * 1024 * 1024
CONNECT_TIMEOUT = 10.0
# From this payload size, walking headers costs less than scanning payloads for markers.
WALK_FROM_SIZE = 2048


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
            if endpoint.tls is None:
                raise BenchError(
                    "the server requires TLS: give --tlsca (and --tlscert/--tlskey if it verifies)"
                )
            try:
                self.sock = endpoint.tls.context().wrap_socket(self.sock, server_hostname=endpoint.host)
            except (OSError, ssl.SSLError) as exc:
                raise BenchError(f"TLS handshake with {endpoint.host}:{endpoint.port} failed: {exc}")
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

    def control(self, line: bytes) -> bool:
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
        while not self.control(self.read_line(deadline)):
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
            if self.buf.startswith(b"HMSG "):
                # headers added on the way (a service import's Nats-Request-Info): the payload
                # is what counts
                args = self.buf[5:idx].split()
                hdr, size = int(args[-2]), int(args[-1])
                end = idx + 2 + size + 2
                if len(self.buf) < end:
                    return None
                reply = bytes(args[2]) if len(args) == 5 else b""
                payload = bytes(self.buf[idx + 2 + hdr : end - 2])
                del self.buf[:end]
                return reply, payload
            line = bytes(self.buf[:idx])
            del self.buf[: idx + 2]
            self.control(line)
        return None

    def read_msg(self, deadline: float) -> tuple[bytes, bytes]:
        while (msg := self.parse_msg()) is None:
            self.recv_more(deadline)
        return msg
