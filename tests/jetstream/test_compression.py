"""``compression: s2`` on both servers: accepted, honoured on disk (sealed blocks are
compressed), messages read back whole across restarts and across an update that turns
compression off (old blocks stay compressed, new ones are not), memory streams accept it."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.support import jetstream_server

T = 10.0
BLOCK = 8 << 20  # both servers seal a block at 8 MiB for a stream without limits


def payload(i: int) -> bytes:
    """Realistic JSON: an order with a few lines, random ids and amounts (~4 KB)."""
    rnd = random.Random(i)
    lines = [
        {
            "sku": f"SKU-{rnd.randrange(10_000):05d}",
            "name": rnd.choice(["widget", "gadget", "sprocket", "flange", "gizmo"])
            + f" mk{rnd.randrange(9)}",
            "qty": rnd.randrange(1, 20),
            "unit_price": round(rnd.uniform(0.5, 500), 2),
            "warehouse": rnd.choice(["AMS-1", "FRA-2", "IAD-3", "SIN-1"]),
        }
        for _ in range(24)
    ]
    order = {
        "order_id": f"{rnd.getrandbits(64):016x}",
        "seq": i,
        "customer": {"id": rnd.randrange(1_000_000), "tier": rnd.choice(["gold", "silver", "bronze"])},
        "status": rnd.choice(["new", "paid", "packed", "shipped"]),
        "created_at": f"2026-12-07T{rnd.randrange(24):02d}:{rnd.randrange(60):02d}:{rnd.randrange(60):02d}Z",
        "lines": lines,
    }
    return json.dumps(order).encode()


async def api(nc: Any, subject: str, body: Any = None) -> dict[str, Any]:
    data = b"" if body is None else json.dumps(body).encode()
    r = await nc.request(subject, data, timeout=T)
    return dict(json.loads(r.data))


async def publish_range(js: Any, lo: int, hi: int) -> None:
    for start in range(lo, hi, 100):
        acks = await asyncio.gather(
            *(js.publish("z.o", payload(i)) for i in range(start, min(hi, start + 100)))
        )
        assert [a.seq for a in acks] == list(range(start, min(hi, start + 100)))


async def read_all(nc: Any, last: int) -> None:
    """Every message back, in order, through an ordered consumer (batched reads)."""
    js = nc.jetstream(timeout=T)
    sub = await js.subscribe("z.o", ordered_consumer=True)
    for i in range(1, last + 1):
        m = await sub.next_msg(timeout=T)
        assert m.metadata.sequence.stream == i and m.data == payload(i), i
    await sub.unsubscribe()
    for i in (1, last // 3, last):  # random access too (single loads)
        assert (await js.get_msg("Z", i)).data == payload(i)


def state_of(info: dict[str, Any]) -> dict[str, Any]:
    """The stream's state without consumer_count (ordered consumers come and go)."""
    return {k: v for k, v in info["state"].items() if k != "consumer_count"}


def disk(store: Path) -> int:
    return sum(p.stat().st_size for p in store.rglob("*.blk"))


async def wait_compressed(store: Path, logical: int, ratio: float) -> int:
    """Compression runs in the background once a block is sealed: wait for it."""
    for _ in range(600):
        size = disk(store)
        if size < logical * ratio:
            return size
        await asyncio.sleep(0.05)
    pytest.fail(f"no compression seen: {disk(store)} bytes on disk for {logical}")


