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
_SMALL = [bytes((i,)) for i in range(128)]


def _uvarint(v: int) -> bytes:
    if v < 0x80:
        return _SMALL[v]
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
    return b"".join(
        (
            _uvarint(len(nb)),
            _varint(ts),
            _uvarint(seq),
            _uvarint(len(hdr)),
            _uvarint(len(data)),
            nb,
            hdr,
            data,
        )
    )


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
# Errors are reported as the reference reports them: the framing's own ("s2: corrupt
# input", "unexpected EOF") while the first 8 bytes are read, then its archive reader's
# ("archive: invalid archive stream"), wrapped by what was being read at the time.
_INVALID = "archive: invalid archive stream"


class _FrameError(Exception):
    """The framing failed (the S2 reader's error text)."""


class _Frames:
    """The decompressed bytes of a framed upload, one frame at a time, so that a damaged
    frame is noticed only when its bytes are needed (as the reference's reader does)."""

    def __init__(self, f: io.BufferedReader) -> None:
        self.f = f
        self.started = False
        self.s2 = False  # S2 blocks (the reference's) rather than Snappy (ours)
        self.ended = False

    def next(self) -> bytes | None:
        """The next frame's data; None at a clean end (between frames)."""
        while not self.ended:
            head = self.f.read(4)
            if not head:
                self.ended = True
                return None
            if len(head) < 4:
                raise _FrameError("unexpected EOF")
            kind = head[0]
            n = int.from_bytes(head[1:], "little")
            if (not self.started and kind != 0xFF) or (kind == 0xFF and n != 6):
                raise _FrameError("s2: corrupt input")  # judged on the head, as the reference
            body = self.f.read(n)
            if len(body) < n:
                raise _FrameError("unexpected EOF")
            if kind == 0xFF:  # stream identifier, also between concatenated streams
                if body not in (b"sNaPpY", b"S2sTwO"):
                    raise _FrameError("s2: corrupt input")
                self.s2 = body == b"S2sTwO"
                self.started = True
                continue
            if not self.started:
                raise _FrameError("s2: corrupt input")
            if kind >= 0x80:  # skippable (padding, the S2 index)
                continue
            if kind > 0x01:
                raise _FrameError("s2: unsupported input")
            if n < 4:
                raise _FrameError("s2: corrupt input")
            data = self._s2_frame(kind, body) if self.s2 else self._snappy_frame(head, body)
            if data:
                return data
        return None

    @staticmethod
    def _snappy_frame(head: bytes, body: bytes) -> bytes:
        try:
            return bytes(cramjam.snappy.decompress(_FRAME_IDENT + head + body))
        except cramjam.DecompressionError as e:
            raise _FrameError(
                "s2: corrupt input, crc mismatch" if "crc" in str(e).lower() else "s2: corrupt input"
            )

    @staticmethod
    def _s2_frame(kind: int, body: bytes) -> bytes:
        try:
            data = decode_block(body[4:]) if kind == 0x00 else body[4:]
        except CorruptBlock:
            raise _FrameError("s2: corrupt input") from None
        if masked_crc32c(data) != int.from_bytes(body[:4], "little"):
            raise _FrameError("s2: corrupt input, crc mismatch")
        return data


class _Short(Exception):
    """Fewer bytes than needed: ``clean`` when none at all and the stream ended cleanly."""

    def __init__(self, clean: bool) -> None:
        self.clean = clean


