"""Atomic batch publish (``allow_atomic``, the ``Nats-Batch-*`` headers) on pynatsd and the
reference: the same replies JSON for JSON, all-or-nothing storage, abandonment by gap,
size and timeout with the reference's advisory, limits, and kill -9."""

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
from tests.support.jetstream import Step, converse
from tests.support.launcher import ServerProcess, start_server

T = 10.0
KINDS = ("reference", "pynatsd")


def B(batch: str, seq: int | str, commit: str | None = None, **extra: str) -> dict[str, str]:
    """The headers of one batch message."""
    h = {"Nats-Batch-Id": batch, "Nats-Batch-Sequence": str(seq)}
    if commit is not None:
        h["Nats-Batch-Commit"] = commit
    h.update({k.replace("_", "-"): v for k, v in extra.items()})
    return h


def create(name: str, **cfg: Any) -> Step:
    return (f"$JS.API.STREAM.CREATE.{name}", {"name": name, "subjects": [f"{name.lower()}.>"], **cfg})


ATOMIC = {"allow_atomic": True}

SCENARIOS: dict[str, list[Step]] = {
    "commit": [
        create("S", **ATOMIC),
        ("s.a", b"1", B("b1", 1)),
        ("s.b", b"2", B("b1", 2, Nats_Msg_Id="m2")),
        ("s.c", b"3", B("b1", 3, "1")),
        ("s.a", b"4", B("b2", 1)),
        ("s.a", b"5", B("b2", 2)),
        ("s.a", b"", B("b2", 3, "eob")),  # end marker: not stored, seq 2 gets the commit header
        ("s.x", b"one", B("b3", 1, "1")),  # a batch of one
        ("$JS.API.STREAM.MSG.GET.S", {"seq": 2}),
        ("$JS.API.STREAM.MSG.GET.S", {"seq": 3}),
        ("$JS.API.STREAM.MSG.GET.S", {"seq": 5}),
        ("$JS.API.STREAM.INFO.S", {"subjects_filter": ">"}),
        ("s.z", b"dup", {"Nats-Msg-Id": "m2"}),  # ids of a batch count for de-duplication
    ],
    "abandon": [
        create("S", **ATOMIC),
        ("s.a", b"1", B("g", 1)),
        ("s.a", b"1", B("g", 3)),  # gap: abandoned
        ("s.a", b"1", B("g", 4, "1")),  # gone
        ("s.a", b"1", B("r", 1)),
        ("s.a", b"1", B("r", 1)),  # restarts at 1: abandoned
        ("s.a", b"1", B("e", 1, "eob")),  # eob first
        ("s.a", b"1", B("unknown", 5, "1")),
        ("s.a", b"1", B("huge", 1001)),
        ("s.a", b"1", B("huge", 1001, "eob")),
        ("s.a", b"1", B("huge", 1002, "eob")),
        ("s.a", b"1", B("zero", 0)),
        ("s.a", b"1", B("c", 1)),
        ("s.a", b"1", B("c", 2, "yes")),  # commit value invalid
        ("s.a", b"1", B("c", 3, "1")),  # dropped with it
        ("s.a", b"1", B("c2", 1, "")),
        ("s.a", b"1", {"Nats-Batch-Id": "noseq"}),
        ("s.a", b"1", B("badseq", "1x")),
        ("s.a", b"1", B("badseq", "-1")),
        ("s.a", b"1", B("x" * 65, 1)),
        ("s.a", b"1", B("x" * 64, 1, "1")),
        ("s.a", b"1", {"Nats-Batch-Id": "", "Nats-Batch-Sequence": "1"}),  # empty id: plain publish
        ("s.a", b"1", B("lvl", 1, Nats_Required_Api_Level="99")),
        ("s.a", b"1", B("lvl2", 1, Nats_Required_Api_Level="abc")),
        ("s.a", b"1", B("lvl3", 1, Nats_Required_Api_Level="1")),
        ("s.a", b"1", B("lvl3", 2, "1")),
        ("$JS.API.STREAM.MSG.GET.S", {"seq": 3}),
        ("$JS.API.STREAM.INFO.S", None),
    ],
    "checks": [
        create("S", **ATOMIC, allow_rollup_hdrs=True),
        ("s.a", b"0"),
        ("s.b", b"0"),
        ("s.a", b"1", B("lmi", 1, "1", Nats_Expected_Last_Msg_Id="x")),
        ("s.a", b"1", B("dup", 1, Nats_Msg_Id="m")),
        ("s.a", b"1", B("dup", 2, "1", Nats_Msg_Id="m")),
        ("s.a", b"1", B("els", 1, Nats_Expected_Last_Sequence="2")),
        ("s.a", b"1", B("els", 2, "1", Nats_Expected_Last_Sequence="3")),  # only the first may
        ("s.a", b"1", B("els2", 1, Nats_Expected_Last_Sequence="2")),
        ("s.a", b"1", B("els2", 2, "1", Nats_Expected_Last_Sequence="9")),
        ("s.a", b"1", B("els3", 1, "1", Nats_Expected_Last_Sequence="1")),
        ("s.a", b"1", B("elss", 1, Nats_Expected_Last_Subject_Sequence="1")),
        ("s.a", b"1", B("elss", 2, "1", Nats_Expected_Last_Subject_Sequence="1")),
        ("s.c", b"1", B("elss2", 1, Nats_Expected_Last_Subject_Sequence="2")),
        ("s.c", b"1", B("elss2", 2, "1")),
        (
            "s.c",
            b"1",
            B(
                "elss3",
                1,
                Nats_Expected_Last_Subject_Sequence="1",
                Nats_Expected_Last_Subject_Sequence_Subject="s.a",
            ),
        ),
        (
            "s.d",
            b"1",
            B(
                "elss3",
                2,
                "1",
                Nats_Expected_Last_Subject_Sequence="1",
                Nats_Expected_Last_Subject_Sequence_Subject="s.a",
            ),
        ),
        ("s.c", b"1", B("elss4", 1, "1", Nats_Expected_Last_Subject_Sequence_Subject="s.a")),
        ("s.a", b"1", B("es", 1, "1", Nats_Expected_Stream="OTHER")),
        ("s.a", b"1", B("ttl", 1, "1", Nats_TTL="5s")),
        ("s.a", b"1", B("ru", 1)),
        ("s.a", b"1", B("ru", 2, "1", Nats_Rollup="sub")),  # subject already in the batch
        ("s.a", b"1", B("ra", 1)),
        ("s.b", b"1", B("ra", 2, "1", Nats_Rollup="all")),  # not the first message
        ("s.a", b"1", B("rx", 1, "1", Nats_Rollup="nope")),
        ("$JS.API.STREAM.INFO.S", None),  # nothing of the failed batches stored
        ("s.a", b"r1", B("rs", 1, Nats_Rollup="sub")),
        ("s.a", b"r2", B("rs", 2)),
        ("s.e", b"r3", B("rs", 3, "1")),
        ("$JS.API.STREAM.INFO.S", {"subjects_filter": ">"}),
        ("s.e", b"all", B("rall", 1, Nats_Rollup="all")),
        ("s.f", b"after", B("rall", 2, "1")),
        ("$JS.API.STREAM.INFO.S", {"subjects_filter": ">"}),
    ],
    "limits": [
        create("S", **ATOMIC, discard="new", max_msgs=3),
        ("s.a", b"1"),
        ("s.a", b"1", B("full", 1)),
        ("s.a", b"1", B("full", 2)),
        ("s.a", b"1", B("full", 3, "1")),  # 1 + 3 > 3: nothing stored
        ("s.a", b"1", B("fits", 1)),
        ("s.a", b"1", B("fits", 2, "1")),
        ("$JS.API.STREAM.INFO.S", None),
        create("P", **ATOMIC, discard="new", max_msgs_per_subject=1, discard_new_per_subject=True),
        ("p.a", b"1", B("per", 1)),
        ("p.a", b"1", B("per", 2, "1")),
        create("M", **ATOMIC, max_msg_size=60),
        ("m.a", b"x" * 10, B("size", 1)),
        ("m.a", b"x" * 40, B("size", 2, "1")),
        ("m.a", b"x" * 10, B("size", 2, "1")),
        ("$JS.API.STREAM.INFO.M", None),
        create("TTL", **ATOMIC, allow_msg_ttl=True),
        ("ttl.a", b"1", B("t", 1, Nats_TTL="1h")),
        ("ttl.a", b"1", B("t", 2, "1", Nats_TTL="bogus")),
        ("ttl.a", b"1", B("t2", 1, "1", Nats_TTL="1h")),
        ("$JS.API.STREAM.MSG.GET.TTL", {"seq": 1}),
        create("MK", **ATOMIC, subject_delete_marker_ttl=60_000_000_000),
        ("mk.a", b"1", B("t", 1, Nats_TTL="5")),  # raised to the marker's TTL
        ("mk.a", b"2", B("t", 2, "1", Nats_TTL="2m")),
        ("$JS.API.STREAM.MSG.GET.MK", {"seq": 1}),
        ("$JS.API.STREAM.MSG.GET.MK", {"seq": 2}),
        create("NOACK", **ATOMIC, no_ack=True),
        ("noack.a", b"1", B("n", 1)),
        ("noack.a", b"1", B("n", 2, "1")),
        ("$JS.API.STREAM.INFO.NOACK", None),
    ],
    "disabled": [
        create("D"),
        ("d.a", b"1", B("b", 1)),
        ("d.a", b"1", B("b", 1, "1")),
        ("d.a", b"1", B("x" * 65, 1)),
        ("$JS.API.STREAM.INFO.D", None),
        ("$JS.API.STREAM.UPDATE.D", {"name": "D", "subjects": ["d.>"], "allow_atomic": True}),
        ("d.a", b"1", B("b", 1)),
        ("$JS.API.STREAM.UPDATE.D", {"name": "D", "subjects": ["d.>"], "allow_atomic": False}),
        ("$JS.API.STREAM.UPDATE.D", {"name": "D", "subjects": ["d.>"], "allow_atomic": True}),
        ("d.a", b"1", B("b", 2, "1")),  # the batch went when atomic publish was turned off
        ("$JS.API.STREAM.UPDATE.D", {"name": "D", "subjects": ["d.>"], "allow_atomic": True, "sealed": True}),
        ("d.a", b"1", B("s", 1)),
        create("A", **ATOMIC, persist_mode="async"),
        create("MEM", **ATOMIC, storage="memory"),
        ("mem.a", b"1", B("m", 1)),
        ("mem.a", b"2", B("m", 2, "eob")),
        ("$JS.API.STREAM.MSG.GET.MEM", {"seq": 1}),
    ],
    "update": [
        create("U", **ATOMIC),
        ("u.a", b"1", B("b", 1)),
        ("$JS.API.STREAM.UPDATE.U", {"name": "U", "subjects": ["u.>", "v.>"], "allow_atomic": True}),
        ("v.a", b"2", B("b", 2, "1")),  # a batch in flight outlives a change of subjects
        ("$JS.API.STREAM.INFO.U", None),
        ("u.a", b"1", B("gone", 1)),
        ("$JS.API.STREAM.DELETE.U", None),
        create("U", **ATOMIC),
        ("u.a", b"2", B("gone", 2, "1")),  # the stream was deleted with its batches
    ],
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_batch_conversation_matches_reference(name: str, tmp_path: Path) -> None:
    results = {}
    for kind in KINDS:
        async with jetstream_server(kind, tmp_path / kind) as url:
            results[kind] = await converse(url, SCENARIOS[name])
    for i, (ref, ours) in enumerate(zip(results["reference"], results["pynatsd"], strict=True)):
        assert ours == ref, f"step {i}: {SCENARIOS[name][i]}"


async def _api(nc: Any, subject: str, body: Any = None) -> dict[str, Any]:
    msg = await nc.request(subject, b"" if body is None else json.dumps(body).encode(), timeout=T)
    out: dict[str, Any] = json.loads(msg.data)
    return out


async def _pub(nc: Any, subject: str, data: bytes, headers: dict[str, str]) -> bytes:
    msg = await nc.request(subject, data, timeout=T, headers=headers)
    out: bytes = msg.data
    return out


async def test_nothing_visible_before_the_commit_and_others_unaffected(js_url: str) -> None:
    """Staged messages reach no consumer and no state; plain publishes go on meanwhile;
    the commit makes the whole batch visible at once."""
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    try:
        await _api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"], "allow_atomic": True})
        sub = await js.pull_subscribe("s.>", durable="C", stream="S")
        for i in range(1, 6):
            assert await _pub(nc, "s.b", b"%d" % i, B("b", i)) == b""
        ack = await js.publish("s.plain", b"p")  # another publisher meanwhile
        assert ack.seq == 1
        assert (await js.stream_info("S")).state.messages == 1
        msgs = await sub.fetch(5, timeout=1)
        assert [m.data for m in msgs] == [b"p"]
        await msgs[0].ack()
        reply = json.loads(await _pub(nc, "s.b", b"6", B("b", 6, "1")))
        assert reply == {"stream": "S", "seq": 7, "batch": "b", "count": 6}
        got: list[Any] = []
        while len(got) < 6:
            got += await sub.fetch(6 - len(got), timeout=T)
        assert [m.data for m in got] == [b"%d" % i for i in range(1, 7)]
        assert [m.headers["Nats-Batch-Sequence"] for m in got if m.headers] == [str(i) for i in range(1, 7)]
        assert got[-1].headers and got[-1].headers["Nats-Batch-Commit"] == "1"
    finally:
        await nc.close()


async def test_failed_commit_stores_nothing(js_url: str) -> None:
    """A check failing on the batch's last message discards the messages before it too."""
    nc = await nats.connect(js_url)
    try:
        await _api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"], "allow_atomic": True})
        await _pub(nc, "s.a", b"x", {"Nats-Msg-Id": "taken"})
        before = (await _api(nc, "$JS.API.STREAM.INFO.S"))["state"]
        for i in range(1, 50):
            assert await _pub(nc, f"s.{i}", b"m", B("b", i)) == b""
        reply = json.loads(await _pub(nc, "s.last", b"m", B("b", 50, "1", Nats_Msg_Id="taken")))
        assert reply["error"]["err_code"] == 10201
        after = (await _api(nc, "$JS.API.STREAM.INFO.S"))["state"]
        assert after == before
        # the stream and the id are fine for the next batch
        reply = json.loads(await _pub(nc, "s.ok", b"m", B("b", 1, "1")))
        assert reply == {"stream": "S", "seq": 2, "batch": "b", "count": 1}
    finally:
        await nc.close()


async def test_batch_from_two_connections(js_url: str) -> None:
    """A batch is known by its id alone: its messages may come over several connections."""
    a = await nats.connect(js_url)
    b = await nats.connect(js_url)
    try:
        await _api(a, "$JS.API.STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"], "allow_atomic": True})
        assert await _pub(a, "s.a", b"1", B("shared", 1)) == b""
        assert await _pub(b, "s.b", b"2", B("shared", 2)) == b""
        await a.close()  # the first publisher leaves: the batch stays
        reply = json.loads(await _pub(b, "s.c", b"3", B("shared", 3, "1")))
        assert reply == {"stream": "S", "seq": 3, "batch": "shared", "count": 3}
        # the same id from two connections out of order: the second 1 abandons the batch
        assert await _pub(b, "s.a", b"1", B("again", 1)) == b""
        c = await nats.connect(js_url)
        try:
            reply = json.loads(await _pub(c, "s.a", b"1", B("again", 1)))
            assert reply["error"]["err_code"] == 10176
            reply = json.loads(await _pub(b, "s.a", b"2", B("again", 2, "1")))
            assert reply["error"]["err_code"] == 10176
        finally:
            await c.close()
        assert (await _api(b, "$JS.API.STREAM.INFO.S"))["state"]["messages"] == 3
    finally:
        await b.close()


