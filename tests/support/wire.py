"""The raw NATS protocol client of the tests: bytes exactly as they travel on the wire.

Two transports share the framing, INFO parsing and timeouts defined here:

* :class:`WireClient` uses a blocking socket: for servers in another process (the
  differential tests, the benchmark harness). It keeps the whole transcript.
* :class:`AsyncWireClient` uses asyncio streams: for a pynatsd running in the test's own
  event loop, which a blocking socket would stall.

Waiting is always done against a deadline on socket readiness, never with fixed sleeps:
to learn that a connection is still open, send ``PING`` and wait for ``PONG``.

Environment knob: PYNATSD_WIRE_TIMEOUT (seconds, :class:`WireClient`'s default deadline).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

CRLF = b"\r\n"
PING = b"PING\r\n"
PONG = b"PONG\r\n"
#: A CONNECT for raw clients: no +OK after every command, headers on.
QUIET = b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n'

#: Deadline (seconds) for any single wait on the wire. Generous for a loaded CI box;
#: the reference answers in milliseconds. Override with PYNATSD_WIRE_TIMEOUT.
DEFAULT_TIMEOUT = float(os.environ.get("PYNATSD_WIRE_TIMEOUT", "3.0"))
#: :class:`AsyncWireClient`'s deadline: its server shares the event loop with the test.
ASYNC_TIMEOUT = 10.0

#: INFO keys one side may lack: pynatsd's own version; the JetStream API level (until
#: JetStream); the Go build's commit; the auth-callout curve key (no auth callout yet).
OPTIONAL_INFO_KEYS = frozenset({"pynatsd_version", "git_commit", "xkey"})

#: INFO keys whose values differ between runs or implementations.
VOLATILE_INFO_KEYS = (
    frozenset(
        {
            "server_id",
            "server_name",
            "version",
            "git_commit",
            "go",
            "client_id",
            "client_ip",
            "port",
            "xkey",
            "nonce",
            "host",
        }
    )
    | OPTIONAL_INFO_KEYS
)

State = Literal["open", "closed", "timeout"]


class WireError(AssertionError):
    """The peer did not produce what we waited for (timeout or premature EOF)."""


class WireClient:
    """A blocking raw-socket connection that records every byte received.

    ``received`` is the full transcript (INFO included). ``read_*`` methods consume
    from a cursor over that transcript and return the consumed bytes.
    """

    def __init__(self, sock: socket.socket, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.sock = sock
        self.timeout = timeout
        self.received = bytearray()
        self.pos = 0
        self.eof = False
        self.reset = False
        self.send_failed = False
        self.info_line = b""

    # -- lifecycle -------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        port: int,
        host: str = "127.0.0.1",
        *,
        timeout: float = DEFAULT_TIMEOUT,
        read_info: bool = True,
    ) -> WireClient:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = cls(sock, timeout=timeout)
        if read_info:
            client.read_info_line()
        return client

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- low level -------------------------------------------------------------------
    def _fill(self, deadline: float) -> bool:
        """Wait for one recv; False when the deadline passed with nothing received."""
        if self.eof:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(1 << 16)
        except TimeoutError:
            return False
        except ConnectionResetError:
            # An RST (server closed with unread input). Bytes queued before it were
            # already returned by earlier recv calls.
            self.eof = self.reset = True
            return True
        if not data:
            self.eof = True
        else:
            self.received += data
        return True

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float | None = None) -> bool:
        """Read until ``predicate()`` holds. Returns False on EOF, raises on timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not predicate():
            if self.eof:
                return False
            if not self._fill(deadline):
                raise WireError(f"timed out waiting for {what}; received so far: {bytes(self.received)!r}")
        return True

    @property
    def pending(self) -> bytes:
        """Received but not yet consumed bytes."""
        return bytes(self.received[self.pos :])

    def consume_all(self) -> bytes:
        data = self.pending
        self.pos = len(self.received)
        return data

    # -- sending ---------------------------------------------------------------------
    def send(self, *chunks: bytes) -> bool:
        """Send each chunk with its own ``sendall``. False if the peer is gone."""
        for chunk in chunks:
            if self.send_failed:
                return False
            try:
                self.sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self.send_failed = True
                return False
        return True

    # -- reading ---------------------------------------------------------------------
    def read_until(self, marker: bytes, timeout: float | None = None) -> bytes:
        """Consume up to and including the next ``marker``."""
        found = self.wait(lambda: self.received.find(marker, self.pos) >= 0, repr(marker), timeout)
        if not found:
            raise WireError(f"connection closed before {marker!r}; received: {bytes(self.received)!r}")
        end = self.received.find(marker, self.pos) + len(marker)
        data = bytes(self.received[self.pos : end])
        self.pos = end
        return data

    def read_line(self, timeout: float | None = None) -> bytes:
        return self.read_until(CRLF, timeout)

    def read_info_line(self) -> bytes:
        line = self.read_line()
        if not line.startswith(b"INFO "):
            raise WireError(f"expected INFO first, got {line!r}")
        self.info_line = line
        return line

    @property
    def info(self) -> dict[str, Any]:
        return parse_info(self.info_line)

    def read_until_eof(self, timeout: float | None = None) -> bytes:
        """Consume everything up to EOF (raises if the connection stays open)."""
        self.wait(lambda: False, "EOF", timeout)
        return self.consume_all()

    def ping_pong(self, timeout: float | None = None) -> bytes:
        """Send PING, consume through the next PONG and return what came before it.

        Callers must not leave unanswered PINGs behind, otherwise an older PONG matches.
        """
        self.send(PING)
        data = self.read_until(PONG, timeout)
        return data[: -len(PONG)]

    def settle(self, timeout: float | None = None) -> State:
        """Wait for EOF or ``timeout``; report which happened (no exception)."""
        try:
            self.wait(lambda: False, "EOF", timeout)
        except WireError:
            return "timeout"
        return "closed"


