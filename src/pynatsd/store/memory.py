"""The memory engine: the shared index plus message bodies in parallel arrays.

Bodies live in two lists (``data``, ``hdr``) and an ``array('q')`` of timestamps, all
indexed like the index's subject-id array, so a message costs two list slots, 8 bytes of
timestamp, 12 bytes of index and its payload object; no per-message Python object.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable

from pynatsd.store._core import IndexedStore, Subject
from pynatsd.store.base import StoredMsg, StoreLimits, msg_size


class MemoryStore(IndexedStore):
    """One stream's messages in memory. Durable at once, as far as it ever will be."""

    def __init__(
        self, limits: StoreLimits, first_seq: int = 1, *, clock: Callable[[], int] | None = None
    ) -> None:
        super().__init__(limits, first_seq, clock)
        self._data: list[bytes] = []
        self._hdr: list[bytes] = []
        self._ts = array("q")

    def msg_size(self, subject: str, hdr: bytes, data: bytes) -> int:
        return msg_size(subject, hdr, data)

    def store(
        self, subject: str, hdr: bytes, data: bytes, ttl_ns: int = 0, ts_ns: int = 0
    ) -> tuple[int, int]:
        seq = self._last + 1
        ts = ts_ns or self._clock()
        if ts < self._last_ts:  # never backwards: expiry relies on ordered timestamps
            ts = self._last_ts
        s = self._subjects.get(subject)
        if s is None:
            s = self._new_subject(subject)
        self._sids.append(s.sid)
        s.seqs.append(seq)
        self._data.append(data)
        self._hdr.append(hdr)
        self._ts.append(ts)
        self._last = seq
        self._last_ts = ts
        self._msgs += 1
        self._bytes += len(subject) + len(hdr) + len(data) + 16
        self._fresh = False
        if ttl_ns:
            self._note_ttl(seq, ts, ttl_ns)
        if self._limited:
            self._enforce(s)
        return seq, ts

    # -- hooks ------------------------------------------------------------------------
    def _body_release(self, seq: int, i: int, subj: Subject) -> int:
        hdr, data = self._hdr[i], self._data[i]
        self._hdr[i] = self._data[i] = b""
        return len(subj.name) + len(hdr) + len(data) + 16

    def _body_release_range(self, lo: int, hi: int, counts: list[tuple[Subject, int]]) -> int:
        a, b = lo - self._base, hi - self._base
        # Dead slots hold b"", so summing whole slices counts only the live bodies.
        total = sum(map(len, self._data[a:b])) + sum(map(len, self._hdr[a:b]))
        total += sum(n * (len(s.name) + 16) for s, n in counts)
        empty = [b""] * (b - a)
        self._data[a:b] = empty
        self._hdr[a:b] = empty
        return total

    def _body_reset(self) -> None:
        self._data.clear()
        self._hdr.clear()
        del self._ts[:]

    def _body_chop(self, k: int) -> None:
        del self._data[:k]
        del self._hdr[:k]
        del self._ts[:k]

    def _body_extend_dead(self, n: int) -> None:
        self._data.extend([b""] * n)
        self._hdr.extend([b""] * n)
        self._ts.extend(array("q", [0]) * n)

    def _body_ts(self, seq: int, i: int) -> int:
        return self._ts[i]

    def _body_load(self, seq: int, i: int, subj: Subject) -> StoredMsg | None:
        return StoredMsg(seq, subj.name, self._hdr[i], self._data[i], self._ts[i])

    # -- the rest of MsgStore -----------------------------------------------------------
    def when_durable(self, callback: Callable[[], None]) -> None:
        callback()

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._remove_all()

    def delete(self) -> None:
        self.close()
