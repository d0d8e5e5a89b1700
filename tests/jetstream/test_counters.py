"""Message counters (``allow_msg_counter``, ``Nats-Incr``): the same conversations against
the reference and pynatsd must give the same JSON (config rules, PubAcks with ``val``,
errors for bad increments, the stored ``{"val":"N"}`` bodies), and bad input never costs a
stored total."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.support import jetstream_server
from tests.support.jetstream import Step, converse

T = 10.0
BIG = "123456789012345678901234567890123456789012345678901234567890"

CREATE = "$JS.API.STREAM.CREATE.C"
UPDATE = "$JS.API.STREAM.UPDATE.C"
COUNTER: dict[str, Any] = {"name": "C", "subjects": ["cnt.>"], "allow_msg_counter": True}


def incr(subject: str, value: str, data: bytes = b"", **extra: str) -> Step:
    return (subject, data, {"Nats-Incr": value, **extra})


SCENARIOS: dict[str, list[Step]] = {
    "config": [
        (CREATE, {**COUNTER, "discard": "new"}),
        (CREATE, {**COUNTER, "allow_msg_ttl": True}),
        (CREATE, {**COUNTER, "allow_msg_schedules": True}),
        (CREATE, {**COUNTER, "retention": "interest"}),
        (CREATE, {**COUNTER, "retention": "workqueue"}),
        (CREATE, {**COUNTER, "subject_delete_marker_ttl": 2_000_000_000}),
        (CREATE, {**COUNTER, "storage": "memory"}),
        (UPDATE, {**COUNTER, "storage": "memory", "allow_msg_counter": False}),
        (UPDATE, {**COUNTER, "storage": "memory", "max_msgs_per_subject": 3}),
        ("$JS.API.STREAM.INFO.C", None),
        ("$JS.API.STREAM.DELETE.C", None),
        (CREATE, {"name": "C", "subjects": ["cnt.>"]}),
        (UPDATE, COUNTER),
        ("cnt.a", b"", {"Nats-Incr": "1"}),
        ("cnt.a", b"", {"Nats-Incr": "one"}),
        ("cnt.a", b"", {"Nats-Incr": ""}),
        ("$JS.API.STREAM.INFO.C", None),
    ],
    "increments": [
        (CREATE, COUNTER),
        incr("cnt.a", "1"),
        incr("cnt.a", "2"),
        incr("cnt.a", "-3"),
        incr("cnt.a", "+5"),
        incr("cnt.a", "007"),
        incr("cnt.b", BIG),
        incr("cnt.b", BIG),
        incr("cnt.b", "-" + BIG + "0"),
        ("$JS.API.STREAM.MSG.GET.C", {"last_by_subj": "cnt.a"}),
        ("$JS.API.STREAM.MSG.GET.C", {"last_by_subj": "cnt.b"}),
        incr("cnt.a", "1", **{"Nats-Msg-Id": "once"}),
        incr("cnt.a", "1", **{"Nats-Msg-Id": "once"}),
        ("$JS.API.STREAM.PURGE.C", {"filter": "cnt.a"}),
        incr("cnt.a", "4"),
        ("$JS.API.STREAM.MSG.DELETE.C", {"seq": 13}),
        incr("cnt.a", "4"),
        ("$JS.API.STREAM.INFO.C", None),
    ],
    "bad input": [
        (CREATE, COUNTER),
        incr("cnt.a", "10"),
        ("cnt.a", b""),
        ("cnt.a", b"", {"Other": "x"}),
        incr("cnt.a", "1", b"payload"),
        incr("cnt.a", "bogus"),
        incr("cnt.a", "1.5"),
        incr("cnt.a", "1e3"),
        incr("cnt.a", "0x10"),
        incr("cnt.a", "1_000"),
        incr("cnt.a", "--1"),
        incr("cnt.a", "+"),
        incr("cnt.a", "1", **{"Nats-Rollup": "sub"}),
        incr("cnt.a", "1", **{"Nats-Expected-Stream": "C"}),
        incr("cnt.a", "1", **{"Nats-Expected-Last-Sequence": "1"}),
        incr("cnt.a", "1", **{"Nats-Expected-Last-Subject-Sequence": "1"}),
        incr("cnt.a", "1", **{"Nats-Expected-Last-Subject-Sequence-Subject": "cnt.a"}),
        incr("cnt.a", "1", **{"Nats-Expected-Last-Msg-Id": "x"}),
        incr("cnt.a", "1", **{"Nats-TTL": "5s"}),
        incr("cnt.a", "1", **{"Nats-Schedule": "@every 1s", "Nats-Schedule-Target": "cnt.b"}),
        incr("cnt.a", "5", b'{"val":"5"}', **{"Nats-Stream-Source": "O 3 > > cnt.a"}),
        incr("cnt.a", "5", **{"Nats-Stream-Source": "O 3 > > cnt.a"}),
        ("$JS.API.STREAM.INFO.C", None),
        incr("cnt.a", "1"),
        ("$JS.API.STREAM.MSG.GET.C", {"last_by_subj": "cnt.a"}),
    ],
    "plain stream": [
        (CREATE, {"name": "C", "subjects": ["cnt.>"]}),
        incr("cnt.a", "1"),
        incr("cnt.a", "x"),
        incr("cnt.a", ""),
        ("cnt.a", b"plain"),
        ("cnt.a", b"plain", {"Nats-Stream-Source": "O 3 > > cnt.a"}),
        ("$JS.API.STREAM.INFO.C", None),
    ],
    "sizes": [
        (CREATE, {**COUNTER, "max_msg_size": 37}),
        incr("cnt.a", "1"),
        incr("cnt.a", "10"),
        incr("cnt.a", "-1"),
        ("$JS.API.STREAM.INFO.C", None),
    ],
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_counter_conversation_matches_reference(name: str, tmp_path: Path) -> None:
    steps = SCENARIOS[name]
    results = {}
    for kind in ("reference", "pynatsd"):
        async with jetstream_server(kind, tmp_path / kind) as url:
            results[kind] = await converse(url, steps)
    for i, (ref, ours) in enumerate(zip(results["reference"], results["pynatsd"], strict=True)):
        assert ours == ref, f"step {i}: {steps[i]}"


async def test_counter_totals_survive_restart_and_bad_input(js_url: str, tmp_path: Path) -> None:
    """Totals are read from the store: refused increments leave them alone, and a restarted
    pynatsd goes on from the stored total (the reference is run the same way)."""
    nc = await nats.connect(js_url)
    try:
        await nc.request(CREATE, json.dumps(COUNTER).encode(), timeout=T)
        acks = []
        for value in ("5", "x", "7", "1.0", BIG):
            r = await nc.request("cnt.x", b"", timeout=T, headers={"Nats-Incr": value})
            acks.append(json.loads(r.data))
    finally:
        await nc.close()
    assert [a.get("val") for a in acks] == ["5", None, "12", None, str(12 + int(BIG))]
    assert [a["error"]["err_code"] for a in acks if "error" in a] == [10171, 10171]


@pytest.mark.parametrize("kind", ["pynatsd", "reference"])
async def test_counter_total_after_restart(kind: str, tmp_path: Path) -> None:
    """A file-backed counter continues from its stored total after a restart."""
    for seq, expected in ((1, "3"), (2, "6")):
        async with jetstream_server(kind, tmp_path / "store") as url:
            nc = await nats.connect(url)
            try:
                await nc.request(CREATE, json.dumps(COUNTER).encode(), timeout=T)
                r = await nc.request("cnt.x", b"", timeout=T, headers={"Nats-Incr": "3"})
                assert json.loads(r.data) == {"stream": "C", "seq": seq, "val": expected}
            finally:
                await nc.close()


async def test_sourced_counters_aggregate(js_url: str) -> None:
    """Counters fed by sources: a counter stream sourcing two counter streams adds each
    origin's increments (only the difference from that origin's last total it saw, recorded
    in Nats-Counter-Sources), and a client's own increment adds to the same total."""
    nc = await nats.connect(js_url)
    try:

        async def api(subject: str, body: dict[str, Any]) -> dict[str, Any]:
            r: dict[str, Any] = json.loads(
                (await nc.request(subject, json.dumps(body).encode(), timeout=T)).data
            )
            assert "error" not in r, r
            return r

        async def last_total(count: int) -> tuple[str, str]:
            """C's last message once C holds ``count`` messages: (headers, body)."""
            for _ in range(400):
                info = await api("$JS.API.STREAM.INFO.C", {})
                if info["state"]["messages"] >= count:
                    break
                await asyncio.sleep(0.025)
            assert info["state"]["messages"] == count, info["state"]
            m = (await api("$JS.API.STREAM.MSG.GET.C", {"last_by_subj": "cnt.sum"}))["message"]
            return base64.b64decode(m.get("hdrs", "")).decode(), base64.b64decode(m["data"]).decode()

        for name in ("O1", "O2"):
            await api(
                f"$JS.API.STREAM.CREATE.{name}",
                {"name": name, "subjects": [f"foo.{name[1]}"], "allow_msg_counter": True},
            )
        sources = [
            {"name": o, "subject_transforms": [{"src": f"foo.{o[1]}", "dest": "cnt.sum"}]}
            for o in ("O1", "O2")
        ]
        await api(CREATE, {**COUNTER, "sources": sources})
        await nc.request("foo.1", b"", timeout=T, headers={"Nats-Incr": "1"})
        assert (await last_total(1))[1] == '{"val":"1"}'
        await nc.request("foo.2", b"", timeout=T, headers={"Nats-Incr": "2"})
        assert (await last_total(2))[1] == '{"val":"3"}'
        await nc.request("foo.1", b"", timeout=T, headers={"Nats-Incr": "4"})
        hdrs, body = await last_total(3)
        assert body == '{"val":"7"}'
        assert "Nats-Incr: 4\r\n" in hdrs and "Nats-Counter-Sources: " in hdrs
        r = await nc.request("cnt.sum", b"", timeout=T, headers={"Nats-Incr": "10"})
        assert json.loads(r.data) == {"stream": "C", "seq": 4, "val": "17"}
        await nc.request("foo.2", b"", timeout=T, headers={"Nats-Incr": "-2"})
        hdrs, body = await last_total(5)
        assert body == '{"val":"15"}'
        assert "Nats-Incr: -2\r\n" in hdrs
        sources_seen = json.loads(hdrs.split("Nats-Counter-Sources: ")[1].split("\r\n")[0])
        # one entry per origin, each with its subject's latest total
        assert sorted(v for entry in sources_seen.values() for v in entry.values()) == ["0", "5"]
    finally:
        await nc.close()
