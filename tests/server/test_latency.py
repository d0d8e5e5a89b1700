"""Service latency tracking on exports: one scenario on both servers, through nats-py.

Each test runs the reference nats-server and pynatsd from the same config file and asserts
the same observable results: which requests produce a ``ServiceLatency`` result on the
exporter's results subject, its fields (in the reference's order), what the import shares
about the requestor, the tracing headers passed on, and the error statuses. Latencies are
only checked for plausibility (never against an upper bound).

Where a test shows that a request was *not* measured, a measured request follows it and
must be the first result to arrive: both servers publish results in order.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from pynatsd.gocompat import parse_time
from tests.server.test_accounts import Conns, serve
from tests.support.binary import require_reference
from tests.support.launcher import KINDS, Kind, ServerProcess, start_server

CONFIG = """
accounts {
  A {
    users = [{user: a, password: a}]
    exports = [
      {service: "svc", latency: {sampling: 100%, subject: "lat.svc"}}
      {service: "shared", latency: "lat.shared"}
      {service: "traced", latency: {sampling: headers, subject: "lat.traced"}}
      {service: "slow", threshold: "1s", latency: "lat.slow"}
      {service: "plain"}
      {service: "half", latency: {sampling: 50, subject: "lat.half"}}
      {stream: "lat.>"}
    ]
  }
  B {
    users = [{user: b, password: b}]
    imports = [
      {service: {account: A, subject: "svc"}}
      {service: {account: A, subject: "shared"}, share: true}
      {service: {account: A, subject: "traced"}}
      {service: {account: A, subject: "slow"}}
      {service: {account: A, subject: "plain"}}
      {service: {account: A, subject: "half"}}
      {stream: {account: A, subject: "lat.>"}, prefix: "metrics"}
    ]
  }
}
"""

TYPE = "io.nats.server.metric.v1.service_latency"
# the ClientInfo fields a shared (detailed) client info has, and the short one
DETAILED = {
    "start",
    "host",
    "id",
    "acc",
    "user",
    "name",
    "lang",
    "ver",
    "rtt",
    "server",
    "kind",
    "client_type",
}
SHORT = {"acc", "rtt"}


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> Kind:
    if request.param == "reference":
        require_reference()
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def server(kind: Kind, tmp_path: Path) -> Iterator[ServerProcess]:
    srv = serve(kind, tmp_path, CONFIG)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
async def conns(server: ServerProcess) -> AsyncIterator[Conns]:
    c = Conns(server)
    yield c
    await c.close()


class Scene:
    """The exporter (A, user a, named "responder"), the importer (B, user b, named "asker")
    and a subscription on A's results subjects; ``t0`` is taken before anyone connects."""

    def __init__(self, conns: Conns) -> None:
        self.conns = conns
        self.t0 = time.time_ns()

    async def start(self) -> Scene:
        self.a = await self.conns("a", name="responder")
        self.b = await self.conns("b", name="asker")
        self.results: Subscription = await self.a.subscribe("lat.>")
        await self.a.flush()
        return self

    async def serve(self, subject: str, answer: bytes = b"ok") -> list[Msg]:
        """Answer requests on ``subject`` in A; returns the requests seen."""
        seen: list[Msg] = []

        async def respond(msg: Msg) -> None:
            seen.append(msg)
            await msg.respond(answer)

        await self.a.subscribe(subject, cb=respond)
        await self.a.flush()
        return seen

    async def result(self) -> tuple[str, dict[str, Any]]:
        msg = await self.results.next_msg(timeout=10)
        return msg.subject, json.loads(msg.data)

    def check(self, r: dict[str, Any], status: int) -> None:
        """What every result has: the event type, a unique id, times within the test."""
        now = time.time_ns()
        assert r["type"] == TYPE and r["status"] == status
        assert isinstance(r["id"], str) and len(r["id"]) == 22
        assert self.t0 <= parse_time(r["timestamp"]) <= now
        assert self.t0 <= parse_time(r["start"]) <= parse_time(r["timestamp"])
        assert r["service"] >= 0 and r["system"] >= 0 and r["total"] >= 0


