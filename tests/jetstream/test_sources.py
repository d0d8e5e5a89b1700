"""Stream sources through nats-py: every scenario on pynatsd and on the reference (``js_url``),
plus restart and ``kill -9`` of pynatsd mid catch-up with exact message accounting."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import nats

from tests.jetstream.test_mirrors import T, _start, api, get, kill_mid_catch_up, until_messages, wait_for
from tests.support import free_port


def source_header(m: dict[str, Any]) -> tuple[str, str]:
    """``Nats-Stream-Source`` of a stored message: its first five fields, and the origin's
    identity (the sixth)."""
    for line in m["hdrs"].decode().split("\r\n"):
        if line.startswith("Nats-Stream-Source:"):
            fields = line.split(":", 1)[1].strip().split(" ")
            assert len(fields) == 6, fields
            return " ".join(fields[:5]), fields[5]
    raise AssertionError(f"no Nats-Stream-Source in {m['hdrs']!r}")


def identity(created: str) -> str:
    """What a stream's identity is: 8 base-62 characters of the sha256 of its creation time."""
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return "".join(digits[b % 62] for b in hashlib.sha256(created.encode()).digest()[:8])


async def test_sources_from_several_streams_with_filters_and_transforms(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await js.add_stream(name="A", subjects=["a.>"])
    await js.add_stream(name="B", subjects=["b.>"])
    for i in range(6):
        await js.publish(f"a.{i % 2}", b"a%d" % i, headers={"Nats-Expected-Stream": "A", "K": "v"})
        await js.publish(f"b.x.{i}", b"b%d" % i)
    r = await api(
        nc,
        "$JS.API.STREAM.CREATE.S",
        {
            "name": "S",
            "subjects": ["s.own"],
            "sources": [
                {"name": "A", "filter_subject": "a.1"},
                {"name": "B", "subject_transforms": [{"src": "b.*.*", "dest": "from-b.$2"}]},
            ],
        },
    )
    assert "error" not in r and r["config"]["subjects"] == ["s.own"]
    assert r["config"].get("duplicate_window", 0) == 0
    info = await until_messages(nc, "S", 9)
    by_name = {s["name"]: s for s in info["sources"]}
    assert set(by_name) == {"A", "B"}
    assert by_name["A"]["filter_subject"] == "a.1" and by_name["A"]["lag"] == 0
    assert by_name["B"]["subject_transforms"] == [{"src": "b.*.*", "dest": "from-b.$2"}]
    assert all(s["active"] >= 0 and "error" not in s for s in info["sources"])
    await js.publish("s.own", b"own")
    await until_messages(nc, "S", 10)
    msgs = [await get(nc, "S", seq) for seq in range(1, 11)]
    from_a = [m for m in msgs if m["subject"] == "a.1"]
    from_b = [m for m in msgs if m["subject"].startswith("from-b.")]
    assert [m["data"] for m in from_a] == [b"a1", b"a3", b"a5"]
    assert [m["subject"] for m in from_b] == [f"from-b.{i}" for i in range(6)]
    a_id = identity((await api(nc, "$JS.API.STREAM.INFO.A"))["created"])
    b_id = identity((await api(nc, "$JS.API.STREAM.INFO.B"))["created"])
    assert source_header(from_a[1]) == ("A 4 a.1 > a.1", a_id)
    assert source_header(from_b[2]) == ("B 3 b.*.* from-b.$2 b.x.2", b_id)
    # the origin's expectations are not checked again, its other headers are kept
    assert b"Nats-Expected-Stream" not in from_a[0]["hdrs"] and b"K: v" in from_a[0]["hdrs"]
    # only sources write Nats-Stream-Source: a publish carrying one is refused
    ack = await nc.request("s.own", b"x", headers={"Nats-Stream-Source": "A 1 > > a.1"}, timeout=T)
    assert json.loads(ack.data) == {
        "error": {
            "code": 400,
            "err_code": 10227,
            "description": "message stream source header is not allowed",
        },
        "stream": "S",
        "seq": 0,
    }
    await nc.close()


async def test_update_adds_and_removes_sources(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await js.add_stream(name="A", subjects=["a"])
    await js.add_stream(name="B", subjects=["b"])
    for i in range(3):
        await js.publish("a", b"a%d" % i)
        await js.publish("b", b"b%d" % i)
    await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "sources": [{"name": "A"}]})
    await until_messages(nc, "S", 3)
    r = await api(nc, "$JS.API.STREAM.UPDATE.S", {"name": "S", "sources": [{"name": "A"}, {"name": "B"}]})
    assert "error" not in r and [s["name"] for s in r["config"]["sources"]] == ["A", "B"]
    info = await until_messages(nc, "S", 6)
    assert sorted(s["name"] for s in info["sources"]) == ["A", "B"]
    # A stays where it was: nothing from it twice
    await js.publish("a", b"a3")
    await until_messages(nc, "S", 7)
    r = await api(nc, "$JS.API.STREAM.UPDATE.S", {"name": "S", "sources": [{"name": "B"}]})
    assert "error" not in r
    info = await api(nc, "$JS.API.STREAM.INFO.S")
    assert [s["name"] for s in info["sources"]] == ["B"]
    await js.publish("a", b"a4")  # no longer sourced
    await js.publish("b", b"b3")
    info = await until_messages(nc, "S", 8)
    data = sorted([(await get(nc, "S", seq))["data"] for seq in range(1, 9)])
    assert data == sorted([b"a0", b"a1", b"a2", b"a3", b"b0", b"b1", b"b2", b"b3"])
    # removing every source: a stream with neither subjects nor sources is given its name
    r = await api(nc, "$JS.API.STREAM.UPDATE.S", {"name": "S"})
    assert "error" not in r and r["config"]["subjects"] == ["S"] and "sources" not in r
    await nc.close()


