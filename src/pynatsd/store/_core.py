"""The in-memory index both engines share: which sequences exist, per-subject sequence lists,
the query and purge logic and the limits. Engines add only where message bodies live.

Layout, chosen for small per-message memory and C-speed bulk operations:

- ``_sids``: an ``array('I')`` indexed by ``seq - _base`` holding each message's subject
  id, or ``DEAD`` for a deleted (or skipped) sequence: 4 bytes per sequence.
- per subject, an ``array('Q')`` of its live sequences in order (8 bytes per message)
  with a ``head`` offset, so trimming the oldest of a subject is O(1) and a literal
  filter is a bisect, never a scan of the stream.
- a heap of per-message TTL deadlines; ``max_age`` works from the first sequence.

Front removals (limits, expiry, acked work-queue messages) advance ``_first``; the dead
prefix of the arrays is cut off in amortised O(1).
"""

from __future__ import annotations

import heapq
import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from pynatsd.protocol.subjects import has_wildcard, subject_matches
from pynatsd.store.base import StoredMsg, StoreLimits, StoreState

DEAD = 0xFFFFFFFF
_CHOP_MIN = 4096  # cut the dead prefix of the arrays once it is this long (and half of them)
_WC_CACHE_MAX = 64  # wildcard filters whose matching subjects are cached
_BISECT_MAX = 16  # up to this many matching subjects, merge by bisecting each one
_SCAN_MAX = 4096  # otherwise scan this many sequences before falling back to bisecting

Selection = dict[int, "Subject"] | None  # matching subjects by id; None = every subject


class Subject:
    """One subject's live sequences: ``seqs[head:]``, ascending."""

    __slots__ = ("bname", "head", "name", "seqs", "sid")

    def __init__(self, name: str, sid: int) -> None:
        self.name = name
        self.bname = name.encode()
        self.sid = sid
        self.seqs = array("Q")
        self.head = 0

    def count(self) -> int:
        return len(self.seqs) - self.head

    def remove(self, seq: int) -> None:
        """Drop ``seq`` (which must be present), shifting whichever side is shorter."""
        a, h = self.seqs, self.head
        if a[h] == seq:
            h += 1
            if h == len(a):
                del a[:]
                h = 0
            elif h >= 64 and h * 2 >= len(a):
                del a[:h]
                h = 0
            self.head = h
        elif a[-1] == seq:
            a.pop()
        else:
            i = bisect_left(a, seq, h)
            if i - h < len(a) - i:
                a[h + 1 : i + 1] = a[h:i]
                self.head = h + 1
            else:
                del a[i]

    def cut_below(self, bound: int) -> int:
        """Drop every sequence < ``bound``; return how many."""
        a, h = self.seqs, self.head
        j = bisect_left(a, bound, h)
        n = j - h
        if j == len(a):
            del a[:]
            self.head = 0
        elif j >= 64 and j * 2 >= len(a):
            del a[:j]
            self.head = 0
        else:
            self.head = j
        return n


