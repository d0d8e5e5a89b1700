"""nats-py's Object Store API against pynatsd and the reference (the ``js_url`` fixture).

An object store bucket is the stream ``OBJ_<bucket>`` on ``$O.<bucket>.C.>`` (chunks, one
subject per object version, named by a nuid) and ``$O.<bucket>.M.>`` (one JSON meta message
per object, the subject being the base64url of its name, published with ``Nats-Rollup: sub``).
Reading an object is an ordered push consumer (flow control, heartbeats) on its chunk subject;
listing and watching are ordered consumers on the meta subjects.

What nats-py 2.16 does not offer is done the way the Go client does it, from the same
primitives: ``add_link`` / ``add_bucket_link`` (a meta message whose ``options.link`` names
the target) and renaming (nats-py's ``update_meta`` checks the *old* name and so refuses
every rename of a live object; the Go client publishes the meta under the new name, then
purges the old meta subject). The bucket config has no ``metadata`` in nats-py 2.16.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js import api
from nats.js.errors import (
    APIError,
    BadObjectMetaError,
    BadRequestError,
    BucketNotFoundError,
    DigestMismatchError,
    LinkIsABucketError,
    NotFoundError,
    ObjectAlreadyExists,
    ObjectDeletedError,
    ObjectNotFoundError,
)

from tests.support import jetstream_server

T = 10.0
CHUNK = 128 * 1024  # nats-py's default max_chunk_size
MiB = 1024 * 1024


def digest_of(data: bytes) -> str:
    return "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()


def meta_subject(bucket: str, name: str) -> str:
    return f"$O.{bucket}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"


@pytest.fixture
async def nc(js_url: str) -> AsyncIterator[Any]:
    conn = await nats.connect(js_url)
    yield conn
    await conn.close()


@pytest.fixture
def js(nc: Any) -> Any:
    return nc.jetstream(timeout=T)


async def publish_meta(js: Any, info: api.ObjectInfo) -> None:
    """Publish a meta message as the clients do: JSON body, rolling up its subject."""
    await js.publish(
        meta_subject(info.bucket, info.name),
        json.dumps(info.as_dict()).encode(),
        headers={api.Header.ROLLUP: "sub"},
    )


async def add_link(js: Any, obs_bucket: str, name: str, target: api.ObjectInfo) -> None:
    """The Go client's ``AddLink``: a meta with no chunks whose options name the target object."""
    link = api.ObjectLink(bucket=target.bucket, name=target.name)
    await publish_meta(
        js,
        api.ObjectInfo(
            name=name,
            bucket=obs_bucket,
            nuid=js._nc._nuid.next().decode(),
            mtime="",
            options=api.ObjectMetaOptions(link=link),
        ),
    )


async def add_bucket_link(js: Any, obs_bucket: str, name: str, target_bucket: str) -> None:
    """The Go client's ``AddBucketLink``: a link naming a bucket and no object."""
    await publish_meta(
        js,
        api.ObjectInfo(
            name=name,
            bucket=obs_bucket,
            nuid=js._nc._nuid.next().decode(),
            mtime="",
            options=api.ObjectMetaOptions(link=api.ObjectLink(bucket=target_bucket)),
        ),
    )


async def rename(js: Any, obs: Any, old: str, new: str) -> None:
    """The Go client's ``UpdateMeta`` with a new name: refuse a live target, publish the meta
    under the new name, purge the old name's meta subject."""
    info = await obs.get_info(old)
    try:
        existing = await obs.get_info(new, show_deleted=True)
    except ObjectNotFoundError:
        existing = None
    if existing is not None and not existing.deleted:
        raise ObjectAlreadyExists
    info.name = new
    await publish_meta(js, info)
    await js.purge_stream(f"OBJ_{info.bucket}", subject=meta_subject(info.bucket, old))


def strip(info: api.ObjectInfo) -> dict[str, Any]:
    """An info without the fields that differ between runs (nuid, mtime)."""
    d = dict(info.as_dict())
    d.pop("nuid", None)
    d.pop("mtime", None)
    return d


# --------------------------------------------------------------------------- buckets


