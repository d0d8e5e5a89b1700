"""Sans-IO parser for the client side of the NATS protocol.

The parser turns bytes into calls on a handler and owns no socket, so it can be unit
tested and fuzzed on its own. It follows the reference's state machine in what it
accepts and in which error (if any) it reports before the connection is dropped:

* operation names are case-insensitive; PING, PONG and +OK ignore anything up to the
  newline; PUB, HPUB, SUB, UNSUB and -ERR need a space or tab after the name;
* a line ends at ``\\n``; one ``\\r`` before it is dropped;
* a byte that cannot start or continue an operation name is reported at once as
  ``Unknown Protocol Operation``, as is a payload not followed by ``\\r\\n``;
* malformed arguments (wrong count, bad size) close the connection without an
  ``-ERR``, as the reference does.

Hot path: a buffer of many ``PUB`` frames is walked with ``bytes.find`` and slicing,
one handler call per message, and subjects stay ``bytes`` all the way to routing.
"""

from __future__ import annotations

from typing import Protocol

from pynatsd.protocol.errors import ERR_MAX_CONTROL_LINE, ERR_MAX_PAYLOAD, ERR_UNKNOWN_OP

MAX_SIZE_DIGITS = 9  # the reference refuses longer size fields


class ParserHandler(Protocol):
    """What the parser calls; the server's client connection implements it."""

    def on_pub(self, subject: bytes, reply: bytes | None, hdr: int, size: bytes, msg: bytes) -> None:
        """A message: ``msg`` is header block (``hdr`` bytes, -1 if none) plus payload."""

    def on_sub(self, subject: bytes, queue: bytes | None, sid: bytes) -> None: ...

    def on_unsub(self, sid: bytes, max_msgs: int) -> None: ...

    def on_connect(self, arg: bytes) -> bool:
        """Return False when the connection is being closed (e.g. failed auth)."""

    def on_ping(self) -> None: ...

    def on_pong(self) -> None: ...

    def on_info(self, arg: bytes) -> None: ...

    def on_err(self, arg: bytes) -> None: ...

    def on_auth_violation(self) -> None:
        """Something other than CONNECT arrived while authentication is pending."""

    def on_protocol_error(self, text: str | None) -> None:
        """Fatal: send ``-ERR 'text'`` when text is given, then close."""


# Operation names a client may send, by their upper-cased first letter; used to tell
# early whether an unfinished line can still become a valid operation.
_OPS = (b"PUB", b"PING", b"PONG", b"HPUB", b"SUB", b"UNSUB", b"CONNECT", b"INFO", b"+OK", b"-ERR")
# Operations whose name must be followed by a space or tab.
_NEEDS_SPACE = frozenset((b"PUB", b"HPUB", b"SUB", b"UNSUB", b"-ERR"))


_UNLIMITED = frozenset((b"PING", b"PONG"))


def _op_len(head: bytes) -> int:
    """Length of the operation name and its separator, which the line limit does not count."""
    for op in (b"CONNECT", b"UNSUB", b"HPUB", b"INFO", b"-ERR", b"PUB", b"SUB"):
        if head.startswith(op):
            return len(op) + 1
    return 0


def parse_size(tok: bytes) -> int:
    """The reference's size rule: 1-9 ASCII digits, anything else is -1."""
    if not tok or len(tok) > MAX_SIZE_DIGITS or not tok.isdigit():
        return -1
    return int(tok)


def _prefix_viable(prefix: bytes) -> bool:
    """Whether an unfinished line can still turn into an operation the reference accepts."""
    up = prefix.upper()
    for op in _OPS:
        n = len(op)
        if len(up) <= n:
            if op.startswith(up):
                return True
        elif up.startswith(op):
            nxt = up[n : n + 1]
            if op in _NEEDS_SPACE:
                if nxt in (b" ", b"\t"):
                    return True
            else:
                return True
    return False


