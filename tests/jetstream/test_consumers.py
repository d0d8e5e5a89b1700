"""JetStream consumers through nats-py and raw protocol conversations; every test runs on pynatsd
and on the reference (docs/JETSTREAM_CONSUMERS.md is the catalogue these tests pin down)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy
from nats.js.errors import APIError, NotFoundError

from tests.support import jetstream_server

# The reference answers API requests in milliseconds; a short timeout keeps failures quick.
T = 2.0

ACK_RE = re.compile(r"\$JS\.ACK\.([^.]+)\.([^.]+)\.(\d+)\.(\d+)\.(\d+)\.(\d{19})\.(\d+)")
FC_RE = re.compile(r"\$JS\.FC\.([^.]+)\.([^.]+)\.[0-9A-Za-z]{4}")
ADVISORY = "$JS.EVENT.ADVISORY"


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


async def connect(url: str) -> tuple[Any, Any]:
    nc = await nats.connect(url)
    return nc, nc.jetstream(timeout=T)


async def api(nc: Any, subject: str, body: Any = None) -> dict[str, Any]:
    data = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
    r = await nc.request(subject, data, timeout=T)
    return dict(json.loads(r.data))


async def create(nc: Any, stream: str, config: dict[str, Any], subject: str | None = None) -> dict[str, Any]:
    """CONSUMER.CREATE (named when the config names the consumer); asserts success."""
    if subject is None:
        name = config.get("name") or config.get("durable_name")
        subject = f"$JS.API.CONSUMER.CREATE.{stream}" + (f".{name}" if name else "")
    r = await api(nc, subject, {"stream_name": stream, "config": config})
    assert "error" not in r, r
    return r


async def info(nc: Any, stream: str, consumer: str) -> dict[str, Any]:
    r = await api(nc, f"$JS.API.CONSUMER.INFO.{stream}.{consumer}")
    assert "error" not in r, r
    return r


async def stream_info(nc: Any, stream: str) -> dict[str, Any]:
    return await api(nc, f"$JS.API.STREAM.INFO.{stream}")


async def wait_for(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 3.0) -> Any:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def status(msg: Msg) -> tuple[str, str] | None:
    """(code, description) of a status message, None for a data message."""
    hdrs = msg.headers or {}
    if "Status" not in hdrs:
        return None
    return hdrs["Status"], hdrs.get("Description", "")


def seqs(msgs: list[Msg]) -> list[int]:
    return [m.metadata.sequence.stream for m in msgs]


def ack_fields(reply: str) -> dict[str, Any]:
    m = ACK_RE.fullmatch(reply)
    assert m, f"not a v1 ack reply subject: {reply}"
    stream, consumer, delivered, sseq, cseq, ts, pending = m.groups()
    return {
        "stream": stream,
        "consumer": consumer,
        "delivered": int(delivered),
        "sseq": int(sseq),
        "cseq": int(cseq),
        "ts": int(ts),
        "pending": int(pending),
    }


def rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 UTC time with up to 9 fractional digits."""
    base, _, frac = text.rstrip("Z").partition(".")
    whole = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return int(whole.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9])


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Inbox:
    """A raw subscription on a fresh inbox: pull replies, push deliveries, advisories."""

    def __init__(self, nc: Any, subject: str | None = None) -> None:
        self.nc = nc
        self.subject = subject or nc.new_inbox()
        self.sub: Any = None

    async def __aenter__(self) -> Inbox:
        self.sub = await self.nc.subscribe(self.subject, pending_bytes_limit=256 * 1024 * 1024)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sub.unsubscribe()

    async def next(self, timeout: float = T) -> Msg:
        return await self.sub.next_msg(timeout=timeout)

    async def none_within(self, seconds: float) -> None:
        try:
            msg = await self.sub.next_msg(timeout=seconds)
        except nats.errors.TimeoutError:
            return
        raise AssertionError(f"unexpected message {msg.subject} {msg.headers} {msg.data!r}")

    async def collect(self, until_status: bool = True, timeout: float = T, count: int = 0) -> list[Msg]:
        """Messages until a status other than 100 arrives (it is included), ``count`` data
        messages arrived, or ``timeout`` passed."""
        out: list[Msg] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            try:
                msg = await self.sub.next_msg(timeout=left)
            except nats.errors.TimeoutError:
                return out
            out.append(msg)
            st = status(msg)
            if until_status and st is not None and st[0] != "100":
                return out
            if count and sum(1 for m in out if status(m) is None) >= count:
                return out


async def pull(
    nc: Any, stream: str, consumer: str, body: Any, timeout: float = T, count: int | None = None
) -> tuple[list[Msg], list[Msg]]:
    """One raw MSG.NEXT request: (data messages, status messages) until a final status or, by
    default, until the requested batch arrived (``count=0``: only a status or the timeout ends)."""
    if count is None:
        count = max(int(body.get("batch", 1)), 1) if isinstance(body, dict) else 0
    async with Inbox(nc) as inbox:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}", data, reply=inbox.subject)
        got = await inbox.collect(timeout=timeout, count=count)
    return [m for m in got if status(m) is None], [m for m in got if status(m) is not None]


async def publish_n(js: Any, subject: str, n: int, prefix: str = "m") -> None:
    for i in range(1, n + 1):
        await js.publish(subject, f"{prefix}{i}".encode())


# ---------------------------------------------------------------------------------------------
# pull consumers through nats-py
# ---------------------------------------------------------------------------------------------


async def test_fetch_batch_reply_subject_and_metadata(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="ORDERS", subjects=["ORDERS.*"])
    await publish_n(js, "ORDERS.new", 5)
    sub = await js.pull_subscribe("ORDERS.new", durable="CONS", stream="ORDERS")
    msgs = await sub.fetch(3, timeout=T)
    assert [m.data for m in msgs] == [b"m1", b"m2", b"m3"]
    for i, m in enumerate(msgs, 1):
        assert m.subject == "ORDERS.new"  # delivered under the original subject
        f = ack_fields(m.reply)
        stored = await api(nc, "$JS.API.STREAM.MSG.GET.ORDERS", {"seq": i})
        assert f == {
            "stream": "ORDERS",
            "consumer": "CONS",
            "delivered": 1,
            "sseq": i,
            "cseq": i,
            "ts": rfc3339_ns(stored["message"]["time"]),
            "pending": 5 - i,
        }
        md = m.metadata
        assert (md.stream, md.consumer, md.num_delivered, md.num_pending) == ("ORDERS", "CONS", 1, 5 - i)
        assert (md.sequence.stream, md.sequence.consumer) == (i, i)
        await m.ack()
    rest = await sub.fetch(5, timeout=T)
    assert [m.data for m in rest] == [b"m4", b"m5"]
    assert [m.metadata.num_pending for m in rest] == [1, 0]
    for m in rest:
        await m.ack_sync()
    ci = await info(nc, "ORDERS", "CONS")
    assert (ci["delivered"]["consumer_seq"], ci["delivered"]["stream_seq"]) == (5, 5)
    assert (ci["ack_floor"]["consumer_seq"], ci["ack_floor"]["stream_seq"]) == (5, 5)
    assert (ci["num_ack_pending"], ci["num_pending"], ci["num_redelivered"]) == (0, 0, 0)
    assert ci["config"]["durable_name"] == "CONS" and ci["config"]["filter_subject"] == "ORDERS.new"
    await nc.close()


async def test_fetch_partial_batch_and_timeout_when_empty(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="F", subjects=["f"])
    await publish_n(js, "f", 2)
    sub = await js.pull_subscribe("f", durable="d", stream="F")
    msgs = await sub.fetch(5, timeout=5)  # a partial batch: what there is
    assert [m.data for m in msgs] == [b"m1", b"m2"]
    # a fresh subscription: the first fetch's request is still open on the old inbox, and its
    # 408 at expiry must not land in the fetches below
    await sub.unsubscribe()
    sub = await js.pull_subscribe("f", durable="d", stream="F")
    for batch in (1, 3):
        start = time.monotonic()
        with pytest.raises(nats.errors.TimeoutError):
            await sub.fetch(batch, timeout=0.5)
        assert time.monotonic() - start >= 0.4
    await nc.close()


async def test_fetch_waits_for_a_message_published_later(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="L", subjects=["l"])
    sub = await js.pull_subscribe("l", durable="d", stream="L")
    task = asyncio.create_task(sub.fetch(1, timeout=2.5))
    await wait_for(lambda: _num_waiting(nc, "L", "d", 1), "the pull request to be waiting")
    await js.publish("l", b"late")
    msgs = await task
    assert [m.data for m in msgs] == [b"late"]
    await nc.close()


async def _num_waiting(nc: Any, stream: str, consumer: str, n: int) -> bool:
    return bool((await info(nc, stream, consumer))["num_waiting"] == n)


async def settle(nc: Any, stream: str, consumer: str, pending: int) -> None:
    """Wait until the consumer counts ``pending`` messages. The reference learns about newly
    stored messages asynchronously: a no_wait pull right after a publish may still see none."""

    async def check() -> bool:
        return bool((await info(nc, stream, consumer))["num_pending"] == pending)

    await wait_for(check, f"{stream} > {consumer} to count {pending} pending")


async def test_durable_pull_consumer_shared_by_two_subscriptions(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="W", subjects=["w.*"])
    await publish_n(js, "w.job", 6)
    sub1 = await js.pull_subscribe("w.job", durable="workers", stream="W")
    sub2 = await js.pull_subscribe("w.job", durable="workers", stream="W")
    a = await sub1.fetch(3, timeout=T)
    b = await sub2.fetch(3, timeout=T)
    assert sorted(seqs(a) + seqs(b)) == [1, 2, 3, 4, 5, 6]
    assert {m.metadata.consumer for m in a + b} == {"workers"}
    names = await api(nc, "$JS.API.CONSUMER.NAMES.W")
    assert names["consumers"] == ["workers"] and names["total"] == 1
    await nc.close()


async def test_ephemeral_pull_consumer_defaults(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="E", subjects=["e"])
    await publish_n(js, "e", 2)
    r = await create(nc, "E", {"ack_policy": "explicit"})
    name = r["name"]
    assert re.fullmatch(r"[0-9A-Za-z]{8}", name), name
    cfg = r["config"]
    assert "durable_name" not in cfg and "name" not in cfg
    assert cfg["inactive_threshold"] == 5_000_000_000 and cfg["max_waiting"] == 512
    assert cfg["ack_wait"] == 30_000_000_000 and cfg["max_ack_pending"] == 1000
    assert (cfg["deliver_policy"], cfg["replay_policy"], cfg["max_deliver"]) == ("all", "instant", -1)
    assert r["num_pending"] == 2 and r["delivered"] == {"consumer_seq": 0, "stream_seq": 0}
    sub = await js.pull_subscribe_bind(name, stream="E")
    msgs = await sub.fetch(2, timeout=T)
    assert [m.metadata.consumer for m in msgs] == [name, name]
    # nats-py's ephemeral pull_subscribe names the consumer itself (CREATE.<stream>.<name>.<filter>)
    sub2 = await js.pull_subscribe("e", stream="E")
    ci = await sub2.consumer_info()
    assert ci.config.durable_name is None and ci.name == sub2._consumer
    assert ci.config.inactive_threshold == 5.0
    await nc.close()


