"""JetStream helpers shared by suites: API conversations compared across servers; waiting for
a stream's state; Key-Value history, keys, initial watch entries and purge_deletes read
without nats-py's marker race."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import nats
from nats.js.errors import NoKeysError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

#: Keys whose values differ between runs or servers; :func:`normalize` replaces them.
VOLATILE = {"created", "ts", "first_ts", "last_ts", "time", "leader"}
#: Longest wait for each entry a KV watcher must hand out (:func:`initial_entries`).
WATCH_TIMEOUT = 10.0

#: One request of a conversation: ``(subject, body[, headers])``; a dict or list body is
#: sent as JSON, None as an empty payload.
Step = tuple[str, Any] | tuple[str, Any, dict[str, str]]


def normalize(obj: Any) -> Any:
    """``obj`` with the values of :data:`VOLATILE` keys replaced by ``"<volatile>"``."""
    if isinstance(obj, dict):
        return {
            k: ("<volatile>" if k in VOLATILE and v != "0001-01-01T00:00:00Z" else normalize(v))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [normalize(v) for v in obj]
    return obj


async def converse(url: str, steps: list[Step]) -> list[Any]:
    """Send each step as a request on a fresh connection; the normalized replies, in order."""
    nc = await nats.connect(url)
    out: list[Any] = []
    try:
        for step in steps:
            subject, body = step[0], step[1]
            headers = step[2] if len(step) > 2 else None  # type: ignore[misc]
            data = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
            try:
                msg = await nc.request(subject, data, timeout=2.0, headers=headers)
            except nats.errors.TimeoutError:
                out.append("<no reply>")
                continue
            except nats.errors.NoRespondersError:
                out.append("<no responders>")
                continue
            try:
                out.append(normalize(json.loads(msg.data)))
            except ValueError:
                hdrs = {k: v for k, v in (msg.headers or {}).items() if k != "Nats-Time-Stamp"}
                out.append({"raw": base64.b64encode(msg.data).decode(), "headers": hdrs})
    finally:
        await nc.close()
    return out


# -- Key-Value reads through a watcher, without nats-py's marker race ----------------------
#
# kv.history(), kv.keys(), kv.purge_deletes() and any loop that stops at a watcher's None update
# read the bucket through nats-py's watcher and stop at its end-of-initial-values marker (the None
# update), which is racy: nats-py puts it first when a CONSUMER.INFO sent after creating the
# watcher's consumer says 0 pending while no delivery has been received yet. The reference sends
# that reply and the consumer's deliveries from different goroutines, so the reply can overtake
# deliveries it already counts as made ("num_pending": 0, the deliveries parsed after it); then
# history() raises NoKeysError, keys() and watchall() list nothing and purge_deletes() purges
# nothing. Instead the consumer says how many messages it has for the watcher (delivered + still
# pending: one count, taken under the consumer's lock) and exactly that many entries are awaited,
# the marker ignored wherever it lands: no sleeps, no retries. The requests the server sees are
# the same as nats-py's (the watcher's consumer, then a purge per tombstone for purge_deletes).


async def initial_entries(
    watcher: KeyValue.KeyWatcher, timeout: float = WATCH_TIMEOUT
) -> list[KeyValue.Entry]:
    """Every entry a fresh watcher has to hand out at the start, in order; then it is stopped.

    The count is the server's (its consumer's delivered + pending), so a watcher made with
    ``ignore_deletes=True`` does not fit: nats-py drops the deletes it was delivered and fewer
    entries than counted come. Each entry must come within ``timeout`` seconds."""
    try:
        info = await watcher._sub.consumer_info()
        total = info.delivered.consumer_seq + info.num_pending
        entries: list[KeyValue.Entry] = []
        while len(entries) < total:
            e = await watcher.updates(timeout=timeout)
            if e is not None:  # nats-py's marker, wherever it lands
                entries.append(e)
        return entries
    finally:
        await watcher.stop()


async def kv_history(kv: KeyValue, key: str) -> list[KeyValue.Entry]:
    """``kv.history(key)`` without the marker race: every revision of ``key`` the bucket keeps,
    oldest first; NoKeysError when there is none (as nats-py)."""
    entries = await initial_entries(await kv.watch(key, include_history=True))
    if not entries:
        raise NoKeysError
    return entries


async def kv_keys(kv: KeyValue, filters: list[str] | None = None) -> list[str]:
    """``kv.keys(filters)`` without the marker race: the keys whose latest entry is no delete or
    purge marker, in the order the server delivers them. As nats-py, ``filters`` keep the keys
    that contain one of them (a substring, not a subject filter), and NoKeysError is raised when
    no key is left. (nats-py's keys() drops the markers with ``ignore_deletes``; here they are
    delivered, so that the server's count matches, and dropped after.)"""
    latest = await initial_entries(await kv.watchall(meta_only=True))
    keys = [
        e.key
        for e in latest
        if e.operation not in (KV_DEL, KV_PURGE) and (not filters or any(f in e.key for f in filters))
    ]
    if not keys:
        raise NoKeysError
    return keys


async def kv_purge_deletes(kv: KeyValue, olderthan: float = 30 * 60) -> list[str]:
    """``kv.purge_deletes(olderthan)`` without the marker race; the keys whose tombstone was found.

    As nats-py: for each key whose latest entry is a delete or purge marker, its subject is purged
    from the bucket's stream, keeping the marker (``keep: 1``) while it is younger than
    ``olderthan`` seconds; with ``olderthan <= 0`` the marker goes too."""
    found: list[str] = []
    for e in await initial_entries(await kv.watchall()):
        if e.operation not in (KV_DEL, KV_PURGE):
            continue
        age = (datetime.now(UTC) - e.created).total_seconds()
        keep = 1 if olderthan > 0 and olderthan > age else 0
        await kv._js.purge_stream(kv._stream, subject=f"{kv._pre}{e.key}", keep=keep)
        found.append(e.key)
    return found


# -- stream state, asked for until it holds ------------------------------------------
#: Timeout of one API request.
T = 10.0
#: Longest wait for a stream to catch up with another.
CATCH_UP = 60.0  # a retried consumer request waits 2s + a 10s back-off on both servers


async def api(nc: Any, subject: str, body: Any = None) -> dict[str, Any]:
    data = b"" if body is None else json.dumps(body).encode()
    r = await nc.request(subject, data, timeout=T)
    return dict(json.loads(r.data))


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = CATCH_UP) -> None:
    """Poll ``check`` until it holds (the state of another stream is only observable by asking)."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def until_messages(nc: Any, stream: str, n: int, timeout: float = CATCH_UP) -> dict[str, Any]:
    info: dict[str, Any] = {}

    async def check() -> bool:
        nonlocal info
        info = await api(nc, f"$JS.API.STREAM.INFO.{stream}")
        return bool(info["state"]["messages"] == n)

    await wait_for(check, timeout)
    return info
