"""Compressed blocks in the file engine (``compression: s2``): sealed blocks rewritten as
compressed chunks, read back through the same offsets, mixed with plain blocks, removal,
erasure, purge and compaction on them, recovery with and without their index files,
corruption, and a real process killed while a block is being compressed."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pynatsd.store import compress
from pynatsd.store.base import StoreLimits
from pynatsd.store.file import FileStore

REPO = Path(__file__).resolve().parents[2]
BLOCK = 16 << 10


def subject_for(seq: int) -> str:
    return f"z.{seq % 5}"


def hdr_for(seq: int) -> bytes:
    return b"NATS/1.0\r\nSeq: %d\r\n\r\n" % seq if seq % 4 == 0 else b""


def payload_for(seq: int) -> bytes:
    """JSON-ish text with random ids and amounts (compresses to about a third)."""
    rnd = random.Random(seq)
    return json.dumps(
        {
            "seq": seq,
            "id": f"{rnd.getrandbits(48):012x}",
            "customer": rnd.choice(["acme", "globex", "initech", "umbrella"]),
            "items": [{"sku": f"SKU-{rnd.randrange(999):03d}", "qty": rnd.randrange(9)} for _ in range(3)],
            "total": round(rnd.uniform(1, 999), 2),
        }
    ).encode()


def check(store: FileStore, seq: int) -> bool:
    m = store.load(seq)
    if m is None:
        return False
    assert (m.subject, m.hdr, m.data) == (subject_for(seq), hdr_for(seq), payload_for(seq)), seq
    return True


def fill(store: FileStore, lo: int, hi: int) -> None:
    for seq in range(lo, hi):
        assert store.store(subject_for(seq), hdr_for(seq), payload_for(seq))[0] == seq
    store.flush()


def compressed_files(d: Path) -> list[Path]:
    return [p for p in sorted(d.glob("*.blk")) if p.read_bytes()[:4] == compress.MAGIC]


def plain_files(d: Path) -> list[Path]:
    return [p for p in sorted(d.glob("*.blk")) if p.read_bytes()[:4] != compress.MAGIC]


def logical_bytes(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return compress.logical(fd, compress.read_table(fd))
    finally:
        os.close(fd)


def test_sealed_blocks_are_compressed_and_read_back(tmp_path: Path) -> None:
    d = tmp_path / "s"
    store = FileStore(d, StoreLimits(), block_size=BLOCK, compression=True)
    fill(store, 1, 1001)
    assert len(store._blocks) > 5
    assert all(b.z is not None for b in store._blocks[:-1]) and store._blocks[-1].z is None
    assert len(compressed_files(d)) == len(store._blocks) - 1 and len(plain_files(d)) == 1
    total = store.state().bytes
    on_disk = sum(p.stat().st_size for p in d.glob("*.blk"))
    assert on_disk < total * 0.6, (on_disk, total)
    assert all(check(store, q) for q in range(1, 1001))
    got = store.load_batch([">"], 1, 1000)
    assert [m.seq for m in got] == list(range(1, 1001))
    assert all(m.data == payload_for(m.seq) and m.hdr == hdr_for(m.seq) for m in got)
    last = store.load_last("z.3")
    prev = store.load_prev("z.2", 500)
    assert last is not None and last.seq == 998 and prev is not None and prev.seq == 497
    nxt = store.load_next(["z.1"], 2)
    assert nxt is not None and nxt.seq == 6
    before = store.state()
    store.close()
    # a restart needs no compression setting to read them
    store = FileStore(d, StoreLimits(), block_size=BLOCK)
    assert store.state() == before
    assert all(check(store, q) for q in range(1, 1001))
    store.close()


def test_mixed_blocks_after_the_setting_changes(tmp_path: Path) -> None:
    d = tmp_path / "s"
    store = FileStore(d, StoreLimits(), block_size=BLOCK)
    fill(store, 1, 301)
    plain = len(store._blocks) - 1
    store.set_compression(True)
    fill(store, 301, 601)
    store.set_compression(False)
    fill(store, 601, 901)
    zs = [b.z is not None for b in store._blocks]
    assert zs[:plain] == [False] * plain and any(zs) and not zs[-1]
    assert not zs[-2]  # sealed after compression went off
    assert all(check(store, q) for q in range(1, 901))
    store.close()
    store = FileStore(d, StoreLimits(), block_size=BLOCK, compression=True)
    assert [b.z is not None for b in store._blocks] == zs  # existing blocks stay as written
    assert all(check(store, q) for q in range(1, 901))
    assert [m.seq for m in store.load_batch([], 250, 400)] == list(range(250, 650))
    store.close()


def test_remove_erase_purge_compact_on_compressed_blocks(tmp_path: Path) -> None:
    d = tmp_path / "s"
    store = FileStore(d, StoreLimits(), block_size=BLOCK, compression=True)
    fill(store, 1, 801)
    b0, b2 = store._blocks[0], store._blocks[2]
    assert b0.z is not None and b2.z is not None
    store.remove(3)
    store.remove(b2.first + 1, erase=True)
    store.remove(b2.first + 2, erase=True)
    store.flush()
    erased = [payload_for(b2.first + 1), payload_for(b2.first + 2)]
    raw = logical_bytes(d / f"{b2.index:010d}.blk")
    assert not any(p in raw for p in erased)  # the bytes are gone from the compressed file
    assert payload_for(b2.first + 3) in raw
    gone = {3, b2.first + 1, b2.first + 2}
    assert store.purge("z.1") == len({q for q in range(1, 801) if q % 5 == 1} - gone)
    gone |= {q for q in range(1, 801) if q % 5 == 1}
    compact_to = store._blocks[1].first + 2
    first_file = d / f"{b0.index:010d}.blk"
    below = len([q for q in store.sequences(0, [">"]) if q < compact_to])
    assert store.compact(compact_to) == below > 0
    gone |= set(range(1, compact_to))
    store.flush()
    assert not first_file.exists()  # a compressed block whose messages are all gone is deleted
    live = [q for q in range(1, 801) if q not in gone]
    assert list(store.sequences(0, [">"])) == live
    assert all(check(store, q) for q in live)
    state = store.state()
    store.close()
    store = FileStore(d, StoreLimits(), block_size=BLOCK)
    assert store.state() == state
    assert list(store.sequences(0, [">"])) == live and all(check(store, q) for q in live)
    raw = logical_bytes(d / f"{b2.index:010d}.blk")
    assert not any(p in raw for p in erased)
    store.close()


def test_lost_index_of_compressed_block_is_replayed(tmp_path: Path) -> None:
    d = tmp_path / "s"
    store = FileStore(d, StoreLimits(), block_size=BLOCK, compression=True)
    fill(store, 1, 501)
    store.remove(7)
    store.remove(200)
    store.close()
    for idx in d.glob("*.idx"):
        idx.unlink()
    store = FileStore(d, StoreLimits(), block_size=BLOCK)
    live = [q for q in range(1, 501) if q not in (7, 200)]
    assert list(store.sequences(0, [">"])) == live
    assert all(check(store, q) for q in live)
    assert fill(store, 501, 511) is None and check(store, 510)
    store.close()


def test_corrupt_chunk_loses_only_its_records(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    d = tmp_path / "s"
    store = FileStore(d, StoreLimits(), block_size=256 << 10, compression=True)
    fill(store, 1, 2001)
    b = store._blocks[0]
    assert b.z is not None and len(b.z.offs) >= 3
    chunk = 1  # its records (and the ones spanning into it) are lost, nothing else
    lo, hi = chunk * compress.CHUNK, (chunk + 1) * compress.CHUNK
    hit = {b.first + j for j, off in enumerate(b.offs) if off < hi and off + b.sizes[j] + 6 > lo}
    path = d / f"{b.index:010d}.blk"
    zoff = b.z.offs[chunk]
    store.close()
    raw = bytearray(path.read_bytes())
    raw[zoff + 100] ^= 0xFF
    path.write_bytes(bytes(raw))
    caplog.set_level(logging.ERROR)
    store = FileStore(d, StoreLimits(), block_size=256 << 10)
    present = [q for q in range(1, 2001) if check(store, q)]
    assert set(range(1, 2001)) - set(present) == hit
    assert store.state().msgs == 2000 - len(hit)
    batch = store.load_batch([], 1, 2000)
    assert [m.seq for m in batch] == present
    assert "corrupt" in caplog.text
    fill(store, 2001, 2011)
    store.close()


def test_corrupt_head_of_compressed_block_skips_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    d = tmp_path / "s"
    store = FileStore(d, StoreLimits(), block_size=BLOCK, compression=True)
    fill(store, 1, 501)
    b = store._blocks[1]
    lost = set(range(b.first, b.first + len(b.offs)))
    store.close()
    path = d / f"{b.index:010d}.blk"
    raw = bytearray(path.read_bytes())
    raw[30] ^= 0xFF  # inside the chunk table
    path.write_bytes(bytes(raw))
    store = FileStore(d, StoreLimits(), block_size=BLOCK)
    assert list(store.sequences(0, [">"])) == [q for q in range(1, 501) if q not in lost]
    assert all(check(store, q) for q in range(1, 501) if q not in lost)
    assert "compressed block" in caplog.text
    store.close()


async def test_background_compression_with_a_running_loop(tmp_path: Path) -> None:
    d = tmp_path / "s"
    store = FileStore(d, StoreLimits(), block_size=BLOCK, compression=True)
    for seq in range(1, 1001):
        store.store(subject_for(seq), hdr_for(seq), payload_for(seq))
        if seq % 50 == 0:
            assert all(check(store, q) for q in range(max(1, seq - 60), seq + 1))  # reads meanwhile
            if seq == 500:
                store.remove(3, erase=True)  # erased while blocks are being compressed
            await asyncio.sleep(0)
    for _ in range(1200):  # up to 30 s on a loaded machine
        if all(b.z is not None for b in store._blocks[:-1]) and store._z.idle():
            break
        await asyncio.sleep(0.025)
    assert all(b.z is not None for b in store._blocks[:-1])
    assert all(check(store, q) for q in range(1, 1001) if q != 3) and store.load(3) is None
    assert payload_for(3) not in logical_bytes(d / f"{store._blocks[0].index:010d}.blk")
    store.close()
    assert not list(d.glob("*.tmp"))
    store = FileStore(d, StoreLimits(), block_size=BLOCK)
    assert all(check(store, q) for q in range(1, 1001) if q != 3)
    store.close()


# -- kill -9 while a block is being compressed -------------------------------------------------
def child_main() -> None:
    """A store on a running loop compressing sealed blocks in its worker thread; the
    compression job stops after writing its temporary file (whole, or cut at ``half``), says
    ``T``, and waits to be killed while the loop goes on storing and flushing (``F n``)."""
    import time

    directory, how = sys.argv[1], sys.argv[2]
    real = compress.rewrite

    def stalled(src: str, tmp: str, length: int, patches: list[tuple[int, bytes]]) -> compress.ZTable:
        z = real(src, tmp, length, patches)
        if how == "half":
            os.truncate(tmp, os.path.getsize(tmp) // 2)
        os.write(1, b"T\n")  # one write per line: two threads print
        time.sleep(3600)
        return z

    compress.rewrite = stalled  # type: ignore[assignment]

    async def run() -> None:
        store = FileStore(directory, StoreLimits(), block_size=BLOCK, compression=True)
        seq = store.state().last_seq + 1
        while True:
            for _ in range(20):
                store.store(subject_for(seq), hdr_for(seq), payload_for(seq))
                seq += 1
            store.flush()
            os.write(1, b"F %d\n" % (seq - 1))
            await asyncio.sleep(0)

    asyncio.run(run())


@pytest.mark.parametrize("how", ["whole", "half"])
def test_kill_during_compression_loses_nothing(tmp_path: Path, how: str) -> None:
    d = tmp_path / "s"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from tests.store.test_file_compression import child_main; child_main()",
            str(d),
            how,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    flushed, stalled, after = 0, False, 0
    try:
        while after < 30:  # keep storing for a while after the compression job stalled
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"child ended early: {proc.stderr.read().decode()[-2000:]}")
            words = line.split()
            if words[0] == b"T":
                stalled = True
            elif words[0] == b"F":
                flushed = int(words[1])
                after += stalled
        assert list(d.glob("*.tmp")), "the job's temporary file is there when the process dies"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    store = FileStore(d, StoreLimits(), block_size=BLOCK, compression=True)
    assert not list(d.glob("*.tmp"))  # removed by recovery
    assert plain_files(d)[0].name == "0000000001.blk"  # the block being compressed stayed as it was
    st = store.state()
    assert st.last_seq >= flushed and st.msgs == st.last_seq
    assert all(check(store, q) for q in range(1, st.last_seq + 1))
    fill(store, st.last_seq + 1, st.last_seq + 400)  # goes on, and compresses again
    assert compressed_files(d)
    store.close()
    store = FileStore(d, StoreLimits(), block_size=BLOCK)
    assert all(check(store, q) for q in range(1, st.last_seq + 400))
    store.close()


def test_damaged_first_chunk_without_index_skips_the_block(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Replay needs the block's head from its first chunk: without it (and without the
    ``.idx``) the block is skipped as a plain block without a valid head; the rest is served."""
    d = tmp_path / "s"
    store = FileStore(d, StoreLimits(), block_size=BLOCK, compression=True)
    fill(store, 1, 501)
    b = store._blocks[1]
    assert b.z is not None
    lost = set(range(b.first, b.first + len(b.offs)))
    zoff = b.z.offs[0]
    store.close()
    path = d / f"{b.index:010d}.blk"
    raw = bytearray(path.read_bytes())
    raw[zoff + 10] ^= 0xFF
    path.write_bytes(bytes(raw))
    for idx in d.glob("*.idx"):
        idx.unlink()
    store = FileStore(d, StoreLimits(), block_size=BLOCK)
    assert list(store.sequences(0, [">"])) == [q for q in range(1, 501) if q not in lost]
    assert all(check(store, q) for q in range(1, 501) if q not in lost)
    assert "skipping block" in caplog.text
    fill(store, 501, 511)
    store.close()
