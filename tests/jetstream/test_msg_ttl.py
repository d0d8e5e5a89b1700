"""Per-message TTLs (Nats-TTL) and subject delete markers on plain streams, and the order in
which a publish's headers are checked; every test runs on pynatsd and on the reference."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from tests.support import jetstream_server

T = 10.0
EXPIRY = 8.0  # longest wait for a TTL to be processed (the reference checks about once a second)


async def api(nc: Client, subject: str, body: Any = None) -> dict[str, Any]:
    data = b"" if body is None else json.dumps(body).encode()
    return dict(json.loads((await nc.request(subject, data, timeout=T)).data))


async def pub(
    nc: Client, subject: str, data: bytes = b"", headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return dict(json.loads((await nc.request(subject, data, timeout=T, headers=headers)).data))


async def stored(nc: Client, stream: str) -> list[tuple[int, str, str, bytes]]:
    """(seq, subject, header block as text, data) of every message in the stream."""
    st = (await api(nc, f"$JS.API.STREAM.INFO.{stream}"))["state"]
    out = []
    for seq in range(max(st["first_seq"], 1), st["last_seq"] + 1):
        r = await api(nc, f"$JS.API.STREAM.MSG.GET.{stream}", {"seq": seq})
        if "error" in r:
            continue
        m = r["message"]
        out.append(
            (
                seq,
                m["subject"],
                base64.b64decode(m.get("hdrs", "")).decode(),
                base64.b64decode(m.get("data", "")),
            )
        )
    return out


async def wait_for_state(nc: Client, stream: str, want: Any, what: str) -> list[tuple[int, str, str, bytes]]:
    """Poll (every 50 ms, at most EXPIRY seconds) until ``want(messages)`` holds."""
    deadline = time.monotonic() + EXPIRY
    while True:
        msgs = await stored(nc, stream)
        if want(msgs):
            return msgs
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {msgs}")
        await asyncio.sleep(0.05)


def marker(ttl: str) -> str:
    return f"NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: {ttl}\r\nNats-Rollup: sub\r\n\r\n"


@pytest.mark.parametrize("storage", ["file", "memory"])
async def test_markers_after_max_age_and_ttl(js_url: str, storage: str) -> None:
    nc = await nats.connect(js_url)
    r = await api(
        nc,
        "$JS.API.STREAM.CREATE.A",
        {
            "name": "A",
            "subjects": ["a.>"],
            "storage": storage,
            "max_age": 2_500_000_000,
            "subject_delete_marker_ttl": 1_000_000_000,
            "max_msgs_per_subject": 5,
        },
    )
    cfg = r["config"]
    assert (cfg["allow_msg_ttl"], cfg["allow_rollup_hdrs"], cfg["duplicate_window"]) == (
        True,
        True,
        2_500_000_000,
    )
    assert (await pub(nc, "a.1", b"x"))["seq"] == 1
    await pub(nc, "a.2", b"y")
    await pub(nc, "a.2", b"z")
    await pub(nc, "a.3", b"t", {"Nats-TTL": "1"})
    # a.3 goes first (its own TTL): its marker follows the last message
    msgs = await wait_for_state(nc, "A", lambda m: m and m[-1][0] == 5, "the marker of a.3")
    assert msgs == [
        (1, "a.1", "", b"x"),
        (2, "a.2", "", b"y"),
        (3, "a.2", "", b"z"),
        (5, "a.3", marker("1s"), b""),
    ]
    # then max_age takes a.1 and both a.2: one marker per emptied subject, in order; markers
    # do not make markers when they expire themselves
    msgs = await wait_for_state(
        nc, "A", lambda m: [x[0] for x in m] in ([6, 7], [7], []), "a.1 and a.2 to age out"
    )
    await wait_for_state(nc, "A", lambda m: m == [], "the markers to expire")
    st = (await api(nc, "$JS.API.STREAM.INFO.A"))["state"]
    assert (st["messages"], st["first_seq"], st["last_seq"]) == (0, 8, 7)
    await nc.close()


async def test_no_markers_for_deletes_purges_and_tombstones(js_url: str) -> None:
    nc = await nats.connect(js_url)
    await api(
        nc,
        "$JS.API.STREAM.CREATE.B",
        {"name": "B", "subjects": ["b.>"], "allow_msg_ttl": True, "subject_delete_marker_ttl": 2_000_000_000},
    )
    await pub(nc, "b.1", b"x")
    await pub(nc, "b.2", b"y")
    await pub(nc, "b.3", b"", {"KV-Operation": "PURGE", "Nats-Rollup": "sub", "Nats-TTL": "1"})
    await pub(nc, "b.4", b"", {"Nats-Marker-Reason": "Remove", "Nats-TTL": "1"})
    await pub(nc, "b.5", b"", {"KV-Operation": "DEL", "Nats-TTL": "1"})
    await pub(nc, "b.6", b"v", {"Nats-TTL": "never"})
    assert (await api(nc, "$JS.API.STREAM.MSG.DELETE.B", {"seq": 1}))["success"] is True
    assert (await api(nc, "$JS.API.STREAM.PURGE.B", {"filter": "b.2"}))["purged"] == 1
    # a KV purge and a server marker are tombstones: no marker after them; a KV delete is not
    msgs = await wait_for_state(nc, "B", lambda m: [x[1] for x in m] == ["b.6", "b.5"], "the TTLs to pass")
    assert msgs[1] == (7, "b.5", marker("2s"), b"")
    assert msgs[0] == (6, "b.6", "NATS/1.0\r\nNats-TTL: never\r\n\r\n", b"v")
    await wait_for_state(nc, "B", lambda m: [x[0] for x in m] == [6], "the marker to expire")
    await nc.close()


async def test_ttls_below_the_marker_ttl_are_raised(js_url: str) -> None:
    nc = await nats.connect(js_url)
    ttls = ["1", "5s", "3", "1500ms", "never", "1h", "90"]
    for name, per_subject, marker_ttl in (
        ("M1", 1, 2_000_000_000),
        ("MU", -1, 2_000_000_000),
        ("M5", 5, 1_500_000_000),
        ("NO", 5, 0),
    ):
        body: dict[str, Any] = {
            "name": name,
            "subjects": [f"{name.lower()}.>"],
            "allow_msg_ttl": True,
            "max_msgs_per_subject": per_subject,
        }
        if marker_ttl:
            body["subject_delete_marker_ttl"] = marker_ttl
        assert "error" not in await api(nc, f"$JS.API.STREAM.CREATE.{name}", body)
        for i, ttl in enumerate(ttls):
            assert "error" not in await pub(nc, f"{name.lower()}.{i}", b"x", {"Nats-TTL": ttl})
        got = [h for _, _, h, _ in await stored(nc, name)]
        if name == "MU":
            # floor of 2s (whole seconds), written back as a number of seconds
            want = ["2", "5s", "3", "2", "never", "1h", "90"]
        else:
            # max_msgs_per_subject 1, a 1.5s marker TTL (floor 1s) or no markers: as given
            want = ttls
        assert got == [f"NATS/1.0\r\nNats-TTL: {t}\r\n\r\n" for t in want], name
    await nc.close()


async def test_ttl_header_values(js_url: str) -> None:
    nc = await nats.connect(js_url)
    await api(nc, "$JS.API.STREAM.CREATE.V", {"name": "V", "subjects": ["v"], "allow_msg_ttl": True})
    for ok in ("1", "1s", "1m30s", "never", "NEVER", "Never", " 5s", "90"):
        assert "error" not in await pub(nc, "v", b"", {"Nats-TTL": ok}), ok
    for bad in ("0", "0s", "500ms", "1.5", "-1", "+5", "abc", "-5s"):
        r = await pub(nc, "v", b"", {"Nats-TTL": bad})
        assert r["error"]["err_code"] == 10165, bad
    await api(nc, "$JS.API.STREAM.CREATE.NT", {"name": "NT", "subjects": ["nt"]})
    r = await pub(nc, "nt", b"", {"Nats-TTL": "5s"})
    assert r["error"] == {"code": 400, "err_code": 10166, "description": "per-message TTL is disabled"}
    # a value that is no TTL is not refused for TTLs being off, but as invalid
    r = await pub(nc, "nt", b"", {"Nats-TTL": "abc"})
    assert r["error"]["err_code"] == 10165
    await nc.close()


async def test_publish_check_order(js_url: str) -> None:
    nc = await nats.connect(js_url)
    await api(
        nc,
        "$JS.API.STREAM.CREATE.O",
        {
            "name": "O",
            "subjects": ["o"],
            "max_msg_size": 300,
            "allow_msg_ttl": True,
            "allow_rollup_hdrs": True,
        },
    )
    assert (await pub(nc, "o", b"1", {"Nats-Msg-Id": "m1"}))["seq"] == 1
    big = b"x" * 400
    cases: list[tuple[bytes, dict[str, str], int | str]] = [
        # the size comes before everything, de-duplication included
        (big, {"Nats-Expected-Stream": "nope"}, 10054),
        (big, {"Nats-Expected-Last-Subject-Sequence": "7"}, 10054),
        (big, {"Nats-Msg-Id": "m1"}, 10054),
        (b"", {"Nats-Expected-Stream": "nope", "Nats-Expected-Last-Subject-Sequence": "7"}, 10060),
        (b"", {"Nats-TTL": "abc", "Nats-Expected-Last-Subject-Sequence": "7"}, 10071),
        (b"", {"Nats-Rollup": "bad", "Nats-Expected-Last-Subject-Sequence": "7"}, 10071),
        (b"", {"Nats-Expected-Last-Msg-Id": "zz", "Nats-Expected-Last-Sequence": "7"}, 10071),
        (b"", {"Nats-Msg-Id": "m1", "Nats-Expected-Last-Subject-Sequence": "7"}, 10071),
        (b"", {"Nats-Msg-Id": "m1", "Nats-Expected-Last-Sequence": "7"}, 10071),
        (b"", {"Nats-Msg-Id": "m1", "Nats-Expected-Stream": "nope"}, 10060),
        (b"", {"Nats-Msg-Id": "m1", "Nats-Expected-Last-Msg-Id": "zz"}, "duplicate"),
        (b"", {"Nats-Msg-Id": "m1", "Nats-Rollup": "bad"}, "duplicate"),
        (b"", {"Nats-Msg-Id": "m1", "Nats-TTL": "bad"}, "duplicate"),
        (b"", {"Nats-Rollup": "bad", "Nats-TTL": "bad"}, 10111),
        (b"", {"Nats-Rollup": "bad", "Nats-Expected-Last-Msg-Id": "zz"}, 10070),
        (
            b"",
            {"Nats-Expected-Last-Subject-Sequence-Subject": "o", "Nats-Expected-Last-Sequence": "7"},
            10193,
        ),
        (b"", {"Nats-Expected-Last-Subject-Sequence-Subject": "o", "Nats-Msg-Id": "m1"}, 10193),
    ]
    for data, headers, want in cases:
        r = await pub(nc, "o", data, headers)
        got = "duplicate" if r.get("duplicate") else r.get("error", {}).get("err_code")
        assert got == want, headers
    await api(nc, "$JS.API.STREAM.CREATE.NT", {"name": "NT", "subjects": ["nt"], "allow_rollup_hdrs": True})
    await pub(nc, "nt", b"", {"Nats-Msg-Id": "d1"})
    for headers, want in (
        ({"Nats-TTL": "5s", "Nats-Expected-Stream": "x"}, 10060),
        ({"Nats-TTL": "5s", "Nats-Expected-Last-Sequence": "5"}, 10166),
        ({"Nats-TTL": "5s", "Nats-Expected-Last-Subject-Sequence-Subject": "nt"}, 10166),
        ({"Nats-TTL": "5s", "Nats-Msg-Id": "d1"}, 10166),
        ({"Nats-TTL": "5s", "Nats-Expected-Last-Msg-Id": "zz"}, 10166),
        ({"Nats-TTL": "5s", "Nats-Rollup": "sub"}, 10166),
    ):
        r = await pub(nc, "nt", b"", headers)
        assert r.get("error", {}).get("err_code") == want, headers
    await nc.close()


@pytest.mark.parametrize("kind", ["pynatsd", "reference"])
async def test_marker_for_a_ttl_that_passed_while_down(kind: str, tmp_path: Path) -> None:
    store = tmp_path / "store"
    async with jetstream_server(kind, store) as url:
        nc = await nats.connect(url)
        body = {
            "name": "R",
            "subjects": ["r.>"],
            "allow_msg_ttl": True,
            "subject_delete_marker_ttl": 2_000_000_000,
        }
        await api(nc, "$JS.API.STREAM.CREATE.R", body)
        await pub(nc, "r.keep", b"k")
        await pub(nc, "r.gone", b"g", {"Nats-TTL": "1"})
        await nc.close()
        due = time.monotonic() + 1.0
    # the TTL runs out while the server is down
    await asyncio.sleep(max(0.0, due - time.monotonic()) + 0.2)
    async with jetstream_server(kind, store) as url:
        nc = await nats.connect(url)
        msgs = await wait_for_state(
            nc, "R", lambda m: len(m) == 2 and m[1][0] == 3, "the marker after recovery"
        )
        assert msgs == [(1, "r.keep", "", b"k"), (3, "r.gone", marker("2s"), b"")]
        await nc.close()