async def test_fetch_with_heartbeat(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="HB", subjects=["hb"])
    sub = await js.pull_subscribe("hb", durable="d", stream="HB")
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=0.8, heartbeat=0.2)
    # the client gives up a moment before the server expires the request
    await wait_for(lambda: _num_waiting(nc, "HB", "d", 0), "the expired request to go")
    await js.publish("hb", b"x")
    await settle(nc, "HB", "d", 1)
    msgs = await sub.fetch(2, timeout=1.5, heartbeat=0.2)
    assert [m.data for m in msgs] == [b"x"]
    await nc.close()


# ---------------------------------------------------------------------------------------------
# raw pull requests and their status messages
# ---------------------------------------------------------------------------------------------


async def test_pull_status_no_messages_and_request_timeout(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="P", subjects=["p"])
    await create(nc, "P", {"durable_name": "C", "ack_policy": "explicit"})
    msgs, st = await pull(nc, "P", "C", {"batch": 1, "no_wait": True})
    assert msgs == [] and [status(m) for m in st] == [("404", "No Messages")]
    assert st[0].data == b"" and set(st[0].headers) == {"Status", "Description"}
    start = time.monotonic()
    msgs, st = await pull(nc, "P", "C", {"batch": 3, "expires": 300_000_000})
    assert time.monotonic() - start >= 0.25
    assert msgs == [] and [status(m) for m in st] == [("408", "Request Timeout")]
    assert st[0].headers["Nats-Pending-Messages"] == "3" and st[0].headers["Nats-Pending-Bytes"] == "0"
    # no_wait together with expires waits for the expiry when nothing is there
    start = time.monotonic()
    msgs, st = await pull(nc, "P", "C", {"batch": 1, "no_wait": True, "expires": 300_000_000})
    assert time.monotonic() - start >= 0.25
    assert [status(m) for m in st] == [("408", "Request Timeout")]
    await nc.close()


async def test_pull_partial_batch_then_request_timeout(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="P", subjects=["p.*"])
    await publish_n(js, "p.x", 2)
    await create(nc, "P", {"durable_name": "C", "ack_policy": "explicit"})
    msgs, st = await pull(nc, "P", "C", {"batch": 5, "expires": 400_000_000})
    assert [m.data for m in msgs] == [b"m1", b"m2"]
    assert [ack_fields(m.reply)["pending"] for m in msgs] == [1, 0]
    assert [status(m) for m in st] == [("408", "Request Timeout")]
    assert st[0].headers["Nats-Pending-Messages"] == "3" and st[0].headers["Nats-Pending-Bytes"] == "0"
    # a request that is still open when a message arrives receives it
    async with Inbox(nc) as inbox:
        await nc.publish(
            "$JS.API.CONSUMER.MSG.NEXT.P.C", b'{"batch":2,"expires":1500000000}', reply=inbox.subject
        )
        await wait_for(lambda: _num_waiting(nc, "P", "C", 1), "the request to wait")
        await js.publish("p.y", b"m3")
        first = await inbox.next()
        assert first.data == b"m3" and status(first) is None
        final = await inbox.next()
        assert status(final) == ("408", "Request Timeout")
        assert final.headers["Nats-Pending-Messages"] == "1"
    await nc.close()


async def test_pull_no_wait_delivers_what_is_there_then_404(js_url: str) -> None:
    """FetchNoWait: take what is available now, end with 404 instead of waiting."""
    nc, js = await connect(js_url)
    await js.add_stream(name="NW", subjects=["nw"])
    await publish_n(js, "nw", 3)
    await create(nc, "NW", {"durable_name": "C", "ack_policy": "explicit"})
    msgs, st = await pull(nc, "NW", "C", {"batch": 10, "no_wait": True})
    assert [m.data for m in msgs] == [b"m1", b"m2", b"m3"]
    assert [status(m) for m in st] == [("404", "No Messages")]
    await create(nc, "NW", {"durable_name": "D", "ack_policy": "explicit"})
    msgs, st = await pull(nc, "NW", "D", {"batch": 10, "no_wait": True, "expires": 1_000_000_000})
    assert [m.data for m in msgs] == [b"m1", b"m2", b"m3"]
    # with an expiry too, the answer is 404 at once (a 408 would mean it waited for the expiry)
    assert [status(m) for m in st] == [("404", "No Messages")]
    # a full batch ends without any status message
    await create(nc, "NW", {"durable_name": "E", "ack_policy": "explicit"})
    async with Inbox(nc) as inbox:
        await nc.publish("$JS.API.CONSUMER.MSG.NEXT.NW.E", b'{"batch":3,"no_wait":true}', reply=inbox.subject)
        got = await inbox.collect(count=3)
        assert [m.data for m in got] == [b"m1", b"m2", b"m3"]
        await inbox.none_within(0.3)
    await nc.close()


async def test_pull_max_bytes(js_url: str) -> None:
    """FetchBytes: a message costs len(subject) + len(reply) + len(headers) + len(payload)."""
    nc, js = await connect(js_url)
    await js.add_stream(name="B", subjects=["b.x"])
    for _ in range(4):
        await js.publish("b.x", b"y" * 100)

    def size(m: Msg) -> int:
        return len(m.subject) + len(m.reply) + len(m.data)

    await create(nc, "B", {"durable_name": "C", "ack_policy": "explicit"})
    msgs, st = await pull(nc, "B", "C", {"batch": 5, "max_bytes": 350, "expires": 2_000_000_000})
    assert seqs(msgs) == [1, 2]
    assert [status(m) for m in st] == [("409", "Message Size Exceeds MaxBytes")]
    assert st[0].headers["Nats-Pending-Messages"] == "3"
    assert st[0].headers["Nats-Pending-Bytes"] == str(350 - sum(size(m) for m in msgs))
    # batch filled while bytes were left: "409 Batch Completed"
    await create(nc, "B", {"durable_name": "D", "ack_policy": "explicit"})
    msgs, st = await pull(nc, "B", "D", {"batch": 2, "max_bytes": 1000, "no_wait": True}, count=0)
    assert seqs(msgs) == [1, 2]
    assert [status(m) for m in st] == [("409", "Batch Completed")]
    assert st[0].headers["Nats-Pending-Messages"] == "0"
    assert st[0].headers["Nats-Pending-Bytes"] == str(1000 - sum(size(m) for m in msgs))
    # not even the first message fits
    msgs, st = await pull(nc, "B", "D", {"batch": 3, "max_bytes": 50, "no_wait": True})
    assert msgs == [] and [status(m) for m in st] == [("409", "Message Size Exceeds MaxBytes")]
    assert st[0].headers["Nats-Pending-Messages"] == "3" and st[0].headers["Nats-Pending-Bytes"] == "50"
    # request expiry reports the unused byte budget
    await create(nc, "B", {"durable_name": "E", "ack_policy": "explicit"})
    msgs, st = await pull(nc, "B", "E", {"batch": 10, "max_bytes": 100_000, "expires": 300_000_000})
    assert seqs(msgs) == [1, 2, 3, 4]
    assert [status(m) for m in st] == [("408", "Request Timeout")]
    assert st[0].headers["Nats-Pending-Messages"] == "6"
    assert st[0].headers["Nats-Pending-Bytes"] == str(100_000 - sum(size(m) for m in msgs))
    await nc.close()


async def test_pull_idle_heartbeats(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="H", subjects=["h"])
    await js.publish("h", b"one")
    await create(nc, "H", {"durable_name": "C", "ack_policy": "explicit"})
    msgs, _ = await pull(nc, "H", "C", {"batch": 1, "no_wait": True})
    assert len(msgs) == 1
    start = time.monotonic()
    msgs, st = await pull(nc, "H", "C", {"batch": 1, "expires": 700_000_000, "idle_heartbeat": 200_000_000})
    assert msgs == []
    beats = [m for m in st if status(m) == ("100", "Idle Heartbeat")]
    assert 2 <= len(beats) <= 4 and status(st[-1]) == ("408", "Request Timeout")
    assert time.monotonic() - start >= 0.6
    for hb in beats:
        assert hb.data == b"" and not hb.reply
        assert hb.headers["Nats-Last-Consumer"] == "1" and hb.headers["Nats-Last-Stream"] == "1"
    # the heartbeat must be at most half the expiry, and needs an expiry at all
    for body in (
        {"batch": 1, "idle_heartbeat": 100_000_000},
        {"batch": 1, "expires": 300_000_000, "idle_heartbeat": 200_000_000},
    ):
        msgs, st = await pull(nc, "H", "C", body)
        assert [status(m) for m in st] == [("400", "Bad Request - heartbeat value too large")]
    await nc.close()


async def test_pull_max_waiting_and_consumer_deleted(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="MW", subjects=["mw.*"])
    r = await create(nc, "MW", {"durable_name": "C", "ack_policy": "explicit", "max_waiting": 2})
    assert r["config"]["max_waiting"] == 2
    async with Inbox(nc) as w1, Inbox(nc) as w2:
        await nc.publish(
            "$JS.API.CONSUMER.MSG.NEXT.MW.C", b'{"batch":1,"expires":5000000000}', reply=w1.subject
        )
        await nc.publish("$JS.API.CONSUMER.MSG.NEXT.MW.C", b'{"batch":3}', reply=w2.subject)
        await wait_for(lambda: _num_waiting(nc, "MW", "C", 2), "two waiting requests")
        _, st = await pull(nc, "MW", "C", {"batch": 1, "expires": 1_000_000_000})
        assert [status(m) for m in st] == [("409", "Exceeded MaxWaiting")]
        assert set(st[0].headers) == {"Status", "Description"}
        deleted = await api(nc, "$JS.API.CONSUMER.DELETE.MW.C")
        assert deleted == {"type": "io.nats.jetstream.api.v1.consumer_delete_response", "success": True}
        for inbox in (w1, w2):
            msg = await inbox.next()
            assert status(msg) == ("409", "Consumer Deleted")
    await nc.close()