def order(status: int, *, header: bool = False, responder: bool = True) -> list[str]:
    """The reference's field order of a result."""
    keys = ["type", "id", "timestamp", "status"]
    if status != 200:
        keys.append("description")
    keys.append("requestor")
    keys += ["responder"] if responder else []
    keys += ["header"] if header else []
    return [*keys, "start", "service", "system", "total"]


async def test_a_sampled_request_is_measured(conns: Conns) -> None:
    s = await Scene(conns).start()
    await s.serve("svc")
    assert (await s.b.request("svc", b"?", timeout=10)).data == b"ok"
    after = time.time_ns()
    subject, r = await s.result()
    assert subject == "lat.svc"
    s.check(r, 200)
    assert list(r) == order(200)
    # not shared by the import: only the requestor's account and RTT
    assert set(r["requestor"]) == SHORT and r["requestor"]["acc"] == "B" and r["requestor"]["rtt"] > 0
    # the responder always in full
    resp = r["responder"]
    assert set(resp) == DETAILED
    assert (resp["acc"], resp["user"], resp["name"], resp["kind"]) == ("A", "a", "responder", "Client")
    assert resp["rtt"] > 0
    assert r["service"] <= r["total"]
    assert r["total"] > 0
    # the request started after the requestor connected and before its answer came: the
    # reference dates it one requestor RTT before the server got it, so it may fall before
    # or after the moment the test sent it
    assert s.t0 <= parse_time(r["start"]) <= after


async def test_results_can_be_exported_like_any_message(conns: Conns) -> None:
    """The results are ordinary messages of the exporting account: a stream export of the
    results subject lets the importer read them."""
    s = await Scene(conns).start()
    await s.serve("svc")
    metrics = await s.b.subscribe("metrics.lat.>")
    await s.b.flush()
    await s.b.request("svc", b"?", timeout=10)
    msg = await metrics.next_msg(timeout=10)
    assert msg.subject == "metrics.lat.svc"
    r = json.loads(msg.data)
    s.check(r, 200)
    assert r["requestor"]["acc"] == "B"


async def test_a_shared_import_tells_who_asked(conns: Conns) -> None:
    s = await Scene(conns).start()
    await s.serve("shared")
    await s.b.request("shared", b"?", timeout=10)
    subject, r = await s.result()
    assert subject == "lat.shared"
    s.check(r, 200)
    req = r["requestor"]
    assert set(req) == DETAILED
    assert (req["acc"], req["user"], req["name"], req["lang"]) == ("B", "b", "asker", "python3")
    assert req["server"] == r["responder"]["server"]


async def test_every_request_at_100_percent(conns: Conns) -> None:
    s = await Scene(conns).start()
    await s.serve("svc")
    for _ in range(5):
        await s.b.request("svc", b"?", timeout=10, headers={"X-B3-TraceId": "abc"})
    for _ in range(5):
        subject, r = await s.result()
        assert subject == "lat.svc"
        s.check(r, 200)
        assert "header" not in r  # sampled by the percentage: headers are not looked at


async def test_an_export_without_latency_publishes_nothing(conns: Conns) -> None:
    s = await Scene(conns).start()
    await s.serve("plain")
    await s.serve("svc")
    await s.b.request("plain", b"?", timeout=10)
    await s.b.request("svc", b"?", timeout=10)
    subject, r = await s.result()
    assert (subject, r["status"]) == ("lat.svc", 200)  # the plain request left no result before it


async def test_a_percentage_samples_about_that_share(conns: Conns) -> None:
    """50 %: about half the requests are measured (the reference draws 0-99 and samples at
    most 50, so 51 %); the bounds are more than five standard deviations wide."""
    s = await Scene(conns).start()
    await s.serve("half")
    await s.serve("svc")
    for _ in range(200):
        await s.b.request("half", b"?", timeout=10)
    await s.b.request("svc", b"?", timeout=10)  # results arrive in order: this one comes last
    n = 0
    while True:
        subject, r = await s.result()
        assert r["status"] == 200
        if subject == "lat.svc":
            break
        n += 1
    assert 60 <= n <= 140