class _Entries:
    """The archive's entries over :class:`_Frames`, with the reference's reader's errors."""

    def __init__(self, frames: _Frames) -> None:
        self.frames = frames
        self.buf = b""
        self.pos = 0

    def _take(self, n: int) -> bytes:
        """Exactly ``n`` bytes; raises _FrameError or _Short."""
        while len(self.buf) - self.pos < n:
            data = self.frames.next()
            if data is None:
                raise _Short(clean=self.pos == len(self.buf))
            self.buf = self.buf[self.pos :] + data
            self.pos = 0
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def _uvarint(self, first: bool = False) -> int:
        v = shift = 0
        for i in range(10):
            try:
                b = self._take(1)[0]
            except _Short as e:
                if first and i == 0 and e.clean:
                    raise ArchiveError("EOF") from None
                raise ArchiveError(_INVALID) from None
            except _FrameError:
                raise ArchiveError(_INVALID) from None
            v |= (b & 0x7F) << shift
            if b < 0x80:
                return v
            shift += 7
        raise ArchiveError(_INVALID)

    def preamble(self) -> None:
        """The first bytes, read as the reference reads them to tell its formats apart."""
        try:
            magic = self._take(len(MAGIC))
        except _FrameError as e:
            raise ArchiveError(str(e)) from None
        except _Short as e:
            raise ArchiveError("EOF" if e.clean and not self.buf else "unexpected EOF") from None
        if magic != MAGIC:
            raise ArchiveError("unexpected content: not a stream archive of nats-server 2.15 or pynatsd")

    def next(self) -> tuple[str, int, int, int, int]:
        """The next entry's ``(name, ts, seq, header-size, payload-size)``."""
        buf, pos = self.buf, self.pos
        if len(buf) - pos >= 50:  # the common case: the five fields are buffered
            fields = []
            for _ in range(5):
                v = shift = 0
                for _ in range(10):
                    b = buf[pos]
                    pos += 1
                    v |= (b & 0x7F) << shift
                    if b < 0x80:
                        break
                    shift += 7
                else:
                    raise ArchiveError(_INVALID)
                fields.append(v)
            self.pos = pos
            n, zz, seq, hl, pl = fields
        else:
            n = self._uvarint(first=True)
            zz = self._uvarint()
            seq = self._uvarint()
            hl = self._uvarint()
            pl = self._uvarint()
        ts = (zz >> 1) ^ -(zz & 1)
        if n > _MAX_NAME or hl >= 1 << 63 or pl >= 1 << 63 or hl + pl >= 1 << 63:
            raise ArchiveError(_INVALID)
        try:
            name = self._take(n).decode("utf-8", "replace")
        except (_Short, _FrameError):
            raise ArchiveError(_INVALID) from None
        return name, ts, seq, hl, pl

    def payload(self, size: int) -> bytes:
        """The entry's payload; raises ArchiveError(_INVALID) for the caller to wrap."""
        try:
            return self._take(size)
        except (_Short, _FrameError):
            raise ArchiveError(_INVALID) from None


def read_archive(f: io.BufferedReader) -> tuple[Archive, Iterator[Record]]:
    """Open an uploaded archive: its state and consumers at once, then its messages
    lazily. Damage raises :class:`ArchiveError`, also from the iterator (which requires the
    end entry), so a caller builds a stream aside and keeps it only once that finished."""
    entries = _Entries(_Frames(f))
    entries.preamble()
    name, _, _, hl, pl = entries.next()
    if name != "state.json":
        raise ArchiveError("expected state.json first")
    try:
        data = entries.payload(hl + pl)
    except ArchiveError:
        raise ArchiveError("expected state.json contents") from None
    try:
        state = json.loads(data)
        if not isinstance(state, dict):
            raise ValueError("not an object")
        count = int(state.get("consumer_count", 0))
    except (ValueError, TypeError) as e:
        raise ArchiveError(f"error in state.json: {e}") from None
    archive = Archive(state=state)
    for _ in range(count):
        name, _, _, hl, pl = entries.next()
        if not name.startswith("consumers/"):
            raise ArchiveError(f"expected consumer, found {json.dumps(name)}")
        cname = name[len("consumers/") :]
        try:
            data = entries.payload(hl + pl)
        except ArchiveError as e:
            raise ArchiveError(f"failed to read consumer {json.dumps(cname)} state: {e}") from None
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
        name, ts, seq, hl, pl = entries.next()
        if seq == 0:
            if ts == 0 and hl == 0 and pl == 0:
                return
            raise ArchiveError("expected message sequence")
        try:
            body = entries.payload(hl + pl)
        except ArchiveError as e:
            raise ArchiveError(f"failed to read message sequence {seq}: {e}") from None
        if seq <= last:
            raise ArchiveError(f"message sequence {seq} out of order")
        last = seq
        yield Record(seq, ts, name, body[:hl], body[hl:])
