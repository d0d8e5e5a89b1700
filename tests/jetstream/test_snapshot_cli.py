"""``nats stream backup`` / ``nats stream restore`` (natscli v0.5.0) against both servers.

The CLI reads the snapshot through an S2 reader while it writes it (its progress
tracking): pynatsd's archive must be a valid S2/Snappy stream for the backup to succeed.
Needs Go (tests/support/gotools.py): skipped without it, failed under CI=true.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import nats
from nats.js.api import ConsumerConfig

from tests.support.gotools import nats_cli

T = 10.0


async def run_nats(url: str, *args: str) -> str:
    cli = nats_cli()

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [cli, "--server", url, *args], capture_output=True, text=True, timeout=120, check=False
        )

    done = await asyncio.to_thread(run)
    assert done.returncode == 0, f"nats {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout


async def messages(js: Any, stream: str, n: int) -> list[tuple[int, str, bytes]]:
    out = []
    for seq in range(1, n + 1):
        try:
            m = await js.get_msg(stream, seq)
        except nats.js.errors.NotFoundError:
            continue
        out.append((m.seq, m.subject, m.data))
    return out


async def test_nats_cli_backup_and_restore(js_url: str, tmp_path: Path) -> None:
    nats_cli()  # skip (or fail under CI) before any set-up when Go is missing
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await js.add_stream(name="ORDERS", subjects=["orders.>"])
    for i in range(300):
        await js.publish(f"orders.{i % 7}", b"order %d " % i * 40)
    await js.delete_msg("ORDERS", 10)
    await js.add_consumer("ORDERS", ConsumerConfig(durable_name="PROC", ack_policy="explicit"))
    sub = await js.pull_subscribe_bind("PROC", "ORDERS")
    for m in await sub.fetch(20, timeout=T):
        await m.ack_sync()
    await sub.unsubscribe()
    before = await messages(js, "ORDERS", 300)
    info = await js.stream_info("ORDERS")

    target = tmp_path / "backup"
    await run_nats(js_url, "stream", "backup", "ORDERS", str(target), "--consumers")
    meta = json.loads((target / "backup.json").read_text())
    assert meta["config"]["name"] == "ORDERS" and meta["state"]["messages"] == 299
    assert any(p.name.startswith("stream.") and p.stat().st_size > 0 for p in target.iterdir())

    await js.delete_stream("ORDERS")
    await run_nats(js_url, "stream", "restore", str(target))
    restored = await js.stream_info("ORDERS")
    assert restored.state.messages == info.state.messages == 299
    assert (restored.state.first_seq, restored.state.last_seq) == (1, 300)
    assert await messages(js, "ORDERS", 300) == before
    c = await js.consumer_info("ORDERS", "PROC")
    assert c.ack_floor.stream_seq == 21 and c.num_pending == 279
    await nc.close()


async def test_nats_cli_backup_moves_between_servers(tmp_path: Path) -> None:
    """A backup the CLI takes from one server, restored by the CLI on the other."""
    from tests.support import jetstream_server, require_reference

    nats_cli()
    require_reference()
    for source, target in (("reference", "pynatsd"), ("pynatsd", "reference")):
        backup = tmp_path / f"{source}-backup"
        async with jetstream_server(source, tmp_path / source) as url:
            nc = await nats.connect(url)
            js = nc.jetstream(timeout=T)
            await js.add_stream(name="ORDERS", subjects=["orders.>"])
            for i in range(200):
                await js.publish(f"orders.{i % 5}", b"order %d " % i * 30)
            await js.delete_msg("ORDERS", 3)
            await js.add_consumer("ORDERS", ConsumerConfig(durable_name="PROC", ack_policy="explicit"))
            sub = await js.pull_subscribe_bind("PROC", "ORDERS")
            for m in await sub.fetch(10, timeout=T):
                await m.ack_sync()
            await sub.unsubscribe()
            before = await messages(js, "ORDERS", 200)
            await run_nats(url, "stream", "backup", "ORDERS", str(backup), "--consumers")
            await nc.close()
        async with jetstream_server(target, tmp_path / f"{target}-from-{source}") as url:
            nc = await nats.connect(url)
            js = nc.jetstream(timeout=T)
            await run_nats(url, "stream", "restore", str(backup))
            assert await messages(js, "ORDERS", 200) == before, (source, target)
            c = await js.consumer_info("ORDERS", "PROC")
            assert (c.ack_floor.stream_seq, c.num_pending) == (11, 189), (source, target)
            await nc.close()
