"""One seeded sequence of Key-Value operations through nats-py, run on the reference and on
pynatsd: revisions, values, operations, errors, history, keys, watch output and bucket
status must come out the same."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import StorageType
from nats.js.errors import KeyDeletedError, KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from tests.support import jetstream_server
from tests.support.jetstream import initial_entries, kv_history, kv_keys, kv_purge_deletes

T = 10.0
KEYS = ["a", "b", "c.d", "c.e"]
STEPS = 160


def _entry(e: Any) -> tuple[str, int, bytes | None, str | None]:
    return (e.key, e.revision, e.value, e.operation)


# History, keys, the watch and purge_deletes are read with the helpers of tests.support.jetstream,
# which count the entries the watcher's consumer has instead of stopping at nats-py's racy
# end-of-initial-values marker (see the comment there).


async def _keys(kv: KeyValue) -> list[str] | str:
    """The bucket's keys, sorted, or the error's class when there is none."""
    try:
        return sorted(await kv_keys(kv))
    except NoKeysError as err:
        return type(err).__name__


async def _step(kv: KeyValue, rnd: random.Random, i: int) -> tuple[Any, ...]:
    """One operation; the result (or the error's class and code) as plain data."""
    op = rnd.choice(["put", "put", "create", "update", "update_stale", "delete", "purge", "get", "get_rev"])
    key = rnd.choice(KEYS)
    value = b"v%d" % i
    try:
        if op == "put":
            return (op, key, await kv.put(key, value))
        if op == "create":
            return (op, key, await kv.create(key, value))
        if op in ("update", "update_stale"):
            try:
                last = (await kv.get(key)).revision
            except (KeyNotFoundError, KeyDeletedError):
                last = 0
            rev = last if op == "update" else max(last - 1, 0) + 7
            return (op, key, await kv.update(key, value, last=rev))
        if op == "delete":
            return (op, key, await kv.delete(key))
        if op == "purge":
            return (op, key, await kv.purge(key))
        if op == "get":
            return (op, key, _entry(await kv.get(key)))
        return (op, key, _entry(await kv.get(key, revision=rnd.randint(1, i + 1))))
    except Exception as err:  # the error itself is the result to compare
        code = getattr(err, "err_code", None) or getattr(err, "code", None)
        return (op, key, "error", type(err).__name__, code)


async def _script(url: str, storage: StorageType) -> list[Any]:
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=T)
    kv = await js.create_key_value(bucket="DIFF", history=4, storage=storage, max_value_size=64)
    rnd = random.Random(20261121)
    out: list[Any] = [await _step(kv, rnd, i) for i in range(STEPS)]
    for key in KEYS:
        try:
            out.append(("history", key, [_entry(e) for e in await kv_history(kv, key)]))
        except Exception as err:
            out.append(("history", key, type(err).__name__))
    out.append(("keys", await _keys(kv)))
    out.append(("watch", [_entry(e) for e in await initial_entries(await kv.watchall(include_history=True))]))
    st = await kv.status()
    state = st.stream_info.state
    out.append(("status", st.bucket, st.values, st.history, state.bytes, state.first_seq, state.last_seq))
    try:
        await kv.put("x" * 10, b"z" * 65)  # over max_value_size
    except Exception as err:
        out.append(("too big", type(err).__name__, getattr(err, "err_code", None)))
    out.append(("purge_deletes", await kv_purge_deletes(kv, olderthan=-1)))  # the tombstones found
    out.append(("after purge_deletes", (await kv.status()).values, await _keys(kv)))
    await nc.close()
    return out


@pytest.mark.parametrize("storage", [StorageType.FILE, StorageType.MEMORY])
async def test_kv_sequence_matches_reference(tmp_path: Path, storage: StorageType) -> None:
    async with jetstream_server("reference", tmp_path / "reference") as url:
        expected = await asyncio.wait_for(_script(url, storage), 120)
    async with jetstream_server("pynatsd", tmp_path / "pynatsd") as url:
        got = await asyncio.wait_for(_script(url, storage), 120)
    assert any(r[0] == "update_stale" and r[2] == "error" for r in expected)  # the script hit errors
    for i, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert have == want, f"step {i}"