async def test_create_status_and_backing_stream(js: Any) -> None:
    obs = await js.create_object_store(
        "CFG",
        description="configured bucket",
        storage=api.StorageType.MEMORY,
        max_bytes=10 * MiB,
        ttl=3600,
    )
    status = await obs.status()
    assert status.bucket == "CFG"
    assert status.description == "configured bucket"
    assert status.storage_type == api.StorageType.MEMORY
    assert status.ttl == 3600.0
    assert status.replicas == 1
    assert status.sealed is False
    assert status.size == 0
    cfg = status.stream_info.config
    assert cfg.name == "OBJ_CFG"
    assert cfg.subjects == ["$O.CFG.C.>", "$O.CFG.M.>"]
    assert cfg.max_bytes == 10 * MiB
    assert cfg.max_age == 3600.0
    assert cfg.discard == api.DiscardPolicy.NEW
    assert cfg.allow_rollup_hdrs is True and cfg.allow_direct is True
    assert cfg.max_consumers == -1  # nats-py asks for 0, which means "unlimited"

    info = await obs.put("thing", b"0123456789")
    status = await obs.status()
    assert status.stream_info.state.messages == 2  # one chunk, one meta
    assert status.size == status.stream_info.state.bytes > 10

    # a bucket created with the defaults: file storage, no limits
    plain = await js.create_object_store("PLAIN")
    pstatus = await plain.status()
    assert pstatus.storage_type == api.StorageType.FILE
    assert pstatus.stream_info.config.max_bytes == -1
    assert pstatus.ttl == 0.0 and pstatus.description is None

    # object_store() binds to an existing bucket only
    again = await js.object_store("CFG")
    assert (await again.get("thing")).data == b"0123456789"
    assert (await again.get_info("thing")).digest == info.digest
    with pytest.raises(BucketNotFoundError):
        await js.object_store("MISSING")


async def test_max_bytes_refuses_an_object_that_does_not_fit(js: Any) -> None:
    obs = await js.create_object_store("SMALL", max_bytes=4096)
    await obs.put("fits", b"x" * 1000)
    with pytest.raises(APIError) as err:
        await obs.put("too-big", b"y" * 5000)
    assert err.value.err_code == 10077  # maximum bytes exceeded (discard new)
    with pytest.raises(ObjectNotFoundError):
        await obs.get_info("too-big")
    state = (await obs.status()).stream_info.state
    assert state.messages == 2  # only "fits": its chunk and its meta
    assert (await obs.get("fits")).data == b"x" * 1000


async def test_delete_object_store(js: Any) -> None:
    obs = await js.create_object_store("GONE")
    await obs.put("a", b"a")
    assert await js.delete_object_store("GONE") is True
    with pytest.raises(BucketNotFoundError):
        await js.object_store("GONE")
    with pytest.raises(NotFoundError):
        await js.delete_object_store("GONE")
    names = await js.streams_info()
    assert "OBJ_GONE" not in [s.config.name for s in names]


async def test_seal(js: Any) -> None:
    obs = await js.create_object_store("SEALED")
    await obs.put("kept", b"kept data")
    await obs.seal()
    status = await obs.status()
    assert status.sealed is True
    cfg = status.stream_info.config
    assert cfg.deny_delete is True and cfg.deny_purge is True and cfg.allow_rollup_hdrs is False
    with pytest.raises(BadRequestError) as err:
        await obs.put("new", b"refused")
    assert err.value.err_code == 10109  # invalid operation on sealed stream
    with pytest.raises(BadRequestError):
        await obs.delete("kept")
    got = await obs.get("kept")
    assert got.data == b"kept data" and got.info.digest == digest_of(b"kept data")
    assert (await obs.status()).stream_info.state.messages == 2


# --------------------------------------------------------------------------- put / get


@pytest.mark.parametrize(
    ("size", "chunks"),
    [(0, 0), (1, 1), (CHUNK - 1, 1), (CHUNK, 1), (CHUNK + 1, 2), (3 * CHUNK + 17, 4)],
)
async def test_put_get_sizes(js: Any, size: int, chunks: int) -> None:
    obs = await js.create_object_store("SIZES")
    data = random.Random(size).randbytes(size)
    info = await obs.put("obj", data)
    assert (info.name, info.bucket, info.size, info.chunks) == ("obj", "SIZES", size, chunks)
    assert info.digest == digest_of(data)
    assert info.nuid and info.deleted is False

    got = await obs.get("obj")
    assert got.data == data
    assert hashlib.sha256(got.data).digest() == hashlib.sha256(data).digest()
    stored = got.info
    assert (stored.size, stored.chunks, stored.digest, stored.nuid) == (size, chunks, info.digest, info.nuid)
    assert stored.options.max_chunk_size == CHUNK
    state = (await obs.status()).stream_info.state
    assert state.messages == chunks + 1


