"""The snapshot archive: the reference's stream archive (``NATSARC1``) in Snappy framing.

This is the format nats-server 2.15 sends from STREAM.SNAPSHOT and reads in STREAM.RESTORE
(its ``archive`` package), so a pynatsd backup restores on the reference. The archive is a
run of entries after the magic ``NATSARC1``; an entry is ``uvarint name-length, varint
(zig-zag) timestamp, uvarint sequence, uvarint header-size, uvarint payload-size, name,
header, payload``. In order (docs/STORAGE.md, "Snapshots"):

- ``state.json``: the stream's state (STREAM.INFO's ``state``, ``consumer_count`` = the
  consumer entries that follow);
- ``consumers/<name>``: ``{"config": ConsumerConfig, "state": {"delivered", "ack_floor",
  "pending": {"<sseq>": {"Sequence": cseq, "Timestamp": ns}}, "redelivered": {"<sseq>": n}}}``;
- one entry per message: name = subject, timestamp = its time (ns), sequence, its header
  and data;
- an entry with nothing in it (name "", all zero): the end; without it the archive is
  truncated.

The archive travels inside the Snappy framing format (CRC-32C over every 64 KiB), which the
reference's S2 reader accepts. Reading accepts Snappy frames (what pynatsd writes, decoded
natively) and S2 frames (what the reference writes, decoded by ``s2block.py``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cramjam

from pynatsd.jetstream.s2block import CorruptBlock, decode_block, masked_crc32c

MAGIC = b"NATSARC1"
_FRAME_IDENT = b"\xff\x06\x00\x00sNaPpY"
_FRAMES_PER_DECODE = 16  # frames (Snappy: up to 64 KiB each) decompressed per step
_MAX_NAME = 1 << 20


class ArchiveError(Exception):
    """A damaged, truncated or foreign archive; ``str()`` is the reason the API reports."""


@dataclass(slots=True)
class Record:
    seq: int
    ts: int
    subject: str
    hdr: bytes
    data: bytes


@dataclass
class Archive:
    """An archive's head: the stream state and its consumers (name -> JSON)."""

    state: dict[str, Any]
    consumers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def first_seq(self) -> int:
        return int(self.state.get("first_seq", 0))

    @property
    def last_seq(self) -> int:
        return int(self.state.get("last_seq", 0))


# -- writing ------------------------------------------------------------------------------
def _uvarint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _varint(v: int) -> bytes:
    return _uvarint((v << 1) ^ (v >> 63) if v < 0 else v << 1)


def encode_entry(name: str, ts: int, seq: int, hdr: bytes, data: bytes) -> bytes:
    nb = name.encode()
    head = b"".join((_uvarint(len(nb)), _varint(ts), _uvarint(seq), _uvarint(len(hdr)), _uvarint(len(data))))
    return b"".join((head, nb, hdr, data))


def write_archive(
    state: bytes, consumers: list[tuple[str, bytes]], batches: Iterator[list[bytes]], now_ns: int
) -> Iterator[bytes]:
    """The compressed archive, piece by piece: ``batches`` yields encoded message entries
    (one store read each) and is only advanced as the caller takes more, so a snapshot
    being sent costs memory for one window, not for the stream."""
    head = [MAGIC, encode_entry("state.json", now_ns, 0, b"", state)]
    head += [encode_entry(f"consumers/{name}", now_ns, 0, b"", meta) for name, meta in consumers]
    yield bytes(cramjam.snappy.compress(b"".join(head)))
    pending: list[bytes] = []
    size = 0
    for batch in batches:
        pending += batch
        size += sum(map(len, batch))
        if size >= 1 << 20:
            yield bytes(cramjam.snappy.compress(b"".join(pending)))
            pending, size = [], 0
    pending.append(encode_entry("", 0, 0, b"", b""))
    yield bytes(cramjam.snappy.compress(b"".join(pending)))


# -- reading ------------------------------------------------------------------------------
class _Unsnappy(io.RawIOBase):
    """The decompressed bytes of a Snappy-framed file, decoded a few frames at a time
    (each checked against its CRC-32C by the decoder), with the S2 reader's errors."""

    def __init__(self, f: io.BufferedReader) -> None:
        self.f = f
        self.out = b""
        self.pos = 0
        self.started = False
        self.s2 = False  # S2 blocks (the reference's) rather than Snappy (ours)

    def readable(self) -> bool:
        return True

    def _frames(self) -> bytes:
        out: list[bytes] = []
        for _ in range(_FRAMES_PER_DECODE):
            head = self.f.read(4)
            if not head:
                break
            if len(head) < 4:
                raise ArchiveError("unexpected EOF")
            kind = head[0]
            n = int.from_bytes(head[1:], "little")
            body = self.f.read(n)
            if len(body) < n:
                raise ArchiveError("unexpected EOF")
            if kind == 0xFF:  # stream identifier, also between concatenated streams
                if body not in (b"sNaPpY", b"S2sTwO"):
                    raise ArchiveError("s2: corrupt input")
                self.s2 = body == b"S2sTwO"
                self.started = True
                continue
            if not self.started:
                raise ArchiveError("s2: corrupt input")
            if kind >= 0x80:  # skippable (padding, the S2 index)
                continue
            if kind > 0x01 or n < 4:
                raise ArchiveError("s2: unsupported input" if kind > 0x01 else "s2: corrupt input")
            out.append(self._s2_frame(kind, body) if self.s2 else self._snappy_frame(head, body))
        return b"".join(out)

    @staticmethod
    def _snappy_frame(head: bytes, body: bytes) -> bytes:
        try:
            return bytes(cramjam.snappy.decompress(_FRAME_IDENT + head + body))
        except cramjam.DecompressionError as e:
            raise ArchiveError(
                "s2: corrupt input, crc mismatch" if "crc" in str(e).lower() else "s2: corrupt input"
            )

    @staticmethod
    def _s2_frame(kind: int, body: bytes) -> bytes:
        try:
            data = decode_block(body[4:]) if kind == 0x00 else body[4:]
        except CorruptBlock:
            raise ArchiveError("s2: corrupt input") from None
        if masked_crc32c(data) != int.from_bytes(body[:4], "little"):
            raise ArchiveError("s2: corrupt input, crc mismatch")
        return data

    def readinto(self, b: Any) -> int:
        while self.pos >= len(self.out):
            self.out, self.pos = self._frames(), 0
            if not self.out:
                return 0
        n = min(len(b), len(self.out) - self.pos)
        b[:n] = self.out[self.pos : self.pos + n]
        self.pos += n
        return n


