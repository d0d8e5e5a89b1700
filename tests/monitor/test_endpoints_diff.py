"""/subsz, /accountz, /accstatz, /varz, /healthz, /routez, /gatewayz, /leafz, / and errors:
one scenario on pynatsd and on the reference, the answers compared.

Known differences (not compared): the reference's own internal subscriptions (its system
account's services and the service imports it adds to every account) count in its
subscription totals and /accountz imports; pynatsd has none of those yet. /varz has no
``git_commit``, ``feature_flags`` or (here) ``jetstream`` and adds ``pynatsd_version``.
/accstatz counts a delivery in the receiving connection's account; the reference counts it
in the publisher's, which differs only for messages that cross accounts through imports.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

from tests.monitor.conftest import Monitored, monitored
from tests.support.launcher import KINDS

ACCOUNTS = """
accounts {
  A: { users: [{user: a, password: a}], exports: [{stream: "pub.>"}] }
  B: { users: [{user: b, password: b}], imports: [{stream: {account: A, subject: "pub.>"}}] }
}
"""


async def delivered(srv: Monitored, path: str, total: int) -> None:
    await srv.wait_for(path, lambda d: sum(c["out_msgs"] for c in d["connections"]) >= total)


def strip(doc: dict[str, Any], *volatile: str) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("server_id", "now", *volatile)}


async def run_accounts(kind: Any, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with monitored(kind, tmp, ACCOUNTS) as srv:
        a = await srv.connect(user="a", password="a", name="a")
        b = await srv.connect(user="b", password="b", name="b")
        await a.subscribe("foo.1")
        await a.subscribe("foo.*")
        await b.subscribe("pub.x")
        await a.flush()
        await b.flush()
        for _ in range(3):
            await a.publish("foo.1", b"12345")
        await a.flush()
        await delivered(srv, "/connz", 6)
        doc = await srv.json("/connz?auth=1")
        out["auth"] = sorted(
            (c["name"], c.get("authorized_user"), c.get("account"), c.get("name_tag"))
            for c in doc["connections"]
        )
        for q in ("?acc=A", "?acc=B&auth=1", "?user=b", "?user=a&acc=B", "?acc=A&state=any"):
            doc = await srv.json("/connz" + q)
            out["connz" + q] = (doc["total"], [c["name"] for c in doc["connections"]])
        doc = await srv.json("/accountz")
        out["accountz"] = (sorted(doc["accounts"]), doc["system_account"], sorted(doc))
        doc = (await srv.json("/accountz?acc=A"))["account_detail"]
        out["accountz?acc=A"] = {
            k: doc[k]
            for k in ("account_name", "client_connections", "leafnode_connections", "expired", "complete")
        }
        out["accountz?acc=A exports"] = [(e["subject"], e["type"]) for e in doc["exports"]]
        doc = (await srv.json("/accountz?acc=$SYS"))["account_detail"]
        out["accountz?acc=$SYS"] = (doc.get("is_system"), doc["client_connections"])
        out["accountz?acc=nope"] = await srv.get("/accountz?acc=nope")
        doc = await srv.json("/accstatz")
        out["accstatz"] = sorted(
            (
                s["acc"],
                s["name"],
                s["conns"],
                s["leafnodes"],
                s["total_conns"],
                str(s["sent"]),
                str(s["received"]),
                s["slow_consumers"],
            )
            for s in doc["account_statz"]
        )
        out["accstatz keys"] = sorted(doc)
        doc = await srv.json("/accstatz?unused=1")
        out["accstatz?unused=1"] = sorted(s["acc"] for s in doc["account_statz"])
        out["accstatz?unused=x"] = await srv.get("/accstatz?unused=x")
        # the same digest of the same configuration (SHA-256 of the parsed file as Go's JSON)
        out["config_digest"] = (await srv.json("/varz"))["config_digest"]
        await a.close()
        await b.close()
        doc = await srv.wait_for(
            "/accstatz?unused=1", lambda d: all(s["conns"] == 0 for s in d["account_statz"])
        )
        out["accstatz after close"] = sorted(
            (s["acc"], str(s["sent"]), str(s["received"]))
            for s in doc["account_statz"]
            if s["acc"] in ("A", "B")
        )
    return out


async def test_accounts_match_reference(reference: str, tmp_path: Path) -> None:
    ref, ours = [await run_accounts(kind, tmp_path) for kind in KINDS]
    for key in ref:
        assert ours[key] == ref[key], key
    # stated once: a's 3 publishes reach both of its subscriptions
    assert ("A", "A", 1, 0, 1, str(_stats(6, 30)), str(_stats(3, 15)), 0) in ours["accstatz"]
    assert ("B", "B", 1, 0, 1, str(_stats(0, 0)), str(_stats(0, 0)), 0) in ours["accstatz"]


def _stats(msgs: int, size: int) -> dict[str, Any]:
    zero = {"msgs": 0, "bytes": 0}
    return {"msgs": msgs, "bytes": size, "gateways": zero, "routes": zero, "leafs": zero}


SUBSZ = (
    "?subs=1&test=foo.x",
    "?subs=1&test=foo.x&limit=1&offset=1",
    "?subs=1&test=foo.x&offset=50",
    "?subs=1&test=bar&acc=$G",
    "?subs=1&test=bar&acc=nope",
    "?subs=true&test=nothing.here",
    "?test=foo.x",
)


async def run_core(kind: Any, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with monitored(kind, tmp) as srv:
        nc = await srv.connect(name="x")
        await nc.subscribe("foo.*", queue="q")
        await nc.subscribe("foo.>")
        await nc.subscribe("bar")
        await nc.flush()
        for subj in ("foo.x", "foo.x", "bar"):
            await nc.publish(subj, b"abc")
        await nc.flush()
        await delivered(srv, "/connz", 5)
        for q in SUBSZ:
            doc = await srv.json("/subsz" + q)
            subs = sorted(
                (
                    s["account"],
                    s["account_tag"],
                    s["subject"],
                    s.get("qgroup"),
                    s["sid"],
                    s["msgs"],
                    sorted(s),
                )
                for s in doc.get("subscriptions_list", [])
            )
            out["subsz" + q] = (doc["total"], doc["offset"], doc["limit"], subs, sorted(doc))
        for q in ("?test=foo.*", "?subs=maybe", "?limit=x", "?offset=--1", "?test=a..b&subs=1"):
            out["subsz bad" + q] = await srv.get("/subsz" + q)
        for path in (
            "/routez",
            "/gatewayz",
            "/leafz",
            "/routez?subs=detail",
            "/gatewayz?accs=1",
            "/leafz?subs=1&acc=$G",
        ):
            doc = await srv.json(path)
            out[path] = strip(doc, "server_name")
        for bad in ("/routez?subs=x", "/gatewayz?accs=x", "/leafz?subs=x", "/nope", "/varz/x"):
            out[bad] = await srv.get(bad)
        for q in (
            "",
            "?details=true",
            "?js-enabled-only=true",
            "?js-server-only=1",
            "?js-enabled=true",
            "?details=x",
            "?js-server-only=x",
            "?stream=s",
            "?stream=s&details=1",
            "?consumer=c&account=A",
            "?consumer=c&account=A&details=true",
        ):
            out["healthz" + q] = await srv.get("/healthz" + q)
        for method in ("POST", "DELETE"):
            status, _, body = await asyncio.to_thread(_request, srv.http + "/connz?limit=1", method)
            out[method] = (status, json.loads(body)["limit"])
        status, ctype, _ = await srv.get("/")
        out["/"] = (status, ctype.split(";")[0])
        # varz last: its request counters then cover the same requests on both
        v = await srv.json("/varz")
        out["varz keys"] = sorted(set(v) - {"git_commit", "jetstream", "feature_flags", "pynatsd_version"})
        for k in (
            "connections", "total_connections", "routes", "remotes", "leafnodes", "in_msgs", "in_bytes",
            "in_client_msgs", "in_client_bytes", "out_msgs", "out_bytes", "out_client_msgs", "out_client_bytes",
            "slow_consumers", "stale_connections", "stalled_clients", "max_connections", "ping_interval",
            "ping_max", "http_base_path", "https_port", "auth_timeout", "tls_timeout", "max_control_line",
            "max_payload", "max_pending", "write_deadline", "cluster", "gateway", "leaf", "mqtt", "websocket",
            "system_account", "config_digest", "slow_consumer_stats", "stale_connection_stats",
            "disk_io_wait_stats", "http_req_stats", "proto", "version",
        ):  # fmt: skip
            out["varz " + k] = v[k]
        assert isinstance(v["cpu"], (int, float)) and v["cpu"] >= 0 and v["mem"] > 0
        ids = {
            (await srv.json(p))["server_id"] for p in ("/routez", "/leafz", "/gatewayz", "/subsz", "/connz")
        }
        assert ids == {v["server_id"]}
        await nc.close()
    return out


async def test_endpoints_match_reference(reference: str, tmp_path: Path) -> None:
    ref, ours = [await run_core(kind, tmp_path) for kind in KINDS]
    for key in ref:
        assert ours[key] == ref[key], key
    assert ours["subsz?subs=1&test=foo.x"][0] == 2
    assert ours["varz in_msgs"] == 3 and ours["varz out_msgs"] == 5


async def test_index_jsonp_and_stacks(tmp_path: Path) -> None:
    """What pynatsd serves its own way: the index page, JSONP, a Python stack dump."""
    async with monitored("pynatsd", tmp_path) as srv:
        status, ctype, body = await srv.get("/")
        assert status == 200 and ctype.startswith("text/html")
        for path in (
            "varz",
            "connz",
            "subsz",
            "accountz",
            "accstatz",
            "routez",
            "gatewayz",
            "leafz",
            "healthz",
        ):
            assert f'href="./{path}"' in body
            status, _, _ = await srv.get("/" + path)
            assert status == 200, path
        status, ctype, body = await srv.get("/connz?callback=cb")
        assert status == 200 and ctype == "application/javascript"
        assert body.startswith("cb({") and body.endswith("})")
        status, _, body = await srv.get("/stacksz")
        assert status == 200 and "thread " in body and "task " in body and "MainThread" in body


async def test_concurrent_requests(tmp_path: Path) -> None:
    """Many monitoring requests at once while clients come and go: every answer is whole."""
    async with monitored("pynatsd", tmp_path) as srv:
        clients = [await srv.connect(name=f"c{i}") for i in range(20)]
        paths = ["/connz?subs=1", "/subsz?subs=1", "/varz", "/accstatz", "/connz?state=any"] * 8
        results = await asyncio.gather(*(srv.get(p) for p in paths), *(c.close() for c in clients[:10]))
        assert all(r[0] == 200 for r in results[: len(paths)])
        doc = await srv.wait_for("/connz?state=closed", lambda d: d["total"] == 10)
        assert doc["total"] == 10
        for c in clients[10:]:
            await c.close()


def _request(url: str, method: str) -> tuple[int, str, str]:
    """Another method than GET: the reference's handlers answer any."""
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=20) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