async def test_put_str_stream_meta_and_chunk_size(js: Any) -> None:
    obs = await js.create_object_store("KINDS")
    text = await obs.put("text", "héllo wörld")
    assert text.size == len("héllo wörld".encode()) and text.chunks == 1
    assert (await obs.get("text")).data == "héllo wörld".encode()

    data = bytes(range(256)) * 41  # 10,496 bytes
    meta = api.ObjectMeta(
        name="ignored",  # the name argument wins
        description="small chunks",
        headers={"Content-Type": "application/octet-stream"},
        options=api.ObjectMetaOptions(max_chunk_size=1000),
    )
    info = await obs.put("stream", io.BytesIO(data), meta=meta)
    assert (info.name, info.size, info.chunks) == ("stream", len(data), 11)
    got = await obs.get("stream")
    assert got.data == data
    assert got.info.description == "small chunks"
    assert got.info.headers == {"Content-Type": "application/octet-stream"}
    assert got.info.options.max_chunk_size == 1000

    # getting into a writer gives the same bytes
    out = io.BytesIO()
    await obs.get("stream", writeinto=out)
    assert out.getvalue() == data


async def test_put_replaces_and_purges_old_chunks(js: Any) -> None:
    obs = await js.create_object_store("REPLACE")
    first = await obs.put("obj", b"a" * (2 * CHUNK + 5))
    second = await obs.put("obj", b"second version")
    assert first.nuid != second.nuid
    got = await obs.get("obj")
    assert got.data == b"second version" and got.info.nuid == second.nuid
    state = (await obs.status()).stream_info.state
    # the old version's 3 chunks are purged and its meta rolled up: one chunk, one meta left
    assert state.messages == 2
    assert state.last_seq == 6


async def test_large_object_from_and_to_a_file(js: Any, tmp_path: Path) -> None:
    size = 20 * MiB + 12_345
    src = tmp_path / "big.bin"
    src.write_bytes(random.Random(20).randbytes(size))
    want = digest_of(src.read_bytes())
    obs = await js.create_object_store("BIG")
    with src.open("rb") as f:
        info = await obs.put("big.bin", f)
    assert info.size == size and info.chunks == size // CHUNK + 1 and info.digest == want
    assert (await obs.status()).stream_info.state.messages == info.chunks + 1

    dst = tmp_path / "copy.bin"
    with dst.open("wb") as f:
        got = await asyncio.wait_for(obs.get("big.bin", writeinto=f), 90)
    assert got.info.digest == want
    assert dst.stat().st_size == size and digest_of(dst.read_bytes()) == want


async def test_get_flow_control_window(js_url: str, nc: Any, js: Any) -> None:
    """Reading an object is a push consumer with flow control. With the reference's window (2 MiB,
    doubling) a 4 MiB object takes one flow-control round trip; each one can cost nats-py up to
    250 ms (it answers from a polling task), so one per 256 KiB made big gets 12x slower."""
    obs = await js.create_object_store("FLOW")
    data = random.Random(4).randbytes(4 * MiB)
    await obs.put("obj", data)
    monitor = await nats.connect(js_url)
    replies: list[str] = []

    async def on_reply(msg: Any) -> None:
        replies.append(msg.subject)

    await monitor.subscribe("$JS.FC.OBJ_FLOW.>", cb=on_reply)
    await monitor.flush()
    got = await asyncio.wait_for(obs.get("obj"), 60)
    assert got.data == data
    await nc.flush()
    await monitor.flush()
    await monitor.close()
    assert 1 <= len(replies) <= 4, f"{len(replies)} flow-control round trips for 4 MiB"


# --------------------------------------------------------------------------- info, delete


