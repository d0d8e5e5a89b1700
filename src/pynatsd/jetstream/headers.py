"""NATS/1.0 header blocks: reading the few headers JetStream acts on, and building new ones.

Lookups are by exact key, as the reference's, and work on the raw block so a message
without JetStream headers costs one ``in`` test.
"""

from __future__ import annotations

HDR_LINE = b"NATS/1.0\r\n"

MSG_ID = "Nats-Msg-Id"
EXPECTED_STREAM = "Nats-Expected-Stream"
EXPECTED_LAST_SEQ = "Nats-Expected-Last-Sequence"
EXPECTED_LAST_SUBJ_SEQ = "Nats-Expected-Last-Subject-Sequence"
EXPECTED_LAST_SUBJ_SEQ_SUBJ = "Nats-Expected-Last-Subject-Sequence-Subject"
EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"
ROLLUP = "Nats-Rollup"
TTL = "Nats-TTL"
MARKER_REASON = "Nats-Marker-Reason"
KV_OPERATION = "KV-Operation"
REQUIRED_API_LEVEL = "Nats-Required-Api-Level"

# Headers of direct-get batch replies: messages, then an end-of-batch status.
UP_TO_SEQUENCE = "Nats-UpTo-Sequence"

# Headers of direct-get, message-get and republished messages.
STREAM = "Nats-Stream"
SEQUENCE = "Nats-Sequence"
TIME_STAMP = "Nats-Time-Stamp"
SUBJECT = "Nats-Subject"
LAST_SEQUENCE = "Nats-Last-Sequence"
NUM_PENDING = "Nats-Num-Pending"
MSG_SIZE = "Nats-Msg-Size"


def get_header(hdr: bytes, key: str) -> str | None:
    """The value of ``key`` in a raw header block, or None."""
    if not hdr:
        return None
    k = key.encode()
    i = hdr.find(b"\r\n" + k + b":")
    if i < 0:
        return None
    start = i + 2 + len(k) + 1
    end = hdr.find(b"\r\n", start)
    if end < 0:
        end = len(hdr)
    return hdr[start:end].strip().decode("utf-8", "replace")


def parse_headers(hdr: bytes) -> tuple[str, list[tuple[str, str]]]:
    """The status line (after ``NATS/1.0``) and the header entries in order."""
    if not hdr:
        return "", []
    lines = hdr.split(b"\r\n")
    status = lines[0][len(b"NATS/1.0") :].strip().decode("utf-8", "replace")
    entries = []
    for line in lines[1:]:
        if not line:
            continue
        k, sep, v = line.partition(b":")
        if sep:
            entries.append((k.decode("utf-8", "replace"), v.strip().decode("utf-8", "replace")))
    return status, entries


def build_headers(entries: list[tuple[str, str]], status: str = "") -> bytes:
    """A header block: ``NATS/1.0 [status]`` then ``Key: Value`` lines and a blank line."""
    first = b"NATS/1.0 " + status.encode() if status else b"NATS/1.0"
    body = b"".join(k.encode() + b": " + v.encode() + b"\r\n" for k, v in entries)
    return first + b"\r\n" + body + b"\r\n"


def set_header(hdr: bytes, key: str, value: str) -> bytes:
    """``hdr`` with the value of the first ``key`` line replaced (the line keeps its place)."""
    k = b"\r\n" + key.encode() + b":"
    i = hdr.find(k)
    if i < 0:
        return hdr
    start = i + len(k)
    end = hdr.find(b"\r\n", start)
    if end < 0:
        end = len(hdr)
    return hdr[:start] + b" " + value.encode() + hdr[end:]


def append_headers(hdr: bytes, entries: list[tuple[str, str]]) -> bytes:
    """A header block with ``entries`` added after the existing lines (a new block when
    ``hdr`` is empty); the existing lines are kept byte for byte."""
    extra = b"".join(k.encode() + b": " + v.encode() + b"\r\n" for k, v in entries)
    if not hdr:
        return HDR_LINE + extra + b"\r\n"
    body = hdr[:-2] if hdr.endswith(b"\r\n\r\n") else hdr + (b"" if hdr.endswith(b"\r\n") else b"\r\n")
    return body + extra + b"\r\n"


def go_seconds(seconds: int) -> str:
    """Whole seconds the way Go prints a time.Duration: ``2s``, ``1m0s``, ``1h0m0s``."""
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


def api_level_unmet(value: str | None, level: int) -> bool:
    """Whether a ``Nats-Required-Api-Level`` value refuses a request to a server of API
    ``level``: it asks for more, or is not a Go ``int`` (the reference's ``strconv.Atoi``:
    optional sign, decimal digits, 64-bit range). Absent or empty asks for nothing."""
    if not value:
        return False
    digits = value[1:] if value[0] in "+-" else value
    if not (digits.isascii() and digits.isdigit()):
        return True
    n = int(value)
    return not -(2**63) <= n < 2**63 or n > level
