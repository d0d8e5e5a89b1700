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
:class:`Compressor` runs one store's rewrites one at a time, in a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import struct
import zlib
from array import array
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger("pynatsd.store.file")

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
    if _HEAD.size + tlen + 4 > os.fstat(fd).st_size:  # a damaged count: do not read gigabytes
        raise ZCorrupt("chunk table past the end of the file")
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


# -- scheduling: one store's rewrites ----------------------------------------------------------
class SealedBlock(Protocol):
    index: int
    size: int  # the block's uncompressed length
    z: ZTable | None


B = TypeVar("B", bound=SealedBlock)
Patches = list[tuple[int, bytes]]

_zpool: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """One worker thread compressing sealed blocks for all stores."""
    global _zpool
    if _zpool is None:
        _zpool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pynatsd-compress")
    return _zpool


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class Compressor(Generic[B]):
    """Rewrites of one store's sealed blocks (compression, erasure inside a compressed
    block), one at a time: in the worker thread when a loop runs, inline otherwise. The
    store says which blocks are still alive, and finishes an installed rewrite (``installed``:
    drop cached descriptors of the old file) or a failed one (``failed``)."""

    def __init__(
        self,
        enabled: bool,
        path_of: Callable[[int], str],
        alive: Callable[[B], bool],
        installed: Callable[[B, ZTable], None],
        failed: Callable[[B, Patches], None],
    ) -> None:
        self.enabled = enabled
        self.reader = ZReader()
        self._path_of = path_of
        self._alive = alive
        self._installed = installed
        self._failed = failed
        self._queue: deque[B] = deque()
        self._patches: dict[int, Patches] = {}  # block index -> erasures
        self._job: tuple[B, Future[ZTable], Patches, str] | None = None
        self._closed = False

    def busy(self, b: B) -> bool:
        """True while ``b`` is queued or being rewritten: its file must not be written to."""
        return b in self._queue or (self._job is not None and self._job[0] is b)

    def idle(self) -> bool:
        return self._job is None and not self._queue

    def enqueue(self, b: B) -> None:
        if b not in self._queue:
            self._queue.append(b)
        self._next(_running_loop())

    def patch(self, b: B, off: int, rec: bytes) -> None:
        """Overwrite ``rec`` at ``off`` of block ``b`` by a rewrite (an erasure)."""
        self._patches.setdefault(b.index, []).append((off, rec))
        self.enqueue(b)

    def _next(self, loop: asyncio.AbstractEventLoop | None) -> None:
        while self._job is None and self._queue:
            b = self._queue.popleft()
            patches = self._patches.pop(b.index, [])
            if not self._alive(b) or (b.z is None and not patches and not self.enabled):
                continue
            src = self._path_of(b.index)
            tmp = src + ".tmp"  # removed by recovery if a crash leaves it
            if loop is None:
                try:
                    z = rewrite(src, tmp, b.size, patches)
                except Exception as e:
                    self._fail(b, patches, tmp, e)
                    continue
                self._install(b, z, tmp)
                continue
            fut = _pool().submit(rewrite, src, tmp, b.size, patches)
            self._job = (b, fut, patches, tmp)
            fut.add_done_callback(functools.partial(self._wake, loop))

    def _wake(self, loop: asyncio.AbstractEventLoop, fut: Future[ZTable]) -> None:
        try:
            loop.call_soon_threadsafe(self._done, fut)
        except RuntimeError:  # the loop is gone: drain() has collected (or will) the job
            pass

    def _done(self, fut: Future[ZTable], restart: bool = True) -> None:
        job = self._job
        if job is None or job[1] is not fut:
            return  # collected by drain()
        self._job = None
        b, _, patches, tmp = job
        exc = fut.exception()
        if exc is not None:
            self._fail(b, patches, tmp, exc)
        elif self._closed or not self._alive(b):
            _unlink(tmp)
        else:
            self._install(b, fut.result(), tmp)
        if restart and not self._closed:
            self._next(_running_loop())

    def _install(self, b: B, z: ZTable, tmp: str) -> None:
        os.replace(tmp, self._path_of(b.index))
        self.reader.forget(b.index)
        b.z = z
        self._installed(b, z)

    def _fail(self, b: B, patches: Patches, tmp: str, exc: BaseException) -> None:
        _unlink(tmp)
        if self._alive(b):
            log.error("rewriting block file %s failed: %s", self._path_of(b.index), exc)
            if patches:
                self._failed(b, patches)

    def drain(self) -> None:
        """At close: wait for the running rewrite, do the queued ones inline."""
        job = self._job
        if job is not None:
            try:
                job[1].result()
            except Exception:
                pass
            self._done(job[1], restart=False)
        self._next(None)
        self._closed = True

    def clear(self) -> None:
        """The store is being deleted: nothing left to compress or erase."""
        self._queue.clear()
        self._patches.clear()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