async def test_a_recreated_origin_is_read_from_its_start(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await js.add_stream(name="A", subjects=["a"])
    for i in range(3):
        await js.publish("a", b"old%d" % i)
    await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "sources": [{"name": "A"}]})
    await until_messages(nc, "S", 3)
    await js.delete_stream("A")
    await js.add_stream(name="A", subjects=["a"])
    for i in range(2):
        await js.publish("a", b"new%d" % i)
    # the new origin's sequences 1 and 2 were read already from the old one: only its
    # identity tells them apart
    await until_messages(nc, "S", 5)
    assert [(await get(nc, "S", seq))["data"] for seq in (4, 5)] == [b"new0", b"new1"]
    await nc.close()


async def test_start_options_and_a_source_that_appears_later(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await js.add_stream(name="A", subjects=["a"])
    for i in range(8):
        await js.publish("a", b"%d" % i)
    await api(
        nc,
        "$JS.API.STREAM.CREATE.S",
        {"name": "S", "sources": [{"name": "A", "opt_start_seq": 6}, {"name": "L"}]},
    )
    info = await until_messages(nc, "S", 3)
    assert [(await get(nc, "S", seq))["data"] for seq in (1, 2, 3)] == [b"5", b"6", b"7"]

    async def errored() -> bool:
        info = await api(nc, "$JS.API.STREAM.INFO.S")
        return any(s.get("error") for s in info["sources"])

    await wait_for(errored, T)
    info = await api(nc, "$JS.API.STREAM.INFO.S")
    late = next(s for s in info["sources"] if s["name"] == "L")
    assert late == {
        "name": "L",
        "lag": 0,
        "active": -1,
        "error": {"code": 404, "err_code": 10059, "description": "stream not found"},
    }
    await js.add_stream(name="L", subjects=["l"])
    await js.publish("l", b"late")
    await until_messages(nc, "S", 4)
    assert (await get(nc, "S", 4))["data"] == b"late"
    await nc.close()


async def test_work_queue_and_interest_origins(js_url: str) -> None:
    """Every message of a work-queue and of an interest origin arrives exactly once, and the
    origins let go of them once stored (the durable flow-control consumers this takes are
    compared in test_sourcing_state.py)."""
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await api(nc, "$JS.API.STREAM.CREATE.WQ", {"name": "WQ", "subjects": ["wq"], "retention": "workqueue"})
    await api(nc, "$JS.API.STREAM.CREATE.IN", {"name": "IN", "subjects": ["in"], "retention": "interest"})
    for i in range(5):
        await js.publish("wq", b"w%d" % i)
    r = await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "sources": [{"name": "WQ"}, {"name": "IN"}]})
    assert "error" not in r
    await until_messages(nc, "S", 5)

    async def both_active() -> bool:  # an interest origin drops what nobody wants yet
        info = await api(nc, "$JS.API.STREAM.INFO.S")
        return all(s["active"] >= 0 for s in info["sources"])

    await wait_for(both_active)
    for i in range(4):
        await js.publish("in", b"i%d" % i)
        await js.publish("wq", b"w%d" % (i + 5))
    await until_messages(nc, "S", 13)
    data = [(await get(nc, "S", seq))["data"] for seq in range(1, 14)]
    assert [d for d in data if d.startswith(b"w")] == [b"w%d" % i for i in range(9)]
    assert [d for d in data if d.startswith(b"i")] == [b"i%d" % i for i in range(4)]

    async def drained() -> bool:
        wq = await api(nc, "$JS.API.STREAM.INFO.WQ")
        inside = await api(nc, "$JS.API.STREAM.INFO.IN")
        return bool(wq["state"]["messages"] == 0 and inside["state"]["messages"] == 0)

    await wait_for(drained)
    await nc.close()