async def test_pull_request_limits_and_wrong_targets(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="LIM", subjects=["lim"])
    await js.publish("lim", b"x")
    await create(
        nc,
        "LIM",
        {
            "durable_name": "C",
            "ack_policy": "explicit",
            "max_batch": 10,
            "max_expires": 1_500_000_000,
            "max_bytes": 1000,
        },
    )
    cases = [
        ({"batch": 11, "expires": 300_000_000}, "Exceeded MaxRequestBatch of 10"),
        ({"batch": 1, "expires": 2_000_000_000}, "Exceeded MaxRequestExpires of 1.5s"),
        ({"batch": 1, "max_bytes": 2000, "expires": 300_000_000}, "Exceeded MaxRequestMaxBytes of 1000"),
    ]
    for body, desc in cases:
        msgs, st = await pull(nc, "LIM", "C", body)
        assert msgs == [] and [status(m) for m in st] == [("409", desc)], body
    # within the limits the message is delivered
    msgs, _ = await pull(nc, "LIM", "C", {"batch": 10, "max_bytes": 1000, "no_wait": True})
    assert [m.data for m in msgs] == [b"x"]
    await create(nc, "LIM", {"durable_name": "PUSH", "deliver_subject": "nobody.listens"})
    msgs, st = await pull(nc, "LIM", "PUSH", {"batch": 1})
    assert [status(m) for m in st] == [("409", "Consumer is push based")]
    # no such consumer: nobody subscribes to its MSG.NEXT subject
    with pytest.raises(nats.errors.NoRespondersError):
        await nc.request("$JS.API.CONSUMER.MSG.NEXT.LIM.NOPE", b"1", timeout=T)
    with pytest.raises(nats.errors.NoRespondersError):
        await nc.request("$JS.API.CONSUMER.MSG.NEXT.NOPE.C", b"1", timeout=T)
    await nc.close()


async def test_pull_request_body_forms(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="BF", subjects=["bf"])
    await publish_n(js, "bf", 4)
    await create(nc, "BF", {"durable_name": "C", "ack_policy": "explicit"})
    # a bare number is the batch size, an empty body a batch of 1; neither expires
    msgs, st = await pull(nc, "BF", "C", b"2", count=2)
    assert [m.data for m in msgs] == [b"m1", b"m2"] and st == []
    msgs, st = await pull(nc, "BF", "C", b"", count=1)
    assert [m.data for m in msgs] == [b"m3"] and st == []
    msgs, st = await pull(nc, "BF", "C", b"{x")
    assert msgs == [] and len(st) == 1
    code, desc = status(st[0]) or ("", "")
    assert code == "400" and desc.startswith("Bad Request - invalid character 'x'")
    # batch 0 counts as 1
    msgs, st = await pull(nc, "BF", "C", {"batch": 0, "no_wait": True})
    assert [m.data for m in msgs] == [b"m4"]
    await nc.close()


async def test_ack_next_delivers_to_the_ack_reply(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="NX", subjects=["nx"])
    await publish_n(js, "nx", 5)
    await create(nc, "NX", {"durable_name": "C", "ack_policy": "explicit"})
    msgs, _ = await pull(nc, "NX", "C", {"batch": 1, "no_wait": True})
    async with Inbox(nc) as inbox:
        await nc.publish(msgs[0].reply, b"+NXT", reply=inbox.subject)
        nxt = await inbox.next()
        assert nxt.data == b"m2" and ack_fields(nxt.reply)["sseq"] == 2
        await nc.publish(nxt.reply, b'+NXT {"batch":2}', reply=inbox.subject)
        two = [await inbox.next(), await inbox.next()]
        assert [m.data for m in two] == [b"m3", b"m4"]
    ci = await info(nc, "NX", "C")
    assert ci["ack_floor"]["stream_seq"] == 2 and ci["num_ack_pending"] == 2
    await nc.close()


# ---------------------------------------------------------------------------------------------
# push consumers
# ---------------------------------------------------------------------------------------------


async def test_push_durable_subscription(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="P", subjects=["p.*"])
    await publish_n(js, "p.a", 3)
    got: list[Msg] = []

    async def cb(msg: Msg) -> None:
        got.append(msg)

    sub = await js.subscribe("p.a", durable="pd", cb=cb, stream="P")

    async def all_acked() -> bool:
        ci = await info(nc, "P", "pd")
        return bool(ci["ack_floor"]["stream_seq"] == 3 and ci["num_ack_pending"] == 0)

    await wait_for(all_acked, "auto-acks of all three messages")
    assert [m.data for m in got] == [b"m1", b"m2", b"m3"]
    ci = await info(nc, "P", "pd")
    cfg = ci["config"]
    assert ci["push_bound"] is True and cfg["durable_name"] == "pd"
    assert cfg["deliver_subject"].startswith("_INBOX.") and "max_waiting" not in cfg
    assert cfg["ack_policy"] == "explicit" and cfg["max_ack_pending"] == 1000
    # a second plain subscriber is refused because the consumer is bound
    with pytest.raises(nats.js.errors.Error):
        await js.subscribe("p.a", durable="pd", stream="P")
    await sub.unsubscribe()

    async def unbound() -> bool:
        return "push_bound" not in await info(nc, "P", "pd")

    await wait_for(unbound, "push_bound to clear after unsubscribe")
    # new messages wait for the next subscriber, which resumes where the first stopped
    await js.publish("p.a", b"m4")
    sub2 = await js.subscribe("p.a", durable="pd", stream="P")
    msg = await sub2.next_msg(timeout=T)
    assert msg.data == b"m4" and msg.metadata.sequence.consumer == 4
    await nc.close()


async def test_push_queue_group_shares_messages(js_url: str) -> None:
    nc1, js1 = await connect(js_url)
    nc2, js2 = await connect(js_url)
    await js1.add_stream(name="Q", subjects=["q.*"])
    got: dict[str, list[int]] = {"a": [], "b": []}

    def make_cb(key: str) -> Callable[[Msg], Awaitable[None]]:
        async def cb(msg: Msg) -> None:
            got[key].append(msg.metadata.sequence.stream)

        return cb

    await js1.subscribe("q.job", queue="workers", cb=make_cb("a"), stream="Q")
    await js2.subscribe("q.job", queue="workers", cb=make_cb("b"), stream="Q")
    await publish_n(js1, "q.job", 30)

    async def all_seen() -> bool:
        return len(got["a"]) + len(got["b"]) >= 30

    await wait_for(all_seen, "30 deliveries")
    assert sorted(got["a"] + got["b"]) == list(range(1, 31))
    assert got["a"] and got["b"], "both queue members receive messages"
    ci = await info(nc1, "Q", "workers")
    assert ci["config"]["deliver_group"] == "workers" and ci["config"]["durable_name"] == "workers"
    assert ci["push_bound"] is True
    await nc1.close()
    await nc2.close()


async def test_push_idle_heartbeat_format(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="IH", subjects=["ih"])
    await publish_n(js, "ih", 3)
    async with Inbox(nc) as inbox:
        await create(
            nc,
            "IH",
            {
                "durable_name": "C",
                "deliver_subject": inbox.subject,
                "deliver_policy": "new",
                "idle_heartbeat": 150_000_000,
            },
        )
        hb = await inbox.next()
        assert status(hb) == ("100", "Idle Heartbeat") and hb.data == b"" and not hb.reply
        # deliver new: nothing delivered yet, the stream position is the last sequence
        assert hb.headers["Nats-Last-Consumer"] == "0" and hb.headers["Nats-Last-Stream"] == "3"
        await js.publish("ih", b"m4")
        data = [m for m in await inbox.collect(until_status=False, timeout=1.0) if status(m) is None]
        assert [m.data for m in data] == [b"m4"]
        assert ack_fields(data[0].reply)["cseq"] == 1 and ack_fields(data[0].reply)["sseq"] == 4
        hb = await inbox.next()
        assert status(hb) == ("100", "Idle Heartbeat")
        assert hb.headers["Nats-Last-Consumer"] == "1" and hb.headers["Nats-Last-Stream"] == "4"
    await nc.close()


async def test_push_flow_control_raw(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="BIG", subjects=["big"])
    total = 60
    for _ in range(total):
        await js.publish("big", b"z" * 100_000)
    async with Inbox(nc) as inbox:
        await create(
            nc,
            "BIG",
            {
                "durable_name": "F",
                "deliver_subject": inbox.subject,
                "flow_control": True,
                "idle_heartbeat": 250_000_000,
            },
        )
        FC, HB = ("100", "FlowControl Request"), ("100", "Idle Heartbeat")

        async def data_until(want: tuple[str, str]) -> tuple[int, Msg]:
            """Data messages before the next status ``want`` (and that status message)."""
            n = 0
            while True:
                m = await inbox.next()
                if status(m) is None:
                    n += 1
                elif status(m) == want:
                    return n, m

        data, fc = await data_until(FC)
        assert fc.data == b"" and FC_RE.fullmatch(fc.reply), fc.reply
        assert FC_RE.fullmatch(fc.reply).groups() == ("BIG", "F")  # type: ignore[union-attr]
        # the first window is 2 MiB: the request goes out past half of it (1 MiB) ...
        assert data == 11
        # ... and unanswered, delivery stalls once the window is full; the heartbeats say
        # on which request
        n, m = await data_until(HB)
        data += n
        assert data == 21
        assert m.headers["Nats-Consumer-Stalled"] == fc.reply
        assert m.headers["Nats-Last-Consumer"] == str(data) and m.headers["Nats-Last-Stream"] == str(data)
        # an answer releases what was delivered before its request and doubles the window
        await nc.publish(fc.reply, b"")
        n, fc = await data_until(FC)
        data += n
        assert data == 32
        n, m = await data_until(HB)
        data += n
        assert data == 53 and m.headers["Nats-Consumer-Stalled"] == fc.reply
        # answering every request lets everything through
        await nc.publish(fc.reply, b"")
        while data < total:
            m = await inbox.next()
            if status(m) is None:
                data += 1
            elif status(m) == ("100", "FlowControl Request"):
                await nc.publish(m.reply, b"")
        while True:
            m = await inbox.next()
            if status(m) == ("100", "Idle Heartbeat"):
                break
            if status(m) == ("100", "FlowControl Request"):
                await nc.publish(m.reply, b"")
        assert m.headers["Nats-Last-Consumer"] == str(total)
        assert "Nats-Consumer-Stalled" not in m.headers
    await nc.close()


async def test_push_flow_control_through_client(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="FCC", subjects=["fcc"])
    for _ in range(40):
        await js.publish("fcc", b"q" * 100_000)
    sub = await js.subscribe("fcc", stream="FCC", flow_control=True, idle_heartbeat=0.5)
    got = [await sub.next_msg(timeout=T) for _ in range(40)]
    assert seqs(got) == list(range(1, 41))
    ci = await sub.consumer_info()
    assert ci.config.flow_control is True and ci.config.idle_heartbeat == 0.5
    await nc.close()


async def test_push_async_iteration(js_url: str) -> None:
    """The Messages() pattern: iterate a subscription."""
    nc, js = await connect(js_url)
    await js.add_stream(name="IT", subjects=["it.*"])
    sub = await js.subscribe("it.>", stream="IT", manual_ack=True)
    await publish_n(js, "it.x", 3)
    out: list[bytes] = []

    async def consume() -> None:
        async for msg in sub.messages:
            out.append(msg.data)
            await msg.ack()
            if len(out) == 3:
                return

    await asyncio.wait_for(consume(), T)
    assert out == [b"m1", b"m2", b"m3"]
    ci = await sub.consumer_info()
    assert ci.config.filter_subject == "it.>" and ci.config.durable_name is None

    async def acked() -> bool:
        return (await info(nc, "IT", ci.name))["ack_floor"]["stream_seq"] == 3

    await wait_for(acked, "the acks")
    await nc.close()