async def test_get_info_delete_and_show_deleted(js: Any) -> None:
    obs = await js.create_object_store("DEL")
    put = await obs.put("doomed", b"short-lived", meta=api.ObjectMeta(description="bye"))
    info = await obs.get_info("doomed")
    assert strip(info) == strip(put) | {"description": "bye"}
    assert info.nuid == put.nuid

    await obs.delete("doomed")
    with pytest.raises(ObjectNotFoundError):
        await obs.get_info("doomed")
    with pytest.raises(ObjectNotFoundError):
        await obs.get("doomed")
    gone = await obs.get_info("doomed", show_deleted=True)
    assert gone.deleted is True
    assert (gone.name, gone.nuid, gone.size, gone.chunks, gone.digest, gone.mtime) == (
        "doomed",
        put.nuid,
        0,
        0,
        "",
        "",
    )
    result = await obs.get("doomed", show_deleted=True)
    assert result.info.deleted is True and result.data == b""
    with pytest.raises(ObjectNotFoundError):
        await obs.delete("doomed")  # already deleted
    with pytest.raises(ObjectNotFoundError):
        await obs.get_info("never-there", show_deleted=True)
    # the chunks are purged; the delete marker (a meta) stays
    assert (await obs.status()).stream_info.state.messages == 1

    # a name can be reused after a delete
    await obs.put("doomed", b"back again")
    assert (await obs.get("doomed")).data == b"back again"


async def test_bad_meta_and_digest_mismatch(js: Any) -> None:
    """A chunk set published by hand, with a meta claiming another digest: get() must check."""
    obs = await js.create_object_store("CORRUPT")
    nuid = js._nc._nuid.next().decode()
    chunks = [b"first chunk|", b"second chunk"]
    for chunk in chunks:
        await js.publish(f"$O.CORRUPT.C.{nuid}", chunk)
    claimed = api.ObjectInfo(
        name="corrupt",
        bucket="CORRUPT",
        nuid=nuid,
        size=sum(map(len, chunks)),
        chunks=len(chunks),
        mtime="",
        digest=digest_of(b"something else entirely"),
        options=api.ObjectMetaOptions(max_chunk_size=CHUNK),
    )
    await publish_meta(js, claimed)
    info = await obs.get_info("corrupt")
    assert info.nuid == nuid and info.size == 24
    with pytest.raises(DigestMismatchError):
        await obs.get("corrupt")

    # the same chunks with the right digest read back fine
    claimed.name, claimed.digest = "sound", digest_of(b"".join(chunks))
    await publish_meta(js, claimed)
    assert (await obs.get("sound")).data == b"first chunk|second chunk"

    # a meta that is not JSON
    await js.publish(meta_subject("CORRUPT", "garbled"), b"not json", headers={api.Header.ROLLUP: "sub"})
    with pytest.raises(BadObjectMetaError):
        await obs.get_info("garbled")


# --------------------------------------------------------------------------- meta, links


async def test_update_meta_and_rename(js: Any) -> None:
    obs = await js.create_object_store("META")
    a = await obs.put("a", b"data of a", meta=api.ObjectMeta(description="old", headers={"X-A": "1"}))
    await obs.put("b", b"data of b")

    # same name: description and headers change, the content does not
    await obs.update_meta("a", api.ObjectMeta(name="a", description="new", headers={"X-A": "2"}))
    info = await obs.get_info("a")
    assert (info.description, info.headers) == ("new", {"X-A": "2"})
    assert (info.nuid, info.size, info.digest) == (a.nuid, a.size, a.digest)
    assert (await obs.get("a")).data == b"data of a"

    # renaming onto a live object is refused, and both stay as they were
    with pytest.raises(ObjectAlreadyExists):
        await obs.update_meta("a", api.ObjectMeta(name="b"))
    with pytest.raises(ObjectAlreadyExists):
        await rename(js, obs, "a", "b")
    assert (await obs.get("a")).data == b"data of a"
    assert (await obs.get("b")).data == b"data of b"

    # a rename to a free name: the meta moves, the chunks stay where they are
    await rename(js, obs, "a", "c")
    moved = await obs.get("c")
    assert moved.data == b"data of a" and moved.info.name == "c" and moved.info.nuid == a.nuid
    with pytest.raises(ObjectNotFoundError):
        await obs.get_info("a", show_deleted=True)  # purged, not marked deleted

    # a deleted name may be taken by a rename
    await obs.delete("b")
    await rename(js, obs, "c", "b")
    assert (await obs.get("b")).data == b"data of a"

    # updating a deleted object is refused by the client
    await obs.put("d", b"d")
    await obs.delete("d")
    with pytest.raises(ObjectDeletedError):
        await obs.update_meta("d", api.ObjectMeta(name="d", description="x"))
    assert (await obs.status()).stream_info.state.messages == 3  # b's chunk and meta, d's marker


