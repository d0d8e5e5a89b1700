"""Key-Value buckets through nats-py (nats/js/kv.py); every test runs on pynatsd and on the
reference, and asserts what the reference does. History, keys and purge_deletes are read
with the helpers of tests.support.jetstream, not nats-py's own: those stop at the watcher's
end-of-initial-values marker, which can come too early on the reference (a client race).

Waiting is on the client's own timeouts (watch updates, requests); expiry by TTL is waited
for with a short bounded poll (:func:`until`), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RePublish, StorageType
from nats.js.errors import (
    APIError,
    BadRequestError,
    BucketNotFoundError,
    InvalidKeyError,
    KeyHistoryTooLargeError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
)
from nats.js.kv import KeyValue

from tests.support.jetstream import kv_history, kv_keys, kv_purge_deletes

T = 10.0  # request timeout
W = 5.0  # longest wait for a watch update that must come
EXPIRY = 8.0  # longest wait for a TTL to be processed (the reference checks about once a second)


async def connect(url: str) -> tuple[Client, JetStreamContext]:
    nc = await nats.connect(url)
    return nc, nc.jetstream(timeout=T)


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = EXPIRY) -> None:
    """Poll ``check`` (every 50 ms) until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def raw_msgs(nc: Client, stream: str) -> list[dict[str, Any]]:
    """Every message of a stream through STREAM.MSG.GET: subject, seq, header dict, data."""
    info = json.loads((await nc.request(f"$JS.API.STREAM.INFO.{stream}", b"", timeout=T)).data)
    st = info["state"]
    out = []
    for seq in range(max(st["first_seq"], 1), st["last_seq"] + 1):
        r = await nc.request(f"$JS.API.STREAM.MSG.GET.{stream}", json.dumps({"seq": seq}).encode(), timeout=T)
        body = json.loads(r.data)
        if "error" in body:
            continue
        m = body["message"]
        hdr = base64.b64decode(m.get("hdrs", ""))
        out.append(
            {
                "subject": m["subject"],
                "seq": m["seq"],
                "hdr": hdr,
                "headers": _header_dict(hdr),
                "data": base64.b64decode(m.get("data", "")),
            }
        )
    return out