async def test_push_ephemeral_without_interest_is_removed(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="EP", subjects=["ep"])
    r = await create(nc, "EP", {"deliver_subject": "nobody.here", "inactive_threshold": 200_000_000})
    name = r["name"]
    assert r["config"]["inactive_threshold"] == 200_000_000

    async def gone() -> bool:
        resp = await api(nc, f"$JS.API.CONSUMER.INFO.EP.{name}")
        return "error" in resp and resp["error"]["err_code"] == 10014

    await wait_for(gone, "the unwatched ephemeral push consumer to go", timeout=2.0)
    await nc.close()


# ---------------------------------------------------------------------------------------------
# ordered consumers
# ---------------------------------------------------------------------------------------------


async def test_ordered_consumer(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="O", subjects=["o.*"])
    for i in range(1, 6):
        await js.publish(f"o.{'a' if i % 2 else 'b'}", f"m{i}".encode())
    sub = await js.subscribe("o.a", stream="O", ordered_consumer=True, idle_heartbeat=0.5)
    got = [await sub.next_msg(timeout=T) for _ in range(3)]
    assert [m.data for m in got] == [b"m1", b"m3", b"m5"]
    assert [m.metadata.sequence.consumer for m in got] == [1, 2, 3]
    ci = await info(nc, "O", sub._consumer)
    cfg = ci["config"]
    assert (cfg["ack_policy"], cfg["max_deliver"], cfg["flow_control"], cfg["mem_storage"]) == (
        "none",
        1,
        True,
        True,
    )
    assert cfg["ack_wait"] == 22 * 3600 * 1_000_000_000 and cfg["idle_heartbeat"] == 500_000_000
    assert cfg["num_replicas"] == 1 and cfg["inactive_threshold"] == 5_000_000_000
    assert "durable_name" not in cfg and cfg["filter_subject"] == "o.a"
    # ack none: the floor follows the deliveries
    assert ci["ack_floor"]["stream_seq"] == 5 and ci["num_ack_pending"] == 0
    await nc.close()


async def test_ordered_consumer_recovers_after_a_gap(js_url: str) -> None:
    """The server-side consumer vanishes; the client notices the missing heartbeats and
    creates a new one starting after the last stream sequence it saw."""
    nc, js = await connect(js_url)
    await js.add_stream(name="OG", subjects=["og"])
    await publish_n(js, "og", 3)
    sub = await js.subscribe("og", stream="OG", ordered_consumer=True, idle_heartbeat=0.3)
    first = [await sub.next_msg(timeout=T) for _ in range(3)]
    assert [m.data for m in first] == [b"m1", b"m2", b"m3"]
    old = sub._consumer
    r = await api(nc, f"$JS.API.CONSUMER.DELETE.OG.{old}")
    assert r["success"] is True
    for i in range(4, 7):
        await js.publish("og", f"m{i}".encode())
    rest = [await sub.next_msg(timeout=T) for _ in range(3)]
    assert [m.data for m in rest] == [b"m4", b"m5", b"m6"]
    new = sub._consumer
    # The reference deletes asynchronously: under load the old consumer can still deliver
    # m4..m6 before it goes, and then there is no gap to recover from.
    if new != old:
        assert [m.metadata.sequence.consumer for m in rest] == [1, 2, 3]
        cfg = (await info(nc, "OG", new))["config"]
        assert cfg["deliver_policy"] == "by_start_sequence" and cfg["opt_start_seq"] == 4
    await nc.close()


# ---------------------------------------------------------------------------------------------
# deliver policies
# ---------------------------------------------------------------------------------------------

POLICIES: dict[str, tuple[dict[str, Any], int, int, list[int]]] = {
    # config, num_pending at creation, delivered.stream_seq at creation, delivered stream seqs
    "all": ({}, 4, 0, [1, 2, 3, 4, 5]),
    "last": ({"deliver_policy": "last"}, 1, 3, [4, 5]),
    "last_per_subject": ({"deliver_policy": "last_per_subject", "filter_subject": "dp.*"}, 2, 2, [3, 4, 5]),
    "new": ({"deliver_policy": "new"}, 0, 4, [5]),
    "by_start_sequence": ({"deliver_policy": "by_start_sequence", "opt_start_seq": 3}, 2, 2, [3, 4, 5]),
    "by_start_sequence_past_end": ({"deliver_policy": "by_start_sequence", "opt_start_seq": 9}, 0, 8, []),
    "filtered_last": ({"deliver_policy": "last", "filter_subject": "dp.a"}, 1, 2, [3, 5]),
}


@pytest.mark.parametrize("policy", sorted(POLICIES))
async def test_deliver_policies(js_url: str, policy: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="DP", subjects=["dp.*"])
    for subject in ("dp.a", "dp.b", "dp.a", "dp.b"):
        await js.publish(subject, subject.encode())
    config, pending, start, expected = POLICIES[policy]
    r = await create(nc, "DP", {"durable_name": "C", "ack_policy": "explicit", **config})
    assert r["num_pending"] == pending
    assert r["delivered"] == {"consumer_seq": 0, "stream_seq": start}
    assert r["ack_floor"] == {"consumer_seq": 0, "stream_seq": start}
    await js.publish("dp.a", b"after")
    await settle(nc, "DP", "C", len(expected))
    msgs, _ = await pull(nc, "DP", "C", {"batch": 10, "no_wait": True})
    assert seqs(msgs) == expected
    assert [m.metadata.sequence.consumer for m in msgs] == list(range(1, len(expected) + 1))
    ci = await info(nc, "DP", "C")
    assert ci["num_pending"] == 0 and ci["num_ack_pending"] == len(expected)
    await nc.close()


async def test_deliver_by_start_time(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="ST", subjects=["st"])
    await publish_n(js, "st", 3)
    second = (await api(nc, "$JS.API.STREAM.MSG.GET.ST", {"seq": 2}))["message"]["time"]
    r = await create(
        nc, "ST", {"durable_name": "C", "deliver_policy": "by_start_time", "opt_start_time": second}
    )
    assert r["config"]["opt_start_time"] == second and r["num_pending"] == 2
    assert r["delivered"]["stream_seq"] == 1
    msgs, _ = await pull(nc, "ST", "C", {"batch": 10, "no_wait": True})
    assert seqs(msgs) == [2, 3]
    future = rfc3339(datetime.now(UTC) + timedelta(days=1))
    r = await create(
        nc, "ST", {"durable_name": "F", "deliver_policy": "by_start_time", "opt_start_time": future}
    )
    assert r["num_pending"] == 0 and r["delivered"]["stream_seq"] == 3
    await js.publish("st", b"m4")
    await settle(nc, "ST", "F", 1)
    msgs, _ = await pull(nc, "ST", "F", {"batch": 10, "no_wait": True})
    assert seqs(msgs) == [4]
    await nc.close()


async def test_last_per_subject_with_filter_subjects(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="KV", subjects=["kv.>"])
    for subject, value in [("kv.a", 1), ("kv.b", 2), ("kv.c", 3), ("kv.a", 4), ("kv.b", 5), ("kv.a", 6)]:
        await js.publish(subject, str(value).encode())
    r = await create(
        nc,
        "KV",
        {"durable_name": "C", "deliver_policy": "last_per_subject", "filter_subjects": ["kv.a", "kv.c"]},
    )
    assert r["num_pending"] == 2
    msgs, _ = await pull(nc, "KV", "C", {"batch": 10, "no_wait": True})
    assert [(m.subject, m.data) for m in msgs] == [("kv.c", b"3"), ("kv.a", b"6")]
    await nc.close()


# ---------------------------------------------------------------------------------------------
# acknowledgements
# ---------------------------------------------------------------------------------------------


async def test_redelivery_after_ack_wait(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="RD", subjects=["rd"])
    await js.publish("rd", b"x")
    await create(nc, "RD", {"durable_name": "C", "ack_policy": "explicit", "ack_wait": 500_000_000})
    start = time.monotonic()
    msgs, _ = await pull(nc, "RD", "C", {"batch": 1, "no_wait": True})
    assert ack_fields(msgs[0].reply)["delivered"] == 1
    msgs, _ = await pull(nc, "RD", "C", {"batch": 1, "expires": 2_000_000_000}, count=1)
    assert time.monotonic() - start >= 0.45
    f = ack_fields(msgs[0].reply)
    assert (f["delivered"], f["sseq"], f["cseq"], f["pending"]) == (2, 1, 2, 0)
    assert msgs[0].metadata.num_delivered == 2
    ci = await info(nc, "RD", "C")
    assert ci["delivered"]["consumer_seq"] == 2 and ci["delivered"]["stream_seq"] == 1
    assert ci["num_redelivered"] == 1 and ci["num_ack_pending"] == 1
    await msgs[0].ack_sync()
    ci = await info(nc, "RD", "C")
    assert ci["ack_floor"] == {
        "consumer_seq": 2,
        "stream_seq": 1,
        "last_active": ci["ack_floor"]["last_active"],
    }
    assert ci["num_ack_pending"] == 0 and ci["num_redelivered"] == 0
    await nc.close()


async def test_ack_all_acknowledges_everything_below(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="AA", subjects=["aa"])
    await publish_n(js, "aa", 5)
    r = await create(nc, "AA", {"durable_name": "C", "ack_policy": "all"})
    assert r["config"]["ack_wait"] == 30_000_000_000 and r["config"]["max_ack_pending"] == 1000
    msgs, _ = await pull(nc, "AA", "C", {"batch": 5, "no_wait": True})
    await msgs[2].ack_sync()
    ci = await info(nc, "AA", "C")
    assert (ci["ack_floor"]["consumer_seq"], ci["ack_floor"]["stream_seq"]) == (3, 3)
    assert ci["num_ack_pending"] == 2
    await msgs[4].ack_sync()
    ci = await info(nc, "AA", "C")
    assert ci["ack_floor"]["stream_seq"] == 5 and ci["num_ack_pending"] == 0
    await nc.close()


async def test_acks_reach_the_consumer_and_other_subscribers_alike(js_url: str) -> None:
    """An ack is an ordinary message: a subscriber overlapping the consumer's ack subjects
    receives it too, and the consumer records it with or without such a subscriber."""
    nc, js = await connect(js_url)
    await js.add_stream(name="AK", subjects=["ak.*"])
    await publish_n(js, "ak.x", 6)
    await create(nc, "AK", {"durable_name": "C", "ack_policy": "explicit"})
    msgs, _ = await pull(nc, "AK", "C", {"batch": 6, "no_wait": True})
    assert seqs(msgs) == [1, 2, 3, 4, 5, 6]
    await msgs[0].ack_sync()  # nobody else listening
    seen: list[str] = []
    got_two = asyncio.Event()

    async def snoop(msg: Msg) -> None:
        seen.append(msg.subject)
        if len(seen) == 2:
            got_two.set()

    snooper = await nc.subscribe("$JS.ACK.AK.*.>", cb=snoop)
    await nc.flush()
    await msgs[1].ack_sync()
    await msgs[2].ack_sync()
    await asyncio.wait_for(got_two.wait(), T)
    assert seen == [msgs[1].reply, msgs[2].reply]
    await snooper.unsubscribe()
    await nc.flush()
    await msgs[3].ack_sync()
    ci = await info(nc, "AK", "C")
    assert ci["ack_floor"]["stream_seq"] == 4 and ci["num_ack_pending"] == 2
    assert seen == [msgs[1].reply, msgs[2].reply]
    await nc.close()


