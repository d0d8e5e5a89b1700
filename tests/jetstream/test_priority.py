"""Consumer priority groups (``priority_policy`` pinned_client, overflow, prioritized) through raw
pull requests; every test runs on pynatsd and on the reference and asserts the same results.

nats-py has no API for priority groups, so requests are raw JSON to
``$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`` with ``group``, ``id``, ``min_pending``,
``min_ack_pending`` and ``priority``."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from nats.aio.msg import Msg

from tests.jetstream.test_consumers import ADVISORY, Inbox, T, api, connect, create, info, status

PIN_RE = re.compile(r"[0-9A-Za-z]{22}")
ZERO_TIME = "0001-01-01T00:00:00Z"


async def request(nc: Any, inbox: Inbox, stream: str, consumer: str, body: dict[str, Any]) -> None:
    """Send one pull request whose replies go to ``inbox`` (collected by the caller)."""
    await nc.publish(
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}", json.dumps(body).encode(), reply=inbox.subject
    )
    await nc.flush()


async def one(nc: Any, stream: str, consumer: str, body: dict[str, Any], count: int = 1) -> list[Msg]:
    """A request and its replies: ``count`` data messages or the first final status."""
    async with Inbox(nc) as inbox:
        await request(nc, inbox, stream, consumer, body)
        return await inbox.collect(count=count)


def data(msgs: list[Msg]) -> list[bytes]:
    return [m.data for m in msgs if status(m) is None]


def statuses(msgs: list[Msg]) -> list[tuple[str, str]]:
    return [st for m in msgs if (st := status(m)) is not None]


def pin_of(msg: Msg) -> str:
    return (msg.headers or {}).get("Nats-Pin-Id", "<none>")


async def advisory(inbox: Inbox) -> dict[str, Any]:
    return dict(json.loads((await inbox.next()).data))


async def publish(nc: Any, subject: str, *payloads: bytes) -> None:
    for p in payloads:
        await nc.request(subject, p, timeout=T)


PINNED = {"ack_policy": "explicit", "priority_policy": "pinned_client", "priority_groups": ["g"]}


async def test_pinned_client_pins_the_first_requester(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="PIN", subjects=["pin"])
    await publish(nc, "pin", b"m1", b"m2", b"m3", b"m4")
    r = await create(nc, "PIN", {"durable_name": "C", **PINNED})
    assert r["config"]["priority_timeout"] == 120_000_000_000  # the default pin timeout
    assert r["priority_groups"] == [{"group": "g", "pinned_ts": ZERO_TIME}]
    async with Inbox(nc, f"{ADVISORY}.CONSUMER.PINNED.PIN.C") as pinned:
        got = await one(nc, "PIN", "C", {"group": "g", "batch": 2}, count=2)
        assert data(got) == [b"m1", b"m2"]
        pin = pin_of(got[0])
        assert PIN_RE.fullmatch(pin) and pin_of(got[1]) == pin
        adv = await advisory(pinned)
    assert adv["type"] == "io.nats.jetstream.advisory.v1.consumer_group_pinned"
    assert {k: adv[k] for k in ("account", "stream", "consumer", "group", "pinned_id")} == {
        "account": "$G",
        "stream": "PIN",
        "consumer": "C",
        "group": "g",
        "pinned_id": pin,
    }
    groups = (await info(nc, "PIN", "C"))["priority_groups"]
    assert groups[0]["group"] == "g" and groups[0]["pinned_client_id"] == pin
    assert groups[0]["pinned_ts"] != ZERO_TIME

    async with Inbox(nc) as other:
        # a request without the pin waits while the pin holds ...
        await request(nc, other, "PIN", "C", {"group": "g", "batch": 1, "expires": 2_000_000_000})
        # ... one with another id is refused at once, one with the pin is served
        assert statuses(await one(nc, "PIN", "C", {"group": "g", "id": "x" * 22})) == [
            ("423", "Nats-Pin-Id mismatch")
        ]
        got = await one(nc, "PIN", "C", {"group": "g", "id": pin})
        assert data(got) == [b"m3"] and pin_of(got[0]) == pin
        # the waiting request never got anything; it ends at its expiry
        left = await other.collect(timeout=4 * T)
    assert data(left) == [] and statuses(left) == [("408", "Request Timeout")]
    await nc.close()


async def test_stale_pin_ends_with_423_when_a_message_comes(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="ST", subjects=["st"])
    await create(nc, "ST", {"durable_name": "C", **PINNED})
    async with Inbox(nc) as stale, Inbox(nc) as fresh:
        await request(nc, stale, "ST", "C", {"group": "g", "id": "old", "batch": 2, "expires": 5_000_000_000})
        await request(nc, fresh, "ST", "C", {"group": "g", "batch": 2, "expires": 5_000_000_000})
        await stale.none_within(0.2)  # nothing happens before there is a message
        await publish(nc, "st", b"m1")
        end = await stale.next()
        assert status(end) == ("423", "Nats-Wrong-Pin-Id")
        assert end.headers is not None
        assert (end.headers["Nats-Pending-Messages"], end.headers["Nats-Pending-Bytes"]) == ("2", "0")
        got = await fresh.next()
        assert got.data == b"m1" and PIN_RE.fullmatch(pin_of(got))
    await nc.close()


async def test_unpin_api_moves_the_pin(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="UN", subjects=["un"])
    await create(nc, "UN", {"durable_name": "C", **PINNED})
    await create(nc, "UN", {"durable_name": "O", "priority_policy": "overflow", "priority_groups": ["g"]})
    await create(nc, "UN", {"durable_name": "N"})
    await publish(nc, "un", b"m1", b"m2")
    first = await one(nc, "UN", "C", {"group": "g"})
    pin = pin_of(first[0])
    unpin = "$JS.API.CONSUMER.UNPIN.UN."
    errors = [
        (unpin + "C", b"", 10025, "invalid JSON: unexpected end of JSON input"),
        (unpin + "C", {}, 10025, "invalid JSON: consumer group not specified"),
        (unpin + "C", b"{bad", 10025, None),
        (unpin + "C", {"group": "a.b"}, 10162, None),
        (unpin + "C", {"group": "h"}, 10160, "Provided priority group does not exist for this consumer"),
        (unpin + "N", {"group": "g"}, 10160, None),
        (unpin + "NOPE", {"group": "g"}, 10014, "consumer not found"),
        ("$JS.API.CONSUMER.UNPIN.NOPE.C", {"group": "g"}, 10059, "stream not found"),
    ]
    for subject, body, code, text in errors:
        r = await api(nc, subject, body)
        assert r["type"] == "io.nats.jetstream.api.v1.consumer_unpin_response", r
        assert r["error"]["err_code"] == code, (subject, body, r)
        if text is not None:
            assert r["error"]["description"] == text
    assert (await info(nc, "UN", "C"))["priority_groups"][0]["pinned_client_id"] == pin

    async with Inbox(nc, f"{ADVISORY}.CONSUMER.UNPINNED.UN.C") as unpinned, Inbox(nc) as waiting:
        await request(nc, waiting, "UN", "C", {"group": "g", "batch": 1, "expires": 5_000_000_000})
        await waiting.none_within(0.2)  # pinned to the first client
        # unknown fields are ignored; the pin goes and the waiting client gets the pin
        r = await api(nc, unpin + "C", {"group": "g", "extra": 1})
        assert r == {"type": "io.nats.jetstream.api.v1.consumer_unpin_response"}
        adv = await advisory(unpinned)
        assert adv["type"] == "io.nats.jetstream.advisory.v1.consumer_group_unpinned"
        assert (adv["group"], adv["reason"], adv["consumer"]) == ("g", "admin", "C")
        got = await waiting.next()
    assert got.data == b"m2"
    new_pin = pin_of(got)
    assert PIN_RE.fullmatch(new_pin) and new_pin != pin
    assert (await info(nc, "UN", "C"))["priority_groups"][0]["pinned_client_id"] == new_pin
    # an overflow consumer's group may be unpinned too (nothing to do)
    assert "error" not in await api(nc, unpin + "O", {"group": "g"})
    await nc.close()


async def test_pin_timeout_hands_the_pin_on(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="TO", subjects=["to"])
    await create(nc, "TO", {"durable_name": "C", **PINNED, "priority_timeout": 1_000_000_000})
    await publish(nc, "to", b"m1")
    pin = pin_of((await one(nc, "TO", "C", {"group": "g"}))[0])
    async with Inbox(nc, f"{ADVISORY}.CONSUMER.UNPINNED.TO.C") as unpinned, Inbox(nc) as waiting:
        await request(nc, waiting, "TO", "C", {"group": "g", "batch": 1, "expires": 10_000_000_000})
        await publish(nc, "to", b"m2")
        await waiting.none_within(0.1)  # held for the pinned client
        adv = await advisory(unpinned)  # the pinned client did not come back within 1s
        assert (adv["group"], adv["reason"]) == ("g", "timeout")
        got = await waiting.next()
    assert got.data == b"m2" and PIN_RE.fullmatch(pin_of(got)) and pin_of(got) != pin
    await nc.close()


async def test_overflow_serves_thresholds_only_when_met(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="OV", subjects=["ov"])
    await create(
        nc,
        "OV",
        {
            "durable_name": "C",
            "ack_policy": "explicit",
            "priority_policy": "overflow",
            "priority_groups": ["g"],
        },
    )
    await publish(nc, "ov", *[b"m%d" % i for i in range(1, 6)])
    async with Inbox(nc) as spill:
        # waits for 10 pending messages (5 now)
        await request(
            nc, spill, "OV", "C", {"group": "g", "batch": 10, "min_pending": 10, "expires": 10_000_000_000}
        )
        got = await one(nc, "OV", "C", {"group": "g", "batch": 2}, count=2)
        assert data(got) == [b"m1", b"m2"]
        # 2 unacknowledged: a request for min_ack_pending 2 is served, one for 3 is not
        short = {"group": "g", "min_ack_pending": 3, "expires": 300_000_000}
        assert statuses(await one(nc, "OV", "C", short)) == [("408", "Request Timeout")]
        assert data(await one(nc, "OV", "C", {"group": "g", "min_ack_pending": 2})) == [b"m3"]
        await spill.none_within(0.2)
        # 2 + 10 pending: the spill-over request takes messages while at least 10 are pending
        await publish(nc, "ov", *[b"n%d" % i for i in range(1, 11)])
        got = await spill.collect(count=3, timeout=T)
        assert data(got) == [b"m4", b"m5", b"n1"]
        await spill.none_within(0.3)
        r = await info(nc, "OV", "C")
        assert (r["num_pending"], r["num_ack_pending"], r["num_waiting"]) == (9, 6, 1)
        assert r["priority_groups"] == [{"group": "g", "pinned_ts": ZERO_TIME}]
    await nc.close()


async def test_prioritized_serves_lower_priority_first(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="PR", subjects=["pr"])
    await create(nc, "PR", {"durable_name": "C", "priority_policy": "prioritized", "priority_groups": ["g"]})
    async with Inbox(nc) as a, Inbox(nc) as b, Inbox(nc) as c:
        expires = 10_000_000_000
        await request(nc, a, "PR", "C", {"group": "g", "priority": 5, "batch": 3, "expires": expires})
        await request(nc, b, "PR", "C", {"group": "g", "priority": 1, "batch": 2, "expires": expires})
        await request(nc, c, "PR", "C", {"group": "g", "priority": 5, "batch": 3, "expires": expires})
        await publish(nc, "pr", *[b"m%d" % i for i in range(1, 7)])
        got_b = data(await b.collect(count=2))
        got_a = data(await a.collect(count=2))
        got_c = data(await c.collect(count=2))
    # priority 1 first; then the two at priority 5 take turns
    assert (got_b, got_a, got_c) == ([b"m1", b"m2"], [b"m3", b"m5"], [b"m4", b"m6"])
    await nc.close()


async def test_pull_request_priority_fields_are_checked(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="RQ", subjects=["rq"])
    await create(nc, "RQ", {"durable_name": "N"})
    await create(nc, "RQ", {"durable_name": "P", **PINNED})
    await create(nc, "RQ", {"durable_name": "O", "priority_policy": "overflow", "priority_groups": ["g"]})
    cases = [
        ("N", {"min_pending": 1}, ("400", "Bad Request - Not a Overflow Priority consumer")),
        ("N", {"min_ack_pending": -1}, ("400", "Bad Request - Not a Overflow Priority consumer")),
        ("N", {"id": "x"}, ("400", "Bad Request - Not a Pinned Client Priority consumer")),
        ("N", {"priority": 10}, ("400", "Bad Request - Priority must be between 0 and 9")),
        ("N", {"priority": -1}, ("400", "Bad Request - Priority must be between 0 and 9")),
        ("N", {"group": "any", "no_wait": True}, ("404", "No Messages")),  # ignored without a policy
        ("P", {"no_wait": True}, ("400", "Bad Request - Priority Group missing")),
        ("P", {"group": "h", "no_wait": True}, ("400", "Bad Request - Invalid Priority Group")),
        ("P", {"group": "g", "min_pending": 3}, ("400", "Bad Request - Not a Overflow Priority consumer")),
        ("P", {"group": "g", "priority": 3, "no_wait": True}, ("404", "No Messages")),
        ("P", {"group": "g", "id": "stale", "no_wait": True}, ("404", "No Messages")),
        ("O", {"group": "g", "id": "x"}, ("400", "Bad Request - Not a Pinned Client Priority consumer")),
        ("O", {"group": "g", "min_pending": 1, "no_wait": True}, ("404", "No Messages")),
    ]
    for consumer, body, expected in cases:
        assert statuses(await one(nc, "RQ", consumer, body)) == [expected], (consumer, body)
    await nc.close()


async def test_priority_policy_update(js_url: str) -> None:
    """An update may change the policy and the groups (the reference has no rule against it).
    What a pin taken under the old policy does afterwards: test_pull_requests.py
    ``test_pin_outlives_an_update_away_from_pinned_client``."""
    nc, js = await connect(js_url)
    await js.add_stream(name="UP", subjects=["up"])
    await create(nc, "UP", {"durable_name": "C", "priority_policy": "overflow", "priority_groups": ["g"]})
    r = await create(
        nc, "UP", {"durable_name": "C", **PINNED, "ack_policy": "none", "priority_groups": ["h"]}
    )
    assert r["config"]["priority_policy"] == "pinned_client" and r["priority_groups"][0]["group"] == "h"
    await publish(nc, "up", b"m1")
    got = await one(nc, "UP", "C", {"group": "h"})
    assert data(got) == [b"m1"] and PIN_RE.fullmatch(pin_of(got[0]))
    assert statuses(await one(nc, "UP", "C", {"group": "g"})) == [
        ("400", "Bad Request - Invalid Priority Group")
    ]
    await nc.close()


async def test_pin_taken_by_a_request_too_small_for_the_message_is_released(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="MB", subjects=["mb"])
    await create(nc, "MB", {"durable_name": "C", **PINNED})
    async with Inbox(nc, f"{ADVISORY}.CONSUMER.PINNED.MB.C") as pinned, Inbox(nc) as small, Inbox(nc) as big:
        await request(
            nc, small, "MB", "C", {"group": "g", "batch": 1, "max_bytes": 10, "expires": 5_000_000_000}
        )
        await request(nc, big, "MB", "C", {"group": "g", "batch": 1, "expires": 5_000_000_000})
        await publish(nc, "mb", b"x" * 100)
        end = await small.next()
        assert status(end) == ("409", "Message Size Exceeds MaxBytes")
        got = await big.next()
        assert got.data == b"x" * 100
        first, second = await advisory(pinned), await advisory(pinned)
    # the first pin went to the small request and was dropped with it (no unpinned advisory)
    assert first["pinned_id"] != second["pinned_id"] == pin_of(got)
    r = await info(nc, "MB", "C")
    assert r["priority_groups"][0]["pinned_client_id"] == pin_of(got)
    await nc.close()


async def test_pinned_redelivery_goes_to_the_pin(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="RD", subjects=["rd"])
    await create(nc, "RD", {"durable_name": "C", **PINNED, "ack_wait": 500_000_000})
    await publish(nc, "rd", b"m1")
    first = (await one(nc, "RD", "C", {"group": "g"}))[0]
    pin = pin_of(first)
    async with Inbox(nc) as other, Inbox(nc) as owner:
        await request(nc, other, "RD", "C", {"group": "g", "batch": 1, "expires": 5_000_000_000})
        await request(nc, owner, "RD", "C", {"group": "g", "id": pin, "batch": 1, "expires": 5_000_000_000})
        again = await owner.next()  # after ack_wait, to the pinned client only
        assert again.data == b"m1" and pin_of(again) == pin
        assert again.reply.split(".")[4] == "2"  # second delivery
        await other.none_within(0.2)
    await nc.close()


async def test_requests_with_the_pin_keep_it_past_the_timeout(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="KP", subjects=["kp"])
    await create(nc, "KP", {"durable_name": "C", **PINNED, "priority_timeout": 2_000_000_000})
    await publish(nc, "kp", b"m1")
    pin = pin_of((await one(nc, "KP", "C", {"group": "g"}))[0])
    started = time.monotonic()
    async with Inbox(nc, f"{ADVISORY}.CONSUMER.UNPINNED.KP.C") as unpinned:
        # each request naming the pin restarts its 2 s timeout (pacing, not synchronisation)
        while time.monotonic() - started < 3.0:
            r = await one(nc, "KP", "C", {"group": "g", "id": pin, "expires": 300_000_000})
            assert statuses(r) == [("408", "Request Timeout")]
            await asyncio.sleep(0.2)
        await unpinned.none_within(0.1)
        assert (await info(nc, "KP", "C"))["priority_groups"][0]["pinned_client_id"] == pin
        # once they stop, the pin times out
        adv = json.loads((await unpinned.next(timeout=3 * T)).data)
    assert adv["reason"] == "timeout"
    await nc.close()