def _conf(tmp_path: Path, body: str) -> str:
    conf = tmp_path / "batch.conf"
    conf.write_text(body)
    return str(conf)


async def _advisories(nc: Any, stream: str) -> asyncio.Queue[dict[str, Any]]:
    q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def cb(msg: Any) -> None:
        q.put_nowait(json.loads(msg.data))

    await nc.subscribe(f"$JS.EVENT.ADVISORY.STREAM.BATCH_ABANDONED.{stream}", cb=cb)
    await nc.flush()
    return q


def _advisory_fields(adv: dict[str, Any]) -> dict[str, Any]:
    assert set(adv) == {"type", "id", "timestamp", "stream", "batch", "reason"}
    return {k: adv[k] for k in ("type", "stream", "batch", "reason")}


@pytest.mark.parametrize("kind", KINDS)
async def test_abandoned_batches_send_an_advisory(kind: str, tmp_path: Path) -> None:
    """Timeout, gap and size abandon a batch with the reference's advisory; later messages
    of that batch are refused as incomplete."""
    conf = _conf(tmp_path, "jetstream { limits { batch { timeout: 1s, max_msgs: 3 } } }\n")
    server = start_server(kind, "-js", "-sd", str(tmp_path / "js"), "-c", conf)
    try:
        nc = await nats.connect(server.url)
        await _api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"], "allow_atomic": True})
        adv = await _advisories(nc, "S")
        assert await _pub(nc, "s.a", b"1", B("slow", 1)) == b""
        first = await asyncio.wait_for(adv.get(), T)  # about a second later
        assert _advisory_fields(first) == {
            "type": "io.nats.jetstream.advisory.v1.stream_batch_abandoned",
            "stream": "S",
            "batch": "slow",
            "reason": "timeout",
        }
        reply = json.loads(await _pub(nc, "s.a", b"2", B("slow", 2, "1")))
        assert reply["error"] == {
            "code": 400,
            "err_code": 10176,
            "description": "atomic publish batch is incomplete",
        }
        assert await _pub(nc, "s.a", b"1", B("gap", 1)) == b""
        reply = json.loads(await _pub(nc, "s.a", b"1", B("gap", 3)))
        assert reply["error"]["err_code"] == 10176
        assert (await asyncio.wait_for(adv.get(), T))["reason"] == "incomplete"
        for i in range(1, 4):
            assert await _pub(nc, "s.a", b"1", B("big", i)) == b""
        reply = json.loads(await _pub(nc, "s.a", b"1", B("big", 4)))
        assert reply["error"] == {
            "code": 400,
            "err_code": 10199,
            "description": "atomic publish batch is too large: 3",
        }
        assert (await asyncio.wait_for(adv.get(), T))["reason"] == "large"
        for i in range(1, 4):
            assert await _pub(nc, "s.a", b"1", B("eob", i)) == b""
        reply = json.loads(await _pub(nc, "s.a", b"", B("eob", 4, "eob")))  # the marker does not count
        assert reply == {"stream": "S", "seq": 3, "batch": "eob", "count": 3}
        assert await _pub(nc, "s.a", b"1", B("lvl", 1)) == b""
        reply = json.loads(await _pub(nc, "s.a", b"1", B("lvl", 2, Nats_Required_Api_Level="99")))
        assert reply["error"]["err_code"] == 10185
        assert (await asyncio.wait_for(adv.get(), T))["reason"] == "unsupported"
        assert (await _api(nc, "$JS.API.STREAM.INFO.S"))["state"]["messages"] == 3
        await nc.close()
    finally:
        server.stop()