async def test_batched_delivery_metadata_with_headers_and_mixed_subjects(js_url: str) -> None:
    """A large pull batch over messages with and without headers on several subjects: every
    frame has its own subject, headers, consumer sequence and pending count."""
    nc, js = await connect(js_url)
    await js.add_stream(name="BM", subjects=["bm.*"])
    for i in range(1, 41):
        await js.publish(f"bm.{i % 3}", b"p%d" % i, headers={"K": str(i)} if i % 2 else None)
    await create(nc, "BM", {"durable_name": "C", "ack_policy": "explicit"})
    msgs, _ = await pull(nc, "BM", "C", {"batch": 40, "expires": 2_000_000_000})
    assert len(msgs) == 40
    for i, m in enumerate(msgs, 1):
        assert m.subject == f"bm.{i % 3}" and m.data == b"p%d" % i
        assert (m.headers or {}).get("K") == (str(i) if i % 2 else None)
        f = ack_fields(m.reply)
        assert (f["sseq"], f["cseq"], f["delivered"], f["pending"]) == (i, i, 1, 40 - i)
    ci = await info(nc, "BM", "C")
    assert ci["num_ack_pending"] == 40 and ci["num_pending"] == 0 and ci["delivered"]["stream_seq"] == 40
    await nc.close()


async def _arrivals(nc: Any, subject: str, n: int) -> tuple[list[float], list[Msg], asyncio.Event, Any]:
    """Subscribe on ``subject`` and note when each of the first ``n`` data messages came."""
    times: list[float] = []
    msgs: list[Msg] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def on_msg(msg: Msg) -> None:
        if status(msg) is None and len(msgs) < n:
            times.append(loop.time())
            msgs.append(msg)
            if len(msgs) == n:
                done.set()

    sub = await nc.subscribe(subject, cb=on_msg)
    return times, msgs, done, sub


@pytest.mark.parametrize("mode", ["push", "pull"])
async def test_replay_original_keeps_the_stored_spacing(js_url: str, mode: str) -> None:
    """Each message waits after the previous delivery as long as it was stored after it (a
    lower bound only: a slow machine can only stretch the gaps)."""
    nc, js = await connect(js_url)
    await js.add_stream(name="RP", subjects=["rp"])
    for i in range(3):
        if i:
            await asyncio.sleep(0.4)  # the scenario: messages stored 0.4 s apart
        await js.publish("rp", b"r%d" % i)
    inbox = nc.new_inbox()
    times, msgs, done, sub = await _arrivals(nc, inbox, 3)
    config: dict[str, Any] = {"durable_name": "R", "replay_policy": "original"}
    if mode == "push":
        config["deliver_subject"] = inbox
    await create(nc, "RP", config)
    if mode == "pull":
        body = json.dumps({"batch": 3, "expires": 5_000_000_000}).encode()
        await nc.publish("$JS.API.CONSUMER.MSG.NEXT.RP.R", body, reply=inbox)
    await asyncio.wait_for(done.wait(), 5 * T)
    stored = [ack_fields(m.reply)["ts"] / 1e9 for m in msgs]
    assert [m.data for m in msgs] == [b"r0", b"r1", b"r2"]
    for i in (1, 2):
        assert times[i] - times[i - 1] >= (stored[i] - stored[i - 1]) * 0.9
    await sub.unsubscribe()
    await nc.close()


async def test_rate_limit_spaces_push_deliveries(js_url: str) -> None:
    """rate_limit_bps: after a burst of max_msg_size bytes, bytes (subject + ack reply +
    payload) flow at bps/8 per second (a lower bound on the time taken)."""
    nc, js = await connect(js_url)
    await js.add_stream(name="RL", subjects=["rl"], max_msg_size=1000)
    for _ in range(20):
        await js.publish("rl", b"x" * 500)
    inbox = nc.new_inbox()
    times, msgs, done, sub = await _arrivals(nc, inbox, 20)
    await create(nc, "RL", {"durable_name": "L", "deliver_subject": inbox, "rate_limit_bps": 64_000})
    await asyncio.wait_for(done.wait(), 5 * T)
    sizes = sum(len(m.subject) + len(m.reply) + len(m.data) for m in msgs)
    assert times[-1] - times[0] >= (sizes - 2 * 1000) / 8000 * 0.9
    ci = await info(nc, "RL", "L")
    assert ci["config"]["rate_limit_bps"] == 64_000 and ci["delivered"]["stream_seq"] == 20
    await sub.unsubscribe()
    await nc.close()


async def test_filter_update_changes_what_is_delivered(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="FU", subjects=["fu.*"])
    for subj in ("fu.a", "fu.b", "fu.a", "fu.b"):
        await js.publish(subj, subj.encode())
    await create(nc, "FU", {"durable_name": "D", "ack_policy": "explicit", "filter_subject": "fu.a"})
    r = await create(nc, "FU", {"durable_name": "D", "ack_policy": "explicit", "filter_subject": "fu.b"})
    assert r["config"]["filter_subject"] == "fu.b" and r["num_pending"] == 2
    msgs, _ = await pull(nc, "FU", "D", {"batch": 10, "no_wait": True})
    assert [(m.subject, m.metadata.sequence.stream) for m in msgs] == [("fu.b", 2), ("fu.b", 4)]
    await nc.close()


async def test_pause_until_in_the_create_config_pauses(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="PC", subjects=["pc"])
    await js.publish("pc", b"x")
    until = rfc3339(datetime.now(UTC) + timedelta(hours=1))
    r = await create(nc, "PC", {"durable_name": "P", "ack_policy": "explicit", "pause_until": until})
    assert r["paused"] is True and r["pause_remaining"] > 3_000_000_000_000
    msgs, statuses = await pull(nc, "PC", "P", {"batch": 1, "no_wait": True})
    assert msgs == [] and status(statuses[0]) == ("404", "No Messages")
    # an update leaves the pause as it is (pause_until is not taken from updates) ...
    r = await create(nc, "PC", {"durable_name": "P", "ack_policy": "explicit"})
    assert r["paused"] is True and rfc3339_ns(r["config"]["pause_until"]) == rfc3339_ns(until)
    # ... CONSUMER.PAUSE without a time resumes
    r = await api(nc, "$JS.API.CONSUMER.PAUSE.PC.P")
    assert r["paused"] is False
    msgs, _ = await pull(nc, "PC", "P", {"batch": 1, "no_wait": True})
    assert [m.data for m in msgs] == [b"x"]
    await nc.close()


async def test_last_per_subject_start_set_survives_a_refused_delivery(
    js_url: str, request: pytest.FixtureRequest
) -> None:
    """A last-per-subject message turned away by max_bytes stays in the start set: later
    requests get exactly the last values, in order, with pending counting down to 0.

    A deliberate difference: the reference (2.15.1) drops the refused message from its start
    set, so ``a2`` is never delivered and the pending count stays one too high."""
    nc, js = await connect(js_url)
    await js.add_stream(name="LP", subjects=["lp.*"])
    for subj, data in (("lp.a", b"a1"), ("lp.b", b"b1"), ("lp.a", b"a2"), ("lp.b", b"b2")):
        await js.publish(subj, data)
    config = {"durable_name": "C", "ack_policy": "explicit", "deliver_policy": "last_per_subject"}
    await create(nc, "LP", {**config, "filter_subject": "lp.*"})
    msgs, st = await pull(nc, "LP", "C", {"batch": 1, "max_bytes": 10}, count=0)
    assert msgs == [] and status(st[0]) == ("409", "Message Size Exceeds MaxBytes")
    msgs, st = await pull(nc, "LP", "C", {"batch": 5, "no_wait": True})
    got = [(m.data, ack_fields(m.reply)["pending"]) for m in msgs]
    if request.node.callspec.params["js_url"] == "reference":
        assert got == [(b"b2", 1)]
    else:
        assert got == [(b"a2", 1), (b"b2", 0)]
    assert [status(m) for m in st] == [("404", "No Messages")]
    await nc.close()


async def test_ack_none(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="AN", subjects=["an"])
    await publish_n(js, "an", 3)
    r = await create(nc, "AN", {"durable_name": "C", "ack_policy": "none"})
    cfg = r["config"]
    assert "ack_wait" not in cfg and "max_ack_pending" not in cfg
    msgs, _ = await pull(nc, "AN", "C", {"batch": 2, "no_wait": True})
    assert ACK_RE.fullmatch(msgs[0].reply), "ack none still carries an ack reply subject"
    ci = await info(nc, "AN", "C")
    assert ci["delivered"]["stream_seq"] == 2 and ci["ack_floor"] == {"consumer_seq": 2, "stream_seq": 2}
    assert ci["num_ack_pending"] == 0 and ci["num_pending"] == 1
    await nc.close()


async def test_nak_and_nak_with_delay(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="NK", subjects=["nk"])
    await js.publish("nk", b"x")
    await create(nc, "NK", {"durable_name": "C", "ack_policy": "explicit", "ack_wait": 10_000_000_000})
    async with Inbox(nc, f"{ADVISORY}.CONSUMER.MSG_NAKED.NK.C") as naked:
        msgs, _ = await pull(nc, "NK", "C", {"batch": 1, "no_wait": True})
        await msgs[0].nak()
        adv = json.loads((await naked.next()).data)
        assert adv["type"] == "io.nats.jetstream.advisory.v1.nak"
        assert (
            adv["stream"],
            adv["consumer"],
            adv["consumer_seq"],
            adv["stream_seq"],
            adv["deliveries"],
        ) == (
            "NK",
            "C",
            1,
            1,
            1,
        )
    msgs, _ = await pull(nc, "NK", "C", {"batch": 1, "no_wait": True})
    assert [m.metadata.num_delivered for m in msgs] == [2]
    start = time.monotonic()
    await msgs[0].nak(delay=0.6)
    early, st = await pull(nc, "NK", "C", {"batch": 1, "expires": 300_000_000})
    assert early == [] and status(st[0])[0] == "408"  # type: ignore[index]
    later, _ = await pull(nc, "NK", "C", {"batch": 1, "expires": 2_000_000_000}, count=1)
    assert time.monotonic() - start >= 0.55
    assert later[0].metadata.num_delivered == 3 and later[0].metadata.sequence.consumer == 3
    await nc.close()


