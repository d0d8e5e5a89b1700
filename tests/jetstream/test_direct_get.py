"""DIRECT.GET over a raw socket: single messages, batches (``batch``/``max_bytes``/
``no_hdr``) closed by a ``204 EOB`` status, and ``multi_last`` point-in-time reads
(``up_to_seq``/``up_to_time``). The conversation is compared frame for frame with the
reference's (time stamps aside), and the KV use of it is checked on both servers.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import nats

from tests.support import jetstream_server
from tests.support.wire import AsyncWireClient

T = 5.0
QUIET = 0.25  # how long a request with no further reply is listened to after its last frame

Frame = tuple[bytes, bytes]  # (header block or b"", payload)


class RawClient(AsyncWireClient):
    """A NATS connection on asyncio streams that keeps every frame byte for byte."""

    sid = 0

    @classmethod
    async def open(cls, url: str) -> RawClient:
        u = urlparse(url)
        assert u.hostname is not None and u.port is not None
        c = await cls.connect(u.port, u.hostname, timeout=T)
        await c.roundtrip(
            b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'
        )
        return c

    async def next_frame(self, timeout: float) -> Frame:
        msg = await self.next_msg(timeout)
        return msg.header_block, msg.body

    async def request(self, subject: str, body: bytes, hdr: bytes = b"", *, one: bool = False) -> list[Frame]:
        """Every reply to one request: up to a status frame (EOB, 404, 408, ...) or, for a
        request answered by one message, until nothing more comes for QUIET seconds (just
        the first reply with ``one``)."""
        self.sid += 1
        inbox = b"_RAW.%d" % self.sid
        self.writer.write(b"SUB %s %d\r\n" % (inbox, self.sid))
        if hdr:
            self.writer.write(
                b"HPUB %s %s %d %d\r\n%s%s\r\n"
                % (subject.encode(), inbox, len(hdr), len(hdr) + len(body), hdr, body)
            )
        else:
            self.writer.write(b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), inbox, len(body), body))
        frames: list[Frame] = []
        wait = T
        while True:
            try:
                frame = await self.next_frame(wait)
            except TimeoutError:
                break
            frames.append(frame)
            if one or frame[0].startswith(b"NATS/1.0 "):  # a status: the last frame
                break
            wait = QUIET
        self.writer.write(b"UNSUB %d\r\n" % self.sid)
        return frames


_STAMP = re.compile(rb"Nats-Time-Stamp: [^\r]*")


def normalize(frames: list[Frame]) -> list[Frame]:
    return [(_STAMP.sub(b"Nats-Time-Stamp: <time>", h), d) for h, d in frames]


def headers(frame: Frame) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in frame[0].split(b"\r\n")[1:]:
        k, sep, v = line.partition(b":")
        if sep:
            out[k.decode()] = v.strip().decode()
    return out


async def setup_stream(c: RawClient) -> dict[int, str]:
    """Stream D (direct get on) with a.1 one, a.2 two (with a header), a.1 three (deleted),
    b four, a.3 five; returns the time stamps by sequence."""
    r = await c.request(
        "$JS.API.STREAM.CREATE.D",
        json.dumps({"name": "D", "subjects": ["a.>", "b"], "allow_direct": True}).encode(),
        one=True,
    )
    assert b'"error"' not in r[0][1]
    for subject, data, hdr in (
        ("a.1", b"one", b""),
        ("a.2", b"two", b"NATS/1.0\r\nX-Custom: yes\r\n\r\n"),
        ("a.1", b"three", b""),
        ("b", b"four", b""),
        ("a.3", b"five", b""),
    ):
        (ack,) = await c.request(subject, data, hdr, one=True)
        assert b'"seq"' in ack[1]
        await asyncio.sleep(0.005)  # distinct time stamps for the up_to_time requests
    r = await c.request("$JS.API.STREAM.MSG.DELETE.D", b'{"seq":3}', one=True)
    assert b'"success":true' in r[0][1]
    stamps = {}
    for seq in (1, 2, 4, 5):
        (reply,) = await c.request("$JS.API.STREAM.MSG.GET.D", b'{"seq":%d}' % seq, one=True)
        stamps[seq] = json.loads(reply[1])["message"]["time"]
    return stamps


def requests(stamps: dict[int, str]) -> list[Any]:
    return [
        # one message
        {"seq": 1},
        {"seq": 2},
        {"seq": 3},
        {"last_by_subj": "a.1"},
        {"next_by_subj": "a.*", "seq": 3},
        {"start_time": stamps[2]},
        {"seq": 1, "no_hdr": True},
        {"seq": 1, "batch": 0},
        # batches
        {"seq": 1, "batch": 3},
        {"seq": 1, "batch": 1},
        {"seq": 2, "batch": 100},
        {"seq": 3, "batch": 2},
        {"seq": 5, "batch": 3},
        {"seq": 50, "batch": 2},
        {"seq": 1, "batch": -1},
        {"seq": 1, "batch": 5, "max_bytes": 20},
        {"seq": 1, "batch": 3, "max_bytes": 1},
        {"seq": 1, "batch": 2, "no_hdr": True},
        {"seq": 2, "batch": 2, "next_by_subj": "a.*", "no_hdr": True},
        {"next_by_subj": "a.1", "batch": 5},
        {"batch": 2, "next_by_subj": "b"},
        {"start_time": stamps[2], "batch": 2},
        {"start_time": "2000-01-01T00:00:00Z", "next_by_subj": "b", "batch": 3},
        {"start_time": "2100-01-01T00:00:00Z", "batch": 2},
        {"seq": 1, "next_by_subj": "a.1", "batch": 3, "up_to_seq": 1},
        # multi_last
        {"multi_last": ["a.>"]},
        {"multi_last": ["a.1", "b"]},
        {"multi_last": ["a.>", "a.1"]},
        {"multi_last": ["a.1", "a.1"]},
        {"multi_last": ["a.*"], "up_to_seq": 4},
        {"multi_last": ["a.>"], "up_to_seq": 5},
        {"multi_last": ["a.>"], "up_to_seq": 6},
        {"multi_last": ["a.>"], "up_to_seq": 1},
        {"multi_last": ["a.>"], "up_to_time": stamps[1]},
        {"multi_last": ["a.>"], "up_to_time": stamps[2]},
        {"multi_last": ["a.>"], "up_to_time": stamps[5]},
        {"multi_last": ["a.>"], "up_to_time": "2100-01-01T00:00:00Z"},
        {"multi_last": ["a.*"], "batch": 1},
        {"multi_last": ["a.>"], "batch": -1},
        {"multi_last": ["a.*", "b"], "batch": 2, "max_bytes": 100},
        {"multi_last": ["a.>"], "max_bytes": 10},
        {"multi_last": ["a.>"], "seq": 2},
        {"multi_last": ["a.>"], "seq": 6},
        {"multi_last": ["a.>"], "no_hdr": True},
        {"multi_last": ["a.>"], "start_time": "2000-01-01T00:00:00Z"},
        {"multi_last": ["zzz"]},
        {"multi_last": [""]},
        # refused
        {},
        {"up_to_seq": 3},
        {"multi_last": []},
        {"batch": 3},
        {"seq": 1, "last_by_subj": "a.1"},
        {"seq": 1, "start_time": "2000-01-01T00:00:00Z"},
        {"next_by_subj": "a.1", "last_by_subj": "a.1"},
        {"last_by_subj": "a.1", "batch": 2},
        {"multi_last": ["a.>"], "last_by_subj": "a.1"},
        {"multi_last": ["a.>"], "next_by_subj": "a.1"},
        {"multi_last": ["a.>"], "up_to_seq": 3, "up_to_time": "2020-01-01T00:00:00Z"},
        b"",
        b"{bad",
        b'{"seq":"x"}',
    ]


async def converse(url: str) -> list[list[Frame]]:
    c = await RawClient.open(url)
    try:
        stamps = await setup_stream(c)
        out = []
        for req in requests(stamps):
            body = req if isinstance(req, bytes) else json.dumps(req).encode()
            out.append(normalize(await c.request("$JS.API.DIRECT.GET.D", body)))
        out.append(normalize(await c.request("$JS.API.DIRECT.GET.D.a.1", b"")))
        out.append(normalize(await c.request("$JS.API.DIRECT.GET.D.a.1", b'{"batch":2}')))
        # after a full purge
        await c.request("$JS.API.STREAM.PURGE.D", b"", one=True)
        out.append(normalize(await c.request("$JS.API.DIRECT.GET.D", b'{"multi_last":["a.>"]}')))
        out.append(normalize(await c.request("$JS.API.DIRECT.GET.D", b'{"seq":1,"batch":3}')))
        return out
    finally:
        await c.close()


async def test_direct_get_conversation_matches_reference(tmp_path: Path) -> None:
    results = {}
    for kind in ("reference", "pynatsd"):
        async with jetstream_server(kind, tmp_path / kind) as url:
            results[kind] = await converse(url)
    labels = [*requests({1: "t1", 2: "t2", 4: "t4", 5: "t5"}), "subject form", "subject form + body"]
    labels += ["multi after purge", "batch after purge"]
    for label, ref, ours in zip(labels, results["reference"], results["pynatsd"], strict=True):
        assert ours == ref, f"request {label!r}"


async def test_batch_and_end_of_batch(js_url: str) -> None:
    c = await RawClient.open(js_url)
    try:
        await setup_stream(c)
        frames = await c.request("$JS.API.DIRECT.GET.D", b'{"seq":1,"batch":3}')
        assert [f[1] for f in frames] == [b"one", b"two", b"four", b""]
        assert [headers(f)["Nats-Sequence"] for f in frames[:3]] == ["1", "2", "4"]
        assert [headers(f)["Nats-Num-Pending"] for f in frames[:3]] == ["3", "2", "1"]
        assert [headers(f)["Nats-Last-Sequence"] for f in frames[:3]] == ["0", "1", "2"]
        # the message's own headers come first, then the stream's
        assert frames[1][0].startswith(
            b"NATS/1.0\r\nX-Custom: yes\r\nNats-Stream: D\r\nNats-Subject: a.2\r\n"
        )
        eob = frames[3][0]
        assert eob == b"NATS/1.0 204 EOB\r\nNats-Num-Pending: 1\r\nNats-Last-Sequence: 4\r\n\r\n"
        # a single get carries no pending count and no EOB follows it
        (one,) = await c.request("$JS.API.DIRECT.GET.D", b'{"seq":1}')
        assert "Nats-Num-Pending" not in headers(one)
        (none,) = await c.request("$JS.API.DIRECT.GET.D", b'{"seq":50,"batch":2}')
        assert none == (b"NATS/1.0 404 Message Not Found\r\n\r\n", b"")
    finally:
        await c.close()


async def test_multi_last_reads_a_bucket_at_a_point_in_time(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    kv = await js.create_key_value(bucket="USERS", history=5, direct=True)
    await kv.put("1234.name", b"Bob")
    await kv.put("1234.surname", b"Smith")
    await kv.put("1234.address", b"1 Main Street")
    await kv.put("1234.address", b"10 Oak Lane")
    await kv.put("9999.name", b"Eve")
    await nc.close()

    c = await RawClient.open(js_url)
    try:
        now = await c.request("$JS.API.DIRECT.GET.KV_USERS", b'{"multi_last":["$KV.USERS.1234.>"]}')
        assert [f[1] for f in now] == [b"Bob", b"Smith", b"10 Oak Lane", b""]
        assert headers(now[-1]) == {
            "Nats-Num-Pending": "0",
            "Nats-Last-Sequence": "4",
            "Nats-UpTo-Sequence": "5",
        }
        then = await c.request(
            "$JS.API.DIRECT.GET.KV_USERS", b'{"multi_last":["$KV.USERS.1234.>"],"up_to_seq":3}'
        )
        assert [f[1] for f in then] == [b"Bob", b"Smith", b"1 Main Street", b""]
        assert headers(then[-1])["Nats-UpTo-Sequence"] == "3"
        # paging: two at a time, continuing after the last sequence, up to the same point
        page = await c.request(
            "$JS.API.DIRECT.GET.KV_USERS", b'{"multi_last":["$KV.USERS.>"],"batch":2,"up_to_seq":5}'
        )
        assert [f[1] for f in page] == [b"Bob", b"Smith", b""]
        assert headers(page[-1]) == {
            "Nats-Num-Pending": "2",
            "Nats-Last-Sequence": "2",
            "Nats-UpTo-Sequence": "5",
        }
        rest = await c.request(
            "$JS.API.DIRECT.GET.KV_USERS", b'{"multi_last":["$KV.USERS.>"],"batch":2,"up_to_seq":5,"seq":3}'
        )
        assert [f[1] for f in rest] == [b"10 Oak Lane", b"Eve", b""]
        assert headers(rest[-1])["Nats-Num-Pending"] == "0"
        (nothing,) = await c.request("$JS.API.DIRECT.GET.KV_USERS", b'{"multi_last":["$KV.USERS.0.>"]}')
        assert nothing == (b"NATS/1.0 404 No Results\r\n\r\n", b"")
    finally:
        await c.close()


async def test_multi_last_matching_too_many_subjects(js_url: str) -> None:
    subjects = 1025  # one more than a multi_last request may match
    c = await RawClient.open(js_url)
    try:
        r = await c.request(
            "$JS.API.STREAM.CREATE.M",
            json.dumps(
                {"name": "M", "subjects": ["m.>"], "allow_direct": True, "storage": "memory"}
            ).encode(),
            one=True,
        )
        assert b'"error"' not in r[0][1]
        nc = await nats.connect(js_url)
        for i in range(subjects):
            await nc.publish(f"m.{i}", b"x")
        await nc.flush()
        js = nc.jetstream(timeout=T)

        async def stored() -> int:
            return int((await js.stream_info("M")).state.messages)

        for _ in range(100):
            if await stored() == subjects:
                break
            await asyncio.sleep(0.05)
        await nc.close()
        (too_many,) = await c.request("$JS.API.DIRECT.GET.M", b'{"multi_last":["m.>"]}')
        assert too_many == (b"NATS/1.0 413 Too Many Results\r\n\r\n", b"")
        frames = await c.request("$JS.API.DIRECT.GET.M", b'{"multi_last":["m.1", "m.2"]}')
        assert [f[1] for f in frames] == [b"x", b"x", b""]
    finally:
        await c.close()
