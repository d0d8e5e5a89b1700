"""Stream mirrors through nats-py: every scenario on pynatsd and on the reference (``js_url``),
plus restart and ``kill -9`` of pynatsd mid catch-up with exact message accounting."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
from pathlib import Path
from typing import Any

import nats
from nats.js.errors import NoStreamResponseError

import pynatsd
from tests.support import ServerProcess, free_port, pynatsd_command
from tests.support.jetstream import CATCH_UP, T, api, until_messages, wait_for

__all__ = ["CATCH_UP", "T", "api", "until_messages", "wait_for"]  # shared with test_sources


async def get(nc: Any, stream: str, seq: int) -> dict[str, Any]:
    r = await api(nc, f"$JS.API.STREAM.MSG.GET.{stream}", {"seq": seq})
    m = r["message"]
    return {
        "subject": m["subject"],
        "data": base64.b64decode(m.get("data", "")),
        "hdrs": base64.b64decode(m["hdrs"]) if m.get("hdrs") else b"",
    }


async def test_mirror_catches_up_and_follows(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await js.add_stream(name="O", subjects=["o.>"])
    for i in range(20):
        await js.publish(f"o.{i % 3}", b"m%d" % i, headers={"Nats-Msg-Id": str(i)})
    r = await api(nc, "$JS.API.STREAM.CREATE.M", {"name": "M", "mirror": {"name": "O"}})
    assert "error" not in r
    assert r["config"]["mirror"] == {"name": "O"} and "subjects" not in r["config"]
    assert r["config"].get("duplicate_window", 0) == 0  # a mirror does not de-duplicate
    assert r["mirror"] == {"name": "O", "lag": 0, "active": -1}
    info = await until_messages(nc, "M", 20)
    assert info["state"]["first_seq"] == 1 and info["state"]["last_seq"] == 20
    assert set(info["mirror"]) == {"name", "lag", "active"} and info["mirror"]["active"] >= 0
    assert info["state"]["consumer_count"] == 0
    # the origin's consumer for the mirror is internal: not listed, not counted
    o = await api(nc, "$JS.API.STREAM.INFO.O")
    assert o["state"]["consumer_count"] == 0
    assert (await api(nc, "$JS.API.CONSUMER.NAMES.O"))["total"] == 0
    # same subject, data, headers, sequence
    for seq in (1, 7, 20):
        assert await get(nc, "M", seq) == await get(nc, "O", seq)
    # live follow
    for i in range(20, 30):
        await js.publish(f"o.{i % 3}", b"m%d" % i)
    await until_messages(nc, "M", 30)
    assert await get(nc, "M", 30) == await get(nc, "O", 30)
    # deletes in the origin after catch-up stay; new ones after a gap land at the origin's sequence
    await js.purge_stream("O")
    await js.publish("o.x", b"after purge")
    await until_messages(nc, "M", 31)
    m = await get(nc, "M", 31)
    assert m["subject"] == "o.x" and m["data"] == b"after purge"
    await nc.close()


async def test_publishing_into_a_mirror_is_refused(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await js.add_stream(name="O", subjects=["o.>"])
    r = await api(nc, "$JS.API.STREAM.CREATE.M", {"name": "M", "mirror": {"name": "O"}, "subjects": ["m.>"]})
    assert r["error"] == {
        "code": 400,
        "err_code": 10034,
        "description": "stream mirrors can not contain subjects",
    }
    await api(nc, "$JS.API.STREAM.CREATE.M", {"name": "M", "mirror": {"name": "O"}})
    # a mirror captures nothing, not even its own name
    try:
        await js.publish("M", b"x")
        raise AssertionError("a publish into a mirror was acknowledged")
    except NoStreamResponseError:
        pass
    # nor may an update give it subjects, or change what it mirrors
    r = await api(nc, "$JS.API.STREAM.UPDATE.M", {"name": "M", "mirror": {"name": "O"}, "subjects": ["m.>"]})
    assert r["error"]["err_code"] == 10034
    r = await api(
        nc, "$JS.API.STREAM.UPDATE.M", {"name": "M", "mirror": {"name": "O", "filter_subject": "o.a"}}
    )
    assert r["error"] == {
        "code": 400,
        "err_code": 10055,
        "description": "stream mirror configuration can not be updated",
    }
    await nc.close()


async def test_mirror_filter_and_start_options(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await js.add_stream(name="O", subjects=["o.>"])
    for i in range(10):
        await js.publish("o.a" if i % 2 else "o.b", b"m%d" % i)
    await asyncio.sleep(0.02)
    cut = (await api(nc, "$JS.API.STREAM.MSG.GET.O", {"seq": 6}))["message"]["time"]
    for i in range(10, 12):
        await js.publish("o.a", b"m%d" % i)
    # a filtered mirror keeps the origin's sequences: the others are gaps
    await api(nc, "$JS.API.STREAM.CREATE.F", {"name": "F", "mirror": {"name": "O", "filter_subject": "o.a"}})
    info = await until_messages(nc, "F", 7)
    assert info["mirror"]["filter_subject"] == "o.a"
    assert info["state"]["first_seq"] == 2 and info["state"]["last_seq"] == 12
    assert info["state"]["num_deleted"] == 4
    # opt_start_seq: the mirror starts at that sequence
    await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "mirror": {"name": "O", "opt_start_seq": 5}})
    info = await until_messages(nc, "S", 8)
    assert info["state"]["first_seq"] == 5 and info["state"]["last_seq"] == 12
    # opt_start_time: from the first message at or after it
    await api(nc, "$JS.API.STREAM.CREATE.TM", {"name": "TM", "mirror": {"name": "O", "opt_start_time": cut}})
    info = await until_messages(nc, "TM", 7)
    assert info["state"]["first_seq"] == 6
    await nc.close()


async def test_mirror_of_a_stream_that_does_not_exist_yet(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    r = await api(nc, "$JS.API.STREAM.CREATE.M", {"name": "M", "mirror": {"name": "LATER"}})
    assert "error" not in r

    async def errored() -> bool:
        info = await api(nc, "$JS.API.STREAM.INFO.M")
        return bool(info["mirror"].get("error"))

    await wait_for(errored, T)
    info = await api(nc, "$JS.API.STREAM.INFO.M")
    assert info["mirror"] == {
        "name": "LATER",
        "lag": 0,
        "active": -1,
        "error": {"code": 404, "err_code": 10059, "description": "stream not found"},
    }
    # the mirror keeps serving its API meanwhile, and starts once the origin appears
    await js.add_stream(name="LATER", subjects=["later"])
    for i in range(5):
        await js.publish("later", b"%d" % i)
    info = await until_messages(nc, "M", 5)
    assert "error" not in info["mirror"]
    await nc.close()


async def test_removing_the_mirror_promotes_it(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await js.add_stream(name="O", subjects=["o"])
    for i in range(5):
        await js.publish("o", b"%d" % i)
    await api(nc, "$JS.API.STREAM.CREATE.M", {"name": "M", "mirror": {"name": "O"}})
    await until_messages(nc, "M", 5)
    psub = await js.pull_subscribe("", durable="D", stream="M")
    assert [m.data for m in await psub.fetch(5, timeout=T)] == [b"%d" % i for i in range(5)]
    r = await api(nc, "$JS.API.STREAM.UPDATE.M", {"name": "M", "subjects": ["m"]})
    assert "error" not in r and "mirror" not in r["config"] and "mirror" not in r
    ack = await js.publish("m", b"own")
    assert ack.stream == "M" and ack.seq == 6
    await js.publish("o", b"not mirrored any more")
    # the origin's consumer for the mirror goes away; nothing more arrives
    await js.publish("m", b"own 2")
    info = await until_messages(nc, "M", 7)
    assert info["state"]["last_seq"] == 7
    assert (await get(nc, "M", 7))["data"] == b"own 2"
    # the mirror's consumers go on after the promotion
    assert [m.data for m in await psub.fetch(2, timeout=T)] == [b"own", b"own 2"]
    await nc.close()


BAD = [
    (
        {"mirror": {"name": "O"}, "first_seq": 5},
        10143,
        "stream mirrors can not have first sequence configured",
    ),
    (
        {"mirror": {"name": "O"}, "sources": [{"name": "P"}]},
        10031,
        "stream mirrors can not also contain other sources",
    ),
    ({"mirror": {"name": "a.b"}}, 10142, "mirrored stream name is invalid"),
    (
        {
            "mirror": {
                "name": "O",
                "filter_subject": "o.a",
                "subject_transforms": [{"src": "o.b", "dest": "x"}],
            }
        },
        10150,
        "mirror with multiple subject transforms cannot also have a single subject filter",
    ),
    (
        {
            "mirror": {
                "name": "O",
                "subject_transforms": [{"src": "o.*", "dest": "x"}, {"src": "o.a", "dest": "y"}],
            }
        },
        10152,
        "mirror subject filters can not overlap",
    ),
    (
        {"mirror": {"name": "O", "subject_transforms": [{"src": "o.*", "dest": "x.$2"}]}},
        10154,
        "mirror transform: invalid mapping destination: wildcard index out of range in $2: [2]",
    ),
    (
        {"mirror": {"name": "O"}, "subject_delete_marker_ttl": 5_000_000_000},
        10052,
        "subject delete markers forbidden on mirrors",
    ),
    (
        {"mirror": {"name": "O"}, "max_msg_size": 10},
        10030,
        "stream mirror must have max message size >= source",
    ),
    (
        {"mirror": {"name": "O", "external": {"api": "$JS.API", "deliver": ""}}},
        10021,
        "stream external api prefix $JS.API must not overlap with $JS.API",
    ),
    (
        {"mirror": {"name": "O", "external": {"api": "$JS.X.API", "deliver": "d.*"}}},
        10024,
        "stream external delivery prefix d.* must not contain wildcards",
    ),
    ({"mirror": {"name": "M"}}, 10052, "detected cycle"),
    ({"mirror": {}}, 10142, "mirrored stream name is invalid"),
    (
        {"mirror": {"name": "O", "filter_subject": "a..b"}},
        10049,
        "subject filter 'a..b' for the mirror invalid subject",
    ),
]


async def test_bad_mirror_configs(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await js.add_stream(name="O", subjects=["o.>"], max_msg_size=100)
    await js.publish("o.a", b"kept")
    for extra, code, text in BAD:
        r = await api(nc, "$JS.API.STREAM.CREATE.M", {"name": "M", **extra})
        assert r.get("error", {}).get("err_code") == code, (extra, r)
        assert r["error"]["description"] == text, (extra, r)
    # nothing stored is lost, the server keeps serving
    assert (await js.stream_info("O")).state.messages == 1
    assert (await js.publish("o.b", b"x")).seq == 2
    await nc.close()


# -- restarts and kill -9 (pynatsd only: the reference's own recovery is not under test) -----


async def kill_mid_catch_up(server: ServerProcess, nc: Any, stream: str, n: int) -> None:
    """SIGKILL ``server`` once ``stream`` holds some but not all of its ``n`` messages (the
    test proves nothing otherwise), wait for it to exit and drop the connection."""
    seen = 0

    async def started() -> bool:
        nonlocal seen
        seen = (await api(nc, f"$JS.API.STREAM.INFO.{stream}"))["state"]["messages"]
        return seen > 0

    await wait_for(started)
    os.kill(server.pid, signal.SIGKILL)
    assert seen < n, "the catch-up was over before the kill: the test proved nothing"
    server.wait(T)
    await nc.close()


def _start(store: Path, port: int) -> ServerProcess:
    return ServerProcess(pynatsd_command(), "-js", "-sd", str(store), port=port, name="pynatsd").start()


async def _fill(url: str, n: int, size: int = 64) -> None:
    """``n`` messages in the origin O (plain publishes, then wait until all are stored)."""
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=T)
    await js.add_stream(name="O", subjects=["o.>"])
    for i in range(n):
        await nc.publish(f"o.{i % 7}", b"%08d" % i + b"x" * (size - 8))
        if i % 1000 == 999:
            await nc.flush(T)
    await nc.flush(T)
    await until_messages(nc, "O", n)
    await nc.close()


async def _check_exact(nc: Any, n: int) -> None:
    """Every origin message exactly once, at its own sequence, nothing else."""
    info = await until_messages(nc, "M", n)
    assert info["state"]["first_seq"] == 1 and info["state"]["last_seq"] == n
    assert info["state"].get("num_deleted", 0) == 0
    js = nc.jetstream(timeout=T)
    psub = await js.pull_subscribe("o.>", stream="M")
    seq = 0
    while seq < n:
        for m in await psub.fetch(min(1000, n - seq), timeout=T):
            seq += 1
            assert m.metadata.sequence.stream == seq and m.data[:8] == b"%08d" % (seq - 1)
            await m.ack()
    await psub.unsubscribe()


async def test_mirror_survives_restart(tmp_path: Path) -> None:
    store, port = tmp_path / "js", free_port()
    server = _start(store, port)
    try:
        await _fill(server.url, 300)
        nc = await nats.connect(server.url)
        await api(nc, "$JS.API.STREAM.CREATE.M", {"name": "M", "mirror": {"name": "O"}})
        await until_messages(nc, "M", 300)
        await nc.close()
        server.stop()
        server = _start(store, port)
        nc = await nats.connect(server.url)
        js = nc.jetstream(timeout=T)
        for i in range(300, 400):
            await js.publish(f"o.{i % 7}", b"%08d" % i)
        await _check_exact(nc, 400)
        await nc.close()
    finally:
        server.kill()


async def test_mirror_kill_9_mid_catch_up(tmp_path: Path) -> None:
    n = 200_000
    store, port = tmp_path / "js", free_port()
    server = _start(store, port)
    try:
        await _fill(server.url, n)
        nc = await nats.connect(server.url)
        await api(nc, "$JS.API.STREAM.CREATE.M", {"name": "M", "mirror": {"name": "O"}})

        await kill_mid_catch_up(server, nc, "M", n)
        server = _start(store, port)
        nc = await nats.connect(server.url)
        await _check_exact(nc, n)
        await nc.close()
    finally:
        server.kill()


async def test_mirror_direct_answers_for_its_origin(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await api(nc, "$JS.API.STREAM.CREATE.O", {"name": "O", "subjects": ["o"], "allow_direct": True})
    for i in range(3):
        await js.publish("o", b"%d" % i)
    r = await api(nc, "$JS.API.STREAM.CREATE.M", {"name": "M", "mirror": {"name": "O"}})
    assert r["config"]["mirror_direct"] is True and r["config"]["allow_direct"] is False
    await until_messages(nc, "M", 3)
    await api(nc, "$JS.API.STREAM.DELETE.O")
    # the origin is gone: the mirror answers DIRECT.GET on the origin's subject
    m = await nc.request("$JS.API.DIRECT.GET.O", json.dumps({"seq": 2}).encode(), timeout=T)
    assert m.data == b"1"
    assert m.headers is not None and m.headers["Nats-Stream"] == "M" and m.headers["Nats-Sequence"] == "2"
    # but not on its own (it has no allow_direct)
    try:
        await nc.request("$JS.API.DIRECT.GET.M", json.dumps({"seq": 2}).encode(), timeout=T)
        raise AssertionError("a mirror without allow_direct answered DIRECT.GET")
    except nats.errors.NoRespondersError:
        pass
    await nc.close()


async def test_mirror_direct_shares_direct_gets_with_its_origin(js_url: str) -> None:
    """While both exist, DIRECT.GET on the origin's subject is answered by the origin or by a
    caught-up ``mirror_direct`` mirror (the reference subscribes both in one queue group)."""
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await api(nc, "$JS.API.STREAM.CREATE.O", {"name": "O", "subjects": ["o"], "allow_direct": True})
    await js.publish("o", b"0")
    await api(nc, "$JS.API.STREAM.CREATE.M", {"name": "M", "mirror": {"name": "O"}})
    await until_messages(nc, "M", 1)
    answered: set[str] = set()
    for _ in range(200):  # each answer is one of the two at random: both show up long before
        m = await nc.request("$JS.API.DIRECT.GET.O", json.dumps({"seq": 1}).encode(), timeout=T)
        assert m.data == b"0" and m.headers is not None
        answered.add(m.headers["Nats-Stream"])
        if answered == {"O", "M"}:
            break
    assert answered == {"O", "M"}
    await nc.close()


async def test_external_api_prefix_of_a_domain(tmp_path: Path) -> None:
    """``external.api`` is where the consumer requests go: ``$JS.<domain>.API`` reaches the
    server's own domain the way it would reach another one over a leaf node.

    pynatsd only: the reference 2.15.1 does not answer its own domain prefix for a stream's
    internal requests (its mirror stays at ``active: -1`` with no error), so a local
    external origin never starts there; here it does.
    """
    async with pynatsd.Server(jetstream=True, store_dir=str(tmp_path), jetstream_domain="hub") as srv:
        url = srv.client_url
        nc = await nats.connect(url)
        js = nc.jetstream(timeout=T)
        await js.add_stream(name="O", subjects=["o"])
        for i in range(4):
            await js.publish("o", b"%d" % i)
        ext = {"api": "$JS.hub.API", "deliver": "deliver.hub"}
        r = await api(nc, "$JS.API.STREAM.CREATE.M", {"name": "M", "mirror": {"name": "O", "external": ext}})
        assert "error" not in r and r["config"]["mirror"]["external"] == ext
        r = await api(
            nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "sources": [{"name": "O", "external": ext}]}
        )
        assert "error" not in r
        info = await until_messages(nc, "M", 4)
        assert info["mirror"]["external"] == ext
        info = await until_messages(nc, "S", 4)
        assert info["sources"][0]["external"] == ext
        m = await get(nc, "S", 1)
        hdr = next(x for x in m["hdrs"].decode().split("\r\n") if x.startswith("Nats-Stream-Source:"))
        fields = hdr.split(": ", 1)[1].split(" ")
        assert fields[0].startswith("O:") and len(fields[0]) == 10 and fields[1:5] == ["1", ">", ">", "o"]
        await nc.close()


async def test_a_full_mirror_keeps_what_it_has_and_keeps_serving(js_url: str) -> None:
    """A mirror with discard new at its limit refuses the rest (retrying), loses nothing it
    stored and answers its API meanwhile."""
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await js.add_stream(name="O", subjects=["o"])
    for i in range(6):
        await js.publish("o", b"%d" % i)
    r = await api(
        nc, "$JS.API.STREAM.CREATE.M", {"name": "M", "mirror": {"name": "O"}, "max_msgs": 3, "discard": "new"}
    )
    assert "error" not in r
    info = await until_messages(nc, "M", 3)
    assert info["state"]["first_seq"] == 1 and info["state"]["last_seq"] == 3
    assert [(await get(nc, "M", seq))["data"] for seq in (1, 2, 3)] == [b"0", b"1", b"2"]
    assert info["mirror"]["lag"] == 1  # the refused message's pending count, as the reference
    assert (await js.publish("o", b"more")).seq == 7  # the origin goes on
    assert (await api(nc, "$JS.API.STREAM.INFO.M"))["state"]["messages"] == 3
    await nc.close()