@pytest.mark.parametrize("kind", KINDS)
async def test_inflight_limits(kind: str, tmp_path: Path) -> None:
    """Batches in flight per stream and per server are limited (429, err_code 10210); a
    committed or abandoned batch frees its place."""
    conf = _conf(
        tmp_path, "jetstream { limits { batch { max_inflight_per_stream: 2, max_inflight_total: 3 } } }\n"
    )
    server = start_server(kind, "-js", "-sd", str(tmp_path / "js"), "-c", conf)
    try:
        nc = await nats.connect(server.url)
        for name in ("S", "T"):
            await _api(
                nc,
                f"$JS.API.STREAM.CREATE.{name}",
                {"name": name, "subjects": [f"{name.lower()}.>"], "allow_atomic": True},
            )
        assert await _pub(nc, "s.a", b"1", B("a", 1)) == b""
        assert await _pub(nc, "s.a", b"1", B("b", 1)) == b""
        reply = json.loads(await _pub(nc, "s.a", b"1", B("c", 1)))
        assert reply["error"] == {
            "code": 429,
            "err_code": 10210,
            "description": "atomic publish too many inflight",
        }
        assert await _pub(nc, "t.a", b"1", B("c", 1)) == b""
        reply = json.loads(await _pub(nc, "t.a", b"1", B("d", 1)))  # the server's third is taken
        assert reply["error"]["err_code"] == 10210
        assert "batch" in json.loads(await _pub(nc, "s.a", b"1", B("a", 2, "1")))
        assert await _pub(nc, "t.a", b"1", B("d", 1)) == b""
        reply = json.loads(await _pub(nc, "t.a", b"1", B("d", 5)))  # abandoned: frees a place
        assert reply["error"]["err_code"] == 10176
        assert await _pub(nc, "s.a", b"1", B("e", 1)) == b""
        await nc.close()
    finally:
        server.stop()


