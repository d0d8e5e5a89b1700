"""/connz on pynatsd and on the reference under the same traffic: every option, the closed
connections with their reasons, and the reference's errors for bad options."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import nats

from tests.monitor.conftest import Monitored, monitored
from tests.support.launcher import KINDS

# Per-connection values that must match; the rest (times, ports, rtt) are volatile.
STABLE = (
    "kind",
    "type",
    "ip",
    "pending_bytes",
    "in_msgs",
    "out_msgs",
    "in_bytes",
    "out_bytes",
    "subscriptions",
    "name",
    "lang",
    "version",
    "reason",
    "account",
    "authorized_user",
    "name_tag",
)


def names(doc: dict[str, Any]) -> list[str]:
    return [c.get("name", "") for c in doc["connections"] or []]


def stable(conn: dict[str, Any]) -> dict[str, Any]:
    out = {k: conn[k] for k in STABLE if k in conn}
    out["keys"] = sorted(conn)
    if "subscriptions_list" in conn:
        out["subscriptions_list"] = sorted(conn["subscriptions_list"])
    if "subscriptions_list_detail" in conn:
        out["subscriptions_list_detail"] = sorted(
            (sorted(d), d["subject"], d.get("qgroup"), d["sid"], d["msgs"], d.get("account"))
            for d in conn["subscriptions_list_detail"]
        )
    return out


def page(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "names": names(doc),
        "conns": [stable(c) for c in doc["connections"] or []],
        **{k: doc[k] for k in ("num_connections", "total", "offset", "limit")},
        "keys": sorted(doc),
    }


async def traffic(srv: Monitored) -> list[nats.NATS]:
    """a: 3 subscriptions, b: 1, c: none; distinct message and byte counts each way;
    d: subscribed in a queue group, then closed."""
    a = await srv.connect(name="a")
    b = await srv.connect(name="b")
    c = await srv.connect(name="c")
    got_b: list[Any] = []
    done = asyncio.Event()

    async def on_b(msg: Any) -> None:
        got_b.append(msg)
        if len(got_b) == 5:
            done.set()

    for subj in ("s.1", "s.2", "s.3"):
        await a.subscribe(subj)
    await b.subscribe("s.*", cb=on_b)
    await a.flush()
    await b.flush()
    for _ in range(2):
        await c.publish("s.1", b"x" * 10)
    for _ in range(3):
        await c.publish("s.9", b"x" * 10)
    await c.flush()
    await a.publish("y", b"abc")
    await a.flush()
    for _ in range(2):
        await b.publish("z", b"q")
    await b.flush()
    await asyncio.wait_for(done.wait(), 20)
    d = await srv.connect(name="d")
    await d.subscribe("q.1", queue="g")
    await d.flush()
    await d.close()
    await srv.wait_for("/connz?state=closed", lambda doc: doc["total"] == 1)
    # a's two deliveries are counted once a has read them: wait for the counters to settle
    await srv.wait_for("/connz", lambda doc: sum(x["out_msgs"] for x in doc["connections"]) == 7)
    return [a, b, c]


QUERIES = (
    "",
    "?sort=cid",
    "?sort=start",
    "?sort=subs",
    "?sort=msgs_to",
    "?sort=msgs_from",
    "?sort=bytes_to",
    "?sort=bytes_from",
    "?sort=pending&limit=3",
    "?subs=1",
    "?subs=true&sort=subs",
    "?subs=detail",
    "?limit=1&offset=1",
    "?limit=2",
    "?offset=99",
    "?offset=-5",
    "?limit=-1",
    "?limit=0&offset=0",
    "?cid=999999",
    "?cid=999999&state=any",
    "?state=closed",
    "?state=closed&subs=1",
    "?state=closed&subs=detail",
    "?state=closed&auth=1",
    "?state=CLOSED&sort=stop",
    "?state=closed&sort=reason",
    "?state=any",
    "?state=all&sort=subs",
    "?state=any&subs=detail&auth=true",
    "?state=open",
    "?auth=1",
    "?auth=1&user=nobody",
    "?user=nobody&state=any",
    "?mqtt_client=someone",
    "?mqtt_client=someone&state=any",
    "?acc=$G",
    "?acc=$G&state=any",
    "?acc=nope",
    "?sort=idle",
    "?sort=last",
    "?sort=uptime",
    "?sort=rtt",
)

BAD = (
    "?sort=bogus",
    "?sort=stop",
    "?sort=stop&state=any",
    "?sort=reason",
    "?sort=reason&state=open",
    "?state=bogus",
    "?limit=x",
    "?limit=99999999999999999999",
    "?offset=1.5",
    "?cid=-1",
    "?cid=x",
    "?cid=18446744073709551616",
    "?auth=maybe",
    "?subs=maybe",
    "?subs=detail&auth=2",
)

# Orders that depend on timing: only the set of connections is compared.
VOLATILE_ORDER = ("?sort=idle", "?sort=last", "?sort=uptime", "?sort=rtt", "?sort=pending&limit=3")


async def run(kind: Any, tmp: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with monitored(kind, tmp) as srv:
        clients = await traffic(srv)
        for q in QUERIES:
            doc = await srv.json("/connz" + q)
            p = page(doc)
            if q in VOLATILE_ORDER:
                p["names"] = sorted(p["names"])
                p["conns"] = sorted(p["conns"], key=lambda c: c["name"])
            if q == "?acc=nope":
                p["server_id"] = doc["server_id"]
                p["connections"] = doc["connections"]
            results[q] = p
        # cid of a connection, found by name (the two servers number them differently)
        doc = await srv.json("/connz")
        cid_b = next(c["cid"] for c in doc["connections"] if c["name"] == "b")
        results["cid=b"] = page(await srv.json(f"/connz?cid={cid_b}"))
        results["cid=b&state=closed"] = page(await srv.json(f"/connz?cid={cid_b}&state=closed"))
        closed = await srv.json("/connz?state=closed")
        cid_d = closed["connections"][0]["cid"]
        results["cid=d&state=any"] = page(await srv.json(f"/connz?cid={cid_d}&state=any"))
        results["cid=d"] = page(await srv.json(f"/connz?cid={cid_d}"))
        for q in BAD:
            status, ctype, body = await srv.get("/connz" + q)
            results["bad" + q] = (status, ctype, body)
        for c in clients:
            await c.close()
    return results


async def test_connz_matches_reference(reference: str, tmp_path: Path) -> None:
    ref, ours = [await run(kind, tmp_path) for kind in KINDS]
    for key in ref:
        assert ours[key] == ref[key], key


async def test_connz_counts(reference: str, tmp_path: Path) -> None:
    """The traffic's counters, stated once (so that both servers being wrong alike fails)."""
    async with monitored("pynatsd", tmp_path) as srv:
        clients = await traffic(srv)
        doc = await srv.json("/connz")
        by_name = {c["name"]: c for c in doc["connections"]}
        assert {
            n: (c["subscriptions"], c["in_msgs"], c["in_bytes"], c["out_msgs"], c["out_bytes"])
            for n, c in by_name.items()
        } == {
            "a": (3, 1, 3, 2, 20),
            "b": (1, 2, 2, 5, 50),
            "c": (0, 5, 50, 0, 0),
        }
        closed = await srv.json("/connz?state=closed&subs=detail")
        (d,) = closed["connections"]
        assert d["name"] == "d" and d["reason"] == "Client Closed" and d["subscriptions"] == 1
        assert d["subscriptions_list_detail"][0]["qgroup"] == "g"
        for c in clients:
            await c.close()
