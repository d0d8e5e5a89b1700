"""Message schedules (``allow_msg_schedules``, ``Nats-Schedule*``): the publish rules compared
JSON for JSON with the reference, and firing (@at, @every, cron in a time zone, sources,
TTL/rollup of the produced message, cancelling, restarts) observed the same way on both
servers through consumers of the target subjects."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from tests.support import jetstream_server
from tests.support.jetstream import Step, converse

T = 10.0
FIRE = 15.0  # longest wait for a schedule to fire (the reference fires at least 250 ms late)

CREATE = "$JS.API.STREAM.CREATE.S"
SCHED: dict[str, Any] = {"name": "S", "subjects": ["sch.>"], "allow_msg_schedules": True}
LATER = "@at 2099-01-01T00:00:00Z"


def at(seconds: float) -> str:
    t = datetime.now(UTC) + timedelta(seconds=seconds)
    return "@at " + t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sched(
    subject: str, pattern: str, target: str | None = "sch.out", data: bytes = b"", **extra: str
) -> Step:
    hdrs = {"Nats-Schedule": pattern, **extra}
    if target is not None:
        hdrs["Nats-Schedule-Target"] = target
    return (subject, data, hdrs)


SCENARIOS: dict[str, list[Step]] = {
    "config": [
        (CREATE, {**SCHED, "discard": "new"}),
        (CREATE, {**SCHED, "pedantic": True}),
        (CREATE, {**SCHED, "deny_purge": True}),
        (CREATE, {**SCHED, "allow_msg_counter": True}),
        (CREATE, SCHED),
        ("$JS.API.STREAM.UPDATE.S", {**SCHED, "allow_msg_schedules": False}),
        ("$JS.API.STREAM.UPDATE.S", {**SCHED, "description": "d"}),
        ("$JS.API.STREAM.DELETE.S", None),
        (CREATE, {"name": "S", "subjects": ["sch.>"]}),
        ("$JS.API.STREAM.UPDATE.S", SCHED),
        sched("sch.a", LATER),
        ("$JS.API.STREAM.INFO.S", None),
    ],
    "disabled": [
        (CREATE, {"name": "S", "subjects": ["sch.>"]}),
        ("sch.v", b"victim"),
        sched("sch.a", LATER),
        sched("sch.a", "@every 1ms"),
        sched("sch.a", LATER, **{"Nats-Schedule-Time-Zone": "Nowhere/Here"}),
        sched("sch.a", ""),
        ("sch.p", b"", {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "sch.v"}),
        ("sch.p", b"", {"Nats-Schedule-Next": "2099-01-01T00:00:00Z", "Nats-Scheduler": "sch.v"}),
        ("sch.p", b"", {"Nats-Scheduler": "sch.v"}),
        ("sch.p", b"", {"Nats-Schedule-Next": "purge"}),
        ("$JS.API.STREAM.INFO.S", None),
    ],
    "bad schedules": [
        (CREATE, {**SCHED, "subjects": ["sch.>", "other.*"]}),
        sched("sch.a", "@at nope"),
        sched("sch.a", "@at 2099-01-01"),
        sched("sch.a", "@every 500ms"),
        sched("sch.a", "@every soon"),
        sched("sch.a", "@every  5s"),
        sched("sch.a", "@at"),
        sched("sch.a", "@often"),
        sched("sch.a", "* * * * *"),
        sched("sch.a", "61 * * * * *"),
        sched("sch.a", "0 0 0 31 2 *"),
        sched("sch.a", "0 0 0 * * 7"),
        sched("sch.a", "0 0 0 * 13 *"),
        sched("sch.a", "0 0 0 5-1 * *"),
        sched("sch.a", "0 0 0 * * mon/0"),
        sched("sch.a", LATER, **{"Nats-Schedule-Time-Zone": "Europe/Amsterdam"}),
        sched("sch.a", "@every 5s", **{"Nats-Schedule-Time-Zone": "UTC"}),
        sched("sch.a", "@daily", **{"Nats-Schedule-Time-Zone": ""}),
        sched("sch.a", "@daily", **{"Nats-Schedule-Time-Zone": "Mars/Olympus"}),
        sched("sch.a", LATER, target=None),
        sched("sch.a", LATER, target="sch.*"),
        sched("sch.a", LATER, target="sch.a"),
        sched("sch.a", LATER, target="elsewhere"),
        sched("sch.a", LATER, target="other.x.y"),
        sched("sch.a", LATER, **{"Nats-Schedule-Source": "sch.out"}),
        sched("sch.a", LATER, **{"Nats-Schedule-Source": "sch.a"}),
        sched("sch.a", LATER, **{"Nats-Schedule-Source": "sch.>"}),
        sched("sch.a", LATER, **{"Nats-Schedule-Source": "nowhere"}),
        sched("sch.a", LATER, **{"Nats-Schedule-TTL": "soon"}),
        sched("sch.a", LATER, **{"Nats-Schedule-TTL": "5s"}),
        sched("sch.a", LATER, **{"Nats-Schedule-Rollup": "all"}),
        sched("sch.a", LATER, **{"Nats-Rollup": "all"}),
        sched("sch.a", LATER, **{"Nats-Schedule-Next": "2099-01-01T00:00:00Z", "Nats-Scheduler": "sch.b"}),
        ("sch.plain", b"x"),
        ("sch.p", b"", {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "sch.plain"}),
        ("sch.p", b"", {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "sch.p"}),
        ("sch.p", b"", {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "sch.*"}),
        ("sch.p", b"", {"Nats-Scheduler": "sch.plain"}),
        ("$JS.API.STREAM.INFO.S", None),
        ("sch.plain", b"still serving"),
        ("$JS.API.STREAM.INFO.S", None),
    ],
    "accepted": [
        (CREATE, {**SCHED, "allow_msg_ttl": True}),
        sched("sch.a", LATER, data=b"body", **{"Nats-Msg-Id": "m1"}),
        ("$JS.API.STREAM.MSG.GET.S", {"last_by_subj": "sch.a"}),
        sched("sch.a", LATER, data=b"again", **{"Nats-Rollup": "sub"}),
        ("$JS.API.STREAM.MSG.GET.S", {"last_by_subj": "sch.a"}),
        sched("sch.b", "0 30 9 * * mon-fri", **{"Nats-Schedule-Time-Zone": "America/New_York"}),
        sched("sch.c", "@yearly", **{"Nats-Schedule-TTL": "5s", "Nats-Schedule-Rollup": "sub"}),
        sched("sch.d", "0 0 0 , * 1"),
        sched("sch.e", "*/15 0-10,20 3/2 ? jan-MAR sun"),
        sched("sch.f", LATER, **{"Nats-Schedule-Source": "sch.src"}),
        ("sch.p", b"", {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "sch.b"}),
        ("sch.p", b"", {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "sch.never"}),
        ("$JS.API.STREAM.MSG.GET.S", {"last_by_subj": "sch.b"}),
        sched("sch.g", "@at 0001-01-01T00:00:00Z"),  # Go's zero time: a plain message
        ("$JS.API.STREAM.MSG.GET.S", {"last_by_subj": "sch.g"}),
        ("$JS.API.STREAM.INFO.S", {"subjects_filter": ">"}),
        sched("sch.h", "@at 1970-01-01T00:00:00Z"),  # long past: a schedule, due at once
    ],
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_schedule_conversation_matches_reference(name: str, tmp_path: Path) -> None:
    results = {}
    for kind in ("reference", "pynatsd"):
        async with jetstream_server(kind, tmp_path / kind) as url:
            results[kind] = await converse(url, SCENARIOS[name])
    for i, (ref, ours) in enumerate(zip(results["reference"], results["pynatsd"], strict=True)):
        assert ours == ref, f"step {i}: {SCENARIOS[name][i]}"


# -- firing ---------------------------------------------------------------------------------


async def create(nc: Client, **cfg: Any) -> None:
    r = json.loads((await nc.request(CREATE, json.dumps({**SCHED, **cfg}).encode(), timeout=T)).data)
    assert "error" not in r, r


async def publish(nc: Client, subject: str, data: bytes = b"", **hdrs: str) -> dict[str, Any]:
    r = json.loads((await nc.request(subject, data, timeout=T, headers=hdrs or None)).data)
    assert "error" not in r, r
    return dict(r)


async def last(nc: Client, subject: str) -> dict[str, Any]:
    body = json.dumps({"last_by_subj": subject}).encode()
    return dict(json.loads((await nc.request("$JS.API.STREAM.MSG.GET.S", body, timeout=T)).data))


async def state(nc: Client) -> dict[str, Any]:
    return dict(json.loads((await nc.request("$JS.API.STREAM.INFO.S", b"", timeout=T)).data)["state"])


async def fetch(nc: Client, subject: str, n: int = 1) -> list[Msg]:
    """The first ``n`` messages stored on ``subject``, waiting for them to be produced."""
    sub = await nc.jetstream().pull_subscribe(subject, stream="S")
    try:
        out: list[Msg] = []
        while len(out) < n:
            out += await sub.fetch(n - len(out), timeout=FIRE)
        return out
    finally:
        await sub.unsubscribe()


def headers(m: Msg) -> dict[str, str]:
    return {k: v for k, v in (m.headers or {}).items() if not k.startswith("Nats-Time")}


async def test_at_fires_once_and_purges_the_schedule(js_url: str) -> None:
    nc = await nats.connect(js_url)
    try:
        await create(nc)
        await publish(
            nc,
            "sch.once",
            b"hello",
            **{
                "Nats-Schedule": at(1),
                "Nats-Schedule-Target": "sch.out",
                "Nats-Msg-Id": "id1",
                "Nats-Expected-Last-Sequence": "0",
                "App": "kept",
            },
        )
        (m,) = await fetch(nc, "sch.out")
        assert m.data == b"hello"
        assert headers(m) == {"App": "kept", "Nats-Scheduler": "sch.once", "Nats-Schedule-Next": "purge"}
        assert m.metadata.sequence.stream == 2
        st = await state(nc)
        assert (st["messages"], st["first_seq"], st["last_seq"]) == (1, 2, 2)
        assert (await last(nc, "sch.once"))["error"]["err_code"] == 10037
    finally:
        await nc.close()


async def test_every_repeats_until_cancelled(js_url: str) -> None:
    nc = await nats.connect(js_url)
    try:
        await create(nc, allow_msg_ttl=True)
        await publish(
            nc,
            "sch.tick",
            b"t",
            **{
                "Nats-Schedule": "@every 1s",
                "Nats-Schedule-Target": "sch.out",
                "Nats-Schedule-TTL": "1h",
                "Nats-Schedule-Rollup": "sub",
            },
        )
        msgs = await fetch(nc, "sch.out", 1)
        h = headers(msgs[0])
        assert {k: h[k] for k in ("Nats-Scheduler", "Nats-TTL", "Nats-Rollup")} == {
            "Nats-Scheduler": "sch.tick",
            "Nats-TTL": "1h",
            "Nats-Rollup": "sub",
        }
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", h["Nats-Schedule-Next"]), h
        sub = await nc.jetstream().pull_subscribe("sch.out", stream="S")
        (m1,) = await sub.fetch(1, timeout=FIRE)
        (m2,) = await sub.fetch(1, timeout=FIRE)
        assert m2.metadata.sequence.stream > m1.metadata.sequence.stream
        nexts = [datetime.fromisoformat(m.headers["Nats-Schedule-Next"]) for m in (m1, m2)]  # type: ignore[index]
        assert nexts[1] - nexts[0] == timedelta(seconds=1)
        assert "error" not in await last(nc, "sch.tick")  # a repeating schedule stays
        # a message on the schedule's subject that is not a schedule cancels it
        cancelled_at = (await publish(nc, "sch.tick", b"stop"))["seq"]
        await publish(nc, "sch.done", b"", **{"Nats-Schedule": at(2.5), "Nats-Schedule-Target": "sch.end"})
        await fetch(nc, "sch.end")
        assert (await state(nc))["last_seq"] == cancelled_at + 2  # the sch.done schedule and its message
        await sub.unsubscribe()
    finally:
        await nc.close()


async def test_cron_in_a_time_zone_and_source(js_url: str) -> None:
    nc = await nats.connect(js_url)
    try:
        await create(nc)
        await publish(nc, "sch.src", b"latest", **{"Src": "yes"})
        await publish(
            nc,
            "sch.cron",
            b"fallback",
            **{
                "Nats-Schedule": "* * * * * *",
                "Nats-Schedule-Time-Zone": "Asia/Kolkata",
                "Nats-Schedule-Target": "sch.out",
                "Nats-Schedule-Source": "sch.src",
            },
        )
        (m,) = await fetch(nc, "sch.out")
        assert m.data == b"latest"
        h = headers(m)
        assert h["Src"] == "yes" and h["Nats-Scheduler"] == "sch.cron"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30", h["Nats-Schedule-Next"]), h
        # a source without messages: the schedule's own body
        await publish(
            nc,
            "sch.once",
            b"fallback",
            **{
                "Nats-Schedule": at(0.5),
                "Nats-Schedule-Target": "sch.out2",
                "Nats-Schedule-Source": "sch.none",
            },
        )
        (m,) = await fetch(nc, "sch.out2")
        assert m.data == b"fallback"
        # deleting a schedule cancels it
        seq = (await last(nc, "sch.cron"))["message"]["seq"]
        body = json.dumps({"seq": seq}).encode()
        assert json.loads((await nc.request("$JS.API.STREAM.MSG.DELETE.S", body, timeout=T)).data)["success"]
        await publish(nc, "sch.done", b"", **{"Nats-Schedule": at(2), "Nats-Schedule-Target": "sch.end"})
        before = (await state(nc))["last_seq"]
        await fetch(nc, "sch.end")
        assert (await state(nc))["last_seq"] <= before + 2  # at most one cron firing was under way
    finally:
        await nc.close()


@pytest.mark.parametrize("kind", ["pynatsd", "reference"])
async def test_schedules_survive_restart(kind: str, tmp_path: Path) -> None:
    store = tmp_path / "store"
    async with jetstream_server(kind, store) as url:
        nc = await nats.connect(url)
        try:
            await create(nc)
            await publish(
                nc, "sch.late", b"later", **{"Nats-Schedule": at(4), "Nats-Schedule-Target": "sch.out"}
            )
            await publish(
                nc, "sch.tick", b"t", **{"Nats-Schedule": "@every 1s", "Nats-Schedule-Target": "sch.tick.out"}
            )
            await fetch(nc, "sch.tick.out")
        finally:
            await nc.close()
    async with jetstream_server(kind, store) as url:
        nc = await nats.connect(url)
        try:
            (m,) = await fetch(nc, "sch.out")
            assert m.data == b"later" and headers(m)["Nats-Scheduler"] == "sch.late"
            before = (await state(nc))["last_seq"]
            sub = await nc.jetstream().pull_subscribe("sch.tick.out", stream="S")
            seen = 0
            while True:
                (t,) = await sub.fetch(1, timeout=FIRE)
                seen += 1
                if t.metadata.sequence.stream > before:
                    break  # fired after the restart
            assert seen >= 2
        finally:
            await nc.close()


async def test_produced_message_bytes(js_url: str) -> None:
    """The produced message's header block byte for byte: the schedule's own headers that
    survive, then Nats-Scheduler, Nats-Schedule-Next, Nats-TTL, Nats-Rollup."""
    nc = await nats.connect(js_url)
    try:
        await create(nc, allow_msg_ttl=True)
        await publish(
            nc,
            "sch.once",
            b"payload",
            **{
                "A": "1",
                "Nats-Schedule": at(0.5),
                "Nats-Schedule-TTL": "1h",
                "Nats-Schedule-Target": "sch.out",
                "Nats-Schedule-Rollup": "sub",
                "B": "2",
                "Nats-Expected-Stream": "S",
            },
        )
        await publish(nc, "sch.bare", b"", **{"Nats-Schedule": at(0.5), "Nats-Schedule-Target": "sch.out2"})
        await fetch(nc, "sch.out")
        await fetch(nc, "sch.out2")
        got = [(await last(nc, s))["message"] for s in ("sch.out", "sch.out2")]
    finally:
        await nc.close()
    assert base64.b64decode(got[0]["hdrs"]) == (
        b"NATS/1.0\r\nA: 1\r\nB: 2\r\nNats-Scheduler: sch.once\r\nNats-Schedule-Next: purge\r\n"
        b"Nats-TTL: 1h\r\nNats-Rollup: sub\r\n\r\n"
    )
    assert base64.b64decode(got[0]["data"]) == b"payload"
    assert base64.b64decode(got[1]["hdrs"]) == (
        b"NATS/1.0\r\nNats-Scheduler: sch.bare\r\nNats-Schedule-Next: purge\r\n\r\n"
    )
    assert "data" not in got[1]