_INVALID = "archive: invalid archive stream"


class _Entries:
    """Entries of the decompressed archive, with the reference's reader's errors."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self.r = raw

    def _byte(self) -> int:
        b = self.r.read(1)
        if not b:
            raise EOFError
        return b[0]

    def _uvarint(self) -> int:
        v = shift = 0
        for _ in range(10):
            b = self._byte()
            v |= (b & 0x7F) << shift
            if b < 0x80:
                return v
            shift += 7
        raise ArchiveError(_INVALID)

    def magic(self) -> None:
        m = self.r.read(len(MAGIC))
        if not m:
            raise ArchiveError("EOF")
        if m != MAGIC:
            raise ArchiveError(_INVALID if len(m) == len(MAGIC) else "unexpected EOF")

    def next(self) -> tuple[str, int, int, bytes, bytes]:
        """``(name, ts, seq, header, payload)``; a clean end of data raises ``EOF``."""
        try:
            first = self.r.read(1)
            if not first:
                raise ArchiveError("EOF")
            n = first[0]
            if n >= 0x80:
                rest = self._uvarint()
                n = (n & 0x7F) | (rest << 7)
            zz = self._uvarint()
            ts = (zz >> 1) ^ -(zz & 1)
            seq = self._uvarint()
            hl = self._uvarint()
            pl = self._uvarint()
        except EOFError:
            raise ArchiveError(_INVALID) from None
        if n > _MAX_NAME:
            raise ArchiveError(_INVALID)
        body = self.r.read(n + hl + pl)
        if len(body) != n + hl + pl:
            raise ArchiveError(_INVALID)
        try:
            name = body[:n].decode()
        except UnicodeDecodeError:
            raise ArchiveError(_INVALID) from None
        return name, ts, seq, body[n : n + hl], body[n + hl :]


def read_archive(f: io.BufferedReader) -> tuple[Archive, Iterator[Record]]:
    """Open an uploaded archive: its state and consumers at once, then its messages
    lazily. Damage raises :class:`ArchiveError`, also from the iterator (which requires the
    end entry), so a caller builds a stream aside and keeps it only once that finished."""
    if not f.peek(1):
        raise ArchiveError("EOF")
    entries = _Entries(io.BufferedReader(_Unsnappy(f), 1 << 16))
    entries.magic()
    name, _, _, _, data = entries.next()
    if name != "state.json":
        raise ArchiveError("expected state.json first")
    try:
        state = json.loads(data)
        if not isinstance(state, dict):
            raise ValueError(state)
        count = int(state.get("consumer_count", 0))
    except (ValueError, TypeError) as e:
        raise ArchiveError(f"error in state.json: {e}") from None
    archive = Archive(state=state)
    for _ in range(count):
        name, _, _, _, data = entries.next()
        if not name.startswith("consumers/"):
            raise ArchiveError(f"expected consumer, found {json.dumps(name)}")
        cname = name[len("consumers/") :]
        try:
            meta = json.loads(data)
        except ValueError as e:
            raise ArchiveError(f"failed to decode consumer {json.dumps(cname)} state: {e}") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
            raise ArchiveError(f"consumer {json.dumps(cname)} is missing config")
        if not isinstance(meta.get("state"), dict):
            raise ArchiveError(f"consumer {json.dumps(cname)} is missing state")
        archive.consumers[cname] = meta
    return archive, _messages(entries, archive.first_seq - 1)


def _messages(entries: _Entries, last: int) -> Iterator[Record]:
    while True:
        try:
            name, ts, seq, hdr, data = entries.next()
        except ArchiveError as e:
            if str(e) == "EOF":
                raise ArchiveError("backup was truncated") from None
            raise
        if seq == 0:
            if ts == 0 and not hdr and not data and not name:
                return
            raise ArchiveError("expected message sequence")
        if seq <= last:
            raise ArchiveError(f"message sequence {seq} out of order")
        last = seq
        yield Record(seq, ts, name, hdr, data)
