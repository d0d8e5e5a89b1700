"""Pull requests where the reference's exact rules show: how waiting requests share messages,
the pending counts of status replies, how request bodies are read, ``408 Requests Pending``,
``no_wait`` under ``max_ack_pending``, and a pin outliving a policy update. Every test runs on
pynatsd and on the reference (raw JSON requests to ``$JS.API.CONSUMER.MSG.NEXT``) and asserts
the same results."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from nats.aio.msg import Msg

from tests.jetstream.test_consumers import ADVISORY, Inbox, T, api, connect, create, info, status, wait_for
from tests.jetstream.test_priority import PIN_RE, PINNED, data, one, pin_of, request, statuses


async def waiting(nc: Any, stream: str, consumer: str, n: int) -> None:
    """Wait until ``n`` requests are queued (the reference queues requests asynchronously)."""

    async def check() -> bool:
        return bool((await info(nc, stream, consumer))["num_waiting"] == n)

    await wait_for(check, f"{n} waiting requests")


def pending(msg: Msg) -> tuple[str, str]:
    h = msg.headers or {}
    return h.get("Nats-Pending-Messages", "-"), h.get("Nats-Pending-Bytes", "-")


def described(msgs: list[Msg]) -> list[str]:
    """Data as text, statuses as ``code description (pending messages, pending bytes)``."""
    out = []
    for m in msgs:
        st = status(m)
        if st is None:
            out.append(m.data.decode())
        elif "Nats-Pending-Messages" in (m.headers or {}):
            out.append(f"{st[0]} {st[1]} {pending(m)}")
        else:
            out.append(f"{st[0]} {st[1]}")
    return out


# ---------------------------------------------------------------------------------------------
# distribution among waiting requests
# ---------------------------------------------------------------------------------------------


async def test_waiting_requests_take_turns(js_url: str) -> None:
    """Each message goes to the request at the head of the queue, which then goes to the back
    while it wants more: requests are served one message each, in turn."""
    nc, js = await connect(js_url)
    await js.add_stream(name="RR", subjects=["rr"])
    await create(nc, "RR", {"durable_name": "C", "ack_policy": "explicit"})
    async with Inbox(nc) as a, Inbox(nc) as b, Inbox(nc) as c:
        for inbox in (a, b, c):
            await request(nc, inbox, "RR", "C", {"batch": 3, "expires": 2_000_000_000})
        await waiting(nc, "RR", "C", 3)
        for i in range(1, 8):  # a burst: several messages at once reach the waiting requests
            await nc.publish("rr", f"m{i}".encode())
        await nc.flush()
        got = [described(await a.collect(count=3, timeout=3 * T))]
        got += [described(await inbox.collect(timeout=3 * T)) for inbox in (b, c)]
    assert got == [
        ["m1", "m4", "m7"],
        ["m2", "m5", "408 Request Timeout ('1', '0')"],
        ["m3", "m6", "408 Request Timeout ('1', '0')"],
    ]
    await nc.close()


# ---------------------------------------------------------------------------------------------
# pending counts of status replies
# ---------------------------------------------------------------------------------------------

NO_MESSAGES = [
    # pending messages count from the batch as sent: 0 for JSON without one, even negative
    ({"expires": 300_000_000}, ["408 Request Timeout ('0', '0')"]),
    ({"expires": 300_000_000, "max_bytes": 1000}, ["408 Request Timeout ('0', '1000')"]),
    ({"batch": -3, "expires": 300_000_000}, ["408 Request Timeout ('-3', '0')"]),
    ({"batch": 0, "expires": 300_000_000, "no_wait": True}, ["408 Request Timeout ('0', '0')"]),
    ({"batch": 2, "max_bytes": -5, "expires": 300_000_000}, ["408 Request Timeout ('2', '-5')"]),
    # an expiry already past is one: the request ends at once
    ({"expires": -1, "no_wait": True}, ["408 Request Timeout ('0', '0')"]),
    ({"batch": 4, "expires": -1}, ["408 Request Timeout ('4', '0')"]),
    ({"batch": 3, "no_wait": True}, ["404 No Messages"]),
]


@pytest.mark.parametrize(("body", "expected"), NO_MESSAGES, ids=[json.dumps(b) for b, _ in NO_MESSAGES])
async def test_status_pending_counts_without_messages(
    js_url: str, body: dict[str, Any], expected: list[str]
) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="PC", subjects=["pc"])
    await create(nc, "PC", {"durable_name": "C", "ack_policy": "explicit"})
    async with Inbox(nc) as inbox:
        await request(nc, inbox, "PC", "C", body)
        assert described(await inbox.collect()) == expected
    await nc.close()


async def test_status_pending_counts_with_messages(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="PM", subjects=["pm"])
    for c in "abcde":
        await nc.request("pm", c.encode() * 50, timeout=T)
    await create(nc, "PM", {"durable_name": "C", "ack_policy": "explicit"})
    probe = (await one(nc, "PM", "C", {"batch": 1, "no_wait": True}))[0]
    size = len(probe.subject) + len(probe.reply) + len(probe.data)  # 90 for every message here
    cases: list[tuple[dict[str, Any], list[str]]] = [
        # too big for the budget; a JSON request without batch has 0 messages left
        ({"max_bytes": 10, "expires": 300_000_000}, ["409 Message Size Exceeds MaxBytes ('0', '10')"]),
        # one message for a batch below 1; "Batch Completed" reports it as it is
        (
            {"max_bytes": 1000, "expires": 300_000_000},
            ["b" * 50, f"409 Batch Completed ('-1', '{1000 - size}')"],
        ),
        (
            {"batch": -2, "max_bytes": 1000, "expires": 300_000_000},
            ["c" * 50, f"409 Batch Completed ('-3', '{1000 - size}')"],
        ),
        # a byte budget spent to the byte ends the request without a status
        ({"batch": 5, "max_bytes": size, "expires": 300_000_000}, ["d" * 50]),
        ({"batch": 1, "max_bytes": size, "expires": 300_000_000}, ["e" * 50]),
    ]
    for body, expected in cases:
        async with Inbox(nc) as inbox:
            await request(nc, inbox, "PM", "C", body)
            got = await inbox.collect(timeout=1.0, until_status=True)
            assert described(got) == expected, body
            await inbox.none_within(0.4)  # nothing after the end (a budget spent exactly: no status)
    await nc.close()


async def test_max_waiting_is_silent_to_a_request_with_heartbeats(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="MW", subjects=["mw"])
    await create(nc, "MW", {"durable_name": "C", "ack_policy": "explicit", "max_waiting": 1})
    async with Inbox(nc) as a, Inbox(nc) as b, Inbox(nc) as c:
        await request(nc, a, "MW", "C", {"expires": 2_000_000_000})
        await waiting(nc, "MW", "C", 1)
        await request(nc, b, "MW", "C", {"batch": 5, "expires": 2_000_000_000})
        await request(nc, c, "MW", "C", {"batch": 5, "expires": 2_000_000_000, "idle_heartbeat": 500_000_000})
        assert described(await b.collect()) == ["409 Exceeded MaxWaiting"]
        await c.none_within(0.3)  # no 409, and no heartbeats either: it was never queued
        await api(nc, "$JS.API.CONSUMER.DELETE.MW.C")
        assert described(await a.collect()) == ["409 Consumer Deleted"]
    await nc.close()


# ---------------------------------------------------------------------------------------------
# request bodies
# ---------------------------------------------------------------------------------------------

BODIES: list[tuple[bytes, str]] = [
    # not JSON (JSON only when it starts with "{"): a decimal integer is the batch, else 1
    (b"-3", "1"),
    (b"abc", "1"),
    (b"+2", "2"),
    (b" 2 ", "2"),
    (b"0", "1"),
    (b"2x", "1"),
    (b"[1]", "1"),
    (b"null", "1"),
    (b"99999999999999999999", "1"),
    # JSON as Go's json.Unmarshal reads it into the request struct
    (
        b'{"batch":"x"}',
        "400 Bad Request - json: cannot unmarshal string into Go struct field .batch of type int",
    ),
    (
        b'{"expires":"1s"}',
        "400 Bad Request - json: cannot unmarshal string into Go struct field .expires of type time.Duration",
    ),
    (b'{"batch":1}junk', "400 Bad Request - invalid character 'j' after top-level value"),
    (b'{"batch":1} {"batch":2}', "400 Bad Request - invalid character '{' after top-level value"),
    (b'{"batch":"x"} junk', "400 Bad Request - invalid character 'j' after top-level value"),
    (b'{"batch":1,}', "400 Bad Request - invalid character '}' looking for beginning of object key string"),
    (b"{", "400 Bad Request - unexpected end of JSON input"),
    (
        b'{"batch": 1.5}',
        "400 Bad Request - json: cannot unmarshal number 1.5 into Go struct field .batch of type int",
    ),
    (
        b'{"no_wait": 1}',
        "400 Bad Request - json: cannot unmarshal number into Go struct field .no_wait of type bool",
    ),
    (
        b'{"min_pending": "x"}',
        "400 Bad Request - json: cannot unmarshal string into Go struct field .min_pending of type int64",
    ),
    (b'{"id": 5}', "400 Bad Request - json: cannot unmarshal number into Go struct field .id of type string"),
    (b'{"batch":2}\n', "2"),
    (b'{"batch":null}', "1"),
    (b'{"batch":2,"idle_heartbeat":-5}', "2"),  # a heartbeat below 1 is none
]


@pytest.mark.parametrize(("body", "expected"), BODIES, ids=[b.decode() for b, _ in BODIES])
async def test_request_bodies_read_as_the_reference(js_url: str, body: bytes, expected: str) -> None:
    """``expected`` is the number of messages delivered, or the status."""
    nc, js = await connect(js_url)
    await js.add_stream(name="RB", subjects=["rb"])
    for i in range(1, 4):
        await nc.request("rb", f"m{i}".encode(), timeout=T)
    await create(nc, "RB", {"durable_name": "C", "ack_policy": "explicit"})
    async with Inbox(nc) as inbox:
        await nc.publish("$JS.API.CONSUMER.MSG.NEXT.RB.C", body, reply=inbox.subject)
        got = await inbox.collect(timeout=0.5)
    if expected.isdigit():
        assert described(got) == [f"m{i}" for i in range(1, int(expected) + 1)]
    else:
        assert described(got) == [expected]
    await nc.close()


@pytest.mark.parametrize(
    ("level", "served"), [("99", False), ("6", False), ("x", False), ("5", True), ("0", True)]
)
async def test_required_api_level_header(js_url: str, level: str, served: bool) -> None:
    """``Nats-Required-Api-Level`` above the server's level (5), or not a number: ``412
    Required Api Level`` (no pending headers)."""
    nc, js = await connect(js_url)
    await js.add_stream(name="AL", subjects=["al"])
    await nc.request("al", b"m1", timeout=T)
    await create(nc, "AL", {"durable_name": "C", "ack_policy": "explicit"})
    async with Inbox(nc) as inbox:
        await nc.publish(
            "$JS.API.CONSUMER.MSG.NEXT.AL.C",
            b'{"batch":1,"no_wait":true}',
            reply=inbox.subject,
            headers={"Nats-Required-Api-Level": level},
        )
        got = await inbox.collect(count=1)
    assert described(got) == (["m1"] if served else ["412 Required Api Level"])
    await nc.close()


# ---------------------------------------------------------------------------------------------
# no_wait: 408 Requests Pending, max_ack_pending
# ---------------------------------------------------------------------------------------------


async def test_no_wait_gets_408_requests_pending_when_others_want_more_than_there_is(js_url: str) -> None:
    """A no_wait request arriving while the waiting requests still want more messages than the
    consumer has pending gets ``408 Requests Pending`` (no pending headers)."""
    nc, js = await connect(js_url)
    await js.add_stream(name="RP", subjects=["rp"])
    for i in range(1, 6):
        await nc.request("rp", f"m{i}".encode(), timeout=T)
    await create(nc, "RP", {"durable_name": "C", "ack_policy": "explicit", "max_ack_pending": 1})
    assert data(await one(nc, "RP", "C", {"batch": 1, "no_wait": True})) == [b"m1"]  # stalls the rest
    async with Inbox(nc) as w:
        await request(nc, w, "RP", "C", {"batch": 10, "expires": 3_000_000_000})
        await waiting(nc, "RP", "C", 1)
        for body in ({"batch": 1, "no_wait": True}, {"batch": 1, "no_wait": True, "expires": 1_000_000_000}):
            got = await one(nc, "RP", "C", body)
            assert described(got) == ["408 Requests Pending"], body
            assert set(got[0].headers or {}) == {"Status", "Description"}
        # a request without no_wait just waits
        async with Inbox(nc) as x:
            await request(nc, x, "RP", "C", {"batch": 1, "expires": 3_000_000_000})
            await waiting(nc, "RP", "C", 2)
    await nc.close()


async def test_no_wait_with_as_many_pending_as_wanted_is_queued(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="RQ", subjects=["rq"])
    for i in range(1, 4):
        await nc.request("rq", f"m{i}".encode(), timeout=T)
    await create(
        nc, "RQ", {"durable_name": "C", "ack_policy": "explicit", "pause_until": "2099-01-01T00:00:00Z"}
    )
    async with Inbox(nc) as w:
        await request(nc, w, "RQ", "C", {"batch": 2, "expires": 3_000_000_000})
        await waiting(nc, "RQ", "C", 1)
        # 3 pending, 2 wanted: queued, then answered as a paused consumer answers no_wait
        assert described(await one(nc, "RQ", "C", {"batch": 5, "no_wait": True})) == ["404 No Messages"]
        await request(nc, w, "RQ", "C", {"batch": 2, "expires": 3_000_000_000})
        await waiting(nc, "RQ", "C", 2)
        # now 4 are wanted
        assert described(await one(nc, "RQ", "C", {"batch": 1, "no_wait": True})) == ["408 Requests Pending"]
    await nc.close()


async def test_no_wait_waits_while_max_ack_pending_stalls_delivery(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="MA", subjects=["ma"])
    for i in range(1, 6):
        await nc.request("ma", f"m{i}".encode(), timeout=T)
    await create(nc, "MA", {"durable_name": "C", "ack_policy": "explicit", "max_ack_pending": 1})
    first = (await one(nc, "MA", "C", {"batch": 1, "no_wait": True}))[0]
    async with Inbox(nc) as x:
        await request(nc, x, "MA", "C", {"batch": 2, "no_wait": True})
        await waiting(nc, "MA", "C", 1)
        await x.none_within(0.3)  # no 404: it waits for an ack
        await nc.request(first.reply, b"+ACK", timeout=T)
        second = await x.next()
        assert second.data == b"m2"
        await x.none_within(0.3)  # stalled again: still no 404
        # the timer of another request (its expiry) ends the stalled no_wait request
        async with Inbox(nc) as y:
            await request(nc, y, "MA", "C", {"batch": 1, "expires": 400_000_000})
            assert described(await y.collect()) == ["408 Request Timeout ('1', '0')"]
            assert described(await x.collect()) == ["404 No Messages"]
    # with nothing pending at all, a no_wait request is answered at once even when stalled
    await nc.request(second.reply, b"+ACK", timeout=T)
    await create(
        nc,
        "MA",
        {"durable_name": "D", "ack_policy": "explicit", "max_ack_pending": 1, "deliver_policy": "new"},
    )
    await nc.request("ma", b"m6", timeout=T)

    async def counted() -> bool:  # the reference tells its consumers of a new message asynchronously
        return bool((await info(nc, "MA", "D"))["num_pending"] == 1)

    await wait_for(counted, "m6 pending on D")
    assert data(await one(nc, "MA", "D", {"batch": 1, "no_wait": True})) == [b"m6"]
    assert described(await one(nc, "MA", "D", {"batch": 1, "no_wait": True})) == ["404 No Messages"]
    await nc.close()


# ---------------------------------------------------------------------------------------------
# priority groups: a pin outlives a policy update; no_wait passed over by the pin
# ---------------------------------------------------------------------------------------------


async def test_pin_outlives_an_update_away_from_pinned_client(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="PU", subjects=["pu"])
    await create(nc, "PU", {"durable_name": "C", **PINNED, "priority_timeout": 3_000_000_000})
    await nc.request("pu", b"m1", timeout=T)
    pin = pin_of((await one(nc, "PU", "C", {"group": "g"}))[0])
    assert PIN_RE.fullmatch(pin)
    # to overflow: the pin shows in info and requests without it wait
    r = await create(
        nc,
        "PU",
        {
            "durable_name": "C",
            "ack_policy": "explicit",
            "priority_policy": "overflow",
            "priority_groups": ["g"],
        },
    )
    assert r["priority_groups"][0]["pinned_client_id"] == pin
    # to none: no groups in info, but the pin still holds delivery back until it times out
    r = await create(nc, "PU", {"durable_name": "C", "ack_policy": "explicit"})
    assert "priority_groups" not in r
    await nc.request("pu", b"m2", timeout=T)
    got = await one(nc, "PU", "C", {"group": "g", "id": pin})
    assert statuses(got) == [("400", "Bad Request - Not a Pinned Client Priority consumer")]
    async with Inbox(nc, f"{ADVISORY}.CONSUMER.UNPINNED.PU.C") as unpinned, Inbox(nc) as plain:
        await request(nc, plain, "PU", "C", {"batch": 1, "expires": 5_000_000_000})
        await plain.none_within(0.5)
        assert (await info(nc, "PU", "C"))["num_waiting"] == 1
        adv = json.loads((await unpinned.next(timeout=3 * T)).data)  # the old pin's timeout
        assert (adv["group"], adv["reason"]) == ("g", "timeout")
        msg = await plain.next()
        assert msg.data == b"m2" and "Nats-Pin-Id" not in (msg.headers or {})
    # and afterwards the consumer delivers as one without a policy
    await nc.request("pu", b"m3", timeout=T)
    assert data(await one(nc, "PU", "C", {"batch": 1, "no_wait": True})) == [b"m3"]
    await nc.close()


async def test_no_wait_passed_over_by_the_pin(js_url: str) -> None:
    """A no_wait request that the pin passes over ends as soon as delivery stops: at once when
    no one else is served, with 408 at its expiry when it has one and got nothing."""
    nc, js = await connect(js_url)
    await js.add_stream(name="PN", subjects=["pn"])
    await create(nc, "PN", {"durable_name": "C", **PINNED})
    for i in range(1, 4):
        await nc.request("pn", f"m{i}".encode(), timeout=T)
    pin = pin_of((await one(nc, "PN", "C", {"group": "g"}))[0])
    assert described(await one(nc, "PN", "C", {"group": "g", "no_wait": True, "batch": 5})) == [
        "404 No Messages"
    ]
    got = await one(nc, "PN", "C", {"group": "g", "no_wait": True, "expires": 500_000_000})
    assert described(got) == ["408 Request Timeout ('0', '0')"]
    async with Inbox(nc) as other:
        await request(nc, other, "PN", "C", {"group": "g", "no_wait": True, "expires": 2_000_000_000})
        await waiting(nc, "PN", "C", 1)
        got = await one(nc, "PN", "C", {"group": "g", "id": pin, "batch": 5, "no_wait": True}, count=2)
        assert data(got) == [b"m2", b"m3"] and {pin_of(m) for m in got} == {pin}
        # it got nothing and has an expiry: it waits for it
        assert described(await other.collect(timeout=3 * T)) == ["408 Request Timeout ('0', '0')"]
    await nc.close()


async def test_no_wait_is_not_ended_by_replay_original_spacing(js_url: str) -> None:
    """Replay original holds each message back as long as it was stored after the previous
    one: a no_wait request waits through those gaps and ends only when the stream runs out."""
    nc, js = await connect(js_url)
    await js.add_stream(name="RO", subjects=["ro"])
    for i in range(3):
        if i:
            await asyncio.sleep(0.3)  # the stored spacing replay original reproduces
        await nc.request("ro", f"m{i}".encode(), timeout=T)
    await create(nc, "RO", {"durable_name": "C", "ack_policy": "explicit", "replay_policy": "original"})
    async with Inbox(nc) as inbox:
        await request(nc, inbox, "RO", "C", {"batch": 5, "no_wait": True})
        assert described(await inbox.collect(timeout=3 * T)) == ["m0", "m1", "m2", "404 No Messages"]
    await nc.close()


async def test_deleting_the_stream_ends_waiting_requests_with_409(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="SD", subjects=["sd"])
    await create(nc, "SD", {"durable_name": "C", "ack_policy": "explicit"})
    await create(nc, "SD", {"name": "E", "ack_policy": "explicit"})
    async with Inbox(nc) as a, Inbox(nc) as b:
        await request(nc, a, "SD", "C", {"batch": 2, "expires": 5_000_000_000})
        await nc.publish("$JS.API.CONSUMER.MSG.NEXT.SD.E", b"2", reply=b.subject)
        await waiting(nc, "SD", "C", 1)
        await waiting(nc, "SD", "E", 1)
        assert (await api(nc, "$JS.API.STREAM.DELETE.SD"))["success"] is True
        assert described(await a.collect()) == ["409 Consumer Deleted"]
        assert described(await b.collect()) == ["409 Consumer Deleted"]
    await nc.close()
