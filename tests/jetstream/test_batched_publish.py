"""Batched publish (``allow_batched``, the reply subject ``<inbox>.<id>.<flow>.<gap>.<seq>.<op>.$FI``)
on pynatsd and the reference: the same flow acks, gap reports, errors and PubAcks."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.support import jetstream_server
from tests.support.launcher import start_server

T = 10.0
START, APPEND, COMMIT, EOB, PING = range(5)


def R(batch: str, seq: int | str, op: int, flow: int = 0, gap: str = "fail") -> str:
    return f"IN.{batch}.{flow}.{gap}.{seq}.{op}.$FI"


def err(code: int, err_code: int, description: str, stream: str = "F") -> str:
    return json.dumps(
        {
            "error": {"code": code, "err_code": err_code, "description": description},
            "stream": stream,
            "seq": 0,
        },
        separators=(",", ":"),
    )


INVALID = err(400, 10206, "batch publish pattern is invalid")
UNKNOWN = err(400, 10208, "batch publish ID unknown")

# (subject, data, reply, headers, the replies expected on the reply subject, in order)
Step = tuple[str, bytes, str, dict[str, str] | None, list[str]]

STEPS: list[Step] = [
    ("f.a", b"0", R("u", 0, START), None, [INVALID]),  # sequence 0
    ("f.a", b"0", R("u", 1, EOB), None, [INVALID]),  # end marker first
    ("f.a", b"0", R("u", 1, APPEND), None, [INVALID]),  # append at 1
    ("f.a", b"0", R("u", 2, START), None, [INVALID]),  # start at 2
    ("f.a", b"0", R("u", "x", APPEND), None, [INVALID]),
    ("f.a", b"0", R("u", 1, 7), None, [INVALID]),  # no such operation
    ("f.a", b"0", R("u", 1, START, gap="maybe"), None, [INVALID]),
    ("f.a", b"0", "IN.u.$FI", None, [INVALID]),
    ("f.a", b"0", "IN.0.fail.1.0.$FI", None, [INVALID]),  # nothing before the id
    ("f.a", b"0", R("x" * 65, 1, START), None, [err(400, 10207, "batch publish ID is invalid")]),
    ("f.a", b"0", R("u", 2, APPEND), None, [UNKNOWN]),
    ("f.a", b"1", R("one", 1, COMMIT), None, ['{"stream":"F","seq":1,"batch":"one","count":1}']),
    # a batch of 4, default flow (10): the first ack gives the pace, then only the PubAck
    ("f.a", b"1", R("u", 1, START), None, ['{"type":"ack","seq":0,"msgs":10}']),
    ("f.a", b"2", R("u", 2, APPEND), None, []),
    ("f.a", b"3", R("u", 3, APPEND), None, []),
    ("f.a", b"", R("u", 2, PING), None, ['{"type":"ack","seq":0,"msgs":10}']),
    ("f.a", b"4", R("u", 4, COMMIT), None, ['{"stream":"F","seq":5,"batch":"u","count":4}']),
    ("f.a", b"", R("u", 4, PING), None, [UNKNOWN]),  # gone once committed
    # gap: fail ends the batch at the gap with what was stored
    ("f.a", b"1", R("h", 1, START, 3), None, ['{"type":"ack","seq":0,"msgs":3}']),
    ("f.a", b"2", R("h", 2, APPEND, 3), None, []),
    (
        "f.a",
        b"4",
        R("h", 4, APPEND, 3),
        None,
        ['{"type":"gap","last_seq":3,"seq":4}', '{"stream":"F","seq":7,"batch":"h","count":2}'],
    ),
    # a ping past the last message is a gap too
    ("f.a", b"1", R("p", 1, START, 5), None, ['{"type":"ack","seq":0,"msgs":5}']),
    (
        "f.a",
        b"",
        R("p", 5, PING, 5),
        None,
        ['{"type":"gap","last_seq":2,"seq":6}', '{"stream":"F","seq":8,"batch":"p","count":1}'],
    ),
    # gap: ok goes on past gaps and refused messages; flow 1 acks every message
    (
        "f.a",
        b"1",
        R("g", 1, START, 1, "ok"),
        None,
        ['{"type":"ack","seq":0,"msgs":1}', '{"type":"ack","seq":1,"msgs":1}'],
    ),
    (
        "f.a",
        b"3",
        R("g", 3, APPEND, 1, "ok"),
        None,
        ['{"type":"gap","last_seq":2,"seq":3}', '{"type":"ack","seq":3,"msgs":1}'],
    ),
    (
        "f.a",
        b"4",
        R("g", 4, APPEND, 1, "ok"),
        {"Nats-Expected-Stream": "NO"},
        [
            '{"type":"err","seq":4,"error":{"code":400,"err_code":10060,"description":"expected stream does not match"}}'
        ],
    ),
    ("f.a", b"5", R("g", 5, APPEND, 1, "ok"), {"Nats-Msg-Id": "d1"}, ['{"type":"ack","seq":5,"msgs":1}']),
    (
        "f.a",
        b"6",
        R("g", 6, APPEND, 1, "ok"),
        {"Nats-Msg-Id": "d1"},
        ['{"type":"ack","seq":6,"msgs":1}'],
    ),  # duplicate: passed over
    (
        "f.a",
        b"",
        R("g", 9, PING, 1, "ok"),
        None,
        ['{"type":"gap","last_seq":7,"seq":10}', '{"type":"ack","seq":9,"msgs":1}'],
    ),
    (
        "f.a",
        b"3",
        R("g", 3, APPEND, 1, "ok"),
        None,  # backwards: reported, and the batch ends
        ['{"type":"gap","last_seq":10,"seq":3}', '{"stream":"F","seq":11,"batch":"g","count":9}'],
    ),
    # a refused first message is answered like a plain publish
    (
        "f.a",
        b"1",
        R("j", 1, COMMIT),
        {"Nats-Expected-Last-Sequence": "999"},
        [err(400, 10071, "wrong last sequence: 11")],
    ),
    ("f.a", b"1", R("i", 1, START, 2), {"Nats-Msg-Id": "d1"}, ['{"type":"ack","seq":0,"msgs":2}']),
    (
        "f.a",
        b"1",
        R("i", 1, COMMIT, 2),
        {"Nats-Msg-Id": "d1"},
        ['{"type":"gap","last_seq":2,"seq":1}', '{"stream":"F","seq":0,"batch":"i","count":1}'],
    ),
    (
        "f.a",
        b"1",
        R("d", 1, COMMIT, 2),
        {"Nats-Msg-Id": "d1"},
        ['{"stream":"F","seq":11,"duplicate": true,"batch":"d","count":1}'],
    ),
    # a refused later message ends a gap: fail batch
    ("f.a", b"1", R("k", 1, START, 2), None, ['{"type":"ack","seq":0,"msgs":2}']),
    (
        "f.a",
        b"2",
        R("k", 2, APPEND, 2),
        {"Nats-Expected-Last-Sequence": "999"},
        [
            '{"type":"err","seq":2,"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 12"}}',
            '{"stream":"F","seq":12,"batch":"k","count":1}',
        ],
    ),
    # flow 2: acks every second message; the end marker is not stored
    ("f.a", b"1", R("m", 1, START, 2), None, ['{"type":"ack","seq":0,"msgs":2}']),
    ("f.a", b"2", R("m", 2, APPEND, 2), None, ['{"type":"ack","seq":2,"msgs":2}']),
    ("f.a", b"3", R("m", 3, APPEND, 2), None, []),
    ("f.a", b"4", R("m", 4, APPEND, 2), None, ['{"type":"ack","seq":4,"msgs":2}']),
    ("f.a", b"5", R("m", 5, APPEND, 2), None, []),
    ("f.a", b"", R("m", 6, EOB, 2), None, ['{"stream":"F","seq":17,"batch":"m","count":5}']),
    (
        "f.a",
        b"1",
        R("lvl", 1, START),
        {"Nats-Required-Api-Level": "99"},
        [err(412, 10185, "JetStream minimum api level required")],
    ),
    ("g.a", b"1", R("n", 1, START), None, [err(400, 10205, "batch publish is disabled", "G")]),
    # the reply subject wins over atomic batch headers (F has no atomic publish)
    (
        "f.a",
        b"1",
        R("hb", 1, COMMIT),
        {"Nats-Batch-Id": "x", "Nats-Batch-Sequence": "1"},
        ['{"stream":"F","seq":18,"batch":"hb","count":1}'],
    ),
    ("f.a", b"0", R("end", 2, APPEND), None, [UNKNOWN]),
]


async def _collect(q: asyncio.Queue[str], n: int) -> list[str]:
    """The next ``n`` replies (fewer if they do not come within the timeout)."""
    out: list[str] = []
    try:
        while len(out) < n:
            out.append(await asyncio.wait_for(q.get(), T))
    except TimeoutError:
        pass
    return out


async def _inbox(nc: Any, subject: str = "IN.>") -> asyncio.Queue[str]:
    q: asyncio.Queue[str] = asyncio.Queue()

    async def cb(msg: Any) -> None:
        q.put_nowait(msg.data.decode())

    await nc.subscribe(subject, cb=cb)
    await nc.flush()
    return q


async def _create(nc: Any, name: str, **cfg: Any) -> None:
    body = {"name": name, "subjects": [f"{name.lower()}.>"], **cfg}
    msg = await nc.request(f"$JS.API.STREAM.CREATE.{name}", json.dumps(body).encode(), timeout=T)
    assert "error" not in json.loads(msg.data)


async def test_batched_publish_replies(js_url: str) -> None:
    """Every step's replies, in order, as the reference sends them (the table was taken
    from the reference and runs against both servers)."""
    nc = await nats.connect(js_url)
    try:
        await _create(nc, "F", allow_batched=True)
        await _create(nc, "G")
        q = await _inbox(nc)
        for i, (subject, data, reply, headers, expected) in enumerate(STEPS):
            await nc.publish(subject, data, reply=reply, headers=headers)
            got = await _collect(q, len(expected))
            assert got == expected, f"step {i}: {reply}"
        assert q.empty(), q.get_nowait()
        msg = await nc.request("$JS.API.STREAM.INFO.F", b"", timeout=T)
        assert json.loads(msg.data)["state"]["messages"] == 18
        # stored as published: the batch lives in the reply subject, not in headers
        msg = await nc.request("$JS.API.STREAM.MSG.GET.F", b'{"seq":2}', timeout=T)
        assert "hdrs" not in json.loads(msg.data)["message"]
    finally:
        await nc.close()


async def _long_batches(url: str) -> list[list[str]]:
    """Two batches interleaved on one stream, then one alone: every reply of each."""
    nc = await nats.connect(url)
    try:
        await _create(nc, "F", allow_batched=True)
        qa, qb = await _inbox(nc, "A.>"), await _inbox(nc, "B.>")
        out: list[list[str]] = []
        n = 600
        for i in range(1, n + 1):
            op = START if i == 1 else COMMIT if i == n else APPEND
            await nc.publish("f.a", b"a", reply=f"A.one.100.fail.{i}.{op}.$FI")
            if i <= 300:
                opb = START if i == 1 else COMMIT if i == 300 else APPEND
                await nc.publish("f.b", b"b", reply=f"B.two.0.fail.{i}.{opb}.$FI")
        for q in (qa, qb):
            got: list[str] = []
            while not got or '"batch"' not in got[-1]:
                got.append(await asyncio.wait_for(q.get(), T))
            out.append(got)
        for i in range(1, 2001):
            op = START if i == 1 else EOB if i == 2001 else APPEND
            await nc.publish("f.c", b"c", reply=f"A.three.1000.ok.{i}.{op}.$FI")
        await nc.publish("f.c", b"", reply="A.three.1000.ok.2001.3.$FI")
        got = []
        while not got or '"batch"' not in got[-1]:
            got.append(await asyncio.wait_for(qa.get(), T))
        out.append(got)
        return out
    finally:
        await nc.close()


async def test_flow_control_pace_matches_reference(tmp_path: Path) -> None:
    """The acks' pace (doubling up to 500, shared between batches, capped by the client's
    flow) over long batches: the same replies from both servers."""
    results = {}
    for kind in ("reference", "pynatsd"):
        async with jetstream_server(kind, tmp_path / kind) as url:
            results[kind] = await _long_batches(url)
    assert results["pynatsd"] == results["reference"]
    assert results["pynatsd"][2][-1].endswith(',"batch":"three","count":2000}')


@pytest.mark.parametrize("kind", ["reference", "pynatsd"])
async def test_batched_publish_limits_and_timeout(kind: str, tmp_path: Path) -> None:
    """Batches in flight per stream are limited (429, err_code 10211); an idle batch is
    dropped after the batch timeout without a word, and then unknown."""
    conf = tmp_path / "b.conf"
    conf.write_text("jetstream { limits { batch { max_inflight_per_stream: 2, timeout: 1s } } }\n")
    server = start_server(kind, "-js", "-sd", str(tmp_path / "js"), "-c", str(conf))
    try:
        nc = await nats.connect(server.url)
        await _create(nc, "F", allow_batched=True)
        q = await _inbox(nc)
        await nc.publish("f.x", b"1", reply=R("a", 1, START))
        assert await _collect(q, 1) == ['{"type":"ack","seq":0,"msgs":10}']
        # a second batch on the stream starts at one message per ack, and speeds up
        await nc.publish("f.x", b"1", reply=R("b", 1, START))
        assert await _collect(q, 2) == ['{"type":"ack","seq":0,"msgs":1}', '{"type":"ack","seq":1,"msgs":2}']
        await nc.publish("f.x", b"1", reply=R("c", 1, START))
        assert await _collect(q, 1) == [err(429, 10211, "batch publish too many inflight")]
        await asyncio.sleep(2.5)  # idle for longer than the batch timeout (what is tested)
        assert q.empty()
        await nc.publish("f.x", b"2", reply=R("a", 2, APPEND))
        assert await _collect(q, 1) == [UNKNOWN]
        await nc.publish("f.x", b"1", reply=R("c", 1, COMMIT))  # places are free again
        assert await _collect(q, 1) == ['{"stream":"F","seq":3,"batch":"c","count":1}']
        await nc.close()
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["reference", "pynatsd"])
async def test_sigkill_keeps_what_a_flow_ack_confirmed(kind: str, tmp_path: Path) -> None:
    """Messages up to a flow ack's sequence survive kill -9 (gap: fail, so all of them)."""
    store = tmp_path / "js"
    server = start_server(kind, "-js", "-sd", str(store))
    try:
        nc = await nats.connect(server.url, max_reconnect_attempts=0)
        await _create(nc, "F", allow_batched=True)
        q = await _inbox(nc)
        for i in range(1, 301):
            await nc.publish("f.x", b"%d" % i, reply=R("k", i, START if i == 1 else APPEND, 50))
        await nc.flush()
        confirmed = 0
        while confirmed < 300:
            ack = json.loads(await asyncio.wait_for(q.get(), T))
            assert ack["type"] == "ack"
            confirmed = ack["seq"]
        os.kill(server.pid, signal.SIGKILL)
        await nc.close()
        server.wait(T)
        server = start_server(kind, "-js", "-sd", str(store))
        nc = await nats.connect(server.url)
        info = json.loads((await nc.request("$JS.API.STREAM.INFO.F", b"", timeout=T)).data)
        assert info["state"]["messages"] == 300
        for seq in (1, 150, 300):
            m = json.loads(
                (await nc.request("$JS.API.STREAM.MSG.GET.F", b'{"seq":%d}' % seq, timeout=T)).data
            )
            assert m["message"]["data"] == base64.b64encode(b"%d" % seq).decode()
        await nc.close()
    finally:
        server.kill()


async def test_turning_batched_publish_off_drops_batches(js_url: str) -> None:
    nc = await nats.connect(js_url)
    try:
        await _create(nc, "F", allow_batched=True)
        q = await _inbox(nc)
        await nc.publish("f.x", b"1", reply=R("u", 1, START))
        assert await _collect(q, 1) == ['{"type":"ack","seq":0,"msgs":10}']
        for on in (False, True):
            body = {"name": "F", "subjects": ["f.>"], "allow_batched": on}
            msg = await nc.request("$JS.API.STREAM.UPDATE.F", json.dumps(body).encode(), timeout=T)
            assert "error" not in json.loads(msg.data)
            await nc.publish("f.x", b"2", reply=R("u", 2, APPEND))
            assert await _collect(q, 1) == [UNKNOWN if on else err(400, 10205, "batch publish is disabled")]
    finally:
        await nc.close()
