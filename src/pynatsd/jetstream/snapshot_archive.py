"""The snapshot archive: what STREAM.SNAPSHOT sends and STREAM.RESTORE reads back.

An archive is a tar stream (POSIX ustar) inside the Snappy framing format (CRC-32C over
every 64 KiB of tar), so the reference's tools, which read snapshots through an S2 reader,
can track it and any damage in transit is found before anything is restored. Members, in
order (docs/STORAGE.md, "Snapshots"):

- ``stream.json``: format name and version, the stream's config, creation time and state
  at the start of the snapshot;
- ``consumers/<name>.json``: each durable consumer, as its ``meta.json`` (unless asked for
  none);
- ``msgs/<n>.bin``: messages in sequence order, ~1 MiB of records per member; a record is
  ``seq u64 | ts i64 | subject-len u16 | header-len u32 | data-len u32 | subject | header | data``
  (little-endian);
- ``end.json``: the number of messages and the last sequence written. A restore requires it,
  so an archive cut at a member boundary is refused too.

Messages are read from the store (any engine), not copied as files: the archive is the same
for memory and file streams and does not depend on the file engine's layout.
"""

from __future__ import annotations

import io
import json
import struct
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cramjam

FORMAT = "pynatsd-stream-snapshot"
VERSION = 1
_REC = struct.Struct("<QqHII")
_MSGS_MEMBER = 1 << 20  # bytes of records per msgs/ member
_BATCH = 512  # messages read from the store per step
_FRAME_IDENT = b"\xff\x06\x00\x00sNaPpY"
_FRAMES_PER_DECODE = 16  # Snappy frames (up to 64 KiB each) decompressed per step


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
    """An archive read back: everything needed to build the stream again."""

    config: dict[str, Any]
    created: int
    first_seq: int
    last_seq: int
    last_ts: int
    consumers: dict[str, bytes] = field(default_factory=dict)  # name -> meta.json


