"""The server's side of the wire: the frames it writes, mirroring what ``parser.py`` reads.

No I/O here, only bytes. Routing is the hot path, so a message frame comes in two
parts that are built separately and concatenated per receiver: the *head*
(``MSG <subject> <sid>``, one per subscription and cached with the match result) and
the *tail* (``[reply] [hdr] size\\r\\npayload\\r\\n``, built once per message). ``HMSG``
is ``b"H" + head`` with the header-aware tail.
"""

from __future__ import annotations

import json
from typing import Any, Final

PING: Final = b"PING\r\n"
PONG: Final = b"PONG\r\n"
OK: Final = b"+OK\r\n"


def err_line(text: str) -> bytes:
    """``-ERR '<text>'\\r\\n``, as the reference frames every client-facing error.

    Texts quote subjects with Go's ``%q``, so they are printable; ``backslashreplace``
    only guards against a lone surrogate reaching the wire as an exception.
    """
    return b"-ERR '" + text.encode("utf-8", "backslashreplace") + b"'\r\n"


def info_line(fields: dict[str, Any]) -> bytes:
    """``INFO {json} \\r\\n``: compact JSON and the trailing space the reference writes."""
    return b"INFO " + json.dumps(fields, separators=(",", ":")).encode() + b" \r\n"


def msg_head(subject: bytes, sid: bytes) -> bytes:
    """``MSG <subject> <sid>``: the per-receiver start of a frame (prefix ``H`` for HMSG)."""
    return b"MSG " + subject + b" " + sid


def msg_tails(reply: bytes | None, hdr: int, size: bytes, msg: bytes) -> tuple[bytes, bytes]:
    """The rest of a frame after its head, for header-aware receivers and for the others.

    ``msg`` is the header block (``hdr`` bytes, -1 when there is none) followed by the
    payload, and ``size`` its length as digits. A receiver that did not ask for headers
    gets the payload alone, as the reference strips the block for it.
    """
    mid = b" " + reply + b" " if reply else b" "
    if hdr < 0:
        tail = mid + size + b"\r\n" + msg + b"\r\n"
        return tail, tail
    return (
        mid + str(hdr).encode() + b" " + size + b"\r\n" + msg + b"\r\n",
        mid + str(len(msg) - hdr).encode() + b"\r\n" + msg[hdr:] + b"\r\n",
    )


def msg_frame(subject: bytes, sid: bytes, reply: bytes | None, hdr: bytes, payload: bytes) -> bytes:
    """One whole ``MSG`` (``hdr`` empty) or ``HMSG`` frame, for a receiver known to take headers."""
    msg = hdr + payload if hdr else payload
    tail, _ = msg_tails(reply, len(hdr) if hdr else -1, str(len(msg)).encode(), msg)
    head = msg_head(subject, sid)
    return b"H" + head + tail if hdr else head + tail
