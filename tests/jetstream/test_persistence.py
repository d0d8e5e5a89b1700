"""Streams survive restarts, and a SIGKILL never loses a message whose PubAck was sent nor
redelivers one whose AckSync was answered."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

import pynatsd
from tests.support import ServerProcess, free_port, pynatsd_command

T = 10.0


async def test_streams_and_messages_survive_restart(tmp_path: Path) -> None:
    store = str(tmp_path / "js")
    async with pynatsd.Server(jetstream=True, store_dir=store) as srv:
        nc = await nats.connect(srv.client_url)
        js = nc.jetstream(timeout=T)
        await js.add_stream(name="F", subjects=["f.*"], max_msgs_per_subject=10)
        await js.add_stream(name="MEM", subjects=["m"], storage=nats.js.api.StorageType.MEMORY)
        for i in range(100):
            await js.publish(
                f"f.{i % 3}", f"payload-{i}".encode(), headers={"Nats-Msg-Id": f"id-{i}", "X": str(i)}
            )
        await js.publish("m", b"volatile")
        await js.delete_msg("F", 95)
        before = await js.stream_info("F")
        await nc.close()
    async with pynatsd.Server(jetstream=True, store_dir=store) as srv:
        nc = await nats.connect(srv.client_url)
        js = nc.jetstream(timeout=T)
        after = await js.stream_info("F")
        assert after.state == before.state
        assert after.config.max_msgs_per_subject == 10
        m = await js.get_msg("F", 100)  # i = 99
        assert (m.subject, m.data, m.headers) == ("f.0", b"payload-99", {"Nats-Msg-Id": "id-99", "X": "99"})
        # de-duplication state is rebuilt from the stored message ids
        dup = await js.publish("f.0", b"again", headers={"Nats-Msg-Id": "id-99"})
        assert dup.duplicate and dup.seq == 100
        nxt = await js.publish("f.1", b"new")
        assert nxt.seq == 101
        # a memory stream keeps its definition, not its messages
        mem = await js.stream_info("MEM")
        assert mem.state.messages == 0
        await nc.close()


CHILD = r"""
import asyncio, sys, nats
async def main(url, count):
    nc = await nats.connect(url, max_reconnect_attempts=0)
    js = nc.jetstream(timeout=5)
    i = 0
    while i < count:
        acks = await asyncio.gather(*(js.publish("crash.x", b"m-%d" % (i + k), headers={"N": str(i + k)}) for k in range(50)))
        for k, ack in enumerate(acks):
            print(ack.seq, i + k, flush=True)
        i += 50
asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def _start(store: Path, port: int, *extra: str) -> ServerProcess:
    server = ServerProcess(pynatsd_command(), "-js", "-sd", str(store), *extra, port=port, name="pynatsd")
    return server.start()


@pytest.mark.parametrize("sync_always", [False, True])
async def test_sigkill_loses_no_acknowledged_message(tmp_path: Path, sync_always: bool) -> None:
    store = tmp_path / "js"
    port = free_port()
    extra: tuple[str, ...] = ()
    if sync_always:
        conf = tmp_path / "s.conf"
        conf.write_text("jetstream { sync_interval: always }\n")
        extra = ("-c", str(conf))
    rnd = random.Random(1234 + sync_always)
    acked: dict[int, int] = {}
    server = _start(store, port, *extra)
    try:
        nc = await nats.connect(f"nats://127.0.0.1:{port}")
        await nc.jetstream(timeout=T).add_stream(name="CRASH", subjects=["crash.>"])
        await nc.close()
        for _round in range(3):
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                CHILD,
                f"nats://127.0.0.1:{port}",
                "100000",
                stdout=asyncio.subprocess.PIPE,
            )
            assert child.stdout is not None
            target = rnd.randint(200, 2000)
            while True:
                line = await asyncio.wait_for(child.stdout.readline(), T)
                if not line:
                    break
                seq, n = map(int, line.split())
                acked[seq] = n
                if len(acked) >= target:
                    os.kill(server.pid, signal.SIGKILL)
                    break
            server.wait(T)
            # no PubAck can come any more: stop the child and read what it had already printed
            child.kill()
            rest, _ = await asyncio.wait_for(child.communicate(), T)
            for line in rest.splitlines():
                seq, n = map(int, line.split())
                acked[seq] = n
            server = _start(store, port, *extra)
            nc = await nats.connect(f"nats://127.0.0.1:{port}")
            js = nc.jetstream(timeout=T)
            info = await js.stream_info("CRASH")
            assert info.state.messages >= len(acked)
            for seq in [*rnd.sample(sorted(acked), min(200, len(acked))), max(acked)]:
                m = await js.get_msg("CRASH", seq)
                assert m.data == b"m-%d" % acked[seq] and m.headers == {"N": str(acked[seq])}
            await nc.close()
            target_total = len(acked)
            assert target_total > 0
    finally:
        server.kill()
        server.wait(T)


