"""Monitoring endpoints: /healthz and /varz as the reference names their fields."""

from __future__ import annotations

import json
import urllib.request

import nats

import pynatsd


def get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


async def test_healthz_and_varz() -> None:
    async with pynatsd.Server(http_port=-1, server_name="mon") as srv:
        assert srv.http_url is not None
        nc = await nats.connect(srv.client_url)
        sub = await nc.subscribe("m")
        await nc.publish("m", b"12345")
        await sub.next_msg(timeout=10)
        status, ctype, body = await _get(srv.http_url + "/healthz")
        assert status == 200 and ctype.startswith("application/json")
        assert json.loads(body) == {"status": "ok"}
        _, _, body = await _get(srv.http_url + "/varz")
        v = json.loads(body)
        assert v["server_name"] == "mon"
        assert v["version"] == pynatsd.REFERENCE_VERSION
        assert v["port"] == srv.port and v["http_port"] == srv.node.http_port
        # subscriptions count the system account's own services too, as the reference's do
        assert v["connections"] == 1 and v["subscriptions"] >= 1
        _, _, subsz = await _get(srv.http_url + "/subsz?acc=$G")
        assert json.loads(subsz)["num_subscriptions"] == 1
        assert v["in_msgs"] == 1 and v["out_msgs"] == 1
        assert v["in_bytes"] == 5 and v["out_bytes"] == 5
        assert v["max_payload"] == 1024 * 1024
        # float64 seconds as Go writes them: a whole number without ".0"
        assert '"auth_timeout": 2,' in body and '"tls_timeout": 2,' in body
        for key in (
            "server_id",
            "start",
            "now",
            "uptime",
            "mem",
            "cores",
            "slow_consumers",
            "total_connections",
        ):
            assert key in v
        _, ctype, body = await _get(srv.http_url + "/varz?callback=cb")
        assert body.startswith("cb(") and ctype.startswith("application/javascript")
        await nc.close()


async def test_base_path() -> None:
    async with pynatsd.Server(http_port=-1, http_base_path="/mon/") as srv:
        assert srv.http_url is not None
        status, _, body = await _get(srv.http_url + "/mon/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"


async def _get(url: str) -> tuple[int, str, str]:
    import asyncio

    return await asyncio.to_thread(get, url)