BAD = [
    ({"sources": [{"name": "a.b"}]}, 10141, "sourced stream name is invalid"),
    ({"sources": [{"name": "A"}, {"name": "A"}]}, 10140, "duplicate source configuration detected"),
    (
        {
            "sources": [
                {"name": "A", "filter_subject": "a", "subject_transforms": [{"src": "a", "dest": "b"}]}
            ]
        },
        10144,
        "source with multiple subject transforms cannot also have a single subject filter",
    ),
    (
        {
            "sources": [
                {
                    "name": "A",
                    "subject_transforms": [{"src": "a.>", "dest": "x.>"}, {"src": "a.b", "dest": "y"}],
                }
            ]
        },
        10147,
        "source filters can not overlap",
    ),
    (
        {"sources": [{"name": "A", "subject_transforms": [{"src": "a..b", "dest": "x"}]}]},
        10145,
        "source transform source: invalid subject a..b",
    ),
    (
        {"sources": [{"name": "A", "subject_transforms": [{"src": "a.*", "dest": "x.{{nope(1)}}"}]}]},
        10146,
        "source transform: invalid mapping destination: unknown function in {{nope(1)}}",
    ),
    (
        {"sources": [{"name": "A"}], "max_msg_size": 10},
        10046,
        "stream source must have max message size >= target",
    ),
    (
        {"sources": [{"name": "A", "external": {"api": "$JS.A.*", "deliver": ""}}]},
        10052,
        'stream external api prefix "$JS.A.*" must be a valid subject without wildcards',
    ),
    ({"sources": [{"name": "S2"}], "subjects": ["a.>"]}, 10052, "detected cycle"),
    ({"sources": [None]}, 10141, "sourced stream name is invalid"),
    (
        {"sources": [{"name": "A", "filter_subject": "a..b"}]},
        10049,
        "subject filter 'a..b' for the source: invalid subject",
    ),
]


async def test_bad_source_configs(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await js.add_stream(name="A", subjects=["a.>"], max_msg_size=100)
    await js.publish("a.x", b"kept")
    await api(nc, "$JS.API.STREAM.CREATE.S2", {"name": "S2", "subjects": ["s2"], "sources": [{"name": "S"}]})
    for extra, code, text in BAD:
        r = await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", **extra})
        assert r.get("error", {}).get("err_code") == code, (extra, r)
        assert r["error"]["description"] == text, (extra, r)
    assert (await js.stream_info("A")).state.messages == 1
    assert (await js.publish("a.y", b"x")).seq == 2
    await nc.close()


# -- restarts and kill -9 (pynatsd only) ---------------------------------------------------


async def _fill(nc: Any, stream: str, n: int) -> None:
    for i in range(n):
        await nc.publish(f"{stream.lower()}.{i % 5}", b"%s-%08d" % (stream.encode(), i))
        if i % 1000 == 999:
            await nc.flush(T)
    await nc.flush(T)
    await until_messages(nc, stream, n)


async def _check_exact(nc: Any, counts: dict[str, int]) -> None:
    """Every origin message exactly once (in origin order per origin), nothing else."""
    total = sum(counts.values())
    await until_messages(nc, "S", total)
    js = nc.jetstream(timeout=T)
    psub = await js.pull_subscribe(">", stream="S")
    seen: dict[str, list[int]] = {name: [] for name in counts}
    got = 0
    while got < total:
        for m in await psub.fetch(min(1000, total - got), timeout=T):
            got += 1
            name, n = m.data.split(b"-")
            seen[name.decode()].append(int(n))
            await m.ack()
    for name, n in counts.items():
        assert seen[name] == list(range(n)), name
    await psub.unsubscribe()


async def test_sources_survive_restart_and_kill_9(tmp_path: Path) -> None:
    n = 60_000
    store, port = tmp_path / "js", free_port()
    server = _start(store, port)
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream(timeout=T)
        await js.add_stream(name="A", subjects=["a.>"])
        await js.add_stream(name="B", subjects=["b.>"])
        await _fill(nc, "A", n)
        await _fill(nc, "B", 100)
        await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "sources": [{"name": "A"}, {"name": "B"}]})
        await kill_mid_catch_up(server, nc, "S", n)
        server = _start(store, port)
        nc = await nats.connect(server.url)
        await _check_exact(nc, {"A": n, "B": 100})
        # a clean restart, then more in both origins
        await nc.close()
        server.stop()
        server = _start(store, port)
        nc = await nats.connect(server.url)
        for i in range(n, n + 50):
            await nc.publish(f"a.{i % 5}", b"A-%08d" % i)
        for i in range(100, 120):
            await nc.publish(f"b.{i % 5}", b"B-%08d" % i)
        await _check_exact(nc, {"A": n + 50, "B": 120})
        await nc.close()
    finally:
        server.kill()
        await asyncio.sleep(0)