# -- crashes -----------------------------------------------------------------------------------


async def _restart(kind: str, store: Path, server: ServerProcess, *extra: str) -> ServerProcess:
    server.wait(T)
    return start_server(kind, "-js", "-sd", str(store), *extra)


@pytest.mark.parametrize("sync_always", [False, True])
@pytest.mark.parametrize("kind", KINDS)
async def test_sigkill_keeps_committed_batches_and_drops_staged_ones(
    kind: str, sync_always: bool, tmp_path: Path
) -> None:
    """A batch whose PubAck was sent survives kill -9 whole; a batch still being staged is
    gone after it, and its remaining messages are refused as incomplete."""
    store = tmp_path / "js"
    extra = ("-c", _conf(tmp_path, "jetstream { sync_interval: always }\n")) if sync_always else ()
    server = start_server(kind, "-js", "-sd", str(store), *extra)
    try:
        nc = await nats.connect(server.url, max_reconnect_attempts=0)
        await _api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"], "allow_atomic": True})
        for i in range(1, 200):
            assert await _pub(nc, f"s.{i % 7}", b"v%d" % i, B("kept", i)) == b""
        reply = json.loads(await _pub(nc, "s.end", b"v200", B("kept", 200, "1")))
        assert reply == {"stream": "S", "seq": 200, "batch": "kept", "count": 200}
        for i in range(1, 50):
            assert await _pub(nc, "s.x", b"staged", B("staged", i)) == b""
        os.kill(server.pid, signal.SIGKILL)
        await nc.close()
        server = await _restart(kind, store, server, *extra)
        nc = await nats.connect(server.url)
        info = await _api(nc, "$JS.API.STREAM.INFO.S")
        assert info["state"]["messages"] == 200 and info["state"]["last_seq"] == 200
        m = await _api(nc, "$JS.API.STREAM.MSG.GET.S", {"seq": 200})
        assert m["message"]["subject"] == "s.end"
        reply = json.loads(await _pub(nc, "s.x", b"staged", B("staged", 50, "1")))
        assert reply["error"]["err_code"] == 10176
        assert (await _api(nc, "$JS.API.STREAM.INFO.S"))["state"]["messages"] == 200
        await nc.close()
    finally:
        server.kill()


