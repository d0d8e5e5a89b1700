"""The system account's monitoring requests ($SYS.REQ.SERVER.* and $SYS.REQ.ACCOUNT.*) on
pynatsd and the reference, and the ``nats server`` commands of the official CLI on both."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.monitor.conftest import Monitored, monitored
from tests.support.gotools import nats_cli
from tests.support.launcher import KINDS

CONF = """
server_name: srv1
accounts {
  SYS: { users: [{user: sys, password: sys}] }
  APP: { users: [{user: app, password: app}] }
}
system_account: SYS
"""

# Keys only one side has (see tests/monitor/test_endpoints_diff.py and docs/MONITORING.md).
ONE_SIDED = {"feature_flags", "git_commit", "jetstream", "pynatsd_version"}


def keys(d: Any) -> list[str]:
    return sorted(set(d) - ONE_SIDED) if isinstance(d, dict) else []


async def ask(nc: nats.NATS, subject: str, body: bytes = b"") -> Any:
    msg = await nc.request(subject, body, timeout=10)
    return json.loads(msg.data)


async def run(kind: Any, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with monitored(kind, tmp, CONF) as srv:
        sys_nc = await nats.connect(srv.url, user="sys", password="sys", name="sysuser")
        app = await nats.connect(srv.url, user="app", password="app", name="appuser")
        await app.subscribe("x.y")
        await app.publish("x.y", b"hello")
        await app.flush()
        idz = await ask(sys_nc, "$SYS.REQ.SERVER.PING.IDZ")
        out["idz"] = (keys(idz), idz["name"], idz["host"])
        sid = idz["id"]
        ping = await ask(sys_nc, "$SYS.REQ.SERVER.PING")
        out["ping"] = (keys(ping), keys(ping["server"]), keys(ping["statsz"]), ping["server"]["name"])
        st = ping["statsz"]
        out["statsz values"] = (
            st["connections"],
            st["total_connections"],
            st["active_accounts"],
            st["slow_consumers"],
        )
        for name in (
            "VARZ",
            "CONNZ",
            "SUBSZ",
            "ROUTEZ",
            "GATEWAYZ",
            "LEAFZ",
            "ACCOUNTZ",
            "JSZ",
            "HEALTHZ",
            "STATSZ",
        ):
            for subject in (f"$SYS.REQ.SERVER.PING.{name}", f"$SYS.REQ.SERVER.{sid}.{name}"):
                doc = await ask(sys_nc, subject)
                data = doc.get("data", doc.get("statsz"))
                out[subject.replace(sid, "<id>")] = (keys(doc), keys(doc["server"]), keys(data))
        doc = await ask(sys_nc, "$SYS.REQ.SERVER.PING.CONNZ", b'{"sort":"subs","auth":true}')
        out["connz opts"] = sorted(
            (c["name"], c["subscriptions"], c.get("account")) for c in doc["data"]["connections"]
        )
        doc = await ask(sys_nc, "$SYS.REQ.SERVER.PING.CONNZ", b'{"sort":"bogus"}')
        out["connz bad sort"] = doc["error"]
        doc = await ask(sys_nc, "$SYS.REQ.SERVER.PING.CONNZ", b"{not json")
        out["connz bad json"] = (keys(doc), doc["error"]["code"])
        for bad in (b'{"offset":"x"}', b'{"sort":5}', b'{"subscriptions":1}', b'{"limit":1.5}'):
            doc = await ask(sys_nc, "$SYS.REQ.SERVER.PING.CONNZ", bad)
            out["connz bad " + bad.decode()] = (keys(doc), doc["error"]["code"])
        doc = await ask(sys_nc, "$SYS.REQ.SERVER.PING.SUBSZ", b'{"test":"foo.*"}')
        out["subsz bad test"] = doc["error"]
        doc = await ask(sys_nc, "$SYS.REQ.SERVER.PING.HEALTHZ")
        out["healthz"] = doc["data"]
        doc = await ask(sys_nc, "$SYS.REQ.ACCOUNT.APP.CONNZ")
        out["account connz"] = [c["name"] for c in doc["data"]["connections"]]
        doc = await ask(sys_nc, "$SYS.REQ.ACCOUNT.APP.SUBSZ")
        out["account subsz"] = [
            (s["subject"], s["account"]) for s in doc["data"]["subscriptions_list"] if s["subject"] == "x.y"
        ]
        doc = await ask(sys_nc, "$SYS.REQ.ACCOUNT.APP.INFO")
        out["account info"] = (doc["data"]["account_name"], doc["data"]["client_connections"])
        doc = await ask(sys_nc, "$SYS.REQ.ACCOUNT.APP.STATZ")
        out["account statz"] = [
            (s["acc"], s["conns"], s["received"]["msgs"], s["sent"]["msgs"])
            for s in doc["data"]["account_statz"]
        ]
        doc = await ask(sys_nc, "$SYS.REQ.ACCOUNT.PING.STATZ")
        out["ping statz"] = sorted(s["acc"] for s in doc["data"]["account_statz"])
        # a filter that names another server: this one stays silent
        with pytest.raises(nats.errors.TimeoutError):
            await sys_nc.request("$SYS.REQ.SERVER.PING.VARZ", b'{"server_name":"other"}', timeout=1)
        doc = await ask(sys_nc, "$SYS.REQ.SERVER.PING.VARZ", b'{"server_name":"srv1","exact_match":true}')
        out["filter match"] = doc["data"]["server_name"]
        # another account's users cannot ask
        with pytest.raises(nats.errors.NoRespondersError):
            await app.request("$SYS.REQ.SERVER.PING", b"", timeout=5)
        await sys_nc.close()
        await app.close()
    return out


async def test_sys_requests_match_reference(reference: str, tmp_path: Path) -> None:
    ref, ours = [await run(kind, tmp_path) for kind in KINDS]
    for key in ref:
        assert ours[key] == ref[key], key
    assert ours["account connz"] == ["appuser"] and ours["healthz"] == {"status": "ok", "status_code": 200}


async def nats_cmd(srv: Monitored, *args: str) -> str:
    cli = nats_cli()
    argv = [cli, "--server", srv.url, "--user", "sys", "--password", "sys", *args]
    done = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, (srv.kind, args, done.stdout, done.stderr)
    return done.stdout


def headers(text: str) -> list[str]:
    """A report's table headers and row labels, without the volatile cells."""
    return [
        " ".join(cell.strip() for cell in line.split("│") if cell.strip())
        for line in text.splitlines()
        if line.startswith("│ ") and any(h in line for h in ("Name", "Account", "CID", "Server"))
    ]


