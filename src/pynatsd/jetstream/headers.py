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

# Headers of direct-get and message-get replies.
STREAM = "Nats-Stream"
SEQUENCE = "Nats-Sequence"
TIME_STAMP = "Nats-Time-Stamp"
SUBJECT = "Nats-Subject"
LAST_SEQUENCE = "Nats-Last-Sequence"
NUM_PENDING = "Nats-Num-Pending"


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
