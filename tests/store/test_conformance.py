"""One behaviour for both storage engines: every MsgStore method and limit, a stateful
property test of both engines against a trivial model, and a differential test against
the reference server (the same operations through nats-py, compared state by state).

File stores are reopened between steps where that matters, both cleanly (close) and as
after a crash (flush, then abandon the process's descriptors without closing).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pynatsd.protocol.subjects import subject_matches
from pynatsd.store.base import MsgStore, StoredMsg, StoreLimits, file_msg_size, msg_size
from pynatsd.store.file import FileStore
from pynatsd.store.memory import MemoryStore
from tests.support import ServerProcess, ServerStartError, require_reference, start_server

ENGINES = ("memory", "file", "file-s2")  # file-s2: sealed blocks compressed
HDR = b"NATS/1.0\r\nH: v\r\n\r\n"


class Clock:
    """Injected time: every reading moves 1 µs on, so timestamps are distinct and ordered."""

    def __init__(self, start: int = 1_700_000_000_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1000
        return self.now


def abandon(store: FileStore) -> None:
    """Drop a file store as a crash would after its last flush: no close, no index files."""
    os.close(store._wfd)
    for fd in store._rfds.values():
        os.close(fd)
    store._rfds.clear()
    store._closed = True


class Harness:
    """A store of one engine with an injected clock; ``reopen`` restarts a file store."""

    def __init__(
        self,
        engine: str,
        directory: Path,
        limits: StoreLimits | None = None,
        first_seq: int = 1,
        block_size: int = 512,
    ) -> None:
        self.engine = engine
        self.dir = directory
        self.limits = limits or StoreLimits()
        self.first_seq = first_seq
        self.block_size = block_size
        self.clock = Clock()
        self.s: MemoryStore | FileStore = self._open()

    def _open(self) -> MemoryStore | FileStore:
        if self.engine == "memory":
            return MemoryStore(self.limits, self.first_seq, clock=self.clock)
        return FileStore(
            self.dir,
            self.limits,
            self.first_seq,
            block_size=self.block_size,
            clock=self.clock,
            compression=self.engine == "file-s2",
        )

    @property
    def is_file(self) -> bool:
        return self.engine != "memory"

    def reopen(self, clean: bool = True) -> None:
        if not isinstance(self.s, FileStore):
            return
        if clean:
            self.s.close()
        else:
            self.s.flush()
            abandon(self.s)
        self.s = self._open()

    def size(self, subject: str, hdr: bytes, data: bytes) -> int:
        return file_msg_size(subject, hdr, data) if self.is_file else msg_size(subject, hdr, data)

    def close(self) -> None:
        if isinstance(self.s, FileStore) and not self.s._closed:
            self.s.close()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(engine: str, tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def _make(**kw: Any) -> Harness:
        h = Harness(engine, tmp_path / f"s{len(made)}", **kw)
        made.append(h)
        return h

    yield _make
    for h in made:
        h.close()


def fill(s: MsgStore, subjects: list[str], data: bytes = b"x") -> list[int]:
    return [s.store(subj, b"", data)[0] for subj in subjects]


def seqs_of(s: MsgStore, start: int = 0, filters: tuple[str, ...] = (">",)) -> list[int]:
    return list(s.sequences(start, list(filters)))


# -- basics ----------------------------------------------------------------------------------
def test_protocol_conformance(make: Callable[..., Harness]) -> None:
    store: MsgStore = make().s  # mypy checks both engines against the protocol
    assert store.state().msgs == 0


def test_append_load_headers_and_reopen(make: Callable[..., Harness]) -> None:
    h = make()
    seq, ts = h.s.store("orders.1", HDR, b"hello")
    assert (seq, ts) == (1, h.clock.now)
    h.s.store("orders.2", b"", b"")
    big = os.urandom(3000)  # larger than a block
    h.s.store("orders.3", HDR, big, ttl_ns=-1)
    for clean in (True, False):
        h.reopen(clean)
        assert h.s.load(1) == StoredMsg(1, "orders.1", HDR, b"hello", ts)
        m2 = h.s.load(2)
        assert m2 is not None and (m2.subject, m2.hdr, m2.data) == ("orders.2", b"", b"")
        m3 = h.s.load(3)
        assert m3 is not None and m3.data == big and m3.hdr == HDR
        assert h.s.load(0) is None and h.s.load(4) is None and h.s.load(-5) is None
    st_ = h.s.state()
    assert (st_.msgs, st_.first_seq, st_.last_seq, st_.first_ts, st_.num_subjects) == (3, 1, 3, ts, 3)
    assert st_.bytes == sum(
        h.size(*a) for a in [("orders.1", HDR, b"hello"), ("orders.2", b"", b""), ("orders.3", HDR, big)]
    )
    assert h.s.msg_size("orders.1", HDR, b"hello") == h.size("orders.1", HDR, b"hello")


def test_bytes_match_reference_formulas() -> None:
    # Observed on nats-server 2.15.1: "file.a"/"memory.a", payloads 0..9, one 18-byte header.
    assert sum(file_msg_size("file.a", HDR if i == 3 else b"", b"x" * i) for i in range(10)) == 427
    assert sum(msg_size("memory.a", HDR if i == 3 else b"", b"x" * i) for i in range(10)) == 303


def test_fresh_store_reports_first_seq_zero(make: Callable[..., Harness]) -> None:
    h = make()
    assert (h.s.state().first_seq, h.s.state().last_seq) == (0, 0)
    assert h.s.purge() == 0
    assert (h.s.state().first_seq, h.s.state().last_seq) == (1, 0)
    h.reopen()
    assert (h.s.state().first_seq, h.s.state().last_seq) == (1, 0)


def test_first_seq_and_skip(make: Callable[..., Harness]) -> None:
    h = make(first_seq=50)
    assert (h.s.state().first_seq, h.s.state().last_seq) == (50, 49)
    h.reopen()
    assert h.s.store("a", b"", b"1")[0] == 50
    h.s.skip(60)
    assert h.s.state().last_seq == 59
    assert h.s.store("a", b"", b"2")[0] == 60
    st_ = h.s.state(with_deleted=True)
    assert st_.num_deleted == 9 and st_.deleted == list(range(51, 60))
    h.reopen(clean=False)
    assert seqs_of(h.s) == [50, 60]
    h.s.purge()
    h.s.skip(100)  # empty: first moves too
    h.reopen(clean=False)
    st_ = h.s.state()
    assert (st_.first_seq, st_.last_seq, st_.msgs) == (100, 99, 0)
    assert h.s.store("a", b"", b"3")[0] == 100
    h.s.skip(50)  # never backwards
    assert h.s.store("a", b"", b"4")[0] == 101


# -- reads -------------------------------------------------------------------------------------
SUBJ = ["a.1", "a.2", "b.1", "a.1", "c", "b.2", "a.2", "c", "a.1", "b.1"]  # seqs 1..10


def test_load_next_filters(make: Callable[..., Harness]) -> None:
    h = make()
    fill(h.s, SUBJ)
    h.s.remove(4)
    h.reopen()

    def nxt(filters: list[str], start: int) -> int | None:
        m = h.s.load_next(filters, start)
        return None if m is None else m.seq

    assert nxt(["a.1"], 0) == 1 and nxt(["a.1"], 2) == 9 and nxt(["a.1"], 10) is None
    assert nxt(["a.*"], 3) == 7 and nxt(["*.1"], 4) == 9 and nxt(["a.>"], 8) == 9
    assert nxt([">"], 4) == 5 and nxt([], 4) == 5 and nxt([""], 11) is None
    assert nxt(["c", "b.2"], 1) == 5 and nxt(["b.2", "c"], 6) == 6 and nxt(["c", "b.*"], 9) == 10
    assert nxt(["nope"], 0) is None and nxt(["x.*"], 0) is None and nxt(["a.1", ">"], 2) == 2
    assert seqs_of(h.s, 0, ("a.*", "c")) == [1, 2, 5, 7, 8, 9]
    assert seqs_of(h.s, 6, (">",)) == [6, 7, 8, 9, 10]


def test_load_batch_equals_repeated_load_next(make: Callable[..., Harness]) -> None:
    """Batches (read in runs by the file engine) give exactly what load_next gives, across
    blocks, the unflushed buffer, gaps, headers, TTL records and every filter shape."""
    h = make(block_size=700)
    for i in range(120):
        hdr = b"NATS/1.0\r\nK: %d\r\n\r\n" % i if i % 3 == 0 else b""
        h.s.store(f"o.{i % 7}", hdr, b"v%d" % i * (i % 5), ttl_ns=3600 * 10**9 if i % 4 == 0 else 0)
    for q in (5, 6, 7, 40, 41, 90):
        h.s.remove(q)
    h.s.flush()
    for i in range(10):  # some left in the write buffer
        h.s.store("o.tail", b"", b"t%d" % i)

    def walk(filters: list[str], start: int) -> list[tuple[int, str, bytes, bytes, int]]:
        out = []
        m = h.s.load_next(filters, start)
        while m is not None:
            out.append((m.seq, m.subject, m.hdr, m.data, m.ts))
            m = h.s.load_next(filters, m.seq + 1)
        return out

    for filters in ([], [">"], ["o.3"], ["o.*"], ["o.1", "o.tail"], ["o.1", "o.2", "o.3"], ["nope"]):
        for start in (0, 1, 6, 39, 100, 131):
            want = walk(filters, start)
            for limit in (1, 7, 500):
                got, at = [], start
                while True:
                    batch = h.s.load_batch(filters, at, limit)
                    assert len(batch) <= limit
                    if not batch:
                        break
                    got += [(m.seq, m.subject, m.hdr, m.data, m.ts) for m in batch]
                    at = batch[-1].seq + 1
                assert got == want, (filters, start, limit)


def test_many_subjects_wildcard_paths(make: Callable[..., Harness]) -> None:
    h = make(block_size=4096)
    for i in range(300):
        h.s.store(f"kv.k{i % 100}", b"", b"v")
        h.s.store("other", b"", b"o")
    for q in range(2, 400, 2):
        h.s.remove(q)
    assert h.s.load_next(["kv.>"], 1) is not None
    assert [h.s.load_next(["kv.*"], q).seq for q in (1, 2, 401)] == [1, 3, 401]  # type: ignore[union-attr]
    assert h.s.load_next(["kv.k7"], 100).seq == 215  # type: ignore[union-attr]
    assert h.s.load_last("kv.*").seq == 599  # type: ignore[union-attr]
    assert h.s.load_prev("kv.*", 401).seq == 401  # type: ignore[union-attr]
    assert h.s.num_pending(0, ["kv.*"]) == 300 and h.s.num_pending(0, ["kv.*"], last_per_subject=True) == 100
    assert len(h.s.subjects("kv.*")) == 100 and h.s.subjects("other") == {"other": 101}
    assert h.s.num_pending(401, [">"]) == 200 and h.s.num_pending(3, [">"]) == 400


def test_load_last_and_prev(make: Callable[..., Harness]) -> None:
    h = make()
    fill(h.s, SUBJ)
    h.s.remove(9)
    h.reopen(clean=False)
    last = h.s.load_last
    assert last("a.1").seq == 4 and last("a.*").seq == 7 and last(">").seq == 10  # type: ignore[union-attr]
    assert last("zz") is None and last("*.1").seq == 10  # type: ignore[union-attr]
    prev = h.s.load_prev
    assert prev("a.1", 3).seq == 1 and prev(">", 9).seq == 8 and prev("b.*", 5).seq == 3  # type: ignore[union-attr]
    assert prev("a.1", 0) is None and prev(">", 100).seq == 10  # type: ignore[union-attr]
    h.s.remove(10)
    assert last(">").seq == 8 and h.s.state().last_seq == 10  # type: ignore[union-attr]


def test_subjects_and_num_pending(make: Callable[..., Harness]) -> None:
    h = make()
    fill(h.s, SUBJ)
    h.s.remove(1)
    h.reopen()
    assert h.s.subjects() == {"a.1": 2, "a.2": 2, "b.1": 2, "c": 2, "b.2": 1}
    assert h.s.subjects("a.*") == {"a.1": 2, "a.2": 2} and h.s.subjects("q") == {}
    np = h.s.num_pending
    assert np(0, [">"]) == 9 and np(5, []) == 6 and np(10, [">"]) == 1 and np(11, [">"]) == 0
    assert np(0, ["a.*"]) == 4 and np(5, ["a.1", "c"]) == 3 and np(3, ["b.*"]) == 3
    assert np(0, [">"], last_per_subject=True) == 5 and np(9, [">"], last_per_subject=True) == 2
    assert np(8, ["a.*"], last_per_subject=True) == 1
    assert seqs_of(h.s, 0, ("b.*",)) == [3, 6, 10]


def test_sequences_tolerates_removal(make: Callable[..., Harness]) -> None:
    h = make()
    fill(h.s, ["a"] * 20)
    out = []
    for q in h.s.sequences(0, [">"]):
        out.append(q)
        h.s.remove(q + 1)
    assert out == list(range(1, 21, 2))


# -- removal -----------------------------------------------------------------------------------
def test_remove_and_first_seq_movement(make: Callable[..., Harness]) -> None:
    h = make()
    fill(h.s, ["a"] * 5)
    assert h.s.remove(1) and not h.s.remove(1) and not h.s.remove(99) and not h.s.remove(0)
    assert h.s.state().first_seq == 2
    assert h.s.remove(3)
    h.reopen(clean=False)
    st_ = h.s.state(with_deleted=True)
    assert (st_.first_seq, st_.msgs, st_.num_deleted, st_.deleted) == (2, 3, 1, [3])
    for q in (2, 4, 5):
        h.s.remove(q)
    h.reopen(clean=False)
    st_ = h.s.state(with_deleted=True)
    assert (st_.first_seq, st_.last_seq, st_.msgs, st_.bytes, st_.num_deleted, st_.deleted) == (
        6,
        5,
        0,
        0,
        0,
        [],
    )
    assert h.s.store("a", b"", b"")[0] == 6


def test_erase_overwrites_bytes(make: Callable[..., Harness]) -> None:
    h = make()
    h.s.store("a", b"", b"KEEP-ME-1")
    h.s.store("a", HDR, b"SECRET-PAYLOAD")
    h.s.store("a", b"", b"KEEP-ME-2")
    h.s.flush()
    h.s.store("a", b"", b"SECRET-BUFFERED")  # still in the write buffer
    assert h.s.remove(2, erase=True) and h.s.remove(4, erase=True)
    h.s.flush()
    if h.is_file:
        blob = b"".join(p.read_bytes() for p in h.dir.glob("*.blk"))
        assert b"SECRET" not in blob and b"KEEP-ME-1" in blob
    h.reopen(clean=False)
    assert seqs_of(h.s) == [1, 3] and h.s.load(2) is None
    assert h.s.load(3).data == b"KEEP-ME-2"  # type: ignore[union-attr]


# -- purge and compact -------------------------------------------------------------------------
# (subject, seq, keep) -> (purged, remaining) on seqs 1..10 with subjects a/b alternating
# and 4, 9 deleted: the reference's answers (see test_purge_matches_reference).
PURGE_CASES = [
    (("", 0, 0), (8, [])),
    (("", 0, 3), (5, [7, 8, 10])),
    (("", 4, 0), (3, [5, 6, 7, 8, 10])),
    (("", 1, 0), (0, [1, 2, 3, 5, 6, 7, 8, 10])),
    (("", 9, 0), (7, [10])),
    ((">", 0, 100), (0, [1, 2, 3, 5, 6, 7, 8, 10])),
    (("T.a", 6, 0), (3, [2, 6, 7, 8, 10])),
    (("T.a", 1, 0), (0, [1, 2, 3, 5, 6, 7, 8, 10])),
    (("T.a", 0, 0), (4, [2, 6, 8, 10])),
    (("T.a", 0, 1), (3, [2, 6, 7, 8, 10])),
    (("T.a", 0, 10), (0, [1, 2, 3, 5, 6, 7, 8, 10])),
    (("T.*", 0, 3), (5, [7, 8, 10])),
    (("T.>", 6, 0), (4, [6, 7, 8, 10])),
    (("T.zz", 0, 0), (0, [1, 2, 3, 5, 6, 7, 8, 10])),
]


def _purge_fixture(h: Harness) -> None:
    fill(h.s, ["T.a" if i % 2 == 0 else "T.b" for i in range(10)])
    h.s.remove(9)
    h.s.remove(4)


@pytest.mark.parametrize(("args", "expect"), PURGE_CASES, ids=[repr(a) for a, _ in PURGE_CASES])
def test_purge_variants(
    make: Callable[..., Harness], args: tuple[str, int, int], expect: tuple[int, list[int]]
) -> None:
    h = make(block_size=128)
    _purge_fixture(h)
    subject, seq, keep = args
    assert h.s.purge(subject, seq=seq, keep=keep) == expect[0]
    for clean in (False, True):
        h.reopen(clean)
        assert seqs_of(h.s) == expect[1]
        st_ = h.s.state()
        assert st_.msgs == len(expect[1])
        if expect[1]:
            assert st_.first_seq == expect[1][0]
        else:
            assert (st_.first_seq, st_.last_seq) == (11, 10)
    assert h.s.store("T.c", b"", b"")[0] == 11


def test_purge_all_moves_first_past_last(make: Callable[..., Harness]) -> None:
    h = make(block_size=128)
    fill(h.s, ["a", "b"] * 20)
    assert h.s.purge() == 40
    h.reopen(clean=False)
    st_ = h.s.state()
    assert (st_.msgs, st_.bytes, st_.first_seq, st_.last_seq, st_.num_subjects) == (0, 0, 41, 40, 0)
    assert h.s.store("a", b"", b"")[0] == 41
    if h.is_file:
        assert len(list(h.dir.glob("*.blk"))) <= 2  # dead blocks are removed


def test_compact(make: Callable[..., Harness]) -> None:
    h = make(block_size=128)
    fill(h.s, ["a", "b", "c"] * 10)
    h.s.remove(12)
    assert h.s.compact(1) == 0 and h.s.compact(11) == 10
    assert h.s.compact(13) == 1  # 12 was already gone
    h.reopen(clean=False)
    assert h.s.state().first_seq == 13 and seqs_of(h.s)[:2] == [13, 14]
    assert h.s.compact(100) == 18
    h.reopen(clean=False)
    st_ = h.s.state()
    assert (st_.first_seq, st_.last_seq, st_.msgs) == (100, 99, 0)
    assert h.s.store("a", b"", b"")[0] == 100


# -- limits ------------------------------------------------------------------------------------
def test_max_msgs_and_max_bytes(make: Callable[..., Harness]) -> None:
    h = make(limits=StoreLimits(max_msgs=5), block_size=128)
    fill(h.s, [f"s{i % 3}" for i in range(12)])
    h.reopen(clean=False)
    assert seqs_of(h.s) == [8, 9, 10, 11, 12]
    per = h.size("s0", b"", b"x")
    h2 = make(limits=StoreLimits(max_bytes=per * 4 + 1))
    fill(h2.s, ["s0"] * 9)
    h2.reopen(clean=False)
    assert seqs_of(h2.s) == [6, 7, 8, 9] and h2.s.state().bytes == per * 4


def test_max_msgs_per_subject(make: Callable[..., Harness]) -> None:
    # The reference: abc-cycled subjects, max_msgs_per_subject=2 and max_msgs=5 -> 5..9.
    h = make(limits=StoreLimits(max_msgs_per_subject=2, max_msgs=5))
    fill(h.s, ["A.abc"[2 + i % 3] for i in range(9)])
    assert seqs_of(h.s) == [5, 6, 7, 8, 9]
    assert h.s.subjects() == {"a": 1, "b": 2, "c": 2}
    h.reopen(clean=False)
    h.s.update_limits(StoreLimits(max_msgs_per_subject=1))
    assert seqs_of(h.s) == [7, 8, 9]
    h.reopen(clean=False)
    assert seqs_of(h.s) == [7, 8, 9]
    h.s.update_limits(StoreLimits(max_msgs=2))
    assert seqs_of(h.s) == [8, 9]


def test_max_age_and_ttl_with_injected_time(make: Callable[..., Harness]) -> None:
    sec = 1_000_000_000
    h = make(limits=StoreLimits(max_age_ns=10 * sec))
    t0 = h.clock.now
    h.s.store("a", b"", b"1")  # t0 + 1µs
    h.s.store("a", b"", b"never", ttl_ns=-1)
    h.s.store("b", b"", b"ttl", ttl_ns=2 * sec)
    h.clock.now += 5 * sec
    h.s.store("a", b"", b"later")
    assert h.s.next_expiry() == t0 + 3000 + 2 * sec  # the TTL comes first
    h.reopen(clean=False)
    assert h.s.next_expiry() == t0 + 3000 + 2 * sec
    assert h.s.expire(t0 + 2 * sec) == 0
    assert h.s.expire(t0 + 3000 + 2 * sec) == 1 and seqs_of(h.s) == [1, 2, 4]
    assert h.s.next_expiry() == t0 + 1000 + 10 * sec
    h.reopen()
    assert h.s.expire(t0 + 1000 + 10 * sec) == 1  # message 1; "never" stays
    assert seqs_of(h.s) == [2, 4]
    assert h.s.next_expiry() == h.s.load(4).ts + 10 * sec  # type: ignore[union-attr]
    h.s.update_limits(StoreLimits(max_age_ns=1))
    assert h.s.expire(h.clock.now + 100) == 1
    h.reopen(clean=False)
    assert seqs_of(h.s) == [2] and h.s.next_expiry() == 0
    h.s.update_limits(StoreLimits())
    assert h.s.next_expiry() == 0 and h.s.expire(h.clock.now + 10**15) == 0


def test_ttl_only_and_bulk_expiry(make: Callable[..., Harness]) -> None:
    h = make(limits=StoreLimits(max_age_ns=1000 * 50), block_size=256)
    fill(h.s, ["x"] * 200)  # timestamps 1 µs apart
    now = h.clock.now
    n = h.s.expire(now - 1000 * 100 + 1)  # ages up to 100 µs: the oldest 50 are older than 50 µs...
    assert n == 50 and h.s.state().first_seq == 51
    h.reopen(clean=False)
    assert h.s.state().first_seq == 51 and h.s.state().msgs == 150
    assert h.s.expire(now + 10**9) == 150
    h.reopen(clean=False)
    assert h.s.state().msgs == 0 and h.s.state().first_seq == 201


# -- the durability surface --------------------------------------------------------------------
def test_when_durable_without_loop_is_synchronous(engine: str, tmp_path: Path) -> None:
    if engine == "memory":
        s: MemoryStore | FileStore = MemoryStore(StoreLimits())
    else:
        s = FileStore(tmp_path / "d", StoreLimits(), sync_always=True)
    s.store("a", b"", b"1")
    called: list[int] = []
    s.when_durable(lambda: called.append(1))
    assert called == [1]
    s.close()


async def test_group_commit_callbacks_come_back_on_the_loop(tmp_path: Path) -> None:
    s = FileStore(tmp_path / "d", StoreLimits(), sync_always=True)
    loop = asyncio.get_running_loop()
    done: list[int] = []
    all_done = asyncio.Event()
    n = 500

    def cb(i: int) -> None:
        assert asyncio.get_running_loop() is loop  # never called from the worker thread
        done.append(i)
        if len(done) == n:
            all_done.set()

    for i in range(n):
        s.store("a", b"", b"x" * 10)
        s.when_durable(functools.partial(cb, i))
        if i % 50 == 0:
            await asyncio.sleep(0)
    assert len(done) < n  # nothing is durable before the loop has turned
    await asyncio.wait_for(all_done.wait(), 10)
    assert done == list(range(n))
    s.close()


async def test_periodic_sync_and_self_scheduled_flush(tmp_path: Path) -> None:
    s = FileStore(tmp_path / "d", StoreLimits(), sync_interval=0.01)
    s.store("a", b"", b"x")
    path = tmp_path / "d" / "0000000001.blk"
    before = path.stat().st_size
    deadline = asyncio.get_running_loop().time() + 5
    while path.stat().st_size == before:  # the store flushes itself at the end of the turn
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0)
    while s._gen > s._synced_gen:  # and syncs in the background
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.005)
    s.close()


def test_delete_removes_directory(make: Callable[..., Harness]) -> None:
    h = make()
    fill(h.s, ["a"] * 3)
    h.s.delete()
    if h.is_file:
        assert not h.dir.exists()


def test_clean_restart_uses_index_files(tmp_path: Path) -> None:
    s = FileStore(tmp_path / "d", StoreLimits(), block_size=1024)
    for i in range(500):
        s.store(
            f"s.{i % 7}", HDR if i % 5 == 0 else b"", b"p" * (i % 13), ttl_ns=10**12 if i % 50 == 0 else 0
        )
    for q in range(3, 500, 9):
        s.remove(q)
    s.purge("s.3", seq=200)
    want = [s.load(q) for q in range(1, 501)]
    st_ = s.state(with_deleted=True)
    s.close()
    assert len(list((tmp_path / "d").glob("*.idx"))) == len(list((tmp_path / "d").glob("*.blk")))
    s = FileStore(tmp_path / "d", StoreLimits(), block_size=1024)
    assert [s.load(q) for q in range(1, 501)] == want
    assert s.state(with_deleted=True) == st_
    assert s.next_expiry() == want[0].ts + 10**12  # type: ignore[union-attr]
    s.close()


# -- property test: both engines against a model ----------------------------------------------
SUBJECTS = ["a", "b", "c.x", "c.y", "d.e.f"]
FILTERS = ["", ">", "a", "c.*", "c.>", "*", "d.*.f", "*.x", "zz"]


@dataclass
class ModelMsg:
    subject: str
    hdr: bytes
    data: bytes
    ts: int
    ttl: int


@dataclass
class Model:
    """The obvious implementation: a dict of sequence -> message."""

    limits: StoreLimits
    first_seq: int = 1
    msgs: dict[int, ModelMsg] = field(default_factory=dict)
    last: int = 0
    first_empty: int = 1  # first_seq while empty
    fresh: bool = True

    def __post_init__(self) -> None:
        self.last = self.first_seq - 1
        self.first_empty = self.first_seq
        self.fresh = self.first_seq == 1

    @property
    def first(self) -> int:
        return min(self.msgs) if self.msgs else self.last + 1

    def _drop(self, seqs: list[int]) -> int:
        for q in seqs:
            del self.msgs[q]
        return len(seqs)

    def store(self, subject: str, hdr: bytes, data: bytes, ts: int, ttl: int) -> int:
        self.fresh = False
        self.last += 1
        self.msgs[self.last] = ModelMsg(subject, hdr, data, ts, ttl)
        self.enforce([subject])
        return self.last

    def size(self, file: bool) -> int:
        f = file_msg_size if file else msg_size
        return sum(f(m.subject, m.hdr, m.data) for m in self.msgs.values())

    def enforce(self, subjects: list[str], file: bool | None = None) -> None:
        lim = self.limits
        if lim.max_msgs_per_subject > 0:
            for subj in subjects:
                mine = sorted(q for q, m in self.msgs.items() if m.subject == subj)
                self._drop(mine[: max(0, len(mine) - lim.max_msgs_per_subject)])
        if lim.max_msgs > 0:
            while len(self.msgs) > lim.max_msgs:
                del self.msgs[self.first]

    def enforce_bytes(self, file: bool) -> list[int]:
        """max_bytes depends on the engine's byte counting: the sequences it would drop."""
        lim = self.limits
        gone: list[int] = []
        if lim.max_bytes > 0:
            f = file_msg_size if file else msg_size
            total = self.size(file)
            for q in sorted(self.msgs):
                if total <= lim.max_bytes:
                    break
                m = self.msgs[q]
                total -= f(m.subject, m.hdr, m.data)
                gone.append(q)
        return gone

    def matching(self, subject: str) -> list[int]:
        if subject in ("", ">"):
            return sorted(self.msgs)
        return sorted(q for q, m in self.msgs.items() if subject_matches(subject, m.subject))

    def purge(self, subject: str, seq: int, keep: int) -> int:
        if subject in ("", ">"):
            if not seq and not keep:
                self.fresh = False
                n = self._drop(sorted(self.msgs))
                return n
            bound = seq or self.last + 1
            if keep:
                if keep >= len(self.msgs):
                    return 0
                bound = min(bound, sorted(self.msgs)[-keep])
            return self.compact(bound)
        mine = self.matching(subject)
        bound = seq or self.last + 1
        if keep:
            if keep >= len(mine):
                return 0
            bound = min(bound, mine[-keep])
        gone = [q for q in mine if q < bound]
        if gone:
            self.fresh = False
        return self._drop(gone)

    def compact(self, seq: int) -> int:
        if seq <= self.first:
            return 0
        self.fresh = False
        n = self._drop([q for q in self.msgs if q < seq])
        if seq > self.last:
            self.last = seq - 1
        return n

    def skip(self, seq: int) -> None:
        if seq > self.last + 1:
            self.fresh = False
            self.last = seq - 1

    def expire(self, now: int) -> int:
        gone = [q for q, m in self.msgs.items() if m.ttl > 0 and m.ts + m.ttl <= now]
        if self.limits.max_age_ns > 0:
            cutoff = now - self.limits.max_age_ns
            gone += [q for q, m in self.msgs.items() if m.ttl >= 0 and m.ts <= cutoff and q not in gone]
        return self._drop(gone)