async def run_js_counters(kind: Any, tmp: Path) -> dict[str, Any]:
    store = tmp / f"js-{kind}"
    async with monitored(kind, tmp, "", "-js", "-sd", str(store)) as srv:
        nc = await srv.connect(name="js")
        js = nc.jetstream()
        await js.add_stream(name="S", subjects=["s.>"])
        before = await srv.json("/varz")
        conn0 = (await srv.json("/connz"))["connections"][0]
        for _ in range(3):
            await js.publish("s.1", b"hello")  # a publish and its PubAck
        await nc.publish("s.2", b"12345")  # stored, no ack asked
        await nc.flush()
        sub = await nc.subscribe("plain")
        await nc.publish("plain", b"x")
        await sub.next_msg(timeout=10)
        after = await srv.json("/varz")
        conn = (await srv.json("/connz"))["connections"][0]
        counters = ("in_msgs", "in_bytes", "out_msgs", "out_bytes")
        out = {
            "varz": {k: after[k] - before[k] for k in counters},
            "connz": {k: conn[k] - conn0[k] for k in counters},
        }
        await nc.close()
    return out


async def test_counters_with_jetstream_match_reference(reference: str, tmp_path: Path) -> None:
    """Publishes stored by a stream, their PubAcks and a plain delivery: the server's and the
    connection's counters move as the reference's do."""
    ref, ours = [await run_js_counters(kind, tmp_path) for kind in KINDS]
    assert ours == ref
    assert ours["varz"]["in_msgs"] == 5 and ours["varz"]["out_msgs"] == 4