# -- writing ------------------------------------------------------------------------------
class _Sink(io.RawIOBase):
    """Collects what tarfile writes, to be taken in pieces."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.buf += b
        return len(b)

    def take(self) -> bytes:
        out = bytes(self.buf)
        self.buf.clear()
        return out


def _member(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = mtime
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def encode_record(seq: int, ts: int, subject: str, hdr: bytes, data: bytes) -> bytes:
    sb = subject.encode()
    return b"".join((_REC.pack(seq, ts, len(sb), len(hdr), len(data)), sb, hdr, data))


def write_archive(
    head: dict[str, Any], consumers: dict[str, bytes], batches: Iterator[list[bytes]], mtime: int
) -> Iterator[bytes]:
    """The compressed archive, piece by piece: ``batches`` yields encoded records (one
    store read each) and is only advanced as the caller takes more, so a snapshot being
    sent costs memory for one window, not for the stream."""
    sink = _Sink()
    tar = tarfile.open(fileobj=sink, mode="w|", format=tarfile.USTAR_FORMAT)  # type: ignore[call-overload]  # noqa: SIM115
    _member(tar, "stream.json", json.dumps({"format": FORMAT, "version": VERSION, **head}).encode(), mtime)
    for name, meta in sorted(consumers.items()):
        _member(tar, f"consumers/{name}.json", meta, mtime)
    yield bytes(cramjam.snappy.compress(sink.take()))
    count = last = member = 0
    pending: list[bytes] = []
    size = 0
    for batch in batches:
        for rec in batch:
            pending.append(rec)
            size += len(rec)
            count += 1
            last = _REC.unpack_from(rec)[0]
        if size >= _MSGS_MEMBER:
            member += 1
            _member(tar, f"msgs/{member:08d}.bin", b"".join(pending), mtime)
            pending, size = [], 0
            yield bytes(cramjam.snappy.compress(sink.take()))
    if pending:
        member += 1
        _member(tar, f"msgs/{member:08d}.bin", b"".join(pending), mtime)
    _member(tar, "end.json", json.dumps({"messages": count, "last_record": last}).encode(), mtime)
    tar.close()
    yield bytes(cramjam.snappy.compress(sink.take()))


# -- reading ------------------------------------------------------------------------------
class _Unsnappy(io.RawIOBase):
    """The decompressed bytes of a Snappy-framed file, decoded a few frames at a time
    (each checked against its CRC-32C by the decoder)."""

    def __init__(self, f: io.BufferedReader) -> None:
        self.f = f
        self.out = b""
        self.pos = 0
        self.started = False

    def readable(self) -> bool:
        return True

    def _frames(self) -> bytes:
        parts: list[bytes] = []
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
            if not self.started:
                if head + body != _FRAME_IDENT:
                    raise ArchiveError("s2: corrupt input")
                self.started = True
            if kind not in (0x00, 0x01, 0xFF) and kind < 0x80:
                raise ArchiveError("s2: unsupported input")
            parts.append(head + body)
        if not parts:
            return b""
        try:
            return bytes(cramjam.snappy.decompress(_FRAME_IDENT + b"".join(parts)))
        except cramjam.DecompressionError as e:
            raise ArchiveError(
                "s2: corrupt input, crc mismatch" if "crc" in str(e).lower() else "s2: corrupt input"
            )

    def readinto(self, b: Any) -> int:
        while self.pos >= len(self.out):
            self.out, self.pos = self._frames(), 0
            if not self.out:
                return 0
        n = min(len(b), len(self.out) - self.pos)
        b[:n] = self.out[self.pos : self.pos + n]
        self.pos += n
        return n


def read_archive(f: io.BufferedReader) -> tuple[Archive, Iterator[Record]]:
    """Open an uploaded archive: its head and consumers at once, then its records lazily.
    Any damage raises :class:`ArchiveError`, also from the iterator (which checks
    ``end.json`` last), so a caller builds a stream aside and keeps it only when the
    iterator finished cleanly."""
    raw = _Unsnappy(f)
    if not f.peek(1):
        raise ArchiveError("EOF")
    try:
        tar = tarfile.open(fileobj=raw, mode="r|")  # type: ignore[call-overload]  # noqa: SIM115
        first = tar.next()
    except ArchiveError:
        raise
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ArchiveError(f"unexpected content: {e}") from None
    if first is None or first.name != "stream.json" or not first.isreg():
        raise ArchiveError("unexpected content")
    head = _json_member(tar, first)
    if head.get("format") != FORMAT or head.get("version") != VERSION:
        raise ArchiveError("unexpected content: not a pynatsd snapshot")
    try:
        archive = Archive(
            config=dict(head["config"]),
            created=int(head["created"]),
            first_seq=int(head["first_seq"]),
            last_seq=int(head["last_seq"]),
            last_ts=int(head["last_ts"]),
        )
    except (KeyError, TypeError, ValueError):
        raise ArchiveError("unexpected content") from None
    return archive, _records(tar, archive)


def _json_member(tar: tarfile.TarFile, m: tarfile.TarInfo) -> dict[str, Any]:
    data = _member_bytes(tar, m)
    try:
        value = json.loads(data)
    except ValueError:
        raise ArchiveError(f"unexpected content in {m.name}") from None
    if not isinstance(value, dict):
        raise ArchiveError(f"unexpected content in {m.name}")
    return value


def _member_bytes(tar: tarfile.TarFile, m: tarfile.TarInfo) -> bytes:
    try:
        f = tar.extractfile(m)
        data = f.read() if f is not None else b""
    except ArchiveError:
        raise
    except (tarfile.TarError, OSError, EOFError):
        raise ArchiveError("unexpected EOF") from None
    if len(data) != m.size:
        raise ArchiveError("unexpected EOF")
    return data


def _records(tar: tarfile.TarFile, archive: Archive) -> Iterator[Record]:
    count = last = 0
    ended = False
    while True:
        try:
            m = tar.next()
        except ArchiveError:
            raise
        except (tarfile.TarError, OSError, EOFError):
            raise ArchiveError("unexpected EOF") from None
        if m is None:
            break
        if ended or not m.isreg():
            raise ArchiveError("unexpected content")
        name = m.name
        if name.startswith("consumers/") and name.endswith(".json") and count == 0:
            archive.consumers[name[len("consumers/") : -len(".json")]] = _member_bytes(tar, m)
        elif name.startswith("msgs/") and name.endswith(".bin"):
            data = _member_bytes(tar, m)
            for rec in _decode_records(data, last):
                count += 1
                last = rec.seq
                yield rec
        elif name == "end.json":
            end = _json_member(tar, m)
            if end.get("messages") != count or end.get("last_record") != last:
                raise ArchiveError("unexpected content: message count does not match")
            ended = True
        else:
            raise ArchiveError(f"unexpected content: {name}")
    if not ended:
        raise ArchiveError("unexpected EOF")


def _decode_records(data: bytes, last: int) -> Iterator[Record]:
    pos, end = 0, len(data)
    mv = memoryview(data)
    while pos < end:
        if end - pos < _REC.size:
            raise ArchiveError("unexpected content: short record")
        seq, ts, sl, hl, dl = _REC.unpack_from(data, pos)
        pos += _REC.size
        if pos + sl + hl + dl > end or seq <= last:
            raise ArchiveError("unexpected content: bad record")
        try:
            subject = bytes(mv[pos : pos + sl]).decode()
        except UnicodeDecodeError:
            raise ArchiveError("unexpected content: bad record") from None
        pos += sl
        hdr = bytes(mv[pos : pos + hl])
        pos += hl
        body = bytes(mv[pos : pos + dl])
        pos += dl
        last = seq
        yield Record(seq, ts, subject, hdr, body)
