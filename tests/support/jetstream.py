"""JetStream helpers shared by suites: API conversations compared across servers, KV listings."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import nats
from nats.js.errors import NoKeysError
from nats.js.kv import KeyValue

#: Keys whose values differ between runs or servers; :func:`normalize` replaces them.
VOLATILE = {"created", "ts", "first_ts", "last_ts", "time", "leader"}
#: Longest wait for a KV listing.
KEYS_TIMEOUT = 5.0

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


async def keys_of(kv: KeyValue, filters: list[str] | None = None) -> list[str]:
    """``kv.keys()``, allowing for nats-py's start-up race: its watcher ends the listing at
    once when consumer info already says 0 pending (the server delivered everything) before
    the client has processed the first delivery. A key that exists shows up on another look;
    a bucket without keys raises NoKeysError every time."""
    for attempt in range(3):
        try:
            return await asyncio.wait_for(kv.keys(filters=filters), KEYS_TIMEOUT)
        except NoKeysError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