async def test_in_progress_extends_ack_wait(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="WP", subjects=["wp"])
    await js.publish("wp", b"x")
    await create(nc, "WP", {"durable_name": "C", "ack_policy": "explicit", "ack_wait": 600_000_000})
    msgs, _ = await pull(nc, "WP", "C", {"batch": 1, "no_wait": True})
    start = time.monotonic()
    async with Inbox(nc) as inbox:
        await nc.publish(
            "$JS.API.CONSUMER.MSG.NEXT.WP.C", b'{"batch":1,"expires":2500000000}', reply=inbox.subject
        )
        await asyncio.sleep(0.4)  # pacing the progress reports, not waiting for an outcome
        await msgs[0].in_progress()
        await asyncio.sleep(0.4)
        await msgs[0].in_progress()
        redelivered = await inbox.next(timeout=2.5)
    elapsed = time.monotonic() - start
    assert status(redelivered) is None and redelivered.metadata.num_delivered == 2
    assert elapsed >= 1.3, f"redelivered {elapsed:.2f}s after the first delivery despite +WPI"
    await nc.close()


async def test_term_stops_redelivery_and_advises(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="TM", subjects=["tm"])
    await publish_n(js, "tm", 2)
    await create(nc, "TM", {"durable_name": "C", "ack_policy": "explicit", "ack_wait": 300_000_000})
    async with Inbox(nc, f"{ADVISORY}.CONSUMER.MSG_TERMINATED.TM.C") as adv:
        msgs, _ = await pull(nc, "TM", "C", {"batch": 2, "no_wait": True})
        await msgs[0].term()
        await nc.publish(msgs[1].reply, b"+TERM poison pill")
        first, second = json.loads((await adv.next()).data), json.loads((await adv.next()).data)
    assert set(first) == {
        "type",
        "id",
        "timestamp",
        "stream",
        "consumer",
        "consumer_seq",
        "stream_seq",
        "deliveries",
    }
    assert first["type"] == "io.nats.jetstream.advisory.v1.terminated"
    assert (first["stream"], first["consumer"], first["stream_seq"], first["deliveries"]) == ("TM", "C", 1, 1)
    assert second["reason"] == "poison pill" and second["stream_seq"] == 2
    msgs, st = await pull(nc, "TM", "C", {"batch": 2, "expires": 700_000_000})
    assert msgs == [] and status(st[0])[0] == "408"  # type: ignore[index]
    ci = await info(nc, "TM", "C")
    assert ci["num_ack_pending"] == 0 and ci["ack_floor"]["stream_seq"] == 2
    await nc.close()


async def test_ack_sync_reply_is_empty(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="AS", subjects=["as"])
    await publish_n(js, "as", 4)
    await create(nc, "AS", {"durable_name": "C", "ack_policy": "explicit"})
    msgs, _ = await pull(nc, "AS", "C", {"batch": 4, "no_wait": True})
    for m, body in zip(msgs, (b"+ACK", b"", b"-NAK", b"+WPI"), strict=True):
        r = await nc.request(m.reply, body, timeout=T)
        assert r.data == b"" and not r.headers, body
    again = await msgs[0].ack_sync()
    assert again.data == b"", "acking an acked message still replies"
    ci = await info(nc, "AS", "C")
    assert ci["ack_floor"]["stream_seq"] == 2 and ci["num_ack_pending"] == 2
    await nc.close()


async def test_backoff_schedule(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="BO", subjects=["bo"])
    await js.publish("bo", b"x")
    r = await create(
        nc,
        "BO",
        {
            "durable_name": "C",
            "ack_policy": "explicit",
            "backoff": [200_000_000, 500_000_000],
            "max_deliver": 3,
        },
    )
    assert r["config"]["ack_wait"] == 200_000_000, "the first backoff replaces ack_wait"
    async with Inbox(nc) as inbox:
        await nc.publish(
            "$JS.API.CONSUMER.MSG.NEXT.BO.C", b'{"batch":3,"expires":2500000000}', reply=inbox.subject
        )
        times = []
        for _ in range(3):
            m = await inbox.next(timeout=2.5)
            assert status(m) is None
            times.append(time.monotonic())
            assert m.metadata.num_delivered == len(times)
    assert 0.15 <= times[1] - times[0] < 0.45
    assert 0.45 <= times[2] - times[1] < 0.9, "the second redelivery waits for the second backoff"
    await nc.close()


async def test_backoff_redelivers_to_pull_requests_at_max_ack_pending(js_url: str) -> None:
    """Redeliveries go out even when max_ack_pending is reached: they add nothing to the
    pending set (issue 10, difference 1, as nats-py users met it)."""
    nc, js = await connect(js_url)
    await js.add_stream(name="EVB", subjects=["events.>"])
    for i in range(3):
        await js.publish(f"events.{i}", b"x")
    await create(
        nc,
        "EVB",
        {
            "durable_name": "C",
            "ack_policy": "explicit",
            "ack_wait": 60_000_000_000,
            "backoff": [1_000_000_000, 2_000_000_000],
            "max_deliver": 3,
            "max_waiting": 1,
            "max_ack_pending": 3,
            "filter_subject": "events.>",
        },
    )
    sub = await js.pull_subscribe_bind("C", stream="EVB")
    got: list[tuple[str, int]] = []
    while True:  # never acking, until a fetch gets nothing
        try:
            msgs = await sub.fetch(1, timeout=5)
        except nats.errors.TimeoutError:
            break
        got += [(m.subject, m.metadata.num_delivered) for m in msgs]
    assert got == [(f"events.{i}", n) for n in (1, 2, 3) for i in range(3)]
    ci = await info(nc, "EVB", "C")
    assert (ci["num_pending"], ci["num_ack_pending"]) == (0, 0)
    await nc.close()


async def test_pull_request_without_a_requester_is_not_filled(js_url: str) -> None:
    """A request whose reply subject lost its interest is dropped, not filled: the message
    stays for the next request (issue 10, difference 2)."""
    nc, js = await connect(js_url)
    await js.add_stream(name="GONE", subjects=["gone.>"])
    sub = await js.pull_subscribe("gone.>", durable="P", stream="GONE")
    await js.publish("gone.1", b"a")
    first = await sub.fetch(1, timeout=T)
    await first[0].ack_sync()
    await js.publish("gone.2", b"b")
    assert (await info(nc, "GONE", "P"))["num_pending"] == 1
    # a request from a subject nobody listens on (a client that unsubscribed its inbox)
    await nc.publish(
        "$JS.API.CONSUMER.MSG.NEXT.GONE.P", b'{"batch":1,"expires":5000000000}', reply="gone-inbox"
    )
    ci = await info(nc, "GONE", "P")  # answered after the request was handled
    assert (ci["num_pending"], ci["num_waiting"], ci["num_ack_pending"]) == (1, 0, 0)
    again = await sub.fetch(1, timeout=T)
    assert [(m.subject, m.data) for m in again] == [("gone.2", b"b")]
    await nc.close()


async def test_max_deliver_advisory(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="MD", subjects=["md"])
    await js.publish("md", b"x")
    await create(
        nc, "MD", {"durable_name": "C", "ack_policy": "explicit", "ack_wait": 300_000_000, "max_deliver": 2}
    )
    async with Inbox(nc, f"{ADVISORY}.CONSUMER.MAX_DELIVERIES.MD.C") as adv:
        msgs, _ = await pull(nc, "MD", "C", {"batch": 3, "expires": 1_200_000_000}, count=2, timeout=1.5)
        assert [m.metadata.num_delivered for m in msgs] == [1, 2]
        payload = json.loads((await adv.next()).data)
    assert set(payload) == {"type", "id", "timestamp", "stream", "consumer", "stream_seq", "deliveries"}
    assert payload["type"] == "io.nats.jetstream.advisory.v1.max_deliver"
    assert (payload["stream"], payload["consumer"], payload["stream_seq"], payload["deliveries"]) == (
        "MD",
        "C",
        1,
        2,
    )
    assert len(payload["id"]) == 22 and payload["timestamp"].endswith("Z")
    msgs, st = await pull(nc, "MD", "C", {"batch": 1, "expires": 500_000_000})
    assert msgs == [] and status(st[0])[0] == "408", "no delivery beyond max_deliver"  # type: ignore[index]
    # the exhausted message leaves the pending set, but the ack floor does not move past it
    ci = await info(nc, "MD", "C")
    assert (ci["delivered"]["consumer_seq"], ci["delivered"]["stream_seq"]) == (2, 1)
    assert ci["ack_floor"] == {"consumer_seq": 0, "stream_seq": 0}
    assert (ci["num_ack_pending"], ci["num_redelivered"], ci["num_pending"]) == (0, 1, 0)
    await nc.close()


async def test_stream_and_consumer_action_advisories(js_url: str) -> None:
    nc, js = await connect(js_url)
    async with Inbox(nc, f"{ADVISORY}.>") as adv:
        await js.add_stream(name="ADV", subjects=["adv"])
        await create(nc, "ADV", {"durable_name": "C"})
        await api(nc, "$JS.API.CONSUMER.DELETE.ADV.C")
        await js.delete_stream("ADV")
        wanted = {
            "$JS.EVENT.ADVISORY.STREAM.CREATED.ADV",
            "$JS.EVENT.ADVISORY.CONSUMER.CREATED.ADV.C",
            "$JS.EVENT.ADVISORY.CONSUMER.DELETED.ADV.C",
            "$JS.EVENT.ADVISORY.STREAM.DELETED.ADV",
        }
        seen: dict[str, dict[str, Any]] = {}
        while set(seen) != wanted:
            m = await adv.next()
            if m.subject in wanted:
                seen[m.subject] = json.loads(m.data)
    for subject, payload in seen.items():
        kind = "consumer" if ".CONSUMER." in subject else "stream"
        keys = {"type", "id", "timestamp", "stream", "action"} | (
            {"consumer"} if kind == "consumer" else set()
        )
        assert set(payload) == keys, payload
        assert payload["type"] == f"io.nats.jetstream.advisory.v1.{kind}_action"
        assert payload["action"] == ("create" if ".CREATED." in subject else "delete")
        assert payload["stream"] == "ADV" and payload.get("consumer", "C") == "C"
    await nc.close()


# ---------------------------------------------------------------------------------------------
# flow limits, retention, info, pause, lifetimes
# ---------------------------------------------------------------------------------------------


async def test_max_ack_pending_holds_delivery_until_acks(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="MAP", subjects=["map"])
    await publish_n(js, "map", 5)
    await create(nc, "MAP", {"durable_name": "C", "ack_policy": "explicit", "max_ack_pending": 2})
    msgs, st = await pull(nc, "MAP", "C", {"batch": 5, "expires": 400_000_000})
    assert seqs(msgs) == [1, 2]
    assert [status(m) for m in st] == [("408", "Request Timeout")]
    assert st[0].headers["Nats-Pending-Messages"] == "3"
    ci = await info(nc, "MAP", "C")
    assert ci["num_ack_pending"] == 2 and ci["num_pending"] == 3
    await msgs[0].ack_sync()
    more, _ = await pull(nc, "MAP", "C", {"batch": 5, "expires": 300_000_000})
    assert seqs(more) == [3]
    # subscription-level: nats-py's fetch gets only what max_ack_pending allows
    sub = await js.pull_subscribe_bind("C", stream="MAP")
    for m in [msgs[1], *more]:
        await m.ack_sync()
    got = await sub.fetch(5, timeout=0.6)
    assert seqs(got) == [4, 5]
    await nc.close()