async def test_links(js: Any) -> None:
    target = await js.create_object_store("TARGET")
    links = await js.create_object_store("LINKS")
    data = random.Random(7).randbytes(CHUNK + 100)
    t_info = await target.put("payload", data)

    await add_link(js, "LINKS", "to-payload", t_info)
    info = await links.get_info("to-payload")
    assert info.is_link()
    assert (info.options.link.bucket, info.options.link.name) == ("TARGET", "payload")
    got = await links.get("to-payload")
    assert got.data == data
    assert got.info.name == "payload" and got.info.bucket == "TARGET" and got.info.digest == t_info.digest

    # a link inside the same bucket
    await add_link(js, "TARGET", "alias", t_info)
    assert (await target.get("alias")).data == data

    # a link to a whole bucket cannot be read as an object
    await add_bucket_link(js, "LINKS", "everything", "TARGET")
    binfo = await links.get_info("everything")
    assert binfo.is_link() and binfo.options.link.bucket == "TARGET" and not binfo.options.link.name
    with pytest.raises(LinkIsABucketError):
        await links.get("everything")

    # a link outlives its target, and then leads nowhere
    await target.delete("payload")
    with pytest.raises(ObjectNotFoundError):
        await links.get("to-payload")


# --------------------------------------------------------------------------- watch, list


async def next_update(watcher: Any) -> tuple[str, bool] | None:
    entry = await watcher.updates(timeout=T)
    return None if entry is None else (entry.name, bool(entry.deleted))


async def test_watch_history_ignore_deletes_and_updates_only(js: Any) -> None:
    obs = await js.create_object_store("WATCH")
    empty = await obs.watch()
    assert await next_update(empty) is None  # nothing yet: only the end-of-initial-values marker

    await obs.put("a", b"1")
    await obs.put("b", b"2")
    await obs.put("a", b"3")  # rolls up a's first meta
    await obs.delete("b")

    history = await obs.watch(include_history=True)
    assert [await next_update(history) for _ in range(3)] == [("a", False), ("b", True), None]
    quiet = await obs.watch(include_history=True, ignore_deletes=True)
    assert [await next_update(quiet) for _ in range(2)] == [("a", False), None]
    live = await obs.watch(updates_only=True)

    await obs.put("c", b"4")
    await obs.delete("a")
    assert [await next_update(live) for _ in range(2)] == [("c", False), ("a", True)]
    assert [await next_update(history) for _ in range(2)] == [("c", False), ("a", True)]
    assert await next_update(quiet) == ("c", False)  # a's delete is skipped
    await obs.put("d", b"5")
    assert await next_update(quiet) == ("d", False)
    # the watcher started on the empty bucket saw every change as it happened
    seen = [await next_update(empty) for _ in range(7)]
    assert seen == [
        ("a", False),
        ("b", False),
        ("a", False),
        ("b", True),
        ("c", False),
        ("a", True),
        ("d", False),
    ]
    for w in (empty, history, quiet, live):
        await w.stop()


async def test_list_single_object_and_empty(js: Any) -> None:
    obs = await js.create_object_store("LIST1")
    with pytest.raises(NotFoundError):
        await asyncio.wait_for(obs.list(), T)  # nats-py: an empty bucket lists as "not found"
    await obs.put("only", b"x")
    entries = await asyncio.wait_for(obs.list(), T)
    assert [(e.name, e.size, e.deleted) for e in entries] == [("only", 1, False)]


async def test_list_and_watch_latest(js: Any) -> None:
    obs = await js.create_object_store("LIST")
    for name in ("a", "b", "c"):
        await obs.put(name, name.encode() * 3)
    await obs.put("a", b"newer a")
    await obs.delete("b")

    entries = await asyncio.wait_for(obs.list(), 5)
    assert [(e.name, e.size, e.deleted) for e in entries] == [
        ("c", 3, False),
        ("a", 7, False),
        ("b", 0, True),
    ]
    kept = await asyncio.wait_for(obs.list(ignore_deletes=True), 5)
    assert [e.name for e in kept] == ["c", "a"]

    watcher = await obs.watch()
    got = [await asyncio.wait_for(next_update(watcher), 5) for _ in range(4)]
    assert got == [("c", False), ("a", False), ("b", True), None]
    await watcher.stop()


