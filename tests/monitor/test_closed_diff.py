"""Closed connections: the reason each one was closed, the ring's bound
(``max_closed_clients``) and the server counters that go with them, as the reference."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.monitor.conftest import Monitored, monitored
from tests.support.launcher import KINDS

LIMITS = """
ping_interval: "300ms"
ping_max: 1
max_payload: 1024
max_subscriptions: 1
"""

AUTH = """
authorization { user: u, password: p, timeout: 1 }
"""


async def raw_session(srv: Monitored, data: bytes, read_timeout: float = 20.0) -> bytes:
    """Connect, send ``data`` after INFO, and read until the server closes."""
    host, port = srv.url.removeprefix("nats://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        got = await reader.readline()
        if data:
            writer.write(data)
            await writer.drain()
        deadline = asyncio.get_running_loop().time() + read_timeout
        while asyncio.get_running_loop().time() < deadline:
            chunk = await asyncio.wait_for(reader.read(65536), read_timeout)
            if not chunk:
                break
            got += chunk
        return got
    finally:
        writer.close()


async def closed_reasons(srv: Monitored, count: int) -> list[tuple[str, str]]:
    doc = await srv.wait_for("/connz?state=closed&limit=100", lambda d: d["total"] >= count)
    return [(c.get("name", ""), c["reason"]) for c in doc["connections"]]


async def run_limits(kind: Any, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with monitored(kind, tmp, LIMITS) as srv:
        connect = b'CONNECT {"verbose":false,"pedantic":false,"name":"%s"}\r\n'
        await raw_session(srv, connect % b"parse" + b"FOO BAR\r\n")
        await raw_session(srv, connect % b"payload" + b"PUB foo 2000\r\n")
        await raw_session(srv, connect % b"subs" + b"SUB a 1\r\nSUB b 2\r\nPING\r\n")
        await raw_session(srv, connect % b"stale" + b"PING\r\n")
        await raw_session(srv, b'CONNECT {"verbose":"yes"}\r\n')
        out["reasons"] = await closed_reasons(srv, 5)
        v = await srv.json("/varz")
        out["varz"] = {k: v[k] for k in ("stale_connections", "stale_connection_stats", "total_connections")}
        out["varz"]["connections"] = v["connections"]
    return out


async def run_auth(kind: Any, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with monitored(kind, tmp, AUTH) as srv:
        await raw_session(srv, b"")  # never sends CONNECT
        with pytest.raises(nats.errors.Error):
            await nats.connect(srv.url, user="u", password="wrong", name="bad", allow_reconnect=False)
        good = await nats.connect(srv.url, user="u", password="p", name="good")
        await good.close()
        out["reasons"] = await closed_reasons(srv, 3)
        doc = await srv.json("/connz?state=closed&auth=1")
        out["users"] = [(c.get("name", ""), c.get("authorized_user", "")) for c in doc["connections"]]
        out["user_filter"] = [
            c.get("name") for c in (await srv.json("/connz?state=closed&user=u"))["connections"]
        ]
    return out


async def test_close_reasons_match_reference(reference: str, tmp_path: Path) -> None:
    ref, ours = [await run_limits(kind, tmp_path) for kind in KINDS]
    assert ours == ref
    assert [r for _, r in ours["reasons"]] == [
        "Protocol Violation",
        "Maximum Message Payload Exceeded",
        "Stale Connection",
        "Stale Connection",
        "Protocol Violation",
    ]


async def test_auth_close_reasons_match_reference(reference: str, tmp_path: Path) -> None:
    ref, ours = [await run_auth(kind, tmp_path) for kind in KINDS]
    assert ours == ref
    assert ours["reasons"] == [
        ("", "Authentication Timeout"),
        ("bad", "Authentication Failure"),
        ("good", "Client Closed"),
    ]


async def test_max_closed_clients(reference: str, tmp_path: Path) -> None:
    """The ring keeps the newest ``max_closed_clients`` (a config key pynatsd refused before)."""
    for kind in KINDS:
        async with monitored(kind, tmp_path, "max_closed_clients: 2\n") as srv:
            for i in range(4):
                nc = await srv.connect(name=f"n{i}")
                await nc.close()
                await srv.wait_for(
                    "/connz?state=closed", lambda d, i=i: f"n{i}" in [c["name"] for c in d["connections"]]
                )
            doc = await srv.json("/connz?state=closed")
            assert (kind, doc["total"], [c["name"] for c in doc["connections"]]) == (kind, 2, ["n2", "n3"])


async def test_refused_connection_is_recorded(reference: str, tmp_path: Path) -> None:
    """A connection refused because the server is full is among the closed ones, as in the
    reference."""
    seen = {}
    for kind in KINDS:
        async with monitored(kind, tmp_path, "max_connections: 1\n") as srv:
            first = await srv.connect(name="first")
            got = await raw_session(srv, b"")
            doc = await srv.wait_for("/connz?state=closed", lambda d: d["total"] >= 1)
            seen[kind] = (
                got.count(b"-ERR 'maximum connections exceeded'"),
                [c["reason"] for c in doc["connections"]],
            )
            await first.close()
    assert seen["pynatsd"] == seen["reference"] == (1, ["Maximum Connections Exceeded"])


async def run_slow(kind: Any, tmp: Path) -> tuple[Any, ...]:
    async with monitored(kind, tmp, 'max_pending: 100KB\nmax_payload: 64KB\nwrite_deadline: "60s"\n') as srv:
        host, port = srv.url.removeprefix("nats://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        await reader.readline()
        writer.write(b'CONNECT {"verbose":false,"pedantic":false,"name":"slow"}\r\nSUB big 1\r\nPING\r\n')
        await writer.drain()
        assert (await reader.readline()).startswith(b"PONG")
        pub = await srv.connect(name="pub")
        payload = b"x" * 60 * 1024
        closed: dict[str, Any] = {"total": 0}
        for _ in range(2000):  # until the reader that never reads is cut off
            await pub.publish("big", payload)
            await pub.flush()
            closed = await srv.json("/connz?state=closed")
            if closed["total"]:
                break
        v = await srv.json("/varz")
        st = (await srv.json("/accstatz"))["account_statz"]
        writer.close()
        await pub.close()
        return (
            [(c["name"], c["reason"]) for c in closed["connections"]],
            v["slow_consumers"],
            v["slow_consumer_stats"],
            [s["slow_consumers"] for s in st],
        )


async def test_slow_consumer_matches_reference(reference: str, tmp_path: Path) -> None:
    """A subscriber that never reads is cut off as a slow consumer: its reason, the server's
    and the account's counters, as the reference."""
    ref, ours = [await run_slow(kind, tmp_path) for kind in KINDS]
    assert ours == ref
    assert ours[0] == [("slow", "Slow Consumer (Pending Bytes)")] and ours[1] == 1