CONSUMER_CHILD = r"""
import asyncio, sys, nats
async def main(url):
    nc = await nats.connect(url, max_reconnect_attempts=0)
    js = nc.jetstream(timeout=5)
    sub = await js.pull_subscribe("work.>", durable="W", stream="WORK")
    while True:
        for msg in await sub.fetch(50, timeout=5):
            print("acking", msg.metadata.sequence.stream, flush=True)
            await msg.ack_sync()
            print("acked", msg.metadata.sequence.stream, flush=True)
asyncio.run(main(sys.argv[1]))
"""


async def test_sigkill_never_redelivers_an_answered_ack(tmp_path: Path) -> None:
    """A durable consumer's acks survive kill -9 once answered (AckSync); messages delivered
    but not acked come back after ack_wait; nothing is lost.

    The kill can fall between the server recording an ack and its answer reaching the child
    (the child acks one message at a time, so at most one ack per kill): that message is in
    doubt, and may or may not come back. Every other message is either answered (and must never
    come back) or must come back."""
    store = tmp_path / "js"
    port = free_port()
    total = 3000
    rnd = random.Random(4321)
    acked: set[int] = set()  # AckSync answered
    in_doubt: set[int] = set()  # ack sent, no answer seen before the kill

    def take(line: bytes) -> None:
        kind, text = line.split()
        seq = int(text)
        if kind == b"acking":
            assert seq not in acked, f"{seq} redelivered after its ack was answered"
            in_doubt.add(seq)
        else:
            in_doubt.discard(seq)
            acked.add(seq)

    server = _start(store, port)
    try:
        nc = await nats.connect(f"nats://127.0.0.1:{port}")
        js = nc.jetstream(timeout=T)
        await js.add_stream(name="WORK", subjects=["work.>"])
        for i in range(0, total, 100):
            await asyncio.gather(*(js.publish(f"work.{(i + k) % 7}", b"w-%d" % (i + k)) for k in range(100)))
        await js.add_consumer(
            "WORK", ConsumerConfig(durable_name="W", ack_policy=AckPolicy.EXPLICIT, ack_wait=1.0)
        )
        await nc.close()
        for kills in range(1, 3):
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                CONSUMER_CHILD,
                f"nats://127.0.0.1:{port}",
                stdout=asyncio.subprocess.PIPE,
            )
            assert child.stdout is not None
            target = len(acked) + rnd.randint(100, 900)
            while len(acked) < target:
                line = await asyncio.wait_for(child.stdout.readline(), T)
                assert line, "the consumer child stopped early"
                take(line)
            os.kill(server.pid, signal.SIGKILL)
            server.wait(T)
            child.kill()
            rest, _ = await asyncio.wait_for(child.communicate(), T)
            for line in rest.splitlines():  # answered before the kill, printed after
                take(line)
            assert len(in_doubt) <= kills, f"more than one ack in doubt per kill: {in_doubt}"
            server = _start(store, port)
        # everything not acked arrives (again, if it was pending at the kill); nothing acked does.
        # Fetch until the consumer has nothing left: no message not yet delivered, no ack owed
        # (a delivered, unacked message comes back after ack_wait); an ack in doubt that the
        # server recorded is not owed, so its message does not come back.
        nc = await nats.connect(f"nats://127.0.0.1:{port}")
        js = nc.jetstream(timeout=T)
        sub = await js.pull_subscribe("work.>", durable="W", stream="WORK")
        rest_seqs: set[int] = set()
        while (info := await js.consumer_info("WORK", "W")).num_pending or info.num_ack_pending:
            for msg in await sub.fetch(500, timeout=T):
                seq = msg.metadata.sequence.stream
                assert seq not in acked, f"{seq} redelivered after its ack was answered"
                assert msg.data == b"w-%d" % (seq - 1)
                rest_seqs.add(seq)
                await msg.ack_sync()  # recorded before the next consumer info
        lost = set(range(1, total + 1)) - acked - rest_seqs - in_doubt
        assert not lost, f"never answered, never redelivered: {sorted(lost)}"
        await nc.close()
    finally:
        server.kill()
        server.wait(T)


async def test_domain_api_prefix_and_puback(tmp_path: Path) -> None:
    async with pynatsd.Server(jetstream=True, store_dir=str(tmp_path), jetstream_domain="hub") as srv:
        nc = await nats.connect(srv.client_url)
        js = nc.jetstream(domain="hub", timeout=T)
        await js.add_stream(name="D", subjects=["d"])
        ack = await js.publish("d", b"x")
        assert (ack.stream, ack.seq, ack.domain) == ("D", 1, "hub")
        info = await js.account_info()
        assert info.domain == "hub" and info.streams == 1
        await nc.close()