async def test_interest_retention_removes_what_every_consumer_acked(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="IN", subjects=["in"], retention=RetentionPolicy.INTEREST)
    await create(nc, "IN", {"durable_name": "A", "ack_policy": "explicit"})
    await create(nc, "IN", {"durable_name": "B", "ack_policy": "explicit"})
    await publish_n(js, "in", 3)
    await settle(nc, "IN", "A", 3)
    await settle(nc, "IN", "B", 3)
    assert (await stream_info(nc, "IN"))["state"]["messages"] == 3
    a, _ = await pull(nc, "IN", "A", {"batch": 3, "no_wait": True})
    for m in a:
        await m.ack_sync()
    assert (await stream_info(nc, "IN"))["state"]["messages"] == 3, "B still has interest"
    b, _ = await pull(nc, "IN", "B", {"batch": 2, "no_wait": True})
    for m in b:
        await m.ack_sync()

    async def left(n: int) -> bool:
        st = (await stream_info(nc, "IN"))["state"]
        return bool(st["messages"] == n)

    await wait_for(lambda: left(1), "acked messages to be removed")
    st = (await stream_info(nc, "IN"))["state"]
    assert (st["first_seq"], st["last_seq"]) == (3, 3)
    await api(nc, "$JS.API.CONSUMER.DELETE.IN.B")
    await wait_for(lambda: left(0), "the last message to go with the last interested consumer")
    await nc.close()


async def test_workqueue_retention(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="WQ", subjects=["wq.*"], retention=RetentionPolicy.WORK_QUEUE)
    await publish_n(js, "wq.a", 3)
    await js.publish("wq.b", b"b1")
    await create(nc, "WQ", {"durable_name": "A", "ack_policy": "explicit", "filter_subject": "wq.a"})
    msgs, _ = await pull(nc, "WQ", "A", {"batch": 2, "no_wait": True})
    for m in msgs:
        await m.ack_sync()

    async def left(n: int) -> bool:
        return bool((await stream_info(nc, "WQ"))["state"]["messages"] == n)

    await wait_for(lambda: left(2), "acked work to be removed")
    for config, err_code in [
        ({"durable_name": "B", "ack_policy": "explicit", "filter_subject": "wq.*"}, 10100),
        ({"durable_name": "B", "ack_policy": "explicit", "filter_subject": "wq.a"}, 10100),
        ({"durable_name": "B", "ack_policy": "explicit"}, 10099),
        ({"durable_name": "B", "ack_policy": "all", "filter_subject": "wq.b"}, 10098),
        ({"durable_name": "B", "ack_policy": "none", "filter_subject": "wq.b"}, 10084),
        (
            {
                "durable_name": "B",
                "ack_policy": "explicit",
                "filter_subject": "wq.b",
                "deliver_policy": "new",
            },
            10101,
        ),
    ]:
        with pytest.raises(APIError) as err:
            await js.add_consumer("WQ", ConsumerConfig(**config))
        assert err.value.err_code == err_code, config
    await create(nc, "WQ", {"durable_name": "B", "ack_policy": "explicit", "filter_subject": "wq.b"})
    msgs, _ = await pull(nc, "WQ", "B", {"batch": 5, "no_wait": True})
    assert [m.data for m in msgs] == [b"b1"]
    await nc.close()


async def test_consumer_info_fields(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="CI", subjects=["ci.*"])
    for i in range(1, 7):
        await js.publish(f"ci.{'a' if i % 2 else 'b'}", f"m{i}".encode())
    r = await create(nc, "CI", {"durable_name": "C", "ack_policy": "explicit", "filter_subject": "ci.a"})
    assert set(r) == {
        "type",
        "stream_name",
        "name",
        "created",
        "config",
        "delivered",
        "ack_floor",
        "num_ack_pending",
        "num_redelivered",
        "num_waiting",
        "num_pending",
        "ts",
    }
    assert r["num_pending"] == 3
    msgs, _ = await pull(nc, "CI", "C", {"batch": 2, "no_wait": True})
    assert seqs(msgs) == [1, 3]
    ci = await info(nc, "CI", "C")
    assert ci["type"] == "io.nats.jetstream.api.v1.consumer_info_response"
    assert (ci["delivered"]["consumer_seq"], ci["delivered"]["stream_seq"]) == (2, 3)
    assert "last_active" in ci["delivered"] and ci["ack_floor"] == {"consumer_seq": 0, "stream_seq": 0}
    assert (ci["num_ack_pending"], ci["num_pending"], ci["num_redelivered"]) == (2, 1, 0)
    await msgs[1].ack_sync()  # acked out of order: the floor stays
    ci = await info(nc, "CI", "C")
    assert (ci["ack_floor"]["consumer_seq"], ci["ack_floor"]["stream_seq"]) == (0, 0)
    assert ci["num_ack_pending"] == 1
    await nc.request(msgs[0].reply, b"-NAK", timeout=T)
    again, _ = await pull(nc, "CI", "C", {"batch": 1, "no_wait": True})
    assert seqs(again) == [1] and again[0].metadata.sequence.consumer == 3
    ci = await info(nc, "CI", "C")
    assert (ci["delivered"]["consumer_seq"], ci["delivered"]["stream_seq"]) == (3, 3)
    assert ci["num_redelivered"] == 1 and ci["num_ack_pending"] == 1
    await again[0].ack_sync()
    ci = await info(nc, "CI", "C")
    assert (ci["ack_floor"]["consumer_seq"], ci["ack_floor"]["stream_seq"]) == (3, 3)
    assert (ci["num_ack_pending"], ci["num_redelivered"], ci["num_pending"]) == (0, 0, 1)
    async with Inbox(nc) as inbox:
        await nc.publish(
            "$JS.API.CONSUMER.MSG.NEXT.CI.C", b'{"batch":5,"expires":3000000000}', reply=inbox.subject
        )
        await inbox.next()  # m5
        await wait_for(lambda: _num_waiting(nc, "CI", "C", 1), "the open request in num_waiting")
    await nc.close()


async def test_pause_and_resume(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="PA", subjects=["pa"])
    await js.publish("pa", b"x")
    await create(nc, "PA", {"durable_name": "C", "ack_policy": "explicit"})
    async with Inbox(nc, f"{ADVISORY}.CONSUMER.PAUSE.PA.C") as adv:
        until = datetime.now(UTC) + timedelta(seconds=0.8)
        r = await api(nc, "$JS.API.CONSUMER.PAUSE.PA.C", {"pause_until": rfc3339(until)})
        assert set(r) == {"type", "paused", "pause_until", "pause_remaining"}
        assert r["type"] == "io.nats.jetstream.api.v1.consumer_pause_response" and r["paused"] is True
        assert rfc3339_ns(r["pause_until"]) == rfc3339_ns(rfc3339(until))
        assert 0 < r["pause_remaining"] <= 800_000_000
        a = json.loads((await adv.next()).data)
        assert set(a) == {"type", "id", "timestamp", "stream", "consumer", "paused", "pause_until"}
        assert (a["type"], a["stream"], a["consumer"], a["paused"]) == (
            "io.nats.jetstream.advisory.v1.consumer_pause",
            "PA",
            "C",
            True,
        )
        ci = await info(nc, "PA", "C")
        assert ci["paused"] is True and ci["pause_remaining"] > 0
        assert ci["config"]["pause_until"] == r["pause_until"]
        msgs, st = await pull(nc, "PA", "C", {"batch": 1, "no_wait": True})
        assert msgs == [] and status(st[0]) == ("404", "No Messages")
        msgs, _ = await pull(nc, "PA", "C", {"batch": 1, "expires": 2_000_000_000}, count=1)
        assert [m.data for m in msgs] == [b"x"]
        assert time.time_ns() >= rfc3339_ns(r["pause_until"]), "delivered only once the pause ended"
        a = json.loads((await adv.next()).data)
        assert a["paused"] is False and a["pause_until"] == r["pause_until"]
    ci = await info(nc, "PA", "C")
    assert "paused" not in ci and "pause_remaining" not in ci
    r = await api(nc, "$JS.API.CONSUMER.PAUSE.PA.C", {"pause_until": "2099-01-01T00:00:00Z"})
    assert r["paused"] is True
    r = await api(nc, "$JS.API.CONSUMER.PAUSE.PA.C", {})
    assert r == {
        "type": "io.nats.jetstream.api.v1.consumer_pause_response",
        "paused": False,
        "pause_until": "0001-01-01T00:00:00Z",
    }
    await nc.close()


async def test_inactive_threshold_removes_consumers(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="IT", subjects=["it"])
    eph = (await create(nc, "IT", {"ack_policy": "explicit", "inactive_threshold": 300_000_000}))["name"]
    await create(nc, "IT", {"durable_name": "DUR", "inactive_threshold": 300_000_000})
    await create(nc, "IT", {"durable_name": "KEEP"})
    async with Inbox(nc, f"{ADVISORY}.CONSUMER.DELETED.IT.*") as adv:

        async def gone() -> bool:
            names = (await api(nc, "$JS.API.CONSUMER.NAMES.IT"))["consumers"]
            return bool(names == ["KEEP"])

        await wait_for(gone, "inactive consumers to be removed", timeout=2.5)
        deleted = {json.loads((await adv.next()).data)["consumer"] for _ in range(2)}
    assert deleted == {eph, "DUR"}
    await nc.close()


async def test_headers_only(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="HO", subjects=["ho.*"])
    await js.publish("ho.h", b"payload-1234", headers={"X-Foo": "bar"})
    await js.publish("ho.p", b"ab")
    await create(nc, "HO", {"durable_name": "C", "headers_only": True})
    msgs, _ = await pull(nc, "HO", "C", {"batch": 2, "no_wait": True})
    assert [m.data for m in msgs] == [b"", b""]
    assert msgs[0].headers == {"X-Foo": "bar", "Nats-Msg-Size": "12"}
    assert msgs[1].headers == {"Nats-Msg-Size": "2"}
    await nc.close()