async def test_torn_batch_write_is_rolled_back(tmp_path: Path) -> None:
    """pynatsd only (its own file format): a batch whose write was cut before its commit
    message (as by a crash mid-write) is removed whole on recovery, nothing before it is
    touched, and its message ids are not remembered."""
    store = tmp_path / "js"
    server = start_server("pynatsd", "-js", "-sd", str(store))
    try:
        nc = await nats.connect(server.url)
        await _api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"], "allow_atomic": True})
        await _pub(nc, "s.before", b"kept", {"Nats-Msg-Id": "before"})
        big = b"x" * 1000
        for i in range(1, 5):
            await _pub(nc, "s.b", big if i >= 3 else b"small", B("torn", i, Nats_Msg_Id=f"id{i}"))
        reply = json.loads(await _pub(nc, "s.b", big, B("torn", 5, "1", Nats_Msg_Id="id5")))
        assert reply["count"] == 5
        await nc.close()
    finally:
        server.stop()
    blocks = sorted((store / "jetstream" / "$G" / "streams" / "S" / "msgs").glob("*.blk"))
    assert blocks, "no block file"
    last = blocks[-1]
    size = last.stat().st_size
    os.truncate(last, size - 1500)  # the commit message and part of the one before it
    server = start_server("pynatsd", "-js", "-sd", str(store))
    try:
        nc = await nats.connect(server.url)
        info = await _api(nc, "$JS.API.STREAM.INFO.S")
        assert info["state"]["messages"] == 1
        m = await _api(nc, "$JS.API.STREAM.MSG.GET.S", {"seq": 1})
        assert m["message"]["subject"] == "s.before"
        # the ids of the torn batch are free, the one before it still known
        reply = json.loads(await _pub(nc, "s.again", b"1", B("new", 1, "1", Nats_Msg_Id="id1")))
        assert reply["count"] == 1
        dup = json.loads(await _pub(nc, "s.again", b"1", {"Nats-Msg-Id": "before"}))
        assert dup.get("duplicate") is True
        await nc.close()
    finally:
        server.stop()


