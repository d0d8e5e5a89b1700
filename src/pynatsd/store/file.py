"""The file engine: an append-only log of checksummed records in numbered block files,
with the shared in-memory index (see ``_core``) and one index file per closed block.

On disk (one directory per stream, owned by the store)::

    0000000001.blk   16-byte head (magic, version, first sequence), then records
    0000000001.idx   written when the block is closed (and on clean shutdown):
                     slot offsets, sizes, subjects, deletions, TTLs; CRC32-protected

A record is ``length u32 | type u8 | flags u8 | subject-length u16 | seq u64 | ts i64``
``[| ttl i64] [| header-length u32] | subject | header | data | crc32 u32``. Types: MSG;
ERASED (a MSG overwritten in place: slot kept, body zeroed); DEL (one sequence); PURGE
(subject filter, bound, next sequence: "every message matching the filter below bound is
gone; the next sequence is at least next" — purges, compactions, expiry, trimming from
the front, skips). Only the last block is ever appended to.

Recovery loads the ``.idx`` of every closed block (arrays read straight into memory) and
replays only the last block, cutting it at the first record whose checksum fails: a torn
tail is never served. Deletions recorded in the last block that hit closed blocks are
folded into those blocks' index files when the block is closed (a checkpoint), so a
closed block's ``.idx`` plus the replayed last block is always the whole truth.

With compression on, a sealed block's file is rewritten (in a worker thread) as compressed
chunks of the same bytes (``compress.py``), so every offset stays valid.

Durability: records are buffered and written with one ``os.write`` at the end of the
loop turn (the store schedules its own :meth:`flush`), so ``kill -9`` loses nothing that
was flushed. ``fsync`` runs only in a worker thread: with ``sync_always`` right after
each write, one fsync covering everything written meanwhile (group commit), and the
:meth:`when_durable` callbacks are called back on the loop; otherwise every
``sync_interval`` seconds. Files of dead blocks are unlinked only once the records that
killed them are written (and synced, with ``sync_always``).
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import logging
import os
import shutil
import struct
import zlib
from array import array
from bisect import bisect_right
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from pynatsd.store._core import DEAD, IndexedStore, Subject
from pynatsd.store.base import StoredMsg, StoreLimits, file_msg_size
from pynatsd.store.compress import Compressor, ZCorrupt, ZTable, is_compressed, logical, read_table

log = logging.getLogger("pynatsd.store.file")

DEFAULT_BLOCK_SIZE = 8 << 20

_HEAD = struct.Struct("<IBBHQq")  # length, type, flags, subject length, seq, ts
_HL = _HEAD.size  # 24
_MIN_REC = _HL + 4
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_TTL_ENTRY = struct.Struct("<Qq")
_BLK_MAGIC = b"PNSB"
_IDX_MAGIC = b"PNSI"
_VERSION = 1
_BLK_HEAD = struct.Struct("<4sHHQ")  # magic, version, reserved, first sequence
_IDX_HEAD = struct.Struct("<4sHHQQIIQQQIIq")
# magic, version, flags (1: the store has been written to), first, last sequence, slots, subjects, block length, live,
# live bytes, ttl entries, never-expire entries, last timestamp

T_MSG, T_DEL, T_PURGE, T_ERASED = 1, 2, 3, 4
F_HDR, F_TTL = 1, 2

_BUF_MAX = 1 << 20  # write out mid-turn beyond this many buffered bytes
_RFD_MAX = 16  # read descriptors kept open for closed blocks
_READ_AHEAD = 64 << 10  # one pread serves a sequential reader this far ahead
_RUN_MAX = 1 << 20  # a batched load reads at most about this much at once

_pool: ThreadPoolExecutor | None = None


def _sync_pool() -> ThreadPoolExecutor:
    """Worker threads for fsync, shared by all stores (fsyncs of different files overlap)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pynatsd-fsync")
    return _pool