@pytest.mark.parametrize("kind", ["pynatsd", "reference"])
async def test_s2_stream_restart_and_update(kind: str, tmp_path: Path) -> None:
    store = tmp_path / "store"
    n1 = BLOCK // len(payload(1)) + 600  # one sealed block and a bit
    async with jetstream_server(kind, store) as url:
        nc = await nats.connect(url)
        js = nc.jetstream(timeout=T)
        r = await api(nc, "$JS.API.STREAM.CREATE.Z", {"name": "Z", "subjects": ["z.>"], "compression": "s2"})
        assert r["config"]["compression"] == "s2", r
        await publish_range(js, 1, n1 + 1)
        before = await api(nc, "$JS.API.STREAM.INFO.Z")
        logical = before["state"]["bytes"]
        assert before["state"]["messages"] == n1
        # state.bytes counts records as written, not compressed (the reference's file record size)
        assert logical == sum(len("z.o") + len(payload(i)) + 30 for i in range(1, n1 + 1))
        assert await wait_compressed(store, logical, 0.75) > 0
        await read_all(nc, n1)
        await nc.close()
    async with jetstream_server(kind, store) as url:
        nc = await nats.connect(url)
        js = nc.jetstream(timeout=T)
        after = await api(nc, "$JS.API.STREAM.INFO.Z")
        assert state_of(after) == state_of(before) and after["config"]["compression"] == "s2"
        await read_all(nc, n1)
        # Compression off: blocks sealed from now on stay plain; the old ones stay compressed.
        # (The reference's running store keeps the setting it was opened with until a
        # restart; pynatsd applies it at once. After a restart both agree.)
        r = await api(
            nc, "$JS.API.STREAM.UPDATE.Z", {"name": "Z", "subjects": ["z.>"], "compression": "none"}
        )
        assert r["config"]["compression"] == "none", r
        await nc.close()
    async with jetstream_server(kind, store) as url:
        nc = await nats.connect(url)
        js = nc.jetstream(timeout=T)
        n2 = n1 + BLOCK // len(payload(1)) + 600
        await publish_range(js, n1 + 1, n2 + 1)
        await js.delete_msg("Z", 5)  # in the compressed block
        await api(nc, "$JS.API.STREAM.MSG.DELETE.Z", {"seq": 7})  # erased from the compressed block
        state = state_of(await api(nc, "$JS.API.STREAM.INFO.Z"))
        assert state["messages"] == n2 - 2
        assert disk(store) > state["bytes"] * 0.5  # the new block was not compressed
        await nc.close()
    async with jetstream_server(kind, store) as url:
        nc = await nats.connect(url)
        js = nc.jetstream(timeout=T)
        info = await api(nc, "$JS.API.STREAM.INFO.Z")
        assert state_of(info) == state and info["config"]["compression"] == "none"
        sub = await js.subscribe("z.o", ordered_consumer=True)
        want = [i for i in range(1, n2 + 1) if i not in (5, 7)]
        for i in want:
            m = await sub.next_msg(timeout=T)
            assert m.metadata.sequence.stream == i and m.data == payload(i), i
        await sub.unsubscribe()
        # purge everything: compressed and plain blocks both go
        r = await api(nc, "$JS.API.STREAM.PURGE.Z", {"keep": 10})
        assert r["purged"] == len(want) - 10
        assert (await js.get_msg("Z", n2)).data == payload(n2)
        await nc.close()


async def test_s2_on_memory_streams_and_updates(js_url: str) -> None:
    """The reference accepts s2 on a memory stream (and ignores it), and lets an update
    switch compression either way; INFO shows the configured value."""
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    r = await api(
        nc,
        "$JS.API.STREAM.CREATE.M",
        {"name": "M", "storage": "memory", "subjects": ["m"], "compression": "s2"},
    )
    assert r["config"]["compression"] == "s2" and r["config"]["storage"] == "memory", r
    assert (await js.publish("m", payload(1))).seq == 1
    assert (await js.get_msg("M", 1)).data == payload(1)
    r = await api(nc, "$JS.API.STREAM.CREATE.F", {"name": "F", "subjects": ["f"]})
    assert r["config"]["compression"] == "none"
    for value in ("s2", "none", "s2"):
        r = await api(nc, "$JS.API.STREAM.UPDATE.F", {"name": "F", "subjects": ["f"], "compression": value})
        assert r["config"]["compression"] == value, r
    assert (await api(nc, "$JS.API.STREAM.INFO.F"))["config"]["compression"] == "s2"
    r = await api(nc, "$JS.API.STREAM.UPDATE.F", {"name": "F", "subjects": ["f"]})  # left out: none
    assert r["config"]["compression"] == "none"
    r = await api(nc, "$JS.API.STREAM.CREATE.X", {"name": "X", "compression": "lz4"})
    assert r["error"] == {
        "code": 400,
        "err_code": 10025,
        "description": "invalid JSON: unknown compression algorithm",
    }
    await nc.close()