async def test_rollup_of_a_batch_is_redone_when_its_purge_was_lost(tmp_path: Path) -> None:
    """pynatsd only: a batch's roll-up purges are written after its messages; if a crash
    cuts them off, recovery applies them again, so the batch is never half-applied."""
    store = tmp_path / "js"
    server = start_server("pynatsd", "-js", "-sd", str(store))
    try:
        nc = await nats.connect(server.url, max_reconnect_attempts=0)
        await _api(
            nc,
            "$JS.API.STREAM.CREATE.S",
            {"name": "S", "subjects": ["s.>"], "allow_atomic": True, "allow_rollup_hdrs": True},
        )
        await _pub(nc, "s.first", b"1", {})
        await _pub(nc, "s.a", b"old", {})
        await _pub(nc, "s.a", b"new", B("r", 1, Nats_Rollup="sub"))
        reply = json.loads(await _pub(nc, "s.b", b"2", B("r", 2, "1")))
        assert reply["count"] == 2
        assert (await _api(nc, "$JS.API.STREAM.INFO.S"))["state"]["messages"] == 3
        os.kill(server.pid, signal.SIGKILL)
        await nc.close()
        server.wait(T)
    finally:
        server.kill()
    last = sorted((store / "jetstream" / "$G" / "streams" / "S" / "msgs").glob("*.blk"))[-1]
    raw = last.read_bytes()
    purge_len = 24 + len(b"s.a") + 4  # record head, the purge's subject, checksum
    assert raw[-7:-4] == b"s.a", "the file does not end with the roll-up's purge record"
    os.truncate(last, len(raw) - purge_len)
    server = start_server("pynatsd", "-js", "-sd", str(store))
    try:
        nc = await nats.connect(server.url)
        info = await _api(nc, "$JS.API.STREAM.INFO.S", {"subjects_filter": ">"})
        assert info["state"]["messages"] == 3
        assert info["state"]["subjects"] == {"s.first": 1, "s.a": 1, "s.b": 1}
        m = await _api(nc, "$JS.API.STREAM.MSG.GET.S", {"last_by_subj": "s.a"})
        assert m["message"]["seq"] == 3
        await nc.close()
    finally:
        server.stop()