# -- scripted single-connection scenarios ------------------------------------------------


@dataclass(frozen=True)
class Transcript:
    """What one raw client saw: the INFO line, every byte after it, and the end state."""

    info: bytes
    data: bytes
    state: State

    @property
    def normalized(self) -> tuple[bytes, State]:
        return normalize(self.info + self.data), self.state


def run_script(
    port: int,
    chunks: Sequence[bytes],
    *,
    pongs: int | None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Transcript:
    """Connect, read INFO, send ``chunks`` (one ``sendall`` each) and collect the reply.

    ``pongs=None`` waits for the server to close the connection; otherwise reading
    stops once ``pongs`` PONGs arrived (the scenario's trailing PING proves the
    connection is still open). State is "timeout" when neither happened in time.
    """
    with WireClient.open(port, timeout=timeout) as client:
        client.send(*chunks)
        if pongs is None:
            state = client.settle()
        else:
            try:
                ok = client.wait(lambda: client.received.count(PONG, client.pos) >= pongs, f"{pongs} PONG")
                state = "open" if ok else "closed"
            except WireError:
                state = "timeout"
        return Transcript(info=client.info_line, data=client.consume_all(), state=state)


# -- INFO normalisation --------------------------------------------------------------------


def parse_info(line: bytes) -> dict[str, Any]:
    """Parse an ``INFO {...}`` line into a dict (key order preserved)."""
    if not line.startswith(b"INFO"):
        raise ValueError(f"not an INFO line: {line!r}")
    text = line[4:].decode()
    start = text.index("{")
    obj, _ = json.JSONDecoder().raw_decode(text, start)
    if not isinstance(obj, dict):
        raise ValueError(f"INFO payload is not an object: {line!r}")
    return obj


def canonical_info(obj: dict[str, Any]) -> bytes:
    """Drop volatile keys, sort the rest, compact separators."""
    kept = {k: v for k, v in obj.items() if k not in VOLATILE_INFO_KEYS}
    return json.dumps(kept, sort_keys=True, separators=(",", ":")).encode()


def normalize(data: bytes) -> bytes:
    """Replace the JSON of every INFO line (at a line start) with its canonical form.

    The framing around the JSON (``INFO `` prefix, whatever follows the closing brace)
    is kept verbatim so framing differences still show.
    """
    out = bytearray()
    pos = 0
    decoder = json.JSONDecoder()
    while True:
        idx = data.find(b"INFO", pos)
        while idx > 0 and data[idx - 1 : idx] != b"\n":
            idx = data.find(b"INFO", idx + 1)
        if idx < 0:
            out += data[pos:]
            return bytes(out)
        brace = data.find(b"{", idx)
        line_end = data.find(b"\n", idx)
        if brace < 0 or (0 <= line_end < brace):
            out += data[pos : idx + 4]
            pos = idx + 4
            continue
        text = data[brace:].decode("utf-8", errors="surrogateescape")
        try:
            obj, end = decoder.raw_decode(text)
        except json.JSONDecodeError:
            out += data[pos : idx + 4]
            pos = idx + 4
            continue
        consumed = len(text[:end].encode("utf-8", errors="surrogateescape"))
        out += data[pos:brace]
        out += canonical_info(obj) if isinstance(obj, dict) else data[brace : brace + consumed]
        pos = brace + consumed


# -- server->client frame parsing ----------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One server->client protocol frame: op, its argument tokens and payload if any.

    For MSG/HMSG, ``payload`` is everything the size covers (HMSG: headers and body).
    """

    op: bytes
    args: tuple[bytes, ...]
    payload: bytes | None = None

    @property
    def header_block(self) -> bytes:
        """An HMSG's header block (``NATS/1.0...\\r\\n\\r\\n``); b"" for anything else."""
        if self.op != b"HMSG" or self.payload is None:
            return b""
        return self.payload[: int(self.args[-2])]

    @property
    def body(self) -> bytes:
        """A MSG/HMSG payload without the header block."""
        return (self.payload or b"")[len(self.header_block) :]


def split_frame(data: bytes | bytearray, pos: int = 0, *, final: bool = False) -> tuple[Frame, int] | None:
    """The frame starting at ``pos`` and the position after it; None while it is incomplete.

    With ``final`` (no more bytes will come) an incomplete frame is a ValueError, as is
    anything that is not well-formed server output.
    """
    end = data.find(CRLF, pos)
    if end < 0:
        if final:
            raise ValueError(f"unterminated line at {pos}: {bytes(data[pos:])!r}")
        return None
    line = bytes(data[pos:end])
    pos = end + 2
    op, _, rest = line.partition(b" ")
    if op in (b"MSG", b"HMSG"):
        args = tuple(rest.split())
        size = int(args[-1])
        if len(data) < pos + size + 2 and not final:
            return None
        payload = bytes(data[pos : pos + size])
        if len(payload) != size or data[pos + size : pos + size + 2] != CRLF:
            raise ValueError(f"bad payload framing after {line!r}")
        return Frame(op, args, payload), pos + size + 2
    if op == b"-ERR" or op == b"INFO":
        return Frame(op, (rest,)), pos
    if op in (b"+OK", b"PING", b"PONG") and not rest:
        return Frame(op, ()), pos
    raise ValueError(f"unexpected server line {line!r}")


def parse_frames(data: bytes) -> list[Frame]:
    """Split a server->client byte stream into frames (MSG/HMSG payloads included).

    Raises ValueError on anything that is not well-formed server output.
    """
    frames: list[Frame] = []
    pos = 0
    while pos < len(data):
        found = split_frame(data, pos, final=True)
        assert found is not None  # final: incomplete frames raise
        frame, pos = found
        frames.append(frame)
    return frames


# -- the asyncio transport -----------------------------------------------------------------


class AsyncWireClient:
    """A raw connection on asyncio streams: sends bytes, reads until a marker, sees the close.

    ``info`` is the INFO line as received (CRLF included); ``buf`` holds what was received
    but not consumed yet. Reads time out (``TimeoutError``) after ``timeout`` seconds and
    raise ``ConnectionError`` when the server closes first.
    """

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, timeout: float = ASYNC_TIMEOUT
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.info = b""
        self.buf = b""

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1", *, timeout: float = ASYNC_TIMEOUT) -> Self:
        """Connect and read the INFO line (whatever came, if the server closed before its end)."""
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer, timeout=timeout)
        client.info = await asyncio.wait_for(client._read_info(), timeout)
        return client

    async def _read_info(self) -> bytes:
        while CRLF not in self.buf:
            chunk = await self.reader.read(65536)
            if not chunk:
                break
            self.buf += chunk
        end = self.buf.find(CRLF)
        end = len(self.buf) if end < 0 else end + 2
        line, self.buf = self.buf[:end], self.buf[end:]
        return line

    async def _fill(self, what: str) -> None:
        chunk = await self.reader.read(65536)
        if not chunk:
            raise ConnectionError(f"closed before {what}; got {self.buf!r}")
        self.buf += chunk

    async def send(self, *chunks: bytes) -> None:
        for chunk in chunks:
            self.writer.write(chunk)
            await self.writer.drain()

    async def read_until(self, marker: bytes, timeout: float | None = None) -> bytes:
        """Everything received up to and including ``marker``."""

        async def _read() -> bytes:
            while marker not in self.buf:
                await self._fill(repr(marker))
            i = self.buf.index(marker) + len(marker)
            out, self.buf = self.buf[:i], self.buf[i:]
            return out

        return await asyncio.wait_for(_read(), self.timeout if timeout is None else timeout)

    async def read_line(self, timeout: float | None = None) -> bytes:
        """The next line, CRLF included."""
        return await self.read_until(CRLF, timeout)

    async def read_exactly(self, n: int, timeout: float | None = None) -> bytes:
        async def _read() -> bytes:
            while len(self.buf) < n:
                await self._fill(f"{n} bytes")
            out, self.buf = self.buf[:n], self.buf[n:]
            return out

        return await asyncio.wait_for(_read(), self.timeout if timeout is None else timeout)

    async def roundtrip(self, data: bytes) -> bytes:
        """Send ``data`` and a PING; return what came back before the PONG."""
        await self.send(data + PING)
        out = await self.read_until(PONG)
        return out[: -len(PONG)]

    async def next_msg(self, timeout: float | None = None) -> Frame:
        """The next MSG or HMSG frame; PINGs on the way are answered, other frames skipped."""

        async def _read() -> Frame:
            while True:
                found = split_frame(self.buf)
                if found is None:
                    await self._fill("a message")
                    continue
                frame, end = found
                self.buf = self.buf[end:]
                if frame.op == b"PING":
                    self.writer.write(PONG)
                elif frame.op in (b"MSG", b"HMSG"):
                    return frame

        return await asyncio.wait_for(_read(), self.timeout if timeout is None else timeout)

    async def read_to_close(self, timeout: float | None = None) -> bytes:
        """Everything until the server closes the connection."""

        async def _read() -> bytes:
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    out, self.buf = self.buf, b""
                    return out
                self.buf += chunk

        return await asyncio.wait_for(_read(), self.timeout if timeout is None else timeout)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
