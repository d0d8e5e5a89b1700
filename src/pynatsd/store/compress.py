"""Compressed block files for the file engine (``compression: s2``).

A sealed block (never the one being appended to) is rewritten as independently compressed
chunks of its bytes, so every record offset of the block and its ``.idx`` stays valid:
a read decompresses only the chunks it spans (a small cache keeps the last few), and a
damaged chunk loses only the records it holds. The codec is Snappy's raw block format
through ``cramjam`` (S2, the reference's codec, is a Snappy extension that ``cramjam``
does not offer; the on-disk format is ours, not the reference's).

A compressed file keeps the block's name and starts with its own magic::

    head   magic "PNSZ" | version u16 | codec u16 | logical length u64 | chunk size u32 | chunks u32
    table  per chunk: file offset u64 | compressed length u32 | crc32 of the compressed bytes u32
    crc32 of head and table, then the chunks

Rewrites (compression, and erasure inside an already compressed block) write a temporary
file, fsync it and only then rename it over the block, so a crash at any point leaves
either the old file or the new one whole; temporary files are removed on recovery.
"""

from __future__ import annotations

import os
import struct
import zlib
from array import array
from collections import OrderedDict
from typing import Any

MAGIC = b"PNSZ"
_VERSION = 1
CODEC_SNAPPY = 1
CHUNK = 64 << 10  # Snappy's own window; larger chunks gain little and cost reads
_HEAD = struct.Struct("<4sHHQII")
_ENT = struct.Struct("<QII")
_U32 = struct.Struct("<I")
_CACHE = 16  # decompressed chunks kept per store (1 MiB)


_codec: Any = None


def _snappy() -> Any:
    """``cramjam.snappy``, imported on first use: a server without compressed streams
    never loads it."""
    global _codec
    if _codec is None:
        import cramjam

        _codec = cramjam.snappy
    return _codec


class ZCorrupt(Exception):
    """A compressed block whose head or chunk table does not check out."""


class ZTable:
    """Where a compressed block's chunks are: enough to serve any logical byte range."""

    __slots__ = ("chunk", "crcs", "length", "lens", "offs")

    def __init__(self, length: int, chunk: int) -> None:
        self.length = length
        self.chunk = chunk
        self.offs = array("Q")
        self.lens = array("I")
        self.crcs = array("I")


def is_compressed(fd: int) -> bool:
    return os.pread(fd, 4, 0) == MAGIC


def read_table(fd: int) -> ZTable:
    head = os.pread(fd, _HEAD.size, 0)
    if len(head) < _HEAD.size:
        raise ZCorrupt("short head")
    magic, ver, codec, length, chunk, n = _HEAD.unpack(head)
    if magic != MAGIC or ver != _VERSION or codec != CODEC_SNAPPY or chunk == 0 or n != -(-length // chunk):
        raise ZCorrupt("bad head")
    tlen = _ENT.size * n
    rest = os.pread(fd, tlen + 4, _HEAD.size)
    if len(rest) < tlen + 4 or zlib.crc32(head + rest[:tlen]) != _U32.unpack_from(rest, tlen)[0]:
        raise ZCorrupt("bad chunk table")
    z = ZTable(length, chunk)
    for k in range(n):
        off, ln, crc = _ENT.unpack_from(rest, k * _ENT.size)
        z.offs.append(off)
        z.lens.append(ln)
        z.crcs.append(crc)
    return z


def read_chunk(fd: int, z: ZTable, k: int) -> bytes | None:
    """Chunk ``k`` decompressed, or None when it is damaged."""
    raw = os.pread(fd, z.lens[k], z.offs[k])
    if len(raw) != z.lens[k] or zlib.crc32(raw) != z.crcs[k]:
        return None
    want = min(z.chunk, z.length - k * z.chunk)
    try:
        out = bytes(_snappy().decompress_raw(raw))
    except Exception:
        return None
    return out if len(out) == want else None


def logical(fd: int, z: ZTable) -> bytes:
    """The block's bytes as they were before compression, up to the first damaged chunk."""
    parts = []
    for k in range(len(z.offs)):
        c = read_chunk(fd, z, k)
        if c is None:
            break
        parts.append(c)
    return b"".join(parts)


class ZReader:
    """Logical reads of compressed blocks through a small cache of decompressed chunks."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()

    def read(self, fd: int, index: int, z: ZTable, off: int, n: int) -> bytes:
        """Bytes ``off .. off + n`` of the block (fewer at its end or at a damaged chunk)."""
        end = min(off + n, z.length)
        if off >= end:
            return b""
        size = z.chunk
        first, last = off // size, (end - 1) // size
        parts = []
        for k in range(first, last + 1):
            c = self._chunk(fd, index, z, k)
            if c is None:
                break
            parts.append(c)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        p = off - first * size
        return data[p : p + end - off]

    def _chunk(self, fd: int, index: int, z: ZTable, k: int) -> bytes | None:
        key = (index, k)
        c = self._cache.get(key)
        if c is not None:
            self._cache.move_to_end(key)
            return c
        c = read_chunk(fd, z, k)
        if c is not None:
            self._cache[key] = c
            if len(self._cache) > _CACHE:
                self._cache.popitem(last=False)
        return c

    def forget(self, index: int) -> None:
        for key in [k for k in self._cache if k[0] == index]:
            del self._cache[key]


def encode(data: bytes | bytearray) -> tuple[bytes, ZTable]:
    """A compressed file's bytes for a block whose bytes are ``data``."""
    chunks = [bytes(_snappy().compress_raw(bytes(data[p : p + CHUNK]))) for p in range(0, len(data), CHUNK)]
    z = ZTable(len(data), CHUNK)
    pos = _HEAD.size + _ENT.size * len(chunks) + 4
    table = []
    for c in chunks:
        crc = zlib.crc32(c)
        table.append(_ENT.pack(pos, len(c), crc))
        z.offs.append(pos)
        z.lens.append(len(c))
        z.crcs.append(crc)
        pos += len(c)
    head = _HEAD.pack(MAGIC, _VERSION, CODEC_SNAPPY, len(data), CHUNK, len(chunks)) + b"".join(table)
    return b"".join((head, _U32.pack(zlib.crc32(head)), *chunks)), z


def rewrite(src: str, tmp: str, length: int, patches: list[tuple[int, bytes]]) -> ZTable:
    """Runs in a worker thread: read block ``src`` (plain or compressed; its logical length
    must be ``length``), overwrite ``patches`` (offset, bytes: erasures), write the compressed
    result to ``tmp`` and fsync it. The caller renames ``tmp`` over ``src`` on the loop."""
    fd = os.open(src, os.O_RDONLY)
    try:
        if is_compressed(fd):
            z = read_table(fd)
            data = bytearray(logical(fd, z))
        else:
            data = bytearray(os.pread(fd, os.fstat(fd).st_size, 0))
    finally:
        os.close(fd)
    if len(data) != length:
        raise ZCorrupt(f"{src}: {len(data)} bytes readable, {length} expected")
    for off, rec in patches:
        data[off : off + len(rec)] = rec
    out, z = encode(data)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(out)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    return z