def _random_steps(seed: int, n: int) -> list[Step]:
    """Batch messages with plausible and garbage header values, several ids interleaved."""
    import random

    rnd = random.Random(seed)
    ids = ["a", "b", "c", "é", "x" * 64, "x" * 65]
    seqs = [
        "1",
        "2",
        "3",
        "4",
        "0",
        "01",
        "-1",
        "x",
        "18446744073709551615",
        "18446744073709551616",
        "9" * 30,
    ]
    commits = [None, None, None, "1", "eob", "0", "true", "EOB"]
    extras: list[dict[str, str]] = [
        {},
        {},
        {"Nats-Msg-Id": "m1"},
        {"Nats-Msg-Id": "m2"},
        {"Nats-Expected-Last-Sequence": "0"},
        {"Nats-Expected-Last-Sequence": "-1"},
        {"Nats-Expected-Last-Subject-Sequence": "0"},
        {"Nats-Rollup": "sub"},
        {"Nats-Rollup": "all"},
        {"Nats-TTL": "1s"},
        {"Nats-Required-Api-Level": "2"},
        {"Nats-Required-Api-Level": "x"},
    ]
    steps: list[Step] = [create("S", **ATOMIC, allow_rollup_hdrs=True, allow_msg_ttl=True)]
    next_seq: dict[str, int] = {}
    for _ in range(n):
        bid = rnd.choice(ids)
        if rnd.random() < 0.6:  # mostly well-formed, so that batches get committed
            seq = str(next_seq.get(bid, 0) + 1)
        else:
            seq = rnd.choice(seqs)
        next_seq[bid] = int(seq) if seq.isdigit() and int(seq) < 10 else 0
        h = B(
            bid, seq, rnd.choice(commits), **{k.replace("-", "_"): v for k, v in rnd.choice(extras).items()}
        )
        if h.get("Nats-Batch-Commit"):
            next_seq[bid] = 0
        steps.append((f"s.{rnd.choice('abc')}", b"m", h))
    steps.append(("$JS.API.STREAM.INFO.S", {"subjects_filter": ">"}))
    return steps