class StoreMachine(RuleBasedStateMachine):
    """Both engines and the model take the same steps; after each, all must agree."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="store-prop-"))
        self.h: dict[str, Harness] = {}
        self.model = Model(StoreLimits())

    @initialize(
        max_msgs=st.sampled_from([-1, -1, 6]),
        max_bytes=st.sampled_from([-1, -1, 400]),
        mmps=st.sampled_from([-1, -1, 2]),
        max_age=st.sampled_from([0, 0, 20_000]),
        first_seq=st.sampled_from([1, 1, 7]),
        block_size=st.sampled_from([96, 256, 4096]),
    )
    def init(
        self, max_msgs: int, max_bytes: int, mmps: int, max_age: int, first_seq: int, block_size: int
    ) -> None:
        # max_bytes is counted differently per engine, so it is used without other limits.
        if max_bytes > 0:
            max_msgs = mmps = -1
        limits = StoreLimits(
            max_msgs=max_msgs, max_bytes=max_bytes, max_age_ns=max_age, max_msgs_per_subject=mmps
        )
        self.model = Model(limits, first_seq)
        self.models = {e: Model(limits, first_seq) for e in ENGINES}
        self.h = {
            e: Harness(e, self.tmp / e, limits=limits, first_seq=first_seq, block_size=block_size)
            for e in ENGINES
        }

    def teardown(self) -> None:
        for h in self.h.values():
            h.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def each(self) -> Iterator[tuple[str, Harness, Model]]:
        for e in ENGINES:
            yield e, self.h[e], self.models[e]

    @rule(
        subject=st.sampled_from(SUBJECTS),
        hdr=st.sampled_from([b"", HDR]),
        data=st.binary(max_size=24),
        ttl=st.sampled_from([0, 0, 0, 5000, -1]),
    )
    def store(self, subject: str, hdr: bytes, data: bytes, ttl: int) -> None:
        for e, h, m in self.each():
            seq, ts = h.s.store(subject, hdr, data, ttl_ns=ttl)
            assert seq == m.store(subject, hdr, data, ts, ttl)
            m._drop(m.enforce_bytes(e != "memory"))

    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        m0 = self.models["memory"]
        seq = data.draw(st.integers(min_value=0, max_value=m0.last + 2))
        erase = data.draw(st.booleans())
        for _, h, m in self.each():
            assert h.s.remove(seq, erase=erase) == (seq in m.msgs)
            m.msgs.pop(seq, None)

    @rule(data=st.data(), subject=st.sampled_from(FILTERS), keep=st.sampled_from([0, 0, 1, 2, 4]))
    def purge(self, data: st.DataObject, subject: str, keep: int) -> None:
        m0 = self.models["memory"]
        seq = data.draw(st.sampled_from([0, 0, 1, m0.first + 1, m0.last, m0.last + 3]))
        for _, h, m in self.each():
            assert h.s.purge(subject, seq=seq, keep=keep) == m.purge(subject, seq, keep)

    @rule(data=st.data())
    def compact(self, data: st.DataObject) -> None:
        m0 = self.models["memory"]
        seq = data.draw(st.integers(min_value=0, max_value=m0.last + 4))
        for _, h, m in self.each():
            assert h.s.compact(seq) == m.compact(seq)

    @rule(ahead=st.integers(min_value=0, max_value=5))
    def skip(self, ahead: int) -> None:
        for _, h, m in self.each():
            seq = m.last + ahead
            h.s.skip(seq)
            m.skip(seq)

    @rule(advance=st.integers(min_value=0, max_value=30_000))
    def expire(self, advance: int) -> None:
        for _, h, m in self.each():
            h.clock.now += advance
            assert h.s.expire(h.clock.now) == m.expire(h.clock.now)

    @rule(clean=st.booleans())
    def reopen(self, clean: bool) -> None:
        for e in ENGINES:
            self.h[e].reopen(clean)

    @rule(mmps=st.sampled_from([-1, 1, 3]), max_msgs=st.sampled_from([-1, 3, 10]))
    def update_limits(self, mmps: int, max_msgs: int) -> None:
        for _, h, m in self.each():
            if m.limits.max_bytes > 0:
                return
            limits = replace(m.limits, max_msgs=max_msgs, max_msgs_per_subject=mmps)
            h.s.update_limits(limits)
            h.limits = m.limits = limits  # a restarted stream passes its current limits
            m.enforce(sorted({x.subject for x in m.msgs.values()}))

    @precondition(lambda self: bool(self.h))
    @invariant()
    def agree(self) -> None:
        for e, h, m in self.each():
            s = h.s
            st_ = s.state(with_deleted=True)
            live = sorted(m.msgs)
            first = m.first
            assert (st_.msgs, st_.last_seq) == (len(m.msgs), m.last), e
            assert st_.first_seq == (0 if m.fresh else first), e
            assert st_.bytes == m.size(e != "memory"), e
            dead = [q for q in range(first, m.last + 1) if q not in m.msgs] if m.msgs else []
            assert (st_.num_deleted, st_.deleted) == (len(dead), dead), e
            assert st_.first_ts == (m.msgs[first].ts if m.msgs else 0), e
            assert seqs_of(s) == live, e
            for q in range(max(0, first - 1), m.last + 2):
                got = s.load(q)
                want = m.msgs.get(q)
                if want is None:
                    assert got is None, (e, q)
                else:
                    assert got == StoredMsg(q, want.subject, want.hdr, want.data, want.ts), (e, q)
            for f in FILTERS:
                mine = m.matching(f)
                assert s.subjects(f or ">") == {
                    x: sum(1 for y in mine if m.msgs[y].subject == x)
                    for x in {m.msgs[y].subject for y in mine}
                }, (e, f)
                last = s.load_last(f)
                assert (last.seq if last else 0) == (mine[-1] if mine else 0), (e, f)
                for start in (0, first + 1, m.last):
                    nxt = s.load_next([f], start)
                    after = [q for q in mine if q >= start]
                    assert (nxt.seq if nxt else 0) == (after[0] if after else 0), (e, f, start)
                    prev = s.load_prev(f, start)
                    before = [q for q in mine if q <= start]
                    assert (prev.seq if prev else 0) == (before[-1] if before else 0), (e, f, start)
                    assert s.num_pending(start, [f]) == len(after), (e, f, start)
                    subjects_after = {m.msgs[q].subject for q in mine}
                    lps = sum(
                        1 for x in subjects_after if max(q for q in mine if m.msgs[q].subject == x) >= start
                    )
                    assert s.num_pending(start, [f], last_per_subject=True) == lps, (e, f, start)
            both = [q for q in live if m.msgs[q].subject in ("a", "c.x")]
            assert seqs_of(s, 0, ("a", "*.x")) == both, e
            ttls = [x.ts + x.ttl for x in m.msgs.values() if x.ttl > 0]
            if m.limits.max_age_ns > 0:
                ttls += [x.ts + m.limits.max_age_ns for x in m.msgs.values() if x.ttl >= 0][:1]
            assert s.next_expiry() == (min(ttls) if ttls else 0), e


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(
    max_examples=int(os.environ.get("STORE_PROP_EXAMPLES", "60")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# -- differential: the same operations against the reference server -----------------------------
# The module's reference server, whose log is shown when it refuses something.
_REFERENCE: list[ServerProcess] = []


@pytest.fixture(scope="module")
def reference() -> Iterator[int]:
    """A JetStream-enabled reference server for this module; yields its client port."""
    require_reference()
    sd = tempfile.mkdtemp(prefix="store-ref-")
    try:
        server = start_server("reference", "-js", "-sd", sd)
    except ServerStartError as exc:
        pytest.fail(f"reference server did not start: {exc}")
    _REFERENCE[:] = [server]
    yield server.port
    server.stop()
    shutil.rmtree(sd, ignore_errors=True)


Op = tuple[
    Any, ...
]  # ("pub", subject, size, with_hdr) | ("del", seq) | ("purge", subject, seq, keep) | ("reopen",)
DIFF_SUBJECTS = ["d.a", "d.b", "d.c.x", "d.c.y"]
DIFF_FILTERS = ["", ">", "d.a", "d.c.*", "d.>", "d.*", "d.zz"]


def _random_ops(seed: int, n: int = 60) -> list[Op]:
    import random

    rnd = random.Random(seed)
    ops: list[Op] = []
    last = 0
    for _ in range(n):
        r = rnd.random()
        if r < 0.55 or last == 0:
            ops.append(("pub", rnd.choice(DIFF_SUBJECTS), rnd.randint(0, 20), rnd.random() < 0.3))
            last += 1
        elif r < 0.72:
            ops.append(("del", rnd.randint(1, last + 1)))
        elif r < 0.95:
            seq = rnd.choice([0, 0, 1, rnd.randint(1, last + 2)])
            keep = rnd.choice([0, 0, 0, 1, 2, 5])
            ops.append(("purge", rnd.choice(DIFF_FILTERS), seq, keep))
        else:
            ops.append(("reopen",))
    return ops


DIFF_SCENARIOS: list[tuple[str, dict[str, int], list[Op]]] = [
    (
        "purge-table",
        {},
        [("pub", "d.a" if i % 2 == 0 else "d.b", 1, False) for i in range(10)]
        + [("del", 9), ("del", 4)]
        + [
            ("purge", "d.a", 6, 0),
            ("purge", "", 0, 3),
            ("purge", "d.*", 0, 1),
            ("purge", "", 20, 0),
            ("pub", "d.a", 0, True),
        ],
    ),
    ("random-1", {}, _random_ops(1)),
    ("random-2", {}, _random_ops(2)),
    ("max-msgs", {"max_msgs": 7}, _random_ops(3)),
    ("per-subject", {"max_msgs_per_subject": 2}, _random_ops(4)),
    ("per-subject-and-msgs", {"max_msgs_per_subject": 1, "max_msgs": 3}, _random_ops(5)),
    ("max-bytes", {"max_bytes": 400}, _random_ops(6)),
]


def _ours_state(s: MsgStore) -> dict[str, Any]:
    st_ = s.state(with_deleted=True)
    return {
        "messages": st_.msgs,
        "bytes": st_.bytes,
        "first_seq": st_.first_seq,
        "last_seq": st_.last_seq,
        "num_deleted": st_.num_deleted,
        "deleted": st_.deleted,
        "num_subjects": st_.num_subjects,
        "subjects": s.subjects(">"),
    }


def _ref_state(info: dict[str, Any]) -> dict[str, Any]:
    st_ = info["state"]
    return {
        "messages": st_["messages"],
        "bytes": st_["bytes"],
        "first_seq": st_["first_seq"],
        "last_seq": st_["last_seq"],
        "num_deleted": st_.get("num_deleted", 0),
        "deleted": sorted(st_.get("deleted") or []),
        "num_subjects": st_.get("num_subjects", 0),
        "subjects": st_.get("subjects") or {},
    }


@pytest.mark.parametrize("storage", ["file", "memory"])
@pytest.mark.parametrize(("name", "limits", "ops"), DIFF_SCENARIOS, ids=[s[0] for s in DIFF_SCENARIOS])
async def test_matches_reference(
    reference: int, tmp_path: Path, storage: str, name: str, limits: dict[str, int], ops: list[Op]
) -> None:
    import nats
    import nats.js.errors

    logging.getLogger("nats").setLevel(logging.CRITICAL)
    nc = await nats.connect(f"nats://127.0.0.1:{reference}", allow_reconnect=False)
    stream = f"{name}-{storage}".replace("-", "_").upper()
    try:
        js = nc.jetstream()
        try:
            await js.add_stream(name=stream, subjects=["d.>"], storage=storage, **limits)  # type: ignore[arg-type]
        except nats.js.errors.APIError as err:
            raise AssertionError(
                f"the reference refused the stream: {err}\n" + _REFERENCE[0].tail(20)
            ) from err

        async def api(op: str, body: dict[str, Any]) -> dict[str, Any]:
            r = await nc.request(f"$JS.API.{op}.{stream}", json.dumps(body).encode(), timeout=5)
            out: dict[str, Any] = json.loads(r.data)
            return out

        h = Harness(
            storage,
            tmp_path / "ours",
            limits=StoreLimits(
                max_msgs=limits.get("max_msgs", -1),
                max_bytes=limits.get("max_bytes", -1),
                max_msgs_per_subject=limits.get("max_msgs_per_subject", -1),
            ),
            block_size=200,
        )
        for i, op in enumerate(ops):
            if op[0] == "pub":
                _, subject, size, with_hdr = op
                data = bytes([65 + i % 26]) * size
                ack = await js.publish(subject, data, headers={"H": "v"} if with_hdr else None)
                seq, _ = h.s.store(subject, HDR if with_hdr else b"", data)
                assert seq == ack.seq, (i, op)
            elif op[0] == "del":
                r = await api("STREAM.MSG.DELETE", {"seq": op[1], "no_erase": True})
                assert h.s.remove(op[1]) == bool(r.get("success")), (i, op, r)
            elif op[0] == "purge":
                _, subject, seq, keep = op
                body: dict[str, Any] = {
                    k: v for k, v in (("filter", subject), ("seq", seq), ("keep", keep)) if v
                }
                r = await api("STREAM.PURGE", body)
                if seq and keep:  # the reference's API refuses the combination
                    assert r["error"]["err_code"] == 10003, r
                    continue
                assert h.s.purge(subject, seq=seq, keep=keep) == r["purged"], (i, op, r)
            else:
                h.reopen(clean=False)
            info = await api("STREAM.INFO", {"deleted_details": True, "subjects_filter": ">"})
            assert _ours_state(h.s) == _ref_state(info), (i, op)
        h.close()
    finally:
        await nc.request(f"$JS.API.STREAM.DELETE.{stream}", b"", timeout=5)  # frees the subjects
        await nc.close()


def test_bulk_expiry_with_gaps_finds_the_exact_boundary(make: Callable[..., Harness]) -> None:
    import random

    rnd = random.Random(7)
    h = make(limits=StoreLimits(max_age_ns=1), block_size=1024)
    ts: dict[int, int] = {}
    for _ in range(2000):
        seq, t = h.s.store(rnd.choice(["x", "y"]), b"", b"")
        ts[seq] = t
    for q in rnd.sample(range(1, 2001), 1200):
        h.s.remove(q)
    live = set(h.s.sequences(0, [">"]))
    for cutoff_seq in [*sorted(rnd.sample(range(1, 2001), 12)), 2000]:
        cutoff = ts[cutoff_seq]
        want = {q for q in live if ts[q] > cutoff}
        assert h.s.expire(cutoff + 1) == len(live) - len(want)
        live = want
        assert set(h.s.sequences(0, [">"])) == live
    h.reopen(clean=False)
    assert h.s.state().msgs == 0