class Parser:
    """Incremental parser; call :meth:`feed` with each chunk read from the socket."""

    __slots__ = (
        "_buf",
        "_h",
        "_hdr",
        "_need",
        "_reply",
        "_size_tok",
        "_subject",
        "auth_pending",
        "dead",
        "headers_allowed",
        "max_control_line",
        "max_payload",
        "paused",
    )

    def __init__(self, handler: ParserHandler, max_payload: int = 1024 * 1024, max_control_line: int = 4096):
        self._h = handler
        self._buf = b""
        self.max_payload = max_payload
        self.max_control_line = max_control_line
        self.auth_pending = False
        self.headers_allowed = True
        self.dead = False
        # Set by the handler while it decides a CONNECT asynchronously (bcrypt): input is
        # kept, not parsed, until :meth:`resume`.
        self.paused = False
        # Pending message state: when _need >= 0 we wait for _need payload bytes + CRLF.
        self._need = -1
        self._subject = b""
        self._reply: bytes | None = None
        self._hdr = -1
        self._size_tok = b""

    def resume(self) -> None:
        """Continue with the input kept while paused."""
        self.paused = False
        data, self._buf = self._buf, b""
        self.feed(data)

    def feed(self, data: bytes) -> None:
        if self.dead:
            return
        if self.paused:
            self._buf += data
            return
        buf = self._buf + data if self._buf else data
        self._buf = b""
        pos = 0 if self._need >= 0 or self.auth_pending else self._bulk(buf, 0)
        if self.dead:
            return
        end = len(buf)
        h = self._h
        on_pub = h.on_pub
        find = buf.find
        max_payload = self.max_payload
        max_pub_line = self.max_control_line + 4
        carried = self._need >= 0  # a message split over the previous read
        while pos < end:
            need = self._need
            if need >= 0:
                stop = pos + need
                if stop + 2 > end:
                    # Partial payload: keep it, but a CR/LF mismatch is an error as soon as seen.
                    if end > stop and buf[stop] != 13:
                        return self._fail(ERR_UNKNOWN_OP)
                    self._buf = buf[pos:]
                    return
                if buf[stop] != 13 or buf[stop + 1] != 10:
                    return self._fail(ERR_UNKNOWN_OP)
                self._need = -1
                on_pub(self._subject, self._reply, self._hdr, self._size_tok, buf[pos:stop])
                pos = stop + 2
                if carried:
                    # The rest of this read is most likely whole frames again.
                    carried = False
                    if not self.dead and not self.auth_pending:
                        pos += self._bulk(buf, pos)
                    if self.dead:
                        return
                continue
            nl = find(b"\n", pos)
            if nl < 0:
                rest = buf[pos:]
                if self.auth_pending and rest[:1] not in (b"C", b"c"):
                    self.dead = True
                    h.on_auth_violation()
                    return
                head = rest[:8].upper()
                if not _prefix_viable(head):
                    return self._fail(ERR_UNKNOWN_OP)
                if head[:4] in _UNLIMITED or head[:3] == b"+OK":
                    # The reference skips the rest of these lines unread: keep only the name.
                    rest = rest[:4]
                elif len(rest) > self.max_control_line + _op_len(head):
                    return self._fail(ERR_MAX_CONTROL_LINE)
                self._buf = rest
                return
            line_end = nl - 1 if nl > pos and buf[nl - 1] == 13 else nl
            # Fast path: the overwhelmingly common "PUB subject [reply] size".
            if buf.startswith(b"PUB ", pos) and not self.auth_pending and line_end - pos <= max_pub_line:
                args = buf[pos + 4 : line_end].split()
                n = len(args)
                if n == 2:
                    subject, size_tok = args
                    reply = None
                elif n == 3:
                    subject, reply, size_tok = args
                else:
                    return self._fail(None)
                if size_tok.isdigit() and len(size_tok) <= MAX_SIZE_DIGITS:
                    size = int(size_tok)
                else:
                    return self._fail(None)
                if size > max_payload:
                    return self._fail(ERR_MAX_PAYLOAD)
                start = nl + 1
                stop = start + size
                if stop + 2 <= end:
                    if buf[stop] != 13 or buf[stop + 1] != 10:
                        return self._fail(ERR_UNKNOWN_OP)
                    on_pub(subject, reply, -1, size_tok, buf[start:stop])
                    pos = stop + 2
                    if self.dead:
                        return
                    continue
                self._subject, self._reply, self._hdr, self._size_tok = subject, reply, -1, size_tok
                self._need = size
                pos = start
                continue
            if not self._line(buf[pos:line_end], buf, nl):
                return
            pos = nl + 1
            if self.paused:
                self._buf = buf[pos:]
                return

    def _bulk(self, buf: bytes, start: int) -> int:
        """Consume leading well-formed ``PUB``/``PING``/``PONG`` frames; return bytes used.

        One C-level ``split`` on CRLF replaces a find and a slice per message. A frame is
        taken here only when it is unambiguous: its payload part has exactly the
        declared size (so the CRLF after it really ends it). Anything else stops the
        bulk pass and the byte-exact loop in :meth:`feed` takes over.
        """
        parts = (buf[start:] if start else buf).split(b"\r\n")
        last = len(parts) - 1  # parts[last] is an unterminated remainder
        i = 0
        pos = 0
        on_pub = self._h.on_pub
        max_payload = self.max_payload
        max_line = self.max_control_line + 4  # longer PUB lines get the exact check
        while i < last:
            line = parts[i]
            if line[:4] == b"PUB ":
                if i + 1 >= last or len(line) > max_line:
                    break
                args = line[4:].split()
                n = len(args)
                if n == 2:
                    subject, size_tok = args
                    reply = None
                elif n == 3:
                    subject, reply, size_tok = args
                else:
                    break
                msg = parts[i + 1]
                size = len(msg)
                if size > max_payload or not size_tok.isdigit() or int(size_tok) != size:
                    break
                on_pub(subject, reply, -1, size_tok, msg)
                pos += len(line) + size + 4
                i += 2
                if self.dead:
                    break
            elif line == b"PING":
                self._h.on_ping()
                pos += 6
                i += 1
            elif line == b"PONG":
                self._h.on_pong()
                pos += 6
                i += 1
            else:
                break
        return pos

    def _fail(self, text: str | None) -> None:
        self.dead = True
        self._buf = b""
        self._h.on_protocol_error(text)

    def _line(self, line: bytes, buf: bytes, nl: int) -> bool:
        """Handle one complete control line other than the fast-path PUB."""
        h = self._h
        if self.auth_pending and line[:1] not in (b"C", b"c"):
            self.dead = True
            h.on_auth_violation()
            return False
        head = line[:8].upper()
        limited = head[:4] not in _UNLIMITED and head[:3] != b"+OK"
        if limited and len(line) > self.max_control_line + _op_len(head):
            self._fail(ERR_MAX_CONTROL_LINE)
            return False
        c = head[:1]
        if c == b"P":
            if head.startswith(b"PING"):
                h.on_ping()
                return not self.dead
            if head.startswith(b"PONG"):
                h.on_pong()
                return not self.dead
            if head.startswith(b"PUB") and line[3:4] in (b" ", b"\t"):
                return self._pub(line[4:], -1)
        elif c == b"S":
            if head.startswith(b"SUB") and line[3:4] in (b" ", b"\t"):
                args = line[4:].split()
                if len(args) == 2:
                    h.on_sub(args[0], None, args[1])
                elif len(args) == 3:
                    h.on_sub(args[0], args[1], args[2])
                else:
                    self._fail(None)
                    return False
                return not self.dead
        elif c == b"U":
            if head.startswith(b"UNSUB") and line[5:6] in (b" ", b"\t"):
                args = line[6:].split()
                if len(args) == 1:
                    h.on_unsub(args[0], -1)
                elif len(args) == 2:
                    h.on_unsub(args[0], parse_size(args[1]))
                else:
                    self._fail(None)
                    return False
                return not self.dead
        elif c == b"H":
            if head.startswith(b"HPUB") and line[4:5] in (b" ", b"\t"):
                return self._pub(line[5:], 0, buf, nl)
        elif c == b"C":
            if head.startswith(b"CONNECT"):
                ok = h.on_connect(line[7:].lstrip(b" \t"))
                if not ok:
                    self.dead = True
                    return False
                return not self.dead
        elif c == b"I":
            if head.startswith(b"INFO"):
                h.on_info(line[4:].lstrip(b" \t"))
                return not self.dead
        elif c == b"+":
            if head.startswith(b"+OK"):
                return True
        elif c == b"-" and head.startswith(b"-ERR") and line[4:5] in (b" ", b"\t"):
            h.on_err(line[5:].lstrip(b" \t"))
            return not self.dead
        self._fail(ERR_UNKNOWN_OP)
        return False

    def _pub(self, argline: bytes, hdr_flag: int, buf: bytes = b"", nl: int = -1) -> bool:
        """PUB / HPUB arguments; the payload is then awaited by :meth:`feed`."""
        args = argline.split()
        n = len(args)
        reply: bytes | None = None
        hdr = -1
        if hdr_flag < 0:
            if n == 2:
                subject, size_tok = args
            elif n == 3:
                subject, reply, size_tok = args
            else:
                self._fail(None)
                return False
        else:
            if n == 3:
                subject, hdr_tok, size_tok = args
            elif n == 4:
                subject, reply, hdr_tok, size_tok = args
            else:
                self._fail(None)
                return False
            hdr = parse_size(hdr_tok)
            if hdr < 0:
                self._fail(None)
                return False
        size = parse_size(size_tok)
        if size < 0 or hdr > size:
            self._fail(None)
            return False
        if size > self.max_payload:
            if hdr > 0 and nl + 1 < len(buf):  # what was read of its headers may ask for a trace
                oversized = getattr(self._h, "on_max_payload", None)
                if oversized is not None:
                    oversized(subject, buf[nl + 1 : nl + 1 + hdr], size)
            self._fail(ERR_MAX_PAYLOAD)
            return False
        if hdr >= 0 and not self.headers_allowed:
            self._fail(None)
            return False
        if hdr == 0:
            hdr = -1  # the reference delivers an empty header block as a plain MSG
        self._subject, self._reply, self._hdr, self._size_tok = subject, reply, hdr, size_tok
        self._need = size
        return True