class IndexedStore:
    """Index, queries, purges and limits shared by the memory and the file engine.

    Subclasses keep message bodies and implement the ``_body_*`` / ``_log_*`` hooks. All
    sequence arrays obey ``len(_sids) == _last - _base + 1``; when the store is empty,
    ``_first == _last + 1`` and the arrays are empty.
    """

    def __init__(
        self, limits: StoreLimits, first_seq: int = 1, clock: Callable[[], int] | None = None
    ) -> None:
        first_seq = max(first_seq, 1)
        self._limits = replace(limits)
        self._clock: Callable[[], int] = clock or time.time_ns
        self._subjects: dict[str, Subject] = {}
        self._by_sid: list[Subject | None] = []
        self._free_sids: list[int] = []
        self._wc: dict[str, dict[int, Subject]] = {}
        self._sids = array("I")
        self._base = first_seq
        self._first = first_seq
        self._last = first_seq - 1
        self._msgs = 0
        self._bytes = 0
        self._last_ts = 0
        self._fresh = first_seq == 1  # reported as first_seq 0 until anything happens
        self._ttls: list[tuple[int, int]] = []  # heap of (deadline_ns, seq)
        self._no_age: set[int] = set()  # sequences with TTL "never": exempt from max_age
        self.unclean_start = False  # set by an engine that finds a crash's traces on open
        self._set_limit_flags()

    # -- hooks for the engines --------------------------------------------------------
    def _body_release(self, seq: int, i: int, subj: Subject) -> int:
        """Forget the body of live message ``seq`` (array index ``i``); return its size."""
        raise NotImplementedError

    def _body_release_range(self, lo: int, hi: int, counts: list[tuple[Subject, int]]) -> int:
        """Forget the bodies of every live message in [lo, hi) (``counts``: how many per
        subject; the slots still hold subject ids, the subject lists are already cut);
        return their total size. The generic version goes one by one."""
        total = 0
        sids, base, by_sid = self._sids, self._base, self._by_sid
        for i in range(lo - base, hi - base):
            sid = sids[i]
            if sid != DEAD:
                s = by_sid[sid]
                assert s is not None
                total += self._body_release(i + base, i, s)
        return total

    def _body_reset(self) -> None:
        """Every message is gone, released or not: drop all bodies (the arrays are being
        emptied)."""

    def _body_chop(self, k: int) -> None:
        """The first ``k`` array slots are being cut off."""

    def _body_extend_dead(self, n: int) -> None:
        """``n`` dead slots are being appended (a skipped range)."""

    def _body_ts(self, seq: int, i: int) -> int:
        raise NotImplementedError

    def _body_load(self, seq: int, i: int, subj: Subject) -> StoredMsg | None:
        raise NotImplementedError

    def _log_remove(self, seq: int, erase: bool) -> None:
        """Persist the removal of ``seq`` (already applied to the index)."""

    def _log_purge(self, filter_subject: str, bound: int, next_seq: int) -> None:
        """Persist "remove every message matching the filter below ``bound``; the next
        sequence is at least ``next_seq``" (already applied to the index)."""

    def _purged(self, filter_subject: str, bound: int, next_seq: int) -> None:
        self._fresh = False
        self._log_purge(filter_subject, bound, next_seq)

    # -- subjects ---------------------------------------------------------------------
    def _new_subject(self, name: str) -> Subject:
        if self._free_sids:
            sid = self._free_sids.pop()
            s = Subject(name, sid)
            self._by_sid[sid] = s
        else:
            sid = len(self._by_sid)
            s = Subject(name, sid)
            self._by_sid.append(s)
        self._subjects[name] = s
        for f, d in self._wc.items():
            if subject_matches(f, name):
                d[sid] = s
        return s

    def _drop_subject(self, s: Subject) -> None:
        del self._subjects[s.name]
        self._by_sid[s.sid] = None
        self._free_sids.append(s.sid)
        for d in self._wc.values():
            d.pop(s.sid, None)

    def _select(self, filters: Sequence[str]) -> Selection:
        """The subjects matched by any of ``filters``; None when they match everything."""
        if not filters:
            return None
        if len(filters) == 1:
            return self._select_one(filters[0])
        out: dict[int, Subject] = {}
        for f in filters:
            sel = self._select_one(f)
            if sel is None:
                return None
            out.update(sel)
        return out

    def _select_one(self, f: str) -> Selection:
        """The subjects a filter selects. A filter with a wildcard token is always a filter,
        even when a message was stored on that very subject (publishing to ``a.*`` is
        allowed): the reference's store treats it so in purges and last-message lookups."""
        if f == ">" or not f:
            return None
        d = self._wc.get(f)
        if d is not None:
            return d
        if not has_wildcard(f):
            s = self._subjects.get(f)
            return {s.sid: s} if s is not None else {}
        if len(self._wc) >= _WC_CACHE_MAX:
            self._wc.clear()
        d = {s.sid: s for s in self._subjects.values() if subject_matches(f, s.name)}
        self._wc[f] = d
        return d

    # -- bookkeeping ------------------------------------------------------------------
    def _set_limit_flags(self) -> None:
        lim = self._limits
        self._limited = lim.max_msgs > 0 or lim.max_bytes > 0 or lim.max_msgs_per_subject > 0

    def _alive(self, seq: int) -> bool:
        i = seq - self._base
        return 0 <= i < len(self._sids) and self._sids[i] != DEAD

    def _index_append(self, subj: Subject, seq: int) -> None:
        """Append ``seq`` (== _last + 1) as a live message of ``subj``."""
        self._sids.append(subj.sid)
        subj.seqs.append(seq)
        self._last = seq
        self._msgs += 1

    def _note_ttl(self, seq: int, ts: int, ttl_ns: int) -> None:
        if ttl_ns > 0:
            heapq.heappush(self._ttls, (ts + ttl_ns, seq))
        elif ttl_ns < 0:
            self._no_age.add(seq)

    def _advance_first(self, from_seq: int) -> None:
        """Set ``_first`` to the first live sequence >= ``from_seq``."""
        if self._msgs == 0:
            self._reset_empty()
            return
        sids, base = self._sids, self._base
        i = from_seq - base
        while sids[i] == DEAD:
            i += 1
        self._first = i + base
        if i >= _CHOP_MIN and i * 2 >= len(sids):
            del sids[:i]
            self._base += i
            self._body_chop(i)

    def _reset_empty(self) -> None:
        self._first = self._last + 1
        self._base = self._first
        if self._sids:
            del self._sids[:]
        self._body_reset()
        if self._ttls:
            self._ttls = []
        self._no_age.clear()

    def _remove(self, seq: int, erase: bool = False) -> bool:
        """Remove one live message; persist it; False when absent."""
        i = seq - self._base
        sids = self._sids
        if i < 0 or i >= len(sids):
            return False
        sid = sids[i]
        if sid == DEAD:
            return False
        s = self._by_sid[sid]
        assert s is not None
        sids[i] = DEAD
        s.remove(seq)
        if s.head == len(s.seqs):
            self._drop_subject(s)
        self._msgs -= 1
        self._bytes -= self._body_release(seq, i, s)
        if self._no_age:
            self._no_age.discard(seq)
        if seq == self._first:
            self._advance_first(seq + 1)
        self._log_remove(seq, erase)
        return True

    def _remove_below(self, bound: int) -> int:
        """Remove every live message < ``bound`` (bulk path, no persistence)."""
        lo = self._first
        hi = min(bound, self._last + 1)
        if hi <= lo:
            return 0
        sids, base = self._sids, self._base
        span = hi - lo
        if span <= 4 * len(self._subjects):
            touched: set[Subject] = set()
            by_sid = self._by_sid
            for i in range(lo - base, hi - base):
                sid = sids[i]
                if sid != DEAD:
                    s = by_sid[sid]
                    assert s is not None
                    touched.add(s)
        else:
            touched = {s for s in self._subjects.values() if s.seqs[s.head] < hi}
        # Cut the subject lists first (that yields the counts), release the bodies while
        # the slots still say who owns them, then forget subjects and slots.
        counts = [(s, s.cut_below(hi)) for s in touched]
        removed = sum(n for _, n in counts)
        released = self._body_release_range(lo, hi, counts) if counts else 0
        for s, _ in counts:
            if s.head == len(s.seqs):
                self._drop_subject(s)
        sids[lo - base : hi - base] = array("I", [DEAD]) * span
        self._msgs -= removed
        self._bytes -= released
        if self._no_age:
            self._no_age = {q for q in self._no_age if q >= hi}
        self._advance_first(hi)
        return removed

    def _remove_all(self) -> int:
        n = self._msgs
        self._subjects.clear()
        self._by_sid.clear()
        self._free_sids.clear()
        for d in self._wc.values():
            d.clear()
        self._msgs = 0
        self._bytes = 0
        self._reset_empty()
        return n

    # -- the MsgStore surface (store() is the engines') --------------------------------
    def skip(self, seq: int) -> None:
        """Move the next sequence to ``seq``; sequences skipped over count as deleted."""
        if seq <= self._last + 1:
            return
        if self._msgs == 0:
            self._last = seq - 1
            self._reset_empty()
        else:
            n = seq - 1 - self._last
            self._sids.extend(array("I", [DEAD]) * n)
            self._body_extend_dead(n)
            self._last = seq - 1
        self._purged("", 0, seq)

    def load(self, seq: int) -> StoredMsg | None:
        i = seq - self._base
        sids = self._sids
        if i < 0 or i >= len(sids):
            return None
        sid = sids[i]
        if sid == DEAD:
            return None
        s = self._by_sid[sid]
        assert s is not None
        return self._body_load(seq, i, s)

    def _next_seq(self, sel: Selection, start: int) -> int:
        """The first live sequence >= start in the selection, or 0."""
        if start < self._first:
            start = self._first
        last = self._last
        if start > last:
            return 0
        sids, base = self._sids, self._base
        if sel is None:
            i = start - base
            n = len(sids)
            while i < n:
                if sids[i] != DEAD:
                    return i + base
                i += 1
            return 0
        if len(sel) > _BISECT_MAX:
            i = start - base
            end = min(len(sids), i + _SCAN_MAX)
            while i < end:
                if sids[i] in sel:
                    return i + base
                i += 1
            if end == len(sids):
                return 0
            start = end + base
        best = 0
        for s in sel.values():
            a = s.seqs
            j = bisect_left(a, start, s.head)
            if j < len(a):
                v = a[j]
                if best == 0 or v < best:
                    best = v
        return best

    def _prev_seq(self, sel: Selection, start: int) -> int:
        """The last live sequence <= start in the selection, or 0."""
        if start > self._last:
            start = self._last
        first = self._first
        if start < first or self._msgs == 0:
            return 0
        sids, base = self._sids, self._base
        if sel is None:
            i = start - base
            lo = first - base
            while i >= lo:
                if sids[i] != DEAD:
                    return i + base
                i -= 1
            return 0
        if len(sel) > _BISECT_MAX:
            i = start - base
            end = max(first - base, i - _SCAN_MAX)
            while i >= end:
                if sids[i] in sel:
                    return i + base
                i -= 1
            if end == first - base:
                return 0
            start = end + base
        best = 0
        for s in sel.values():
            a = s.seqs
            j = bisect_right(a, start, s.head) - 1
            if j >= s.head:
                v = a[j]
                if v > best:
                    best = v
        return best

    def load_next(self, filters: Sequence[str], start: int) -> StoredMsg | None:
        sel = self._select(filters)
        while True:
            seq = self._next_seq(sel, start)
            if not seq:
                return None
            m = self.load(seq)
            if m is not None:
                return m
            start = seq + 1  # unreadable (corrupt on disk): the engine dropped it

    def load_batch(self, filters: Sequence[str], start: int, limit: int) -> list[StoredMsg]:
        sel = self._select(filters)
        seqs = self._next_seqs(sel, start, limit)
        if not seqs:
            return []
        out = self._body_load_many(seqs)
        if len(out) < len(seqs):  # some were unreadable (and dropped): top up past the last one
            out += self.load_batch(filters, seqs[-1] + 1, limit - len(out))
        return out

    def _next_seqs(self, sel: Selection, start: int, limit: int) -> list[int]:
        """Up to ``limit`` live sequences >= start in the selection, ascending."""
        if start < self._first:
            start = self._first
        if start > self._last or limit <= 0:
            return []
        sids, base = self._sids, self._base
        if sel is None:
            i = start - base
            if self._msgs == self._last - self._first + 1:  # no gaps: a plain range
                return list(range(start, min(self._last, start + limit - 1) + 1))
            out: list[int] = []
            n = len(sids)
            while i < n and len(out) < limit:
                if sids[i] != DEAD:
                    out.append(i + base)
                i += 1
            return out
        if len(sel) == 1:
            (s,) = sel.values()
            j = bisect_left(s.seqs, start, s.head)
            return list(s.seqs[j : j + limit])
        out = []
        seq = self._next_seq(sel, start)
        while seq and len(out) < limit:
            out.append(seq)
            seq = self._next_seq(sel, seq + 1)
        return out

    def _body_load_many(self, seqs: list[int]) -> list[StoredMsg]:
        """The live messages at ``seqs`` (engines override this to read runs at once)."""
        out: list[StoredMsg] = []
        sids, base, by_sid = self._sids, self._base, self._by_sid
        for seq in seqs:
            i = seq - base
            s = by_sid[sids[i]]
            assert s is not None
            m = self._body_load(seq, i, s)
            if m is not None:
                out.append(m)
        return out

    def load_last(self, filter_subject: str) -> StoredMsg | None:
        return self.load_prev(filter_subject, self._last)

    def load_prev(self, filter_subject: str, start: int) -> StoredMsg | None:
        sel = self._select_one(filter_subject)
        while True:
            seq = self._prev_seq(sel, start)
            if not seq:
                return None
            m = self.load(seq)
            if m is not None:
                return m
            start = seq - 1

    def remove(self, seq: int, erase: bool = False) -> bool:
        return self._remove(seq, erase)

    def purge(self, subject: str = "", seq: int = 0, keep: int = 0) -> int:
        """STREAM.PURGE: ``seq`` bounds from above (exclusive), ``keep`` leaves the newest
        ``keep`` matching messages across the whole filter (as the reference does)."""
        sel = self._select_one(subject)
        if sel is None:
            if seq <= 0 and keep <= 0:
                return self._purge_all()
            bound = seq if seq > 0 else self._last + 1
            if keep > 0:
                if keep >= self._msgs:
                    return 0
                bound = min(bound, self._nth_newest(keep))
                return self.compact(bound)
            if bound == 1:
                return 0
            return self.compact(bound)
        total = sum(s.count() for s in sel.values())
        if not total:
            return 0
        bound = seq if seq > 0 else self._last + 1
        if keep > 0:
            if keep >= total:
                return 0
            bound = min(bound, self._nth_newest_in(sel, keep))
        subs = [s for s in sel.values() if s.seqs[s.head] < bound]
        n = 0
        first_hit = False
        for s in subs:
            a = s.seqs
            j = bisect_left(a, bound, s.head)
            gone = a[s.head : j]
            if gone[0] == self._first:
                first_hit = True
            for q in gone:
                i = q - self._base
                self._sids[i] = DEAD
                self._bytes -= self._body_release(q, i, s)
            s.cut_below(bound)
            n += len(gone)
            if s.head == len(s.seqs):
                self._drop_subject(s)
        self._msgs -= n
        if self._no_age:
            self._no_age = {q for q in self._no_age if self._alive(q)}
        if first_hit:
            self._advance_first(self._first)
        if n:
            self._purged(subject, bound, 0)
        return n

    def _purge_all(self) -> int:
        n = self._remove_all()
        self._purged("", self._last + 1, self._last + 1)
        return n

    def _nth_newest(self, k: int) -> int:
        """The sequence of the k-th newest live message (1 = the last); k <= msgs."""
        sids, base = self._sids, self._base
        if k <= self._msgs // 2:
            i = self._last - base
            while True:
                if sids[i] != DEAD:
                    k -= 1
                    if k == 0:
                        return i + base
                i -= 1
        k = self._msgs - k + 1  # the same message counted from the front
        i = self._first - base
        while True:
            if sids[i] != DEAD:
                k -= 1
                if k == 0:
                    return i + base
            i += 1

    def _nth_newest_in(self, sel: dict[int, Subject], k: int) -> int:
        if len(sel) == 1:
            (s,) = sel.values()
            return s.seqs[len(s.seqs) - k]
        tails = [s.seqs[max(s.head, len(s.seqs) - k) :] for s in sel.values()]
        return heapq.nlargest(k, heapq.merge(*tails))[-1]

    def compact(self, seq: int) -> int:
        """Remove everything below ``seq``; past the end, the next sequence becomes ``seq``."""
        if seq <= self._first:
            return 0
        if seq > self._last:
            n = self._remove_all()
            self._last = seq - 1
            self._reset_empty()
        else:
            n = self._remove_below(seq)
        self._purged("", seq, seq)
        return n

    def expire(self, now_ns: int, removed: Callable[[StoredMsg], None] | None = None) -> int:
        if removed is not None:
            return self._expire_each(now_ns, removed)
        n = 0
        h = self._ttls
        while h and h[0][0] <= now_ns:
            _, seq = heapq.heappop(h)
            if self._remove(seq):
                n += 1
        max_age = self._limits.max_age_ns
        if max_age > 0 and self._msgs:
            cutoff = now_ns - max_age
            if not self._no_age:
                # Expired messages form a prefix: find its end, drop it in one go.
                bound = self._expired_prefix_end(cutoff)
                if bound > self._first:
                    n += self._remove_below(bound)
                    self._purged("", bound, 0)
            else:
                seq = self._first
                while seq:
                    if seq not in self._no_age:
                        if self._body_ts(seq, seq - self._base) > cutoff:
                            break
                        self._remove(seq)
                        n += 1
                    seq = self._next_seq(None, seq + 1)
        return n

    def _expire_each(self, now_ns: int, removed: Callable[[StoredMsg], None]) -> int:
        """:meth:`expire` one message at a time, handing each removed message to ``removed``
        once it is gone: first those past ``max_age``, then those past their own TTL, each
        group in sequence order (the order the reference removes them in)."""
        n = 0
        max_age = self._limits.max_age_ns
        if max_age > 0 and self._msgs:
            cutoff = now_ns - max_age
            seq = self._first
            while seq:
                if seq not in self._no_age:
                    if self._body_ts(seq, seq - self._base) > cutoff:
                        break
                    n += self._remove_reporting(seq, removed)
                seq = self._next_seq(None, seq + 1)
        due: list[int] = []
        h = self._ttls
        while h and h[0][0] <= now_ns:
            due.append(heapq.heappop(h)[1])
        for seq in sorted(due):
            n += self._remove_reporting(seq, removed)
        return n

    def _remove_reporting(self, seq: int, removed: Callable[[StoredMsg], None]) -> int:
        sm = self.load(seq)
        if not self._remove(seq):
            return 0
        if sm is not None:
            removed(sm)
        return 1

    def _ts_of(self, seq: int) -> int:
        return self._body_ts(seq, seq - self._base)

    def _expired_prefix_end(self, cutoff: int) -> int:
        """The first live sequence stored after ``cutoff`` (or last + 1). Timestamps never
        decrease along the sequence, so gallop then bisect: O(log n) timestamp reads,
        which matters when each read is a disk read (a stream expiring after downtime)."""
        prev = self._first
        if self._ts_of(prev) > cutoff:
            return prev
        hi = self._last + 1
        step = 1
        while True:  # gallop: prev is live and expired
            q = self._next_seq(None, prev + step)
            if not q:
                break
            if self._ts_of(q) > cutoff:
                hi = q
                break
            prev = q
            step *= 2
        while hi - prev > 1:  # bisect: prev expired, hi not (or past the end)
            mid = (prev + hi) // 2
            q = self._next_seq(None, mid)
            if not q or q >= hi:  # nothing live in [mid, hi): look just below mid
                q = self._prev_seq(None, mid - 1)
                if q <= prev or self._ts_of(q) <= cutoff:
                    return hi
                hi = q
            elif self._ts_of(q) > cutoff:
                hi = q
            else:
                prev = q
        return hi

    def next_expiry(self) -> int:
        h = self._ttls
        while h and not self._alive(h[0][1]):
            heapq.heappop(h)
        nxt = h[0][0] if h else 0
        max_age = self._limits.max_age_ns
        if max_age > 0 and self._msgs:
            seq = self._first
            while seq and seq in self._no_age:
                seq = self._next_seq(None, seq + 1)
            if seq:
                t = self._body_ts(seq, seq - self._base) + max_age
                if not nxt or t < nxt:
                    nxt = t
        return nxt

    def used_bytes(self) -> int:
        return self._bytes

    def state(self, with_deleted: bool = False) -> StoreState:
        st = StoreState(
            msgs=self._msgs,
            bytes=self._bytes,
            first_seq=0 if self._fresh else self._first,
            last_seq=self._last,
            last_ts=self._last_ts,
            num_subjects=len(self._subjects),
        )
        if self._msgs:
            st.first_ts = self._body_ts(self._first, self._first - self._base)
            st.num_deleted = self._last - self._first + 1 - self._msgs
            if with_deleted and st.num_deleted:
                sids, base = self._sids, self._base
                st.deleted = [
                    i + base for i in range(self._first - base, self._last - base + 1) if sids[i] == DEAD
                ]
        return st

    def subjects(self, filter_subject: str = ">") -> dict[str, int]:
        sel = self._select_one(filter_subject)
        subs = self._subjects.values() if sel is None else sel.values()
        return {s.name: s.count() for s in subs}

    def num_pending(self, start: int, filters: Sequence[str], last_per_subject: bool = False) -> int:
        if start < self._first:
            start = self._first
        if start > self._last or not self._msgs:
            return 0
        sel = self._select(filters)
        subs = self._subjects.values() if sel is None else sel.values()
        if last_per_subject:
            return sum(1 for s in subs if s.seqs[-1] >= start)
        if sel is None:
            if start == self._first:
                return self._msgs
            if self._msgs == self._last - self._first + 1:  # no gaps
                return self._last - start + 1
            sids, base = self._sids, self._base
            if start - self._first <= self._last - start:
                below = start - self._first - sids[self._first - base : start - base].count(DEAD)
                return self._msgs - below
            return self._last - start + 1 - sids[start - base :].count(DEAD)
        return sum(len(s.seqs) - bisect_left(s.seqs, start, s.head) for s in subs)

    def sequences(self, start: int, filters: Sequence[str]) -> Iterator[int]:
        """Lazily, re-checking the index at each step: safe while the caller deletes."""
        sel = self._select(filters)
        seq = start
        while True:
            seq = self._next_seq(sel, seq)
            if not seq:
                return
            yield seq
            seq += 1

    def update_limits(self, limits: StoreLimits) -> None:
        self._limits = replace(limits)
        self._set_limit_flags()
        mmps = limits.max_msgs_per_subject
        if mmps > 0:
            for s in [s for s in self._subjects.values() if s.count() > mmps]:
                for q in s.seqs[s.head : len(s.seqs) - mmps]:
                    self._remove(q)
        self._enforce_totals()

    def _enforce(self, subj: Subject) -> None:
        """Trim after storing to ``subj``: per subject, then max_msgs, then max_bytes."""
        mmps = self._limits.max_msgs_per_subject
        if mmps > 0:
            while len(subj.seqs) - subj.head > mmps:
                self._remove(subj.seqs[subj.head])
        self._enforce_totals()

    def _enforce_totals(self) -> None:
        lim = self._limits
        if lim.max_msgs > 0:
            while self._msgs > lim.max_msgs:
                self._remove(self._first)
        if lim.max_bytes > 0:
            while self._bytes > lim.max_bytes:
                self._remove(self._first)