def _fsync_path(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_datasync = getattr(os, "fdatasync", os.fsync)


def _sync_job(fds: list[int], paths: list[str], unlink: list[str], directory: str | None) -> None:
    """Runs in a worker thread: make ``fds`` (duplicates, closed here) and ``paths``
    durable, then remove dead files."""
    try:
        for fd in fds:
            _datasync(fd)
    finally:
        for fd in fds:
            os.close(fd)
    for p in paths:
        _fsync_path(p)
    for p in unlink:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
    if directory is not None:
        _fsync_path(directory)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The running loop, or None when the store is driven without one (tools, tests):
    then the caller flushes and syncs inline."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _Block:
    """One block file: its sequence range and, per slot, record offset and counted size."""

    __slots__ = ("dirty", "first", "flushed", "index", "live", "live_bytes", "offs", "size", "sizes", "z")

    def __init__(self, index: int, first: int) -> None:
        self.index = index
        self.first = first
        self.offs = array("I")
        self.sizes = array("I")
        self.live = 0
        self.live_bytes = 0
        self.size = _BLK_HEAD.size  # logical length, buffered bytes included
        self.flushed = _BLK_HEAD.size  # bytes handed to the OS
        self.dirty = False  # deletions not yet in its .idx (closed blocks only)
        self.z: ZTable | None = None  # chunk table when the file is compressed (closed blocks only)


class CorruptStore(Exception):
    pass


class FileStore(IndexedStore):
    """One stream's messages in a directory of block files."""

    def __init__(
        self,
        directory: str | Path,
        limits: StoreLimits,
        first_seq: int = 1,
        sync_always: bool = False,
        sync_interval: float = 120.0,
        block_size: int = DEFAULT_BLOCK_SIZE,
        *,
        compression: bool = False,
        clock: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(limits, first_seq, clock)
        self._dir = Path(directory)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._dirs = str(self._dir)
        self._block_size = min(max(block_size, 64), 1 << 30)  # offsets are 32-bit
        self._sync_always = sync_always
        self._sync_interval = sync_interval
        self._blocks: list[_Block] = []
        self._firsts: list[int] = []
        self._rfds: OrderedDict[int, int] = OrderedDict()
        self._wfd = -1
        self._next_index = 1  # never reuse a block file name, even of a skipped file
        self._buf = bytearray()
        self._ra: tuple[int, int, bytes, int] = (0, 0, b"", 0)  # read-ahead: block, start, data, last end
        self._floor_dirty = False
        self._erase_later: list[int] = []  # flushed records to overwrite after the next write
        self._replaying = False
        self._closed = False
        # Durability bookkeeping: ``_gen`` counts writes to the OS, ``_synced_gen`` the
        # last one known to be on disk; waiters wait for a generation.
        self._gen = 0
        self._synced_gen = 0
        self._waiters: deque[tuple[int, Callable[[], None]]] = deque()
        self._syncing = False
        self._flush_scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._unsynced: set[str] = set()  # files written since the last sync
        self._inflight: list[str] = []  # files the running sync job covers
        self._dir_dirty = False
        self._unlink_after_write: list[str] = []
        self._unlink_after_sync: list[str] = []
        self.sync_errors = 0
        # Compression of sealed blocks: rewrites scheduled by compress.Compressor.
        self._z: Compressor[_Block] = Compressor(
            compression, self._blk_path, lambda b: b in self._blocks, self._z_installed, self._z_failed
        )
        self._recover(first_seq)  # sets unclean_start when the newest block must be replayed

    # -- paths and blocks -----------------------------------------------------------------
    def _blk_path(self, index: int) -> str:
        return os.path.join(self._dirs, f"{index:010d}.blk")

    def _idx_path(self, index: int) -> str:
        return os.path.join(self._dirs, f"{index:010d}.idx")

    def _block_of(self, seq: int) -> _Block:
        b = self._blocks[-1]
        if seq >= b.first:
            return b
        return self._blocks[bisect_right(self._firsts, seq) - 1]

    def _new_block(self, first: int) -> None:
        """Start the next block file; its head goes to the OS at once, so the first
        sequence survives even if every older block is then removed."""
        index = max(self._blocks[-1].index + 1 if self._blocks else 1, self._next_index)
        self._next_index = index + 1
        path = self._blk_path(index)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, _BLK_HEAD.pack(_BLK_MAGIC, _VERSION, 0, first))
        if self._wfd >= 0:
            self._cache_rfd(self._blocks[-1].index, self._wfd)
        self._wfd = fd
        self._blocks.append(_Block(index, first))
        self._firsts.append(first)
        self._unsynced.add(path)
        self._dir_dirty = True

    def _cache_rfd(self, index: int, fd: int) -> None:
        self._rfds[index] = fd
        while len(self._rfds) > _RFD_MAX:
            _, old = self._rfds.popitem(last=False)
            os.close(old)

    def _rfd(self, b: _Block) -> int:
        if b is self._blocks[-1]:
            return self._wfd
        fd = self._rfds.get(b.index)
        if fd is None:
            fd = os.open(self._blk_path(b.index), os.O_RDWR)
            self._cache_rfd(b.index, fd)
        else:
            self._rfds.move_to_end(b.index)
        return fd

    def _read(self, b: _Block, off: int, n: int) -> bytes:
        if off >= b.flushed and b is self._blocks[-1]:
            p = off - b.flushed
            return bytes(self._buf[p : p + n])
        if b.z is not None:
            return self._z.reader.read(self._rfd(b), b.index, b.z, off, n)
        ra = self._ra
        if ra[0] == b.index:
            p = off - ra[1]
            if p >= 0 and p + n <= len(ra[2]):
                return ra[2][p : p + n]
            sequential = 0 <= off - ra[3] < 4096
        else:
            sequential = False
        if not sequential:
            data = os.pread(self._rfd(b), n, off)
            self._ra = (b.index, ra[1], ra[2], off + n) if ra[0] == b.index else (b.index, 0, b"", off + n)
            return data
        # A reader walking forward (a consumer catching up): read ahead, serve from memory.
        ahead = os.pread(self._rfd(b), max(n, min(_READ_AHEAD, b.flushed - off)), off)
        self._ra = (b.index, off, ahead, off + n)
        return ahead[:n]

    def _doom(self, b: _Block) -> None:
        """Drop a dead closed block from the index; its files go once it is safe."""
        k = self._blocks.index(b)
        del self._blocks[k]
        del self._firsts[k]
        fd = self._rfds.pop(b.index, None)
        if fd is not None:
            os.close(fd)
        paths = [self._blk_path(b.index), self._idx_path(b.index)]
        if self._sync_always and not self._replaying:
            self._unlink_after_sync.extend(paths)
        else:
            self._unlink_after_write.extend(paths)

    # -- the write path ---------------------------------------------------------------------
    def msg_size(self, subject: str, hdr: bytes, data: bytes) -> int:
        if subject.isascii():
            return file_msg_size(subject, hdr, data)
        return file_msg_size(subject, hdr, data) - len(subject) + len(subject.encode())

    def store(
        self, subject: str, hdr: bytes, data: bytes, ttl_ns: int = 0, ts_ns: int = 0
    ) -> tuple[int, int]:
        if self._closed:
            raise ValueError("store is closed")
        seq = self._last + 1
        ts = ts_ns or self._clock()
        if ts < self._last_ts:  # never backwards: expiry relies on ordered timestamps
            ts = self._last_ts
        s = self._subjects.get(subject)
        sb = s.bname if s is not None else subject.encode()
        hl = len(hdr)
        size = len(sb) + len(data) + 30 + (hl + 4 if hl else 0)
        reclen = size - 2 + (8 if ttl_ns else 0)
        b = self._blocks[-1]
        if seq != b.first + len(b.offs) or (b.size + reclen > self._block_size and b.offs):
            self._roll(seq)
            b = self._blocks[-1]
        if s is None:
            s = self._new_subject(subject)
        if hl or ttl_ns:
            head = _HEAD.pack(
                reclen, T_MSG, (F_HDR if hl else 0) | (F_TTL if ttl_ns else 0), len(sb), seq, ts
            )
            if ttl_ns:
                head += _I64.pack(ttl_ns)
            if hl:
                head += _U32.pack(hl)
            rec = b"".join((head, sb, hdr, data))
        else:
            rec = b"".join((_HEAD.pack(reclen, T_MSG, 0, len(sb), seq, ts), sb, data))
        buf = self._buf
        buf += rec
        buf += _U32.pack(zlib.crc32(rec))
        b.offs.append(b.size)
        b.sizes.append(size)
        b.size += reclen
        b.live += 1
        b.live_bytes += size
        self._sids.append(s.sid)
        s.seqs.append(seq)
        self._last = seq
        self._last_ts = ts
        self._msgs += 1
        self._bytes += size
        self._fresh = False
        if ttl_ns:
            self._note_ttl(seq, ts, ttl_ns)
        if not self._flush_scheduled:
            self._schedule_flush()
        if len(buf) >= _BUF_MAX:
            self._write_out()
        if self._limited:
            self._enforce(s)
        return seq, ts

    def _append_rec(self, typ: int, seq: int, ts: int, sb: bytes = b"", schedule: bool = True) -> None:
        rec = _HEAD.pack(_MIN_REC + len(sb), typ, 0, len(sb), seq, ts) + sb
        self._buf += rec
        self._buf += _U32.pack(zlib.crc32(rec))
        self._blocks[-1].size += _MIN_REC + len(sb)
        if schedule and not self._flush_scheduled:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        loop = _running_loop()
        if loop is None:
            return  # no loop: the caller flushes
        self._flush_scheduled = True
        loop.call_soon(self.flush)
        if self._timer is None and not self._sync_always and self._sync_interval > 0:
            self._timer = loop.call_later(self._sync_interval, self._periodic_sync)

    def _write_out(self) -> None:
        """Hand the buffer to the OS (one write; a kill -9 cannot lose it afterwards), then
        do what had to wait for it: in-place erasures and unlinking dead blocks."""
        buf = self._buf
        if buf:
            b = self._blocks[-1]
            try:
                n = os.write(self._wfd, buf)
                while n < len(buf):
                    n += os.write(self._wfd, memoryview(buf)[n:])
            except OSError:
                # Disk full or I/O error: drop any partial write so that a retry (the
                # buffer is kept) appends the records whole, never after a torn one.
                os.ftruncate(self._wfd, b.flushed)
                os.lseek(self._wfd, b.flushed, os.SEEK_SET)
                raise
            b.flushed = b.size
            self._buf = bytearray()
            self._gen += 1
            self._unsynced.add(self._blk_path(b.index))
        if self._erase_later:
            for seq in self._erase_later:
                self._erase(seq, now=True)
            self._erase_later.clear()
        if self._unlink_after_write:
            for p in self._unlink_after_write:
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
            self._unlink_after_write.clear()
            self._dir_dirty = True

    def flush(self) -> None:
        self._flush_scheduled = False
        if self._closed:
            return
        if self._floor_dirty:
            self._floor_dirty = False
            self._append_rec(T_PURGE, self._first, 0, schedule=False)
        self._write_out()
        if (
            self._sync_always
            and not self._syncing
            and (self._gen > self._synced_gen or self._unlink_after_sync)
        ):
            self._start_sync()

    # -- fsync, group commit ------------------------------------------------------------------
    def _start_sync(self) -> None:
        target = self._gen
        cur = self._blk_path(self._blocks[-1].index)
        fds: list[int] = []
        if cur in self._unsynced:  # the hot file: a duplicate of its descriptor, no open()
            self._unsynced.discard(cur)
            fds.append(os.dup(self._wfd))
        paths = sorted(self._unsynced)
        self._unsynced.clear()
        unlink = self._unlink_after_sync
        self._unlink_after_sync = []
        directory = self._dirs if (self._dir_dirty or unlink) else None
        self._dir_dirty = False
        loop = _running_loop()
        if loop is None:
            _sync_job(fds, paths, unlink, directory)
            self._synced(target)
            return
        self._syncing = True
        self._inflight = [*paths, cur] if fds else paths
        fut = loop.run_in_executor(_sync_pool(), _sync_job, fds, paths, unlink, directory)
        fut.add_done_callback(
            functools.partial(self._sync_done, target, self._inflight, unlink, directory is not None)
        )

    def _sync_done(
        self,
        target: int,
        paths: list[str],
        unlink: list[str],
        had_dir: bool,
        fut: asyncio.Future[None] | Future[None],
    ) -> None:
        self._syncing = False
        self._inflight = []
        exc = None if fut.cancelled() else fut.exception()
        if fut.cancelled() or exc is not None:
            self.sync_errors += 1
            log.error("fsync of %s failed: %s", self._dirs, exc or "cancelled")
            # Try again with the same files; waiters stay until it succeeds.
            self._unsynced.update(paths)
            self._unlink_after_sync[:0] = unlink
            self._dir_dirty = self._dir_dirty or had_dir
            if not self._closed:
                loop = _running_loop()
                if loop is not None:
                    loop.call_later(0.1, self.flush)
            return
        self._synced(target)
        if not self._closed and (self._waiters or self._gen > self._synced_gen or self._buf):
            self.flush()

    def _synced(self, target: int) -> None:
        if target > self._synced_gen:
            self._synced_gen = target
        w = self._waiters
        while w and w[0][0] <= self._synced_gen:
            _, cb = w.popleft()
            try:
                cb()
            except Exception:
                log.exception("durability callback failed")

    def _periodic_sync(self) -> None:
        self._timer = None
        if self._closed:
            return
        self.flush()
        if not self._syncing and (self._gen > self._synced_gen or self._unsynced or self._dir_dirty):
            self._start_sync()
        loop = _running_loop()
        if loop is not None and self._sync_interval > 0:
            self._timer = loop.call_later(self._sync_interval, self._periodic_sync)

    def when_durable(self, callback: Callable[[], None]) -> None:
        if not self._sync_always:
            callback()
            return
        target = self._gen + (1 if (self._buf or self._floor_dirty) else 0)
        if target <= self._synced_gen:
            callback()
            return
        if _running_loop() is None:
            self.flush()
            if self._gen > self._synced_gen:
                self._start_sync()
            callback()
            return
        self._waiters.append((target, callback))
        if not self._flush_scheduled:
            self._schedule_flush()

    # -- blocks: roll and checkpoint ----------------------------------------------------------
    def _roll(self, first: int) -> None:
        """Close the current block and start one whose first sequence is ``first``."""
        if self._floor_dirty:
            self._floor_dirty = False
            self._append_rec(T_PURGE, self._first, 0, schedule=False)
        self._write_out()
        old = self._blocks[-1]
        # Checkpoint before the new block exists: once it does, recovery trusts these.
        self._checkpoint()
        if old.live:
            self._write_idx(old)
        self._new_block(first)
        if not old.live:
            self._doom(old)
        elif self._z.enabled:
            self._z.enqueue(old)

    def _checkpoint(self) -> None:
        """Fold deletions recorded in the current block into the closed blocks' .idx."""
        for b in self._blocks[:-1]:
            if b.dirty:
                self._write_idx(b)

    def _write_idx(self, b: _Block) -> None:
        n = len(b.offs)
        base = self._base
        lo = max(b.first, base)
        hi = min(b.first + n, self._last + 1)
        part = self._sids[lo - base : hi - base] if hi > lo else array("I")
        pad = lo - b.first
        lmap: dict[int, int] = {}
        if b.live == 0:
            lsid = array("I", [DEAD]) * n
        else:
            lmap = {g: k for k, g in enumerate(sorted(set(part) - {DEAD}))}
            lmap[DEAD] = DEAD
            lsid = array("I", [DEAD]) * pad
            lsid.extend(array("I", map(lmap.__getitem__, part)))
            del lmap[DEAD]
            if len(lsid) < n:
                lsid.extend(array("I", [DEAD]) * (n - len(lsid)))
        names = []
        for g in lmap:
            s = self._by_sid[g]
            assert s is not None
            names.append(_U16.pack(len(s.bname)) + s.bname)
        end = b.first + n
        ttls = [(q, d) for d, q in self._ttls if b.first <= q < end and self._alive(q)]
        never = sorted(q for q in self._no_age if b.first <= q < end)
        last_ts = self._last_ts if b is self._blocks[-1] else self._rec_ts(b, n - 1) if n else 0
        parts = [
            _IDX_HEAD.pack(
                _IDX_MAGIC,
                _VERSION,
                0 if self._fresh else 1,
                b.first,
                self._last if b is self._blocks[-1] else end - 1,
                n,
                len(lmap),
                b.size,
                b.live,
                b.live_bytes,
                len(ttls),
                len(never),
                last_ts,
            ),
            *names,
            b.offs.tobytes(),
            b.sizes.tobytes(),
            lsid.tobytes(),
            b"".join(_TTL_ENTRY.pack(q, d) for q, d in ttls),
            array("Q", never).tobytes(),
        ]
        raw = b"".join(parts)
        raw += _U32.pack(zlib.crc32(raw))
        path = self._idx_path(b.index)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(raw)
        os.replace(tmp, path)
        self._unsynced.add(path)
        self._dir_dirty = True
        b.dirty = False

    def _rec_ts(self, b: _Block, j: int) -> int:
        raw = self._read(b, b.offs[j], _HL)
        return int(_HEAD.unpack_from(raw)[5]) if len(raw) >= _HL else 0

    # -- hooks for the index ----------------------------------------------------------------
    def _body_release(self, seq: int, i: int, subj: Subject) -> int:
        b = self._block_of(seq)
        size = b.sizes[seq - b.first]
        b.live -= 1
        b.live_bytes -= size
        if b is not self._blocks[-1]:
            if b.live == 0:
                self._doom(b)
            else:
                b.dirty = True
        return size

    def _body_release_range(self, lo: int, hi: int, counts: list[tuple[Subject, int]]) -> int:
        total = 0
        cur = self._blocks[-1]
        k = bisect_right(self._firsts, lo) - 1
        sids, base = self._sids, self._base
        for b in self._blocks[max(k, 0) :]:
            if b.first >= hi:
                break
            n = len(b.offs)
            a, z = max(lo, b.first), min(hi, b.first + n)
            if a >= z:
                continue
            if a == b.first and z == b.first + n:
                total += b.live_bytes
                b.live = b.live_bytes = 0
            else:
                sizes, f = b.sizes, b.first
                for q in range(a, z):
                    if sids[q - base] != DEAD:
                        sz = sizes[q - f]
                        total += sz
                        b.live -= 1
                        b.live_bytes -= sz
            if b is not cur:
                if b.live == 0:
                    self._doom(b)
                else:
                    b.dirty = True
        return total

    def _body_reset(self) -> None:
        for b in self._blocks[:-1]:
            self._doom(b)
        if self._blocks:
            cur = self._blocks[-1]
            cur.live = cur.live_bytes = 0

    def _body_ts(self, seq: int, i: int) -> int:
        b = self._block_of(seq)
        return self._rec_ts(b, seq - b.first)

    def _body_load(self, seq: int, i: int, subj: Subject) -> StoredMsg | None:
        b = self._block_of(seq)
        j = seq - b.first
        raw = self._read(b, b.offs[j], b.sizes[j] + 6)  # the record is at most size + 6
        n = len(raw)
        if n >= _MIN_REC:
            ln, typ, flags, slen, rseq, ts = _HEAD.unpack_from(raw)
            if typ == T_MSG and rseq == seq and _MIN_REC <= ln <= n:
                mv = memoryview(raw)
                if zlib.crc32(mv[: ln - 4]) == _U32.unpack_from(raw, ln - 4)[0]:
                    p = _HL
                    if flags & F_TTL:
                        p += 8
                    hl = 0
                    if flags & F_HDR:
                        hl = _U32.unpack_from(raw, p)[0]
                        p += 4
                    p += slen
                    return StoredMsg(seq, subj.name, raw[p : p + hl], raw[p + hl : ln - 4], ts)
            if typ == T_ERASED and rseq == seq:  # erased, its removal record lost: it is gone
                self._remove(seq)
                return None
        log.error("store %s: message %d is corrupt on disk; dropping it", self._dirs, seq)
        self._remove(seq)
        return None

    def _body_load_many(self, seqs: list[int]) -> list[StoredMsg]:
        """Runs of records in one block are read with one read and parsed in one loop; a
        record that does not check out goes through :meth:`_body_load`, which drops it."""
        out: list[StoredMsg] = []
        sids, base, by_sid = self._sids, self._base, self._by_sid
        head, crc32, u32 = _HEAD.unpack_from, zlib.crc32, _U32.unpack_from
        last_block = self._blocks[-1]
        n = len(seqs)
        k = 0
        while k < n:
            b = self._block_of(seqs[k])
            first, offs, sizes = b.first, b.offs, b.sizes
            start = offs[seqs[k] - first]
            in_buf = b is last_block and start >= b.flushed
            end_seq = first + len(offs)
            # the run: this block, one side of the written / buffered boundary, a bounded span
            e = k + 1
            while e < n:
                q = seqs[e]
                if q >= end_seq:
                    break
                o = offs[q - first]
                if (not in_buf and o >= b.flushed) or o - start > _RUN_MAX:
                    break
                e += 1
            j = seqs[e - 1] - first
            stop = offs[j] + sizes[j] + 6  # each record is at most its counted size + 6
            if in_buf:
                raw = bytes(self._buf[start - b.flushed : stop - b.flushed])
            else:
                raw = self._read(b, start, min(stop, b.flushed) - start)
            mv = memoryview(raw)
            for seq in seqs[k:e]:
                i = seq - base
                s = by_sid[sids[i]]
                assert s is not None
                p = offs[seq - first] - start
                if p + _MIN_REC <= len(raw):
                    ln, typ, flags, slen, rseq, ts = head(raw, p)
                    end = p + ln
                    if (
                        typ == T_MSG
                        and rseq == seq
                        and ln >= _MIN_REC
                        and end <= len(raw)
                        and crc32(mv[p : end - 4]) == u32(raw, end - 4)[0]
                    ):
                        q = p + _HL
                        if flags & F_TTL:
                            q += 8
                        hl = 0
                        if flags & F_HDR:
                            hl = u32(raw, q)[0]
                            q += 4
                        q += slen
                        out.append(StoredMsg(seq, s.name, raw[q : q + hl], raw[q + hl : end - 4], ts))
                        continue
                m = self._body_load(seq, i, s)  # erased or corrupt: the single-record path decides
                if m is not None:
                    out.append(m)
            k = e
        return out

    def _log_remove(self, seq: int, erase: bool) -> None:
        if self._replaying:
            return
        if erase:
            self._erase(seq)
        if seq < self._first:
            self._floor_dirty = True  # one PURGE record at flush covers every front removal
            if not self._flush_scheduled:
                self._schedule_flush()
        else:
            self._append_rec(T_DEL, seq, 0)

    def _log_purge(self, filter_subject: str, bound: int, next_seq: int) -> None:
        if self._replaying:
            return
        if not filter_subject and bound >= self._first:
            self._floor_dirty = False  # this record covers the front as well
        self._append_rec(T_PURGE, bound, next_seq, filter_subject.encode())

    def _erase(self, seq: int, now: bool = False) -> None:
        """Overwrite a removed message's record in place: same length, type ERASED, body
        zeroed, valid checksum (so recovery still walks past it). A record already in the
        file is overwritten only after the removal's own record is written (``now``), so a
        crash never leaves a message erased but not deleted."""
        k = bisect_right(self._firsts, seq) - 1
        if k < 0:
            return
        b = self._blocks[k]
        j = seq - b.first
        if j >= len(b.offs):
            return
        off = b.offs[j]
        raw = self._read(b, off, _HL)
        if len(raw) < _HL:
            return
        ln, typ, _, _, rseq, ts = _HEAD.unpack_from(raw)
        if typ != T_MSG or rseq != seq:
            return
        rec = _HEAD.pack(ln, T_ERASED, 0, 0, seq, ts) + bytes(ln - _MIN_REC)
        rec += _U32.pack(zlib.crc32(rec))
        if b is self._blocks[-1] and off >= b.flushed:
            p = off - b.flushed
            self._buf[p : p + ln] = rec  # written together with the removal record
        elif not now:
            self._erase_later.append(seq)
        elif b.z is not None or self._z.busy(b):
            self._z.patch(b, off, rec)  # a rewrite of the block
        else:
            os.pwrite(self._rfd(b), rec, off)
            self._unsynced.add(self._blk_path(b.index))
            self._ra = (0, 0, b"", 0)

    # -- recovery -------------------------------------------------------------------------------
    def _recover(self, first_seq: int) -> None:
        for tmp in self._dir.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        indexes = sorted(int(p.stem) for p in self._dir.glob("*.blk") if p.stem.isdigit())
        for idx in self._dir.glob("*.idx"):  # left behind by a crash while removing a block
            if idx.stem.isdigit() and int(idx.stem) not in indexes:
                idx.unlink(missing_ok=True)
        if not indexes:
            self._new_block(self._first)
            return
        self._next_index = indexes[-1] + 1
        self._replaying = True
        self._last, self._base, self._first = 0, 1, 1
        trust_idx = True
        try:
            for n, index in enumerate(indexes):
                is_last = n == len(indexes) - 1
                fd = os.open(self._blk_path(index), os.O_RDWR)
                try:
                    flen = os.fstat(fd).st_size
                    z = self._z_probe(fd, index)
                    if z is not None:  # sealed and compressed: never appended to again
                        flen, is_last = z.length, False
                    loaded = trust_idx and self._load_idx(index, flen, is_last)
                    if is_last and not loaded:
                        self.unclean_start = True
                    if not loaded:
                        if not is_last and trust_idx:
                            log.warning("store %s: index of block %d unusable; replaying", self._dirs, index)
                            trust_idx = False  # its later deletions live in later blocks' records
                        self._replay(index, fd, flen, is_last, z)
                    if z is not None and self._blocks and self._blocks[-1].index == index:
                        self._blocks[-1].z = z
                except CorruptStore as e:
                    os.close(fd)
                    log.error("store %s: skipping block %d: %s", self._dirs, index, e)
                    continue
                except BaseException:
                    os.close(fd)
                    raise
                if is_last:
                    self._wfd = fd
                    os.lseek(fd, 0, os.SEEK_END)
                else:
                    self._cache_rfd(index, fd)
        finally:
            self._replaying = False
        if self._wfd < 0:  # the newest block file was unusable: continue in a new one
            self._new_block(self._last + 1)
        for p in self._unlink_after_write:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        self._unlink_after_write.clear()

    def _align(self, first: int) -> None:
        """Make ``first`` the next sequence before a block's slots are added."""
        if first <= self._last:
            raise CorruptStore(f"block starting at {first} overlaps sequence {self._last}")
        if first > self._last + 1:
            if self._msgs == 0:
                self._last = first - 1
                self._first = self._base = first
                del self._sids[:]
            else:
                self._sids.extend(array("I", [DEAD]) * (first - 1 - self._last))
                self._last = first - 1
        self._fresh = self._fresh and self._last == 0

    def _add_block(self, b: _Block) -> None:
        self._blocks.append(b)
        self._firsts.append(b.first)

    def _load_idx(self, index: int, flen: int, is_last: bool) -> bool:
        try:
            with open(self._idx_path(index), "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return False
        hs = _IDX_HEAD.size
        if len(raw) < hs + 4 or zlib.crc32(memoryview(raw)[:-4]) != _U32.unpack_from(raw, len(raw) - 4)[0]:
            return False
        magic, ver, flags, first, last_seq, n, nsub, blen, live, live_bytes, nttl, nnever, last_ts = (
            _IDX_HEAD.unpack_from(raw)
        )
        if magic != _IDX_MAGIC or ver != _VERSION or blen > flen or (is_last and blen != flen):
            return False
        if first <= self._last or (n == 0 and not is_last) or last_seq < first + n - 1:
            return False
        p = hs
        lmap: list[int] = []
        for _ in range(nsub):
            (sl,) = _U16.unpack_from(raw, p)
            name = raw[p + 2 : p + 2 + sl].decode()
            p += 2 + sl
            s = self._subjects.get(name) or self._new_subject(name)
            lmap.append(s.sid)
        b = _Block(index, first)
        b.offs.frombytes(raw[p : p + 4 * n])
        p += 4 * n
        b.sizes.frombytes(raw[p : p + 4 * n])
        p += 4 * n
        lsid = array("I")
        lsid.frombytes(raw[p : p + 4 * n])
        p += 4 * n
        b.size = b.flushed = blen
        b.live, b.live_bytes = live, live_bytes
        self._align(first)
        self._add_block(b)
        was_empty = self._msgs == 0
        sids = self._sids
        by_sid = self._by_sid
        if live == n and nsub == 1:
            only = by_sid[lmap[0]]
            assert only is not None
            sids.extend(array("I", [only.sid]) * n)
            only.seqs.extend(range(first, first + n))
        else:
            glob = [lmap[x] if x != DEAD else DEAD for x in lsid]
            sids.extend(array("I", glob))
            for j, g in enumerate(glob):
                if g != DEAD:
                    s2 = by_sid[g]
                    assert s2 is not None
                    s2.seqs.append(first + j)
        self._last = first + n - 1
        self._msgs += live
        self._bytes += live_bytes
        if n or flags & 1:
            self._fresh = False
        for j in range(nttl):
            q, d = _TTL_ENTRY.unpack_from(raw, p + 16 * j)
            self._ttls.append((d, q))
        p += 16 * nttl
        never = array("Q")
        never.frombytes(raw[p : p + 8 * nnever])
        self._no_age.update(never)
        if nttl:
            heapq.heapify(self._ttls)
        self._last_ts = max(self._last_ts, last_ts)
        self._settle(was_empty)
        if last_seq > self._last:  # sequences skipped after the block's last message
            self._align(last_seq + 1)
        return True

    def _settle(self, was_empty: bool) -> None:
        """After slots were appended to a store that was empty: fix first (or re-empty)."""
        if not was_empty:
            return
        if self._msgs == 0:
            self._first = self._base = self._last + 1
            del self._sids[:]
            return
        sids, i = self._sids, 0
        while sids[i] == DEAD:
            i += 1
        self._first = self._base + i

    def _replay(self, index: int, fd: int, flen: int, is_last: bool, z: ZTable | None = None) -> None:
        raw = os.pread(fd, flen, 0) if z is None else logical(fd, z)
        hs = _BLK_HEAD.size
        if len(raw) >= hs:
            magic, ver, _, first = _BLK_HEAD.unpack_from(raw)
            ok = magic == _BLK_MAGIC and ver == _VERSION
        else:
            ok, first = False, 0
        if not ok:
            if not is_last:
                raise CorruptStore(f"block {index} has no valid head")
            # A block torn at creation: give it a fresh head.
            first = self._last + 1
            os.ftruncate(fd, 0)
            os.pwrite(fd, _BLK_HEAD.pack(_BLK_MAGIC, _VERSION, 0, first), 0)
            raw = b""
            flen = hs
        self._align(first)
        b = _Block(index, first)
        self._add_block(b)
        mv = memoryview(raw)
        pos = hs
        end = len(raw)
        crc32, unpack = zlib.crc32, _HEAD.unpack_from
        while pos + _MIN_REC <= end:
            ln, typ, flags, slen, seq, ts = unpack(raw, pos)
            if (
                ln < _MIN_REC
                or pos + ln > end
                or crc32(mv[pos : pos + ln - 4]) != _U32.unpack_from(raw, pos + ln - 4)[0]
            ):
                break
            if typ in (T_MSG, T_ERASED):
                if seq != first + len(b.offs):
                    break
                if typ == T_ERASED:
                    b.offs.append(pos)
                    b.sizes.append(0)
                    if self._msgs == 0:
                        self._last = seq
                        self._first = self._base = seq + 1
                    else:
                        self._sids.append(DEAD)
                        self._last = seq
                else:
                    p = pos + _HL
                    ttl = 0
                    if flags & F_TTL:
                        ttl = _I64.unpack_from(raw, p)[0]
                        p += 8
                    hl = 0
                    if flags & F_HDR:
                        hl = _U32.unpack_from(raw, p)[0]
                        p += 4
                    name = raw[p : p + slen].decode()
                    s = self._subjects.get(name) or self._new_subject(name)
                    dlen = pos + ln - 4 - (p + slen + hl)
                    size = slen + dlen + 30 + (hl + 4 if hl else 0)
                    b.offs.append(pos)
                    b.sizes.append(size)
                    b.live += 1
                    b.live_bytes += size
                    self._index_append(s, seq)
                    self._bytes += size
                    self._last_ts = ts
                    self._fresh = False
                    if ttl:
                        self._note_ttl(seq, ts, ttl)
            elif typ == T_DEL:
                self._remove(seq)
            elif typ == T_PURGE:
                self._fresh = False
                subject = raw[pos + _HL : pos + _HL + slen].decode()
                if subject:
                    self.purge(subject, seq=seq)
                else:
                    if seq:
                        self.compact(seq)
                    if ts:
                        self.skip(ts)
            else:
                break
            pos += ln
        b.size = b.flushed = pos
        if pos < flen:
            if is_last:
                log.warning(
                    "store %s: cut %d bytes of torn or corrupt tail in block %d",
                    self._dirs,
                    flen - pos,
                    index,
                )
                os.ftruncate(fd, pos)
            else:
                log.error("store %s: block %d is corrupt after offset %d", self._dirs, index, pos)

    # -- compression of sealed blocks (format, codec and scheduling: compress.py) -------------------
    def set_compression(self, on: bool) -> None:
        """Stream update: blocks sealed from now on are compressed, or not; blocks already
        written stay as they are (as in the reference), so one stream may mix both."""
        self._z.enabled = on

    def _z_probe(self, fd: int, index: int) -> ZTable | None:
        if not is_compressed(fd):
            return None
        try:
            return read_table(fd)
        except ZCorrupt as e:
            raise CorruptStore(f"compressed block {index}: {e}") from None

    def _z_installed(self, b: _Block, z: ZTable) -> None:
        """A rewritten file replaced the block's: forget what was read from the old one."""
        fd = self._rfds.pop(b.index, None)
        if fd is not None:
            os.close(fd)
        if self._ra[0] == b.index:
            self._ra = (0, 0, b"", 0)
        self._dir_dirty = True

    def _z_failed(self, b: _Block, patches: list[tuple[int, bytes]]) -> None:
        if b.z is None:  # the block stays as it is: erase in place after all
            fd = self._rfd(b)
            for off, rec in patches:
                os.pwrite(fd, rec, off)
            self._unsynced.add(self._blk_path(b.index))

    # -- lifecycle ---------------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()
        self._z.drain()
        self._checkpoint()
        self._write_idx(self._blocks[-1])  # a clean restart then replays nothing
        paths = sorted(self._unsynced | set(self._inflight) | {self._blk_path(self._blocks[-1].index)})
        self._unsynced.clear()
        _sync_job([], paths, self._unlink_after_sync, self._dirs)
        self._unlink_after_sync = []
        self._closed = True
        self._synced_gen = self._gen
        self._synced(self._gen)
        os.close(self._wfd)
        for fd in self._rfds.values():
            os.close(fd)
        self._rfds.clear()

    def delete(self) -> None:
        self._z.clear()  # nothing left to compress or erase: the files go
        self.close()
        shutil.rmtree(self._dir, ignore_errors=True)
