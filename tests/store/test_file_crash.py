"""Crash safety of the file store.

A child process appends, deletes, purges and compacts, announcing each operation on
stdout *before* doing it and a durable point (``F``) after each ``flush()`` (or ``D seq``
from ``when_durable`` with ``sync_always``); the parent SIGKILLs it after a random number
of lines, reopens the store and checks: everything durable is there with its exact
content and headers, durable deletions stayed deleted, nothing served is corrupt, and
appending goes on. Rounds reuse one directory, so each recovery starts from the last.

Then torn and corrupt tails, corrupt closed blocks and lost index files, made by hand.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pynatsd.store.base import StoreLimits
from pynatsd.store.file import FileStore

REPO = Path(__file__).resolve().parents[2]
BLOCK = 2048
SUBJECTS = 7


def subject_for(seq: int) -> str:
    return f"crash.{seq % SUBJECTS}"


def hdr_for(seq: int) -> bytes:
    return b"NATS/1.0\r\nSeq: %d\r\n\r\n" % seq if seq % 3 == 0 else b""


def payload_for(seq: int) -> bytes:
    return b"%d|" % seq + random.Random(seq).randbytes(seq * 7919 % 300)


def check_msg(store: FileStore, seq: int) -> bool:
    """True when ``seq`` is present; fails if it is present with the wrong content."""
    m = store.load(seq)
    if m is None:
        return False
    assert (m.subject, m.hdr, m.data) == (subject_for(seq), hdr_for(seq), payload_for(seq)), seq
    return True


# -- the child ---------------------------------------------------------------------------------
def child_main() -> None:
    """``python -c 'from tests.store.test_file_crash import child_main; child_main()' DIR SEED MODE``"""
    directory, seed, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rnd = random.Random(seed)
    out = sys.stdout
    store = FileStore(
        directory,
        StoreLimits(),
        block_size=BLOCK,
        sync_always=mode.endswith("sync"),
        compression=mode.startswith("compressed"),
    )
    st = store.state()
    nxt = st.last_seq + 1

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    if mode.endswith("sync"):  # on a loop: with compression, sealed blocks go to the worker thread

        async def run() -> None:
            nonlocal nxt
            while True:
                for _ in range(rnd.randint(1, 60)):
                    seq = nxt
                    say(f"S {seq}")
                    assert store.store(subject_for(seq), hdr_for(seq), payload_for(seq))[0] == seq
                    store.when_durable(functools.partial(say, f"D {seq}"))
                    nxt += 1
                await asyncio.sleep(0)

        asyncio.run(run())
        return

    while True:
        for _ in range(rnd.randint(1, 40)):
            r = rnd.random()
            first = max(store.state().first_seq, 1)
            if r < 0.8:
                seq = nxt
                say(f"S {seq}")
                assert store.store(subject_for(seq), hdr_for(seq), payload_for(seq))[0] == seq
                nxt += 1
            elif r < 0.93:
                seq = rnd.randint(first, nxt)
                say(f"R {seq}")
                store.remove(seq, erase=rnd.random() < 0.3)
            elif r < 0.98:
                subj, bound = f"crash.{rnd.randrange(SUBJECTS)}", rnd.randint(first, nxt)
                say(f"P {subj} {bound}")
                store.purge(subj, seq=bound)
            else:
                bound = rnd.randint(first, max(first, nxt - 50))
                say(f"C {bound}")
                store.compact(bound)
        store.flush()
        say("F")


# -- the parent --------------------------------------------------------------------------------
@dataclass
class Log:
    """What the child announced, folded into "what must be there" and "what may be gone"."""

    live: set[int]
    last: int
    durable_live: set[int] = field(default_factory=set)
    durable_last: int = 0
    durable_gone: set[int] = field(default_factory=set)  # removed before the last F
    after: list[list[str]] = field(default_factory=list)  # operations after the last F
    synced: set[int] = field(default_factory=set)  # D lines

    def __post_init__(self) -> None:
        self.mark()

    def mark(self) -> None:
        self.durable_live = set(self.live)
        self.durable_last = self.last
        self.after = []

    def apply(self, words: list[str]) -> None:
        op = words[0]
        if op == "S":
            seq = int(words[1])
            assert seq == self.last + 1, (seq, self.last)
            self.live.add(seq)
            self.last = seq
        elif op == "R":
            self.live.discard(int(words[1]))
        elif op == "P":
            subj, bound = words[1], int(words[2])
            self.live -= {q for q in self.live if q < bound and subject_for(q) == subj}
        elif op == "C":
            self.live -= {q for q in self.live if q < int(words[1])}
        elif op == "F":
            self.durable_gone |= set(range(1, self.last + 1)) - self.live
            self.mark()
            return
        elif op == "D":
            self.synced.add(int(words[1]))
            return
        self.after.append(words)

    def maybe_gone(self) -> set[int]:
        """Durable messages that an operation after the last F may have removed."""
        gone: set[int] = set()
        cand = set(self.durable_live) | {int(w[1]) for w in self.after if w[0] == "S"}
        for w in self.after:
            if w[0] == "R":
                gone.add(int(w[1]))
            elif w[0] == "P":
                gone |= {q for q in cand if q < int(w[2]) and subject_for(q) == w[1]}
            elif w[0] == "C":
                gone |= {q for q in cand if q < int(w[1])}
        return gone


def run_child(directory: Path, seed: int, mode: str, kill_after: int, log: Log) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from tests.store.test_file_crash import child_main; child_main()",
            str(directory),
            str(seed),
            mode,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        lines = 0
        while lines < kill_after:
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"child ended early: {proc.stderr.read().decode()[-2000:]}")
            log.apply(line.decode().split())
            lines += 1
        proc.send_signal(signal.SIGKILL)
        for line in proc.stdout:  # whatever it announced before dying
            words = line.decode().split()
            if words:
                log.apply(words)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def verify_and_continue(directory: Path, log: Log) -> None:
    store = FileStore(directory, StoreLimits(), block_size=BLOCK)
    st = store.state()
    present = set(store.sequences(0, [">"]))
    assert st.msgs == len(present)
    maybe_gone = log.maybe_gone()
    must = (log.durable_live | log.synced) - maybe_gone
    assert must <= present, sorted(must - present)[:20]
    assert not (present & log.durable_gone), sorted(present & log.durable_gone)[:20]
    assert st.last_seq >= log.durable_last and st.last_seq <= log.last
    for q in present:
        assert check_msg(store, q)
    for q in log.durable_gone:
        assert store.load(q) is None
    # Appending goes on after the recovered end, and survives a clean restart.
    seq = st.last_seq + 1
    assert store.store(subject_for(seq), hdr_for(seq), payload_for(seq))[0] == seq
    store.close()
    store = FileStore(directory, StoreLimits(), block_size=BLOCK)
    assert check_msg(store, seq)
    present.add(seq)
    assert set(store.sequences(0, [">"])) == present
    store.close()
    # The next round starts from what is actually there.
    log.live = present
    log.last = seq
    log.durable_gone = set(range(1, seq + 1)) - present
    log.synced.clear()
    log.mark()


@pytest.mark.parametrize("mode", ["plain", "sync", "compressed", "compressed-sync"])
def test_sigkill_at_random_points(tmp_path: Path, mode: str) -> None:
    rnd = random.Random(f"crash-{mode}{os.environ.get('STORE_CRASH_SEED', '')}")
    directory = tmp_path / "s"
    log = Log(live=set(), last=0)
    rounds = 6 if mode.endswith("sync") else 12
    synced = 0
    for _ in range(rounds):
        run_child(directory, rnd.randrange(1 << 30), mode, rnd.randint(5, 3000), log)
        synced += len(log.synced)
        verify_and_continue(directory, log)
    assert log.last > 100  # the rounds did real work
    assert not mode.endswith("sync") or synced > 50
    blocks = list(directory.glob("*.blk"))
    assert len(blocks) >= 2
    if mode.startswith("compressed"):  # sealed blocks were compressed (inline, or in the worker)
        assert any(p.read_bytes()[:4] == b"PNSZ" for p in blocks)


# -- torn and corrupt files --------------------------------------------------------------------
def _write(directory: Path, n: int, block: int = 1 << 20) -> FileStore:
    store = FileStore(directory, StoreLimits(), block_size=block)
    for seq in range(1, n + 1):
        store.store(subject_for(seq), hdr_for(seq), payload_for(seq))
    store.flush()
    return store


def _crash(store: FileStore) -> None:
    """Leave the directory as a kill -9 after the last flush would."""
    os.close(store._wfd)
    for fd in store._rfds.values():
        os.close(fd)
    store._rfds.clear()
    store._closed = True


def _newest_block(directory: Path) -> Path:
    return sorted(directory.glob("*.blk"))[-1]


def _record_starts(store: FileStore) -> list[int]:
    return list(store._blocks[-1].offs)


@pytest.mark.parametrize("cut", [1, 3, 4, 11, 24, 27, "half", "whole-but-one"])
def test_truncated_tail_is_cut(tmp_path: Path, cut: int | str) -> None:
    d = tmp_path / "s"
    store = _write(d, 20)
    starts = _record_starts(store)
    _crash(store)
    path = _newest_block(d)
    size = path.stat().st_size
    last_len = size - starts[-1]
    n = {"half": last_len // 2, "whole-but-one": last_len - 1}.get(str(cut), cut)
    assert isinstance(n, int)
    with open(path, "r+b") as f:
        f.truncate(size - n)
    store = FileStore(d, StoreLimits())
    assert store.state().last_seq == 19 and store.load(20) is None
    assert all(check_msg(store, q) for q in range(1, 20))
    assert path.stat().st_size == starts[-1]  # the torn record is gone from the file
    assert store.store(subject_for(20), hdr_for(20), payload_for(20))[0] == 20
    store.close()
    store = FileStore(d, StoreLimits())
    assert all(check_msg(store, q) for q in range(1, 21))
    store.close()


@pytest.mark.parametrize("where", ["last-byte", "checksum", "payload", "length"])
def test_corrupt_tail_is_cut_not_served(tmp_path: Path, where: str) -> None:
    d = tmp_path / "s"
    store = _write(d, 10)
    starts = _record_starts(store)
    _crash(store)
    path = _newest_block(d)
    raw = bytearray(path.read_bytes())
    pos = {
        "last-byte": len(raw) - 1,
        "checksum": len(raw) - 3,
        "payload": starts[-1] + 40,
        "length": starts[-1],
    }[where]
    raw[pos] ^= 0x5A
    path.write_bytes(bytes(raw))
    store = FileStore(d, StoreLimits())
    assert store.load(10) is None and store.state().msgs == 9
    assert all(check_msg(store, q) for q in range(1, 10))
    assert store.store(subject_for(10), hdr_for(10), payload_for(10))[0] == 10
    store.close()
    store = FileStore(d, StoreLimits())
    assert all(check_msg(store, q) for q in range(1, 11))
    store.close()


def test_garbage_appended_is_cut(tmp_path: Path) -> None:
    d = tmp_path / "s"
    store = _write(d, 5)
    _crash(store)
    path = _newest_block(d)
    with open(path, "ab") as f:
        f.write(b"\x00" * 100)  # a power cut can leave zeroed pages past the end
    store = FileStore(d, StoreLimits())
    assert [q for q in range(1, 7) if store.load(q)] == [1, 2, 3, 4, 5]
    store.close()


def test_corrupt_record_in_middle_of_newest_block_cuts_from_there(tmp_path: Path) -> None:
    d = tmp_path / "s"
    store = _write(d, 10)
    starts = _record_starts(store)
    _crash(store)
    path = _newest_block(d)
    raw = bytearray(path.read_bytes())
    raw[starts[4] + 30] ^= 0xFF  # message 5
    path.write_bytes(bytes(raw))
    store = FileStore(d, StoreLimits())
    assert [q for q in range(1, 11) if check_msg(store, q)] == [1, 2, 3, 4]
    store.close()


def _flip_a_byte_of(d: Path, slot: int) -> tuple[FileStore, int]:
    """60 messages in several blocks, one byte of the record in ``slot`` of the first
    (closed) block flipped, the store reopened: (store, the damaged sequence)."""
    store = _write(d, 60, block=BLOCK)
    assert len(store._blocks) > 2
    b = store._blocks[0]
    victim, off = b.first + slot, b.offs[slot]
    store.close()
    path = d / f"{b.index:010d}.blk"
    raw = bytearray(path.read_bytes())
    raw[off + 30] ^= 0xFF
    path.write_bytes(bytes(raw))
    return FileStore(d, StoreLimits(), block_size=BLOCK), victim


def test_corrupt_record_in_closed_block_is_not_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, victim = _flip_a_byte_of(tmp_path / "s", slot=1)
    assert store.load(victim) is None  # detected by the checksum, dropped
    assert store.state().msgs == 59
    assert all(check_msg(store, q) for q in range(1, 61) if q != victim)
    assert [m.seq for m in [store.load_next([">"], victim)] if m] == [victim + 1]
    store.close()
    assert "corrupt" in caplog.text


def test_corrupt_record_inside_a_batched_read_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, victim = _flip_a_byte_of(tmp_path / "s", slot=2)
    got = store.load_batch([], 1, 10)
    assert [m.seq for m in got] == [q for q in range(1, 12) if q != victim]  # topped up past it
    assert all(
        (m.subject, m.hdr, m.data) == (subject_for(m.seq), hdr_for(m.seq), payload_for(m.seq)) for m in got
    )
    assert store.state().msgs == 59
    store.close()
    assert "corrupt" in caplog.text


def test_lost_index_files_are_rebuilt(tmp_path: Path) -> None:
    d = tmp_path / "s"
    store = _write(d, 80, block=BLOCK)
    for q in (3, 17, 40, 41):
        store.remove(q)
    store.purge(subject_for(5), seq=30)
    want = set(store.sequences(0, [">"]))
    store.close()
    idx = sorted(d.glob("*.idx"))
    idx[0].unlink()
    idx[2].write_bytes(idx[2].read_bytes()[:-7])  # torn
    store = FileStore(d, StoreLimits(), block_size=BLOCK)
    assert set(store.sequences(0, [">"])) == want
    assert all(check_msg(store, q) for q in want)
    store.close()


@pytest.mark.parametrize("keep", [0, 7, 15])
def test_block_torn_at_creation(tmp_path: Path, keep: int) -> None:
    d = tmp_path / "s"
    store = _write(d, 30, block=BLOCK)
    last = store._blocks[-1].index
    store.close()
    (d / f"{last + 1:010d}.blk").write_bytes(b"PNSB\x01\x00\x00\x00\x1f"[:keep])  # head cut short
    store = FileStore(d, StoreLimits(), block_size=BLOCK)
    assert all(check_msg(store, q) for q in range(1, 31))
    assert store.store(subject_for(31), hdr_for(31), payload_for(31))[0] == 31
    store.close()
    store = FileStore(d, StoreLimits(), block_size=BLOCK)
    assert all(check_msg(store, q) for q in range(1, 32))
    store.close()


def test_deletes_and_purges_survive_crash(tmp_path: Path) -> None:
    d = tmp_path / "s"
    store = _write(d, 100, block=BLOCK)
    store.remove(50)
    store.remove(1)
    store.purge(subject_for(3), seq=60)
    store.compact(10)
    want = set(store.sequences(0, [">"]))
    store.flush()
    _crash(store)
    store = FileStore(d, StoreLimits(), block_size=BLOCK)
    assert set(store.sequences(0, [">"])) == want
    assert store.state().first_seq == min(want)
    store.purge()
    store.flush()
    _crash(store)
    store = FileStore(d, StoreLimits(), block_size=BLOCK)
    st = store.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (0, 101, 100)
    assert len(list(d.glob("*.blk"))) == 1
    store.close()


def test_failed_write_leaves_no_torn_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    d = tmp_path / "s"
    store = _write(d, 5)
    real_write = os.write
    calls = 0

    def half_then_full(fd: int, data: bytes | memoryview) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    for seq in range(6, 9):
        store.store(subject_for(seq), hdr_for(seq), payload_for(seq))
    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError):
        store.flush()
    monkeypatch.setattr(os, "write", real_write)
    store.flush()  # the disk has room again: the kept buffer goes out whole
    _crash(store)
    store = FileStore(d, StoreLimits())
    assert all(check_msg(store, q) for q in range(1, 9))
    store.close()