ODD = (
    "?limit=%00",
    "?offset=9223372036854775807",
    "?offset=-9223372036854775808",
    "?limit=1&limit=x",
    "?cid=0",
    "?cid=%F0%9F%98%80",
    "?sort=%E2%82%AC",
    "?acc=%22%3C%3E",
    "?subs=TRUE",
    "?subs=DETAIL",
    "?state=Any",
    "?test=%00",
    "?unused=T",
    "?auth=",
    "?user=",
    "?callback=",
)


async def run_odd(kind: Any, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with monitored(kind, tmp) as srv:
        nc = await srv.connect(name="odd")
        for path in (
            "/connz",
            "/subsz",
            "/accountz",
            "/accstatz",
            "/routez",
            "/gatewayz",
            "/leafz",
            "/healthz",
        ):
            for q in ODD:
                status, ctype, body = await srv.get(path + q)
                assert status in (200, 400), (kind, path, q, status, body)
                out[path + q] = (status, ctype, body if status == 400 else "")
        await nc.close()
    return out


async def test_odd_queries_match_reference(reference: str, tmp_path: Path) -> None:
    """Odd and hostile query strings: never a 500, and the reference's status and error text."""
    ref, ours = [await run_odd(kind, tmp_path) for kind in KINDS]
    for key in ref:
        assert ours[key] == ref[key], key
