"""The route protocol as the reference speaks it, sans I/O: a parser and the frame builders.

Operations: ``INFO {json}``, ``CONNECT {json}``, ``PING``, ``PONG``, ``+OK``, ``-ERR 'text'``,
``RS+ <account> <subject> [<queue> <weight>]``, ``RS- <account> <subject> [<queue>]``,
``RMSG <account> <subject> [+ <reply> | | ] [queues...] <size>`` and
``HMSG <account> <subject> [+ <reply> | | ] [queues...] <hdr size> <size>`` (without queues:
``[<reply>]``), each message followed by its payload and CRLF.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

__all__ = [
    "RouteHandler",
    "RouteParseError",
    "RouteParser",
    "info_frame",
    "msg_frame",
    "sub_frame",
    "unsub_frame",
]

MAX_CONTROL_LINE = 4096


class RouteParseError(Exception):
    """The peer sent something the route protocol does not allow; the text is for -ERR."""


class RouteHandler(Protocol):
    def on_info(self, info: dict[str, Any]) -> None: ...

    def on_connect(self, connect: dict[str, Any]) -> None: ...

    def on_ping(self) -> None: ...

    def on_pong(self) -> None: ...

    def on_err(self, text: str) -> None: ...

    def on_sub(self, account: str, subject: str, queue: str | None, weight: int) -> None: ...

    def on_unsub(self, account: str, subject: str, queue: str | None) -> None: ...

    def on_msg(
        self,
        account: bytes,
        subject: bytes,
        reply: bytes | None,
        queues: list[bytes] | None,
        hdr: int,
        size: bytes,
        msg: bytes,
    ) -> None: ...


class RouteParser:
    """Splits the byte stream of a route into operations, calling the handler for each."""

    __slots__ = ("_buf", "_handler", "_pending", "dead", "expect_connect", "fast_account", "fast_deliver")

    def __init__(self, handler: RouteHandler) -> None:
        self._handler = handler
        self._buf = b""
        # A message whose payload has not fully arrived: (account, subject, reply, queues, hdr, size).
        self._pending: tuple[bytes, bytes, bytes | None, list[bytes] | None, int, int] | None = None
        self.dead = False
        # An accepted route must start with CONNECT (anything else: Authorization Violation).
        self.expect_connect = False
        # The handler may name the deliverer of the account its last message was for:
        # plain RMSGs for that account then go to it without a call to on_msg.
        self.fast_account = b""
        self.fast_deliver: Callable[..., object] | None = None

    def feed(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        pos = 0
        n = len(buf)
        on_msg = self._handler.on_msg
        while pos < n and not self.dead:
            pending = self._pending
            if pending is not None:
                size = pending[5]
                if n - pos < size + 2:
                    break
                msg = buf[pos : pos + size]
                if buf[pos + size : pos + size + 2] != b"\r\n":
                    raise RouteParseError("Unknown Protocol Operation")
                pos += size + 2
                self._pending = None
                on_msg(pending[0], pending[1], pending[2], pending[3], pending[4], b"%d" % size, msg)
                continue
            end = buf.find(b"\r\n", pos)
            if end < 0:
                if n - pos > MAX_CONTROL_LINE:
                    raise RouteParseError("Maximum Control Line Exceeded")
                break
            if buf.startswith(b"RMSG ", pos) and not self.expect_connect:
                # The common message (no headers, no queue list) without a trip through _op.
                args = buf[pos + 5 : end].split()
                if 3 <= len(args) <= 4 and args[-1].isdigit():
                    szb = args[-1]
                    size = int(szb)
                    start = end + 2
                    reply = args[2] if len(args) == 4 else None
                    if start + size + 2 <= n:
                        if buf[start + size : start + size + 2] != b"\r\n":
                            raise RouteParseError("Unknown Protocol Operation")
                        pos = start + size + 2
                        if (
                            args[0] == self.fast_account
                            and self.fast_deliver is not None
                            and (reply is None or not reply.startswith(b"$JS.ACK."))
                        ):
                            self.fast_deliver(args[1], reply, -1, szb, buf[start : start + size], None, None)
                        else:
                            on_msg(args[0], args[1], reply, None, -1, szb, buf[start : start + size])
                    else:
                        self._pending = (args[0], args[1], reply, None, -1, size)
                        pos = start
                    continue
            line = buf[pos:end]
            pos = end + 2
            self._op(line)
        self._buf = buf[pos:] if pos < n else b""

    def _op(self, line: bytes) -> None:
        h = self._handler
        op, _, rest = line.partition(b" ")
        u = op.upper()
        if self.expect_connect:
            if u != b"CONNECT":
                raise RouteParseError("Authorization Violation")
            self.expect_connect = False
        if u == b"RMSG" or u == b"HMSG":
            self._pending = _msg_args(rest.split(), u == b"HMSG")
        elif u == b"RS+":
            args = rest.split()
            if len(args) == 2:
                h.on_sub(args[0].decode("utf-8", "replace"), args[1].decode("utf-8", "replace"), None, 0)
            elif len(args) == 4:
                try:
                    weight = int(args[3])
                except ValueError:
                    raise RouteParseError("processRemoteSub Parse Error")
                h.on_sub(
                    args[0].decode("utf-8", "replace"),
                    args[1].decode("utf-8", "replace"),
                    args[2].decode("utf-8", "replace"),
                    weight,
                )
            elif len(args) == 3:
                h.on_sub(
                    args[0].decode("utf-8", "replace"),
                    args[1].decode("utf-8", "replace"),
                    args[2].decode("utf-8", "replace"),
                    1,
                )
            else:
                raise RouteParseError("processRemoteSub Parse Error")
        elif u == b"RS-":
            args = rest.split()
            if len(args) not in (2, 3):
                raise RouteParseError("processRemoteUnsub Parse Error")
            h.on_unsub(
                args[0].decode("utf-8", "replace"),
                args[1].decode("utf-8", "replace"),
                args[2].decode("utf-8", "replace") if len(args) == 3 else None,
            )
        elif u == b"PING":
            h.on_ping()
        elif u == b"PONG":
            h.on_pong()
        elif u == b"INFO":
            h.on_info(_json(rest))
        elif u == b"CONNECT":
            h.on_connect(_json(rest))
        elif u == b"+OK":
            pass
        elif u == b"-ERR":
            h.on_err(rest.strip().strip(b"'").decode("utf-8", "replace"))
        elif not line.strip():
            pass
        else:
            raise RouteParseError("Unknown Protocol Operation")


def _json(arg: bytes) -> dict[str, Any]:
    try:
        v = json.loads(arg)
    except ValueError:
        raise RouteParseError("Unknown Protocol Operation")
    if not isinstance(v, dict):
        raise RouteParseError("Unknown Protocol Operation")
    return v


def _msg_args(
    args: list[bytes], headers: bool
) -> tuple[bytes, bytes, bytes | None, list[bytes] | None, int, int]:
    """RMSG/HMSG arguments as the reference's processRoutedMsgArgs reads them."""
    fixed = 3 if headers else 2  # account subject [hdr] size
    if len(args) < fixed + 1:
        raise RouteParseError("processRoutedMsgArgs Parse Error")
    account, subject = args[0], args[1]
    reply: bytes | None = None
    queues: list[bytes] | None = None
    sizes = args[-2:] if headers else args[-1:]
    middle = args[2 : len(args) - len(sizes)]
    if len(middle) == 1:
        reply = middle[0]
    elif len(middle) > 1:
        ind = middle[0]
        if ind == b"+":
            reply, queues = middle[1], middle[2:]
        elif ind == b"|":
            queues = middle[1:]
        else:
            raise RouteParseError("processRoutedMsgArgs Bad or Missing Reply Indicator")
    try:
        size = int(sizes[-1])
        hdr = int(sizes[0]) if headers else -1
    except ValueError:
        raise RouteParseError("processRoutedMsgArgs Bad or Missing Size")
    if size < 0 or (headers and not 0 <= hdr <= size):
        raise RouteParseError("processRoutedMsgArgs Bad or Missing Size")
    return account, subject, reply, queues, hdr, size