async def test_nats_cli_server_commands(reference: str, tmp_path: Path) -> None:
    nats_cli()  # skip (or fail under CI) before any set-up when Go is missing
    outputs: dict[str, dict[str, str]] = {}
    for kind in KINDS:
        async with monitored(kind, tmp_path, CONF) as srv:
            outputs[kind] = {
                "list": await nats_cmd(srv, "server", "list"),
                "ping": await nats_cmd(srv, "server", "ping", "1"),
                "info": await nats_cmd(srv, "server", "info"),
                "conns": await nats_cmd(srv, "server", "report", "connections"),
                "accounts": await nats_cmd(srv, "server", "report", "accounts"),
                "account info": await nats_cmd(srv, "server", "account", "info", "APP"),
                **{
                    f"request {what}": await nats_cmd(srv, "server", "request", what)
                    for what in (
                        "connections",
                        "subscriptions",
                        "accounts",
                        "variables",
                        "routes",
                        "leafnodes",
                    )
                },
            }
    ref, ours = outputs["reference"], outputs["pynatsd"]
    for cmd in ("list", "conns", "accounts"):
        assert headers(ours[cmd]) == headers(ref[cmd]), cmd
    assert "srv1" in ours["list"] and "2.15.1" in ours["list"]
    assert ours["ping"].splitlines()[0].startswith("srv1") and "1 replies" in ours["ping"]
    info_labels = [line.split(":")[0].strip() for line in ref["info"].splitlines() if ":" in line]
    assert [line.split(":")[0].strip() for line in ours["info"].splitlines() if ":" in line] == info_labels
    assert "Server information for srv1" in ours["info"]
    # the reference then lists the service imports it gives every account (pynatsd has none)
    labels = [
        line.split(":")[0].strip()
        for line in ref["account info"].split("Imports")[0].splitlines()
        if ":" in line
    ]
    assert [line.split(":")[0].strip() for line in ours["account info"].splitlines() if ":" in line] == labels
    for what in ("connections", "subscriptions", "accounts", "variables", "routes", "leafnodes"):
        mine, theirs = json.loads(ours[f"request {what}"]), json.loads(ref[f"request {what}"])
        assert (keys(mine), keys(mine["server"]), keys(mine["data"])) == (
            keys(theirs),
            keys(theirs["server"]),
            keys(theirs["data"]),
        ), what
