"""Mirrors and sources, second pass: message times, the per-source state a purge keeps,
on pynatsd and on the reference (``js_url``)."""

from __future__ import annotations

from typing import Any

import nats

from pynatsd.gocompat import parse_time
from tests.jetstream.test_mirrors import T, api, until_messages


async def msg_time(nc: Any, stream: str, seq: int) -> str:
    r = await api(nc, f"$JS.API.STREAM.MSG.GET.{stream}", {"seq": seq})
    return str(r["message"]["time"])


async def test_a_mirror_keeps_the_origin_times_a_source_does_not(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    await js.add_stream(name="O", subjects=["o.>"])
    for i in range(5):
        await js.publish(f"o.{i}", b"m%d" % i)
    await api(nc, "$JS.API.STREAM.CREATE.M", {"name": "M", "mirror": {"name": "O"}})
    s = await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "sources": [{"name": "O"}]})
    created = parse_time(s["created"])
    m_info = await until_messages(nc, "M", 5)
    await until_messages(nc, "S", 5)
    o_info = await api(nc, "$JS.API.STREAM.INFO.O")
    # a mirror: every message at its origin's time (first_ts / last_ts too)
    for seq in range(1, 6):
        assert await msg_time(nc, "M", seq) == await msg_time(nc, "O", seq)
    assert m_info["state"]["first_ts"] == o_info["state"]["first_ts"]
    assert m_info["state"]["last_ts"] == o_info["state"]["last_ts"]
    # a source: stored at its own time, after the sourcing stream was created
    for seq in range(1, 6):
        assert parse_time(await msg_time(nc, "S", seq)) >= created > parse_time(await msg_time(nc, "O", seq))
    # live messages too
    await js.publish("o.live", b"live")
    await until_messages(nc, "M", 6)
    assert await msg_time(nc, "M", 6) == await msg_time(nc, "O", 6)
    await nc.close()