# (request headers, the header the result carries; None: not sampled)
HEADERS: list[tuple[dict[str, str], dict[str, list[str]] | None]] = [
    ({}, None),
    ({"Other": "x"}, None),
    (
        {
            "Uber-Trace-Id": "479fefe9525eddb:5adb976bfc1f95c1:479fefe9525eddb:1",
            "uberctx-user": "u",
            "Other": "x",
        },
        {"Uber-Trace-Id": ["479fefe9525eddb:5adb976bfc1f95c1:479fefe9525eddb:1"], "Uberctx-User": ["u"]},
    ),
    ({"Uber-Trace-Id": "479fefe9525eddb:5adb976bfc1f95c1:479fefe9525eddb:0"}, None),
    ({"Uber-Trace-Id": "a:b:c:03"}, {"Uber-Trace-Id": ["a:b:c:03"]}),
    ({"Uber-Trace-Id": "a:b:c:12"}, None),  # only the last digit counts
    ({"Uber-Trace-Id": "a:b:c"}, None),
    (
        {
            "X-B3-Sampled": "1",
            "X-B3-TraceId": "t1",
            "X-B3-SpanId": "s",
            "X-B3-ParentSpanId": "p",
            "Other": "x",
        },
        {"X-B3-Sampled": ["1"], "X-B3-Traceid": ["t1"], "X-B3-Spanid": ["s"], "X-B3-Parentspanid": ["p"]},
    ),
    ({"X-B3-Sampled": "0", "X-B3-TraceId": "t2"}, None),
    ({"X-B3-TraceId": "t3"}, {"X-B3-Traceid": ["t3"]}),
    (
        {"B3": "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"},
        {"B3": ["80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"]},
    ),
    ({"B3": "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0"}, None),
    ({"B3": "0"}, None),
    (
        {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "k=v"},
        {"Traceparent": ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"], "Tracestate": ["k=v"]},
    ),
    ({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"}, None),
    ({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff"}, None),  # not an int8
    ({"traceparent": "00-x-y-1"}, None),
    ({"traceparent": "00-x-y-7f"}, {"Traceparent": ["00-x-y-7f"]}),
    ({"traceparent": "00-x-y-81"}, None),
    ({"Uber-Trace-Id": "a:b:c:101"}, None),
    ({"X-B3-Sampled": "yes", "X-B3-TraceId": "t4"}, {"X-B3-Sampled": ["yes"], "X-B3-Traceid": ["t4"]}),
    ({"X-B3-Sampled": "yes"}, None),
]


async def test_headers_sampling_follows_tracing_headers(conns: Conns) -> None:
    s = await Scene(conns).start()
    await s.serve("traced")
    for n, (headers, expected) in enumerate(HEADERS):
        await s.b.request("traced", b"?", timeout=10, headers=headers or None)
        if expected is None:
            # a measured request right after: its result must be the next one
            marker = f"marker-{n}"
            await s.b.request("traced", b"?", timeout=10, headers={"X-B3-TraceId": marker})
            expected = {"X-B3-Traceid": [marker]}
        subject, r = await s.result()
        assert subject == "lat.traced"
        s.check(r, 200)
        assert list(r) == order(200, header=True), headers
        assert r["header"] == expected, headers


async def test_a_request_without_reply_is_a_bad_request(conns: Conns) -> None:
    s = await Scene(conns).start()
    got = await s.serve("shared")
    await s.b.publish("shared", b"no reply", headers={"X-B3-TraceId": "t"})
    await s.b.flush()
    subject, r = await s.result()
    assert subject == "lat.shared"
    s.check(r, 400)
    assert list(r) == order(400, responder=False)
    assert r["description"] == "Bad Request"
    assert set(r["requestor"]) == DETAILED and r["requestor"]["name"] == "asker"
    assert (r["service"], r["system"], r["total"]) == (0, 0, 0)
    # the request still reaches the service
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.1)
    assert got[0].data == b"no reply"


async def test_no_responder_is_service_unavailable(conns: Conns) -> None:
    s = await Scene(conns).start()
    with pytest.raises(NoRespondersError):
        await s.b.request("svc", b"?", timeout=10)
    subject, r = await s.result()
    assert subject == "lat.svc"
    s.check(r, 503)
    assert list(r) == order(503, responder=False)
    assert r["description"] == "Service Unavailable"
    assert set(r["requestor"]) == SHORT
    assert (r["service"], r["system"], r["total"]) == (0, 0, 0)


async def test_no_answer_within_the_threshold_is_a_service_timeout(conns: Conns) -> None:
    s = await Scene(conns).start()
    got = asyncio.Event()

    async def silent(msg: Msg) -> None:
        got.set()

    await s.a.subscribe("slow", cb=silent)
    await s.a.flush()
    with pytest.raises(NatsTimeout):
        await s.b.request("slow", b"?", timeout=0.5)
    assert got.is_set()
    # the threshold is 1s; both servers look for expired responses at their own pace
    msg = await s.results.next_msg(timeout=30)
    r = json.loads(msg.data)
    assert msg.subject == "lat.slow"
    s.check(r, 504)
    assert list(r) == order(504, responder=False)
    assert r["description"] == "Service Timeout"
    assert (r["service"], r["system"], r["total"]) == (0, 0, 0)


@pytest.mark.parametrize("how", ["unsubscribe", "disconnect"])
async def test_lost_interest_is_a_request_timeout(conns: Conns, how: str) -> None:
    s = await Scene(conns).start()
    pending: list[Msg] = []
    got = asyncio.Event()

    async def hold(msg: Msg) -> None:
        pending.append(msg)
        got.set()

    await s.a.subscribe("svc", cb=hold)
    await s.serve("shared")
    inbox = await s.b.subscribe("my.inbox")
    await s.b.publish("svc", b"?", reply="my.inbox")
    await asyncio.wait_for(got.wait(), 10)
    if how == "unsubscribe":
        await inbox.unsubscribe()
        await s.b.flush()
    else:
        await s.b.close()
    subject, r = await s.result()
    assert subject == "lat.svc"
    s.check(r, 408)
    assert list(r) == order(408, responder=False)
    assert r["description"] == "Request Timeout"
    assert set(r["requestor"]) == SHORT and r["requestor"]["acc"] == "B"
    # a late answer is measured no more: the next result is the next request's
    await pending[0].respond(b"late")
    await s.a.flush()
    asker = s.b if how == "unsubscribe" else await conns("b")
    await asker.request("shared", b"?", timeout=10)
    subject, r = await s.result()
    assert subject == "lat.shared" and r["status"] == 200


async def test_reload_turns_tracking_on_and_off(kind: Kind, tmp_path: Path) -> None:
    path = tmp_path / f"{kind}.conf"
    path.write_text(CONFIG)
    srv = start_server(kind, "-c", str(path))
    conns = Conns(srv)
    try:
        s = await Scene(conns).start()
        await s.serve("plain")
        await s.serve("svc")

        async def reload(config: str) -> None:
            path.write_text(config)
            os.kill(srv.pid, signal.SIGHUP)
            srv.wait_for_log("Reloaded server configuration")

        # "plain" tracked from now on, "svc" no longer
        await reload(
            CONFIG.replace('{service: "plain"}', '{service: "plain", latency: "lat.plain"}').replace(
                '{service: "svc", latency: {sampling: 100%, subject: "lat.svc"}}', '{service: "svc"}'
            )
        )
        await s.b.request("svc", b"?", timeout=10)
        await s.b.request("plain", b"?", timeout=10)
        subject, r = await s.result()
        assert (subject, r["status"]) == ("lat.plain", 200)
        await reload(CONFIG)
        await s.b.request("plain", b"?", timeout=10)
        await s.b.request("svc", b"?", timeout=10)
        subject, r = await s.result()
        assert (subject, r["status"]) == ("lat.svc", 200)
    finally:
        await conns.close()
        srv.stop()