async def test_last_per_subject_num_pending(js: Any) -> None:
    """What watch() relies on: the last delivery of the initial values says 0 pending."""
    obs = await js.create_object_store("PENDING")
    for name in ("x", "y", "z"):
        await obs.put(name, b"v")
    sub = await js.subscribe(
        "$O.PENDING.M.>", ordered_consumer=True, deliver_policy=api.DeliverPolicy.LAST_PER_SUBJECT
    )
    pending = [(await sub.next_msg(timeout=T)).metadata.num_pending for _ in range(3)]
    await sub.unsubscribe()
    assert pending == [2, 1, 0]


# --------------------------------------------------------------------------- both servers at once


async def scripted_session(url: str) -> list[Any]:
    """One fixed sequence of object store calls; the transcript leaves out nuids and times."""
    out: list[Any] = []
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=T)

    async def record(label: str, call: Any) -> Any:
        try:
            result = await call
        except (APIError, ObjectNotFoundError, ObjectAlreadyExists, ObjectDeletedError) as exc:
            out.append((label, "error", type(exc).__name__, getattr(exc, "err_code", None)))
            return None
        if isinstance(result, api.ObjectInfo):
            out.append((label, strip(result)))
        elif hasattr(result, "info"):
            out.append((label, strip(result.info), hashlib.sha256(result.data or b"").hexdigest()))
        else:
            out.append((label, result))
        return result

    async def state(label: str) -> None:
        st = (await obs.status()).stream_info
        s = st.state
        out.append((label, s.messages, s.bytes, s.first_seq, s.last_seq, s.num_deleted, st.config.sealed))

    try:
        obs = await js.create_object_store("SAME", description="transcript")
        await state("created")
        rng = random.Random(1)
        for name, size in [("zero", 0), ("one", 1), ("edge", CHUNK), ("over", CHUNK + 1), ("mid", 300_000)]:
            await record(f"put {name}", obs.put(name, rng.randbytes(size)))
        await record(
            "put small chunks",
            obs.put(
                "small", b"s" * 2500, meta=api.ObjectMeta(options=api.ObjectMetaOptions(max_chunk_size=1000))
            ),
        )
        await state("after puts")
        for name in ("zero", "one", "edge", "over", "mid", "small"):
            await record(f"get {name}", obs.get(name))
        await record("replace mid", obs.put("mid", b"replaced"))
        await state("after replace")
        await record("delete over", obs.delete("over"))
        await record("info over", obs.get_info("over"))
        await record("info over deleted", obs.get_info("over", show_deleted=True))
        await record("describe one", obs.update_meta("one", api.ObjectMeta(name="one", description="d")))
        await record("rename onto edge", obs.update_meta("one", api.ObjectMeta(name="edge")))
        await record("info one", obs.get_info("one"))
        history = await obs.watch(include_history=True)
        updates: list[Any] = []
        while (entry := await history.updates(timeout=T)) is not None:
            updates.append(strip(entry))
        await history.stop()
        out.append(("history", updates))
        await state("before seal")
        await record("seal", obs.seal())
        await record("put sealed", obs.put("late", b"late"))
        await state("sealed")
        await record("get after seal", obs.get("edge"))
        await record("delete bucket", js.delete_object_store("SAME"))
        await record("bucket gone", js.delete_object_store("SAME"))
    finally:
        await nc.close()
    return out


async def test_same_sequence_same_results(tmp_path: Path) -> None:
    transcripts: dict[str, list[Any]] = {}
    for kind in ("reference", "pynatsd"):
        async with jetstream_server(kind, tmp_path / kind) as url:
            transcripts[kind] = await scripted_session(url)
    ref, ours = transcripts["reference"], transcripts["pynatsd"]
    errors = [(step[0], *step[2:]) for step in ref if step[1] == "error"]
    assert errors == [
        ("info over", "ObjectNotFoundError", None),
        ("rename onto edge", "ObjectAlreadyExists", None),
        ("put sealed", "BadRequestError", 10109),
        ("bucket gone", "NotFoundError", 10059),
    ]
    assert len(ours) == len(ref)
    for mine, theirs in zip(ours, ref, strict=True):
        assert mine == theirs