@pytest.mark.parametrize("seed", [1, 2])
async def test_random_batch_headers_match_reference(seed: int, tmp_path: Path) -> None:
    """Seeded random batch traffic, garbage values included: every reply and the final
    state the same on both servers (and no input stops the server answering)."""
    steps = _random_steps(seed, 120)
    results = {}
    for kind in KINDS:
        async with jetstream_server(kind, tmp_path / kind) as url:
            results[kind] = await converse(url, steps)
    for i, (ref, ours) in enumerate(zip(results["reference"], results["pynatsd"], strict=True)):
        assert ours == ref, f"step {i}: {steps[i]}"


@pytest.mark.parametrize("kind", KINDS)
async def test_restart_keeps_a_batch_whose_last_message_went(kind: str, tmp_path: Path) -> None:
    """A committed batch whose commit message is gone (nobody interested in it, deleted) is
    not mistaken for a torn write after a crash."""
    store = tmp_path / "js"
    server = start_server(kind, "-js", "-sd", str(store))
    try:
        nc = await nats.connect(server.url)
        await _api(
            nc,
            "$JS.API.STREAM.CREATE.I",
            {"name": "I", "subjects": ["i.>"], "allow_atomic": True, "retention": "interest"},
        )
        await _api(
            nc,
            "$JS.API.CONSUMER.CREATE.I.C",
            {
                "stream_name": "I",
                "config": {"durable_name": "C", "filter_subject": "i.a", "ack_policy": "explicit"},
            },
        )
        await _api(nc, "$JS.API.STREAM.CREATE.D", {"name": "D", "subjects": ["d.>"], "allow_atomic": True})
        assert await _pub(nc, "i.a", b"1", B("b", 1)) == b""
        assert json.loads(await _pub(nc, "i.b", b"2", B("b", 2, "1")))["count"] == 2  # i.b: no interest
        assert await _pub(nc, "d.a", b"1", B("b", 1)) == b""
        assert json.loads(await _pub(nc, "d.b", b"2", B("b", 2, "1")))["count"] == 2
        assert (await _api(nc, "$JS.API.STREAM.MSG.DELETE.D", {"seq": 2}))["success"] is True
        os.kill(server.pid, signal.SIGKILL)  # a crash: the recovery that looks for torn batches runs
        await nc.close()
        server.wait(T)
    finally:
        server.kill()
    server = start_server(kind, "-js", "-sd", str(store))
    try:
        nc = await nats.connect(server.url)
        for name in ("I", "D"):
            state = (await _api(nc, f"$JS.API.STREAM.INFO.{name}"))["state"]
            assert (state["messages"], state["first_seq"], state["last_seq"]) == (1, 1, 2), name
        await nc.close()
    finally:
        server.stop()


@pytest.mark.parametrize("kind", KINDS)
async def test_clean_restart_keeps_a_message_that_only_looks_like_a_torn_batch(
    kind: str, tmp_path: Path
) -> None:
    """A batched publish (``$FI``) stores its message's headers as they are, atomic batch
    headers included; after a clean restart such a last message is still there."""
    store = tmp_path / "js"
    server = start_server(kind, "-js", "-sd", str(store))
    try:
        nc = await nats.connect(server.url)
        await _api(
            nc,
            "$JS.API.STREAM.CREATE.S",
            {"name": "S", "subjects": ["s.>"], "allow_atomic": True, "allow_batched": True},
        )
        q: asyncio.Queue[bytes] = asyncio.Queue()

        async def cb(msg: Any) -> None:
            q.put_nowait(msg.data)

        await nc.subscribe("IN.>", cb=cb)
        await nc.publish("s.a", b"1", reply="IN.f.0.fail.1.2.$FI", headers=B("look", 1))
        assert json.loads(await asyncio.wait_for(q.get(), T)) == {
            "stream": "S",
            "seq": 1,
            "batch": "f",
            "count": 1,
        }
        await nc.close()
    finally:
        server.stop()
    server = start_server(kind, "-js", "-sd", str(store))
    try:
        nc = await nats.connect(server.url)
        assert (await _api(nc, "$JS.API.STREAM.INFO.S"))["state"]["messages"] == 1
        m = await _api(nc, "$JS.API.STREAM.MSG.GET.S", {"seq": 1})
        assert "Nats-Batch-Id" in base64.b64decode(m["message"]["hdrs"]).decode()
        await nc.close()
    finally:
        server.stop()