def _header_dict(hdr: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in hdr.split(b"\r\n")[1:]:
        k, sep, v = line.partition(b":")
        if sep:
            out[k.decode()] = v.strip().decode()
    return out


async def initial(w: KeyValue.KeyWatcher, n: int) -> list[KeyValue.Entry]:
    """The ``n`` entries a new watcher starts with, the watcher left running for live updates.

    Its "initial values done" None comes once, after them, or before them when nats-py's
    CONSUMER.INFO reply said 0 pending before any delivery was read (a client race, seen on the
    reference: see tests.support.jetstream). Either way it is one of the first ``n + 1`` updates,
    so they are read and the None, wherever it is, dropped: nothing here stops at the marker.
    (The count is the test's, not the server's as in tests.support.jetstream.initial_entries,
    so that it also fits ``ignore_deletes`` watchers, whose deletes nats-py drops.)

    A watcher with no entry to start with gets the None first on either server (there is no
    delivery it could come before), so ``await w.updates(W) is None`` is no race there."""
    got = [await w.updates(W) for _ in range(n + 1)]
    assert got.count(None) == 1, got
    return [e for e in got if e is not None]


async def no_update(w: KeyValue.KeyWatcher, wait: float = 0.3) -> bool:
    """True when nothing arrives within ``wait`` (a short, bounded check for silence)."""
    try:
        await w.updates(wait)
    except nats.errors.TimeoutError:
        return True
    return False


# -- buckets --------------------------------------------------------------------------------


async def test_bucket_config_and_status(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(
        bucket="CFG",
        description="settings",
        history=5,
        ttl=3600,
        max_value_size=1024,
        max_bytes=1 << 20,
        storage=StorageType.FILE,
    )
    status = await kv.status()
    assert status.bucket == "CFG"
    assert status.values == 0 and status.history == 5 and status.ttl == 3600.0
    assert status.marker_ttl is None
    cfg = status.stream_info.config
    assert cfg.name == "KV_CFG" and cfg.subjects == ["$KV.CFG.>"] and cfg.description == "settings"
    assert cfg.max_msgs_per_subject == 5 and cfg.max_msg_size == 1024 and cfg.max_bytes == 1 << 20
    assert cfg.max_age == 3600.0 and cfg.duplicate_window == 120.0
    assert cfg.storage == StorageType.FILE and cfg.discard == "new"
    assert cfg.deny_delete is True and cfg.deny_purge is False
    assert cfg.allow_rollup_hdrs is True and cfg.allow_msg_ttl is True
    assert cfg.allow_direct is False
    assert cfg.metadata is not None and cfg.metadata["_nats.req.level"] == "1"
    await kv.put("a", b"1")
    await kv.put("a", b"2")
    status = await kv.status()
    assert status.values == 2

    again = await js.key_value("CFG")
    assert (await again.get("a")).value == b"2"
    # the same configuration again is fine; another one is refused
    await js.create_key_value(
        bucket="CFG",
        description="settings",
        history=5,
        ttl=3600,
        max_value_size=1024,
        max_bytes=1 << 20,
        storage=StorageType.FILE,
    )
    with pytest.raises(BadRequestError) as err:
        await js.create_key_value(bucket="CFG", history=2)
    assert err.value.err_code == 10058

    with pytest.raises(KeyHistoryTooLargeError):
        await js.create_key_value(bucket="BIG", history=65)

    assert await js.delete_key_value("CFG") is True
    with pytest.raises(BucketNotFoundError):
        await js.key_value("CFG")
    with pytest.raises(APIError) as err:
        await js.delete_key_value("CFG")
    assert err.value.err_code == 10059
    await nc.close()


async def test_memory_bucket_short_ttl_and_direct_get(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="MEM", storage=StorageType.MEMORY, ttl=1.5, direct=True)
    cfg = (await kv.status()).stream_info.config
    # a bucket TTL under two minutes is also the duplicate window
    assert cfg.storage == StorageType.MEMORY and cfg.allow_direct is True
    assert cfg.max_age == 1.5 and cfg.duplicate_window == 1.5
    rev = await kv.put("k", b"v")
    entry = await kv.get("k")  # DIRECT.GET.KV_MEM.$KV.MEM.k
    assert (entry.key, entry.value, entry.revision) == ("k", b"v", rev)
    by_rev = await kv.get("k", revision=rev)  # DIRECT.GET with {"seq": rev}
    assert by_rev.value == b"v"
    with pytest.raises(KeyNotFoundError):
        await kv.get("other")

    async def gone() -> bool:
        try:
            await kv.get("k")
        except KeyNotFoundError:
            return True
        return False

    await until(gone, "the key to age out of the bucket")
    assert (await kv.status()).values == 0
    await nc.close()


async def test_republish(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(
        bucket="RP", history=3, republish=RePublish(src="$KV.RP.>", dest="changes.>")
    )
    cfg = (await kv.status()).stream_info.config
    assert cfg.republish is not None and (cfg.republish.src, cfg.republish.dest) == ("$KV.RP.>", "changes.>")
    sub = await nc.subscribe("changes.>")
    r1 = await kv.put("k", b"one")
    r2 = await kv.put("k", b"two")
    await kv.delete("k")
    got = [await sub.next_msg(W) for _ in range(3)]
    assert [m.subject for m in got] == ["changes.k"] * 3  # what the ">" of src matched
    assert [m.data for m in got] == [b"one", b"two", b""]
    h = got[1].headers or {}
    assert (h["Nats-Stream"], h["Nats-Subject"], h["Nats-Sequence"]) == ("KV_RP", "$KV.RP.k", str(r2))
    assert h["Nats-Last-Sequence"] == str(r1) and "Nats-Time-Stamp" in h
    assert (got[0].headers or {})["Nats-Last-Sequence"] == "0"
    assert (got[2].headers or {})["KV-Operation"] == "DEL"
    await sub.unsubscribe()

    # headers only, with the tokens of the key rearranged
    meta = await js.create_key_value(
        bucket="RPH",
        republish=RePublish(src="$KV.RPH.*.*", dest="meta.{{wildcard(2)}}.$1", headers_only=True),
    )
    sub = await nc.subscribe("meta.>")
    await meta.put("user.42", b"12345")
    await meta.put("flat", b"not republished")
    m = await sub.next_msg(W)
    assert m.subject == "meta.42.user" and m.data == b""
    assert (m.headers or {})["Nats-Msg-Size"] == "5"
    with pytest.raises(nats.errors.TimeoutError):
        await sub.next_msg(0.3)

    # a destination inside the bucket would loop
    with pytest.raises(APIError) as err:
        await js.create_key_value(bucket="LOOP", republish=RePublish(src=">", dest="$KV.LOOP.copy"))
    assert err.value.err_code == 10052
    assert err.value.description == "stream configuration for republish destination forms a cycle"
    with pytest.raises(APIError) as err:
        await js.create_key_value(bucket="BAD", republish=RePublish(src="$KV.BAD.*", dest="x.>"))
    assert err.value.description == (
        "stream configuration for republish with transform from '$KV.BAD.*' to 'x.>' not valid"
    )
    await nc.close()


# -- reading and writing ------------------------------------------------------------------


@pytest.mark.parametrize("direct", [False, True], ids=["msg-get", "direct-get"])
async def test_put_and_get(js_url: str, direct: bool) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="PG", history=10, direct=direct)
    r1 = await kv.put("color", b"red")
    r2 = await kv.put("size", b"L")
    r3 = await kv.put("color", b"blue")
    assert (r1, r2, r3) == (1, 2, 3)
    latest = await kv.get("color")
    assert (latest.bucket, latest.key, latest.value, latest.revision) == ("PG", "color", b"blue", 3)
    assert (await kv.get("color", revision=1)).value == b"red"
    # a revision that belongs to another key is no revision of this one
    with pytest.raises(KeyNotFoundError):
        await kv.get("color", revision=2)
    with pytest.raises(KeyNotFoundError):
        await kv.get("color", revision=99)
    with pytest.raises(KeyNotFoundError):
        await kv.get("missing")
    with pytest.raises(InvalidKeyError):
        await kv.get("has space")
    with pytest.raises(InvalidKeyError):
        await kv.put(".dot", b"x")
    # keys with dots are nested subjects; an empty value is a value
    rev = await kv.put("a.b.c", b"")
    assert (await kv.get("a.b.c")).revision == rev
    await nc.close()


async def test_create_and_update(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="CU", history=5)
    r1 = await kv.create("k", b"1")
    with pytest.raises(KeyWrongLastSequenceError):
        await kv.create("k", b"again")
    r2 = await kv.update("k", b"2", last=r1)
    with pytest.raises(KeyWrongLastSequenceError) as err:
        await kv.update("k", b"stale", last=r1)
    assert err.value.description == f"wrong last sequence: {r2}"
    with pytest.raises(KeyWrongLastSequenceError):
        await kv.update("fresh", b"x", last=5)
    assert (await kv.get("k")).value == b"2"

    # after a delete, or a purge, create works again (over the tombstone's revision)
    await kv.delete("k")
    r3 = await kv.create("k", b"3")
    assert (await kv.get("k")).revision == r3
    await kv.purge("k")
    r4 = await kv.create("k", b"4")
    assert r4 > r3 and (await kv.get("k")).value == b"4"
    # update with last=0 is "only if the key has never been written"
    r5 = await kv.update("new", b"n", last=0)
    assert (await kv.get("new")).revision == r5
    # a delete with a stale expected revision is refused
    with pytest.raises(BadRequestError) as derr:
        await kv.delete("k", last=r3)
    assert derr.value.err_code == 10071
    await nc.close()


async def test_delete_and_purge_leave_markers(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="DP", history=10)
    await kv.put("k", b"1")
    await kv.put("k", b"2")
    await kv.put("other", b"o")
    assert await kv.delete("k") is True
    with pytest.raises(KeyNotFoundError) as err:
        await kv.get("k")
    assert err.value.op == "DEL"
    hist = await kv_history(kv, "k")
    assert [(e.value, e.operation) for e in hist] == [(b"1", None), (b"2", None), (b"", "DEL")]
    msgs = await raw_msgs(nc, "KV_DP")
    assert msgs[-1]["subject"] == "$KV.DP.k" and msgs[-1]["headers"] == {"KV-Operation": "DEL"}

    assert await kv.purge("k") is True
    hist = await kv_history(kv, "k")
    assert [(e.value, e.operation) for e in hist] == [(b"", "PURGE")]
    with pytest.raises(KeyNotFoundError) as err:
        await kv.get("k")
    assert err.value.op == "PURGE"
    msgs = await raw_msgs(nc, "KV_DP")
    # the purge marker rolled up every earlier revision of the key; other keys stay
    assert [(m["subject"], m["headers"]) for m in msgs] == [
        ("$KV.DP.other", {}),
        ("$KV.DP.k", {"KV-Operation": "PURGE", "Nats-Rollup": "sub"}),
    ]
    assert (await kv.get("other")).value == b"o"
    await nc.close()


async def test_history_limit(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="HL", history=3)
    for i in range(5):
        await kv.put("k", str(i).encode())
    hist = await kv_history(kv, "k")
    assert [(e.value, e.revision, e.delta) for e in hist] == [(b"2", 3, 2), (b"3", 4, 1), (b"4", 5, 0)]
    assert all(e.created is not None for e in hist)
    with pytest.raises(NoKeysError):
        await kv_history(kv, "never-written")
    # an older revision fell out of the history
    with pytest.raises(KeyNotFoundError):
        await kv.get("k", revision=1)
    one = await js.create_key_value(bucket="ONE")
    await one.put("k", b"a")
    await one.put("k", b"b")
    assert [e.value for e in await kv_history(one, "k")] == [b"b"]
    assert (await one.status()).values == 1
    await nc.close()


async def test_value_size_and_bucket_size_limits(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="LIM", max_value_size=16, storage=StorageType.MEMORY)
    await kv.put("k", b"x" * 16)
    with pytest.raises(BadRequestError) as err:
        await kv.put("k", b"x" * 17)
    assert err.value.err_code == 10054 and err.value.description == "message size exceeds maximum allowed"
    # headers count: a delete marker does not fit in 16 bytes
    with pytest.raises(BadRequestError) as err:
        await kv.delete("k")
    assert err.value.err_code == 10054
    # the size check comes before the expected-revision check
    with pytest.raises(BadRequestError) as err:
        await kv.update("k", b"y" * 17, last=999)
    assert err.value.err_code == 10054

    small = await js.create_key_value(bucket="SMALL", max_bytes=300, storage=StorageType.MEMORY)
    stored = 0
    with pytest.raises(APIError) as err:
        for i in range(20):
            await small.put(f"k{i}", b"v" * 40)
            stored += 1
    assert err.value.err_code == 10077 and err.value.description == "maximum bytes exceeded"
    st = (await small.status()).stream_info.state
    assert st.messages == stored and 0 < st.bytes <= 300
    await nc.close()


async def test_deny_delete(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="DD")
    await kv.put("k", b"v")
    with pytest.raises(APIError) as err:
        await js.delete_msg("KV_DD", 1)
    assert err.value.err_code == 10057 and err.value.description == "message delete not permitted"
    assert (await kv.get("k")).value == b"v"
    await nc.close()


# -- keys and watchers ----------------------------------------------------------------------


async def test_keys_of_a_single_key_bucket(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="K1", history=3)
    with pytest.raises(NoKeysError):
        await kv_keys(kv)
    await kv.put("only", b"1")
    await kv.put("only", b"2")
    assert await kv_keys(kv) == ["only"]
    assert await kv_keys(kv, ["on"]) == ["only"]
    with pytest.raises(NoKeysError):
        await kv_keys(kv, ["zzz"])
    await kv.delete("only")
    with pytest.raises(NoKeysError):
        await kv_keys(kv)
    await nc.close()


async def test_keys_with_filters(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="KF")
    for key in ("user.1", "user.2", "order.1", "gone"):
        await kv.put(key, b"v")
    await kv.delete("gone")
    keys = await kv_keys(kv)
    assert sorted(keys) == ["order.1", "user.1", "user.2"]
    assert sorted(await kv_keys(kv, ["user"])) == ["user.1", "user.2"]
    await nc.close()


async def test_watch_one_key(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="W1", history=10)
    await kv.put("k", b"1")
    await kv.put("k", b"2")
    await kv.put("other", b"x")

    w = await kv.watch("k")
    (first,) = await initial(w, 1)
    assert (first.key, first.value, first.revision, first.delta, first.operation) == ("k", b"2", 2, 0, None)
    await kv.put("other", b"y")  # not watched
    r = await kv.put("k", b"3")
    e = await w.updates(W)
    assert e is not None and (e.value, e.revision, e.operation) == (b"3", r, None)
    await kv.delete("k")
    e = await w.updates(W)
    assert e is not None and (e.key, e.value, e.operation) == ("k", b"", "DEL")
    await kv.purge("k")
    e = await w.updates(W)
    assert e is not None and e.operation == "PURGE"
    assert await no_update(w)
    await w.stop()

    # a key never written: the watcher says "nothing yet" at once, then sees the first put
    w = await kv.watch("later")
    assert await w.updates(W) is None
    r = await kv.put("later", b"now")
    e = await w.updates(W)
    assert e is not None and (e.key, e.value, e.revision) == ("later", b"now", r)
    await w.stop()
    await nc.close()


async def test_watch_options(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="WO", history=10)
    await kv.put("k", b"1")
    await kv.put("k", b"22")
    await kv.delete("k")

    w = await kv.watch("k", include_history=True)
    got = await initial(w, 3)
    assert [(e.value, e.operation, e.delta) for e in got] == [
        (b"1", None, 2),
        (b"22", None, 1),
        (b"", "DEL", 0),
    ]
    await w.stop()

    # meta_only: headers only, the payload is left out
    w = await kv.watch("k", include_history=True, meta_only=True)
    got = await initial(w, 3)
    assert [(e.value, e.revision) for e in got] == [(b"", 1), (b"", 2), (b"", 3)]
    await w.stop()

    # ignore_deletes: the tombstone is the key's latest entry, so nothing but the end marker
    w = await kv.watch("k", ignore_deletes=True)
    assert await w.updates(W) is None
    await kv.put("k", b"back")
    e = await w.updates(W)
    assert e is not None and e.value == b"back"
    await kv.delete("k")
    assert await no_update(w)
    await w.stop()

    w = await kv.watch("k", include_history=True, ignore_deletes=True)
    assert [e.value for e in await initial(w, 3)] == [b"1", b"22", b"back"]
    await w.stop()

    # updates only: nats-py has no updates_only; a watcher of a key not yet written is one
    w = await kv.watch("fresh")
    assert await w.updates(W) is None
    await kv.put("fresh", b"f")
    e = await w.updates(W)
    assert e is not None and e.value == b"f"
    await w.stop()
    await nc.close()


async def test_watch_all(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="WA", history=5)
    await kv.put("a", b"1")
    await kv.put("b", b"2")
    await kv.put("a", b"3")
    w = await kv.watchall()
    got = await initial(w, 2)
    assert [(e.key, e.value, e.delta) for e in got] == [("b", b"2", 1), ("a", b"3", 0)]
    await kv.put("c", b"4")
    e = await w.updates(W)
    assert e is not None and (e.key, e.value) == ("c", b"4")
    await w.stop()
    await nc.close()


async def test_watch_all_with_history(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="WH", history=5)
    await kv.put("a", b"1")
    await kv.put("b", b"2")
    await kv.delete("a")
    w = await kv.watchall(include_history=True)
    got = await initial(w, 3)
    assert [(e.key, e.value, e.operation, e.delta) for e in got] == [
        ("a", b"1", None, 2),
        ("b", b"2", None, 1),
        ("a", b"", "DEL", 0),
    ]
    await w.stop()
    w = await kv.watchall(include_history=True, ignore_deletes=True)
    got = await initial(w, 2)
    assert [(e.key, e.value) for e in got] == [("a", b"1"), ("b", b"2")]
    await w.stop()
    await nc.close()


async def test_watch_across_a_stream_purge(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="WP", history=5)
    await kv.put("k", b"1")
    w = await kv.watch("k")
    (first,) = await initial(w, 1)
    assert first.value == b"1"
    # a purge of the whole stream removes messages without a tombstone: nothing to see
    await js.purge_stream("KV_WP")
    assert await no_update(w)
    with pytest.raises(KeyNotFoundError):
        await kv.get("k")
    r = await kv.put("k", b"2")
    e = await w.updates(W)
    assert e is not None and (e.value, e.revision) == (b"2", r)
    # a KV purge in the middle of a watch is seen as such
    await kv.purge("k")
    e = await w.updates(W)
    assert e is not None and e.operation == "PURGE"
    r = await kv.put("k", b"3")
    e = await w.updates(W)
    assert e is not None and (e.value, e.revision) == (b"3", r)
    await w.stop()
    await nc.close()


async def test_purge_deletes(js_url: str) -> None:
    # purge_deletes is nats-py's, made of a watch and a STREAM.PURGE per tombstone; it is done by
    # kv_purge_deletes (the same requests), since nats-py's own may find no tombstone on the
    # reference (the watcher's marker race, see tests.support.jetstream)
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="PD", history=5)
    await kv.put("k", b"1")
    await kv.put("k", b"2")
    await kv.delete("k")
    # younger than the default 30 minutes: the tombstone stays ("keep": 1), what came before goes
    assert await kv_purge_deletes(kv) == ["k"]
    hist = await kv_history(kv, "k")
    assert [(e.value, e.operation) for e in hist] == [(b"", "DEL")]
    msgs = await raw_msgs(nc, "KV_PD")
    assert [(m["seq"], m["subject"], m["headers"]) for m in msgs] == [
        (3, "$KV.PD.k", {"KV-Operation": "DEL"})
    ]
    # olderthan <= 0: tombstones go too
    assert await kv_purge_deletes(kv, olderthan=-1) == ["k"]
    with pytest.raises(NoKeysError):
        await kv_history(kv, "k")
    assert (await kv.status()).values == 0
    assert await raw_msgs(nc, "KV_PD") == []
    await nc.close()


async def test_purge_deletes_of_many_keys(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="PDM", history=5)
    for key in ("a", "b", "c"):
        await kv.put(key, b"v")
    await kv.delete("a")
    await kv.purge("b")
    # a delete and a purge marker are both tombstones (kv_purge_deletes: see test_purge_deletes)
    assert await kv_purge_deletes(kv, olderthan=-1) == ["a", "b"]
    msgs = await raw_msgs(nc, "KV_PDM")
    assert [m["subject"] for m in msgs] == ["$KV.PDM.c"]
    await nc.close()


# -- per-key TTLs and limit markers ---------------------------------------------------------


async def test_per_key_ttl_leaves_a_limit_marker(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="TTL", limit_marker_ttl=2)
    status = await kv.status()
    assert status.marker_ttl == 2.0
    cfg = status.stream_info.config
    assert cfg.subject_delete_marker_ttl == 2.0 and cfg.allow_msg_ttl is True
    assert cfg.metadata is not None and cfg.metadata["_nats.req.level"] == "1"

    w = await kv.watch("k")
    assert await w.updates(W) is None
    r = await kv.create("k", b"short-lived", msg_ttl=1)
    e = await w.updates(W)
    assert e is not None and (e.value, e.revision) == (b"short-lived", r)
    msgs = await raw_msgs(nc, "KV_TTL")
    assert msgs[0]["headers"] == {"Nats-Expected-Last-Subject-Sequence": "0", "Nats-TTL": "1"}

    # the key ages out: the server leaves a marker on its subject, which watchers see as a purge
    marker = await w.updates(EXPIRY)
    assert marker is not None and marker.key == "k" and marker.operation == "PURGE"
    assert marker.revision == r + 1 and marker.value == b""
    msgs = await raw_msgs(nc, "KV_TTL")
    assert len(msgs) == 1 and msgs[0]["seq"] == r + 1 and msgs[0]["data"] == b""
    assert (
        msgs[0]["hdr"]
        == b"NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: 2s\r\nNats-Rollup: sub\r\n\r\n"
    )
    # nats-py's get() reads only KV-Operation: the marker comes back as an entry, empty
    entry = await kv.get("k")
    assert (entry.revision, entry.value, entry.operation) == (r + 1, None, None)
    # ... and create() takes it for a live value
    with pytest.raises(KeyWrongLastSequenceError):
        await kv.create("k", b"again")

    # the marker has the marker TTL itself, and leaves nothing behind when it goes
    async def empty() -> bool:
        return (await kv.status()).values == 0

    await until(empty, "the marker to expire")
    assert await no_update(w)
    assert await kv.create("k", b"again") == r + 2
    await w.stop()
    await nc.close()


async def test_bucket_ttl_with_limit_markers(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(
        bucket="AGE", ttl=1, limit_marker_ttl=1, history=3, storage=StorageType.MEMORY
    )
    await kv.put("a", b"1")
    await kv.put("a", b"2")
    await kv.put("b", b"3")
    w = await kv.watchall(include_history=True)
    assert [e.value for e in await initial(w, 3)] == [b"1", b"2", b"3"]
    # both keys age out together: one marker per key, after its last revision went
    m1 = await w.updates(EXPIRY)
    m2 = await w.updates(W)
    assert m1 is not None and m2 is not None
    assert [(m.key, m.operation, m.revision) for m in (m1, m2)] == [("a", "PURGE", 4), ("b", "PURGE", 5)]

    async def empty() -> bool:
        return (await kv.status()).values == 0

    await until(empty, "the markers to expire")
    await w.stop()
    st = (await kv.status()).stream_info.state
    assert (st.first_seq, st.last_seq) == (6, 5)
    await nc.close()


async def test_short_ttls_are_raised_to_the_marker_ttl(js_url: str) -> None:
    nc, js = await connect(js_url)
    # with history > 1 a key TTL below the marker TTL is raised to it (header rewritten)
    kv = await js.create_key_value(bucket="FLOOR", history=3, limit_marker_ttl=2)
    await kv.create("k", b"v", msg_ttl=1)
    await kv.create("long", b"v", msg_ttl=5)
    msgs = await raw_msgs(nc, "KV_FLOOR")
    assert [m["headers"]["Nats-TTL"] for m in msgs] == ["2", "5"]
    # with history 1 it is kept as given
    one = await js.create_key_value(bucket="FLOOR1", limit_marker_ttl=2)
    await one.create("k", b"v", msg_ttl=1)
    assert (await raw_msgs(nc, "KV_FLOOR1"))[0]["headers"]["Nats-TTL"] == "1"
    await nc.close()


async def test_purge_with_ttl_leaves_no_marker(js_url: str) -> None:
    nc, js = await connect(js_url)
    kv = await js.create_key_value(bucket="PT", limit_marker_ttl=1)
    await kv.put("k", b"v")
    await kv.purge("k", msg_ttl=1)
    msgs = await raw_msgs(nc, "KV_PT")
    assert [(m["seq"], m["headers"]) for m in msgs] == [
        (2, {"KV-Operation": "PURGE", "Nats-Rollup": "sub", "Nats-TTL": "1"})
    ]

    # a purge marker is a tombstone: when it expires no limit marker follows it
    async def empty() -> bool:
        return (await kv.status()).values == 0

    await until(empty, "the purge marker to expire")
    with pytest.raises(KeyNotFoundError):
        await kv.get("k")
    assert await kv.create("k", b"new") == 3
    await nc.close()


async def test_purge_of_a_wildcard_key_purges_every_matching_key(js_url: str) -> None:
    """nats-py's ``kv.purge("hello.*")`` publishes its marker to ``$KV.<bucket>.hello.*`` with
    ``Nats-Rollup: sub``: the reference takes the wildcard subject as a filter and purges every
    matching key, keeping only the marker (issue 10, difference 3)."""
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=W)
    kv = await js.create_key_value(bucket="WILD", history=1)
    for i in range(100):
        await kv.put(f"hello.{i}", b"v")
    for key in ("hello", "other.a", "hello.x.y"):
        await kv.put(key, b"v")
    assert (await kv.status()).values == 103
    await kv.purge("hello.*")
    assert (await kv.status()).values == 4  # the marker, hello, other.a, hello.x.y
    assert sorted(await kv_keys(kv)) == ["hello", "hello.x.y", "other.a"]
    with pytest.raises(KeyNotFoundError):
        await kv.get("hello.7")
    await nc.close()


async def test_expected_last_subject_sequence_of_a_wildcard_subject(js_url: str) -> None:
    """A publish whose subject holds a wildcard token checks Nats-Expected-Last-Subject-Sequence
    against the last message matching it as a filter, as the reference's store lookup does,
    also once a message was stored on that very subject."""
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=W)
    await js.add_stream(name="ELW", subjects=["elw.>"])
    await js.publish("elw.a", b"1")
    await js.publish("elw.*", b"2")  # stored on the literal subject "elw.*"
    await js.publish("elw.b", b"3")
    hdr = "Nats-Expected-Last-Subject-Sequence"
    with pytest.raises(APIError) as err:
        await js.publish("elw.*", b"4", headers={hdr: "2"})
    assert err.value.err_code == 10071
    ack = await js.publish("elw.*", b"4", headers={hdr: "3"})
    assert ack.seq == 4
    ack = await js.publish("elw.c", b"5", headers={hdr: "4", f"{hdr}-Subject": "elw.*"})
    assert ack.seq == 5
    await nc.close()