async def test_filter_subject_and_filter_subjects(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="FS", subjects=["fs.>"])
    for subject in ("fs.a", "fs.b", "fs.c", "fs.a.x", "fs.a"):
        await js.publish(subject, subject.encode())
    r = await create(nc, "FS", {"durable_name": "ONE", "filter_subject": "fs.a"})
    assert r["num_pending"] == 2
    r = await create(nc, "FS", {"durable_name": "WILD", "filter_subject": "fs.a.>"})
    assert r["num_pending"] == 1
    r = await create(nc, "FS", {"durable_name": "MANY", "filter_subjects": ["fs.a", "fs.c"]})
    assert r["num_pending"] == 3 and r["config"]["filter_subjects"] == ["fs.a", "fs.c"]
    msgs, _ = await pull(nc, "FS", "MANY", {"batch": 10, "no_wait": True})
    assert [(m.subject, m.metadata.sequence.stream) for m in msgs] == [("fs.a", 1), ("fs.c", 3), ("fs.a", 5)]
    assert [ack_fields(m.reply)["pending"] for m in msgs] == [2, 1, 0]
    await js.publish("fs.b", b"ignored")
    await js.publish("fs.c", b"counted")
    await settle(nc, "FS", "MANY", 1)
    # a filter outside the stream's subjects is accepted and matches nothing
    r = await create(nc, "FS", {"durable_name": "NONE", "filter_subject": "other"})
    assert r["num_pending"] == 0
    # changing the filter of an existing consumer is an allowed update
    r = await create(nc, "FS", {"durable_name": "ONE", "filter_subject": "fs.b"})
    assert r["config"]["filter_subject"] == "fs.b"
    await nc.close()


@pytest.mark.parametrize("kind", ["pynatsd", "reference"])
async def test_durable_state_survives_restart(kind: str, tmp_path: Path) -> None:
    store = tmp_path / "store"
    async with jetstream_server(kind, store) as url:
        nc, js = await connect(url)
        await js.add_stream(name="R", subjects=["r"])
        await publish_n(js, "r", 5)
        await create(nc, "R", {"durable_name": "D", "ack_policy": "explicit", "ack_wait": 1_000_000_000})
        msgs, _ = await pull(nc, "R", "D", {"batch": 3, "no_wait": True})
        await msgs[0].ack_sync()
        await msgs[1].ack_sync()
        before = await info(nc, "R", "D")
        await nc.close()
    async with jetstream_server(kind, store) as url:
        nc, js = await connect(url)
        after = await info(nc, "R", "D")
        assert after["config"] == before["config"] and after["created"] == before["created"]
        for key in ("consumer_seq", "stream_seq"):
            assert after["delivered"][key] == before["delivered"][key] == 3
            assert after["ack_floor"][key] == before["ack_floor"][key] == 2
        assert (after["num_ack_pending"], after["num_pending"]) == (1, 2)
        msgs, _ = await pull(nc, "R", "D", {"batch": 3, "expires": 2_500_000_000}, count=3, timeout=3.0)
        by_seq = {m.metadata.sequence.stream: m.metadata.num_delivered for m in msgs}
        assert by_seq == {3: 2, 4: 1, 5: 1}
        await nc.close()


# ---------------------------------------------------------------------------------------------
# the seed notes' patterns
# ---------------------------------------------------------------------------------------------


async def test_seed_basic_usage_fetch_then_consume(js_url: str) -> None:
    """jetstream.New + CreateOrUpdateConsumer(Durable CONS, explicit) + Fetch(10) + Consume."""
    nc, js = await connect(js_url)
    await js.add_stream(name="ORDERS", subjects=["ORDERS.*"])
    for i in range(100):
        await js.publish("ORDERS.new", f"hello message {i}".encode())
    ci = await js.add_consumer("ORDERS", ConsumerConfig(durable_name="CONS", ack_policy=AckPolicy.EXPLICIT))
    assert ci.name == "CONS" and ci.num_pending == 100
    again = await js.add_consumer(
        "ORDERS", ConsumerConfig(durable_name="CONS", ack_policy=AckPolicy.EXPLICIT)
    )
    assert again.created == ci.created, "create-or-update of an identical config is idempotent"
    sub = await js.pull_subscribe_bind("CONS", stream="ORDERS")
    seen: list[bytes] = []
    for m in await sub.fetch(10, timeout=T):
        await m.ack()
        seen.append(m.data)
    assert len(seen) == 10

    async def consume() -> None:  # Consume(): a loop of pulls feeding a callback
        while len(seen) < 100:
            for m in await sub.fetch(25, timeout=T):
                await m.ack()
                seen.append(m.data)

    await asyncio.wait_for(consume(), 5.0)
    assert seen == [f"hello message {i}".encode() for i in range(100)]

    async def drained() -> bool:
        c = await info(nc, "ORDERS", "CONS")
        return bool(c["num_ack_pending"] == 0 and c["num_pending"] == 0)

    await wait_for(drained, "all acks")
    await nc.close()


async def test_seed_exactly_once_msg_id_and_ack_sync(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="EO", subjects=["eo"])
    await js.publish("eo", b"hello", headers={"Nats-Msg-Id": "id-1"})
    dup = await js.publish("eo", b"hello", headers={"Nats-Msg-Id": "id-1"})
    assert dup.duplicate is True
    sub = await js.pull_subscribe("eo", durable="once", stream="EO")
    msgs = await sub.fetch(5, timeout=1.0)
    assert [m.data for m in msgs] == [b"hello"]
    assert msgs[0].headers == {"Nats-Msg-Id": "id-1"}
    await msgs[0].ack_sync()
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=0.5)
    await nc.close()


async def test_consumer_management_list_names_delete(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="M", subjects=["m"])
    await js.add_consumer("M", ConsumerConfig(durable_name="foo", ack_policy=AckPolicy.EXPLICIT))
    eph = await js.add_consumer("M", ConsumerConfig(ack_policy=AckPolicy.EXPLICIT))
    names = await api(nc, "$JS.API.CONSUMER.NAMES.M")
    assert names["consumers"] == sorted(["foo", eph.name]) and names["total"] == 2
    listed = await js.consumers_info("M")
    assert sorted(c.name for c in listed) == sorted(["foo", eph.name])
    listing = await api(nc, "$JS.API.CONSUMER.LIST.M")
    assert listing["limit"] == 256 and listing["offset"] == 0
    assert all(c["config"]["metadata"] == {"_nats.req.level": "0"} for c in listing["consumers"])
    account = await api(nc, "$JS.API.INFO")
    assert account["consumers"] == 2
    assert await js.delete_consumer("M", "foo") is True
    with pytest.raises(NotFoundError) as err:
        await js.consumer_info("M", "foo")
    assert err.value.err_code == 10014
    with pytest.raises(NotFoundError):
        await js.delete_consumer("M", "foo")
    assert (await api(nc, "$JS.API.CONSUMER.NAMES.M"))["consumers"] == [eph.name]
    await nc.close()


async def test_update_rules(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="U", subjects=["u.*"])
    base = {"durable_name": "C", "ack_policy": "explicit", "filter_subject": "u.a"}
    created = await create(nc, "U", base)
    updated = await create(
        nc, "U", {**base, "max_ack_pending": 5, "description": "d", "ack_wait": 5_000_000_000}
    )
    assert updated["created"] == created["created"]
    assert (updated["config"]["max_ack_pending"], updated["config"]["description"]) == (5, "d")
    for change, reason in [
        ({"deliver_policy": "new"}, "deliver policy can not be updated"),
        ({"ack_policy": "all"}, "ack policy can not be updated"),
        ({"replay_policy": "original"}, "replay policy can not be updated"),
        ({"deliver_subject": "x"}, "can not update pull consumer to push based"),
        ({"max_waiting": 10}, "max waiting can not be updated"),
        ({"mem_storage": True}, "storage type can not be updated"),
    ]:
        r = await api(nc, "$JS.API.CONSUMER.CREATE.U.C", {"stream_name": "U", "config": {**base, **change}})
        assert r["error"] == {"code": 500, "err_code": 10012, "description": reason}, change
    r = await api(
        nc,
        "$JS.API.CONSUMER.CREATE.U.C",
        {"stream_name": "U", "config": {**base, "description": "x"}, "action": "create"},
    )
    assert r["error"] == {"code": 400, "err_code": 10148, "description": "consumer already exists"}
    r = await api(
        nc, "$JS.API.CONSUMER.CREATE.U.Z", {"stream_name": "U", "config": {"name": "Z"}, "action": "update"}
    )
    assert r["error"] == {"code": 400, "err_code": 10149, "description": "consumer does not exist"}
    await nc.close()


async def test_sample_freq_ack_metrics(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="SF", subjects=["sf"])
    await publish_n(js, "sf", 3)
    await create(nc, "SF", {"durable_name": "C", "ack_policy": "explicit", "sample_freq": "100%"})
    async with Inbox(nc, "$JS.EVENT.METRIC.CONSUMER.ACK.SF.C") as metrics:
        msgs, _ = await pull(nc, "SF", "C", {"batch": 3, "no_wait": True})
        for m in msgs:
            await m.ack_sync()
        got = [json.loads((await metrics.next()).data) for _ in range(3)]
    assert [g["stream_seq"] for g in got] == [1, 2, 3]
    assert all(g["type"] == "io.nats.jetstream.metric.v1.consumer_ack" and g["deliveries"] == 1 for g in got)
    await nc.close()


async def test_push_needs_a_subscription_on_exactly_the_deliver_subject(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="PX", subjects=["px"])
    await js.publish("px", b"x")
    wild = await nc.subscribe("dlv.>")
    await create(nc, "PX", {"durable_name": "W", "ack_policy": "none", "deliver_subject": "dlv.w"})
    with pytest.raises(nats.errors.TimeoutError):
        await wild.next_msg(timeout=0.5)
    exact = await nc.subscribe("dlv.w")
    assert (await exact.next_msg(timeout=T)).data == b"x"
    await nc.close()


async def test_ack_none_delivery_releases_interest(js_url: str) -> None:
    """On an interest stream a delivery to an ack-none consumer counts as its ack: a message
    goes once every consumer that wants it has it (ack-none: delivered; explicit: acked)."""
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=10)
    try:
        await js.add_stream(name="INT", subjects=["int.>"], retention=RetentionPolicy.INTEREST)
        none = await js.pull_subscribe(
            "int.>", durable="NONE", config=ConsumerConfig(ack_policy=AckPolicy.NONE)
        )
        explicit = await js.pull_subscribe(
            "int.>", durable="EXPL", config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT)
        )

        async def stored() -> int:
            return (await js.stream_info("INT")).state.messages

        async def settles_at(n: int) -> None:
            for _ in range(400):
                if await stored() == n:
                    return
                await asyncio.sleep(0.025)
            assert await stored() == n

        for i in range(3):
            await js.publish(f"int.{i}", b"x")
        assert len(await none.fetch(3, timeout=5)) == 3
        await settles_at(3)  # EXPL still owes its acks
        got = await explicit.fetch(3, timeout=5)
        for m in got[:2]:
            await m.ack_sync()
        await settles_at(1)
        await got[2].ack_sync()
        await settles_at(0)
        # with only the ack-none consumer left, delivery alone releases a message
        await js.delete_consumer("INT", "EXPL")
        await js.publish("int.9", b"y")
        assert [m.subject for m in await none.fetch(1, timeout=5)] == ["int.9"]
        await settles_at(0)
    finally:
        await nc.close()