def info_frame(info: dict[str, Any]) -> bytes:
    return b"INFO " + json.dumps(info, separators=(",", ":")).encode() + b"\r\n"


def sub_frame(account: str, subject: str, queue: str | None, weight: int) -> bytes:
    if queue is None:
        return f"RS+ {account} {subject}\r\n".encode()
    return f"RS+ {account} {subject} {queue} {weight}\r\n".encode()


def unsub_frame(account: str, subject: str, queue: str | None) -> bytes:
    if queue is None:
        return f"RS- {account} {subject}\r\n".encode()
    return f"RS- {account} {subject} {queue}\r\n".encode()


def msg_frame(
    account: bytes, subject: bytes, reply: bytes | None, hdr: int, msg: bytes, queues: list[bytes]
) -> bytes:
    """One RMSG (or HMSG, with headers) frame, payload and CRLF included."""
    head = (b"HMSG " if hdr >= 0 else b"RMSG ") + account + b" " + subject
    if queues:
        head += (b" + " + reply + b" " if reply else b" | ") + b" ".join(queues)
    elif reply:
        head += b" " + reply
    if hdr >= 0:
        return b"%s %d %d\r\n%s\r\n" % (head, hdr, len(msg), msg)
    return b"%s %d\r\n%s\r\n" % (head, len(msg), msg)
