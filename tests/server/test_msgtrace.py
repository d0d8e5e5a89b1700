"""Message tracing (the reference's msgtrace.go): one scenario on both servers, the same events.

Each test starts the reference nats-server and pynatsd from the same config file and
drives them through nats-py. Trace events are compared as JSON with what varies between
runs normalised: server name, id, sequence and time, event timestamps, and connection ids
(replaced by the name of the test's connection that has them). Egress events in a row are
compared in a fixed order (the servers list subscribers in their own order).
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import cramjam
import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription

from tests.support.binary import require_reference
from tests.support.launcher import KINDS, Kind, ServerProcess, start_server

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
NOT_SAMPLED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"

CONFIG = """
accounts {
  A {
    users = [
      {user: a, password: a}
      {user: limited, password: l, permissions: {publish: {allow: ["foo", "a.trace", "t.>"], deny: ["foo.denied"]}}}
      {user: nosecret, password: nosecret, permissions: {subscribe: {allow: ">", deny: "secret.>"}}}
    ]
    exports = [
      {stream: "news.>"}
      {stream: "quiet.>"}
      {stream: "lit"}
      {stream: "w.*.x"}
      {service: "svc", allow_trace: true}
      {service: "nosvc"}
    ]
    mappings = { "old": "new" }
  }
  B {
    users = [{user: b, password: b}]
    imports = [
      {stream: {account: A, subject: "news.>"}, prefix: "imp", allow_trace: true}
      {stream: {account: A, subject: "quiet.>"}, prefix: "imp"}
      {stream: {account: A, subject: "lit"}, to: "mine", allow_trace: true}
      {stream: {account: A, subject: "w.*.x"}, to: "m.*.y", allow_trace: true}
      {service: {account: A, subject: "svc"}}
      {service: {account: A, subject: "nosvc"}}
    ]
    msg_trace { dest: "acc.trace", sampling: 100 }
  }
}
"""


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> Kind:
    if request.param == "reference":
        require_reference()
    return request.param  # type: ignore[no-any-return]


def serve(kind: Kind, tmp_path: Path, config: str) -> ServerProcess:
    path = tmp_path / f"{kind}.conf"
    path.write_text(config)
    return start_server(kind, "-c", str(path))


@pytest.fixture
def server(kind: Kind, tmp_path: Path) -> Iterator[ServerProcess]:
    srv = serve(kind, tmp_path, CONFIG)
    try:
        yield srv
    finally:
        srv.stop()


class Conns:
    """The connections of one test by name (the name also labels their cids in events)."""

    def __init__(self, srv: ServerProcess) -> None:
        self.srv = srv
        self.by_cid: dict[int, str] = {}
        self.all: list[NATS] = []
        self.errors: list[Exception] = []
        self._error_seen = asyncio.Event()

    async def __call__(self, label: str, user: str | None = None, name: str | None = None) -> NATS:
        kw: dict[str, Any] = {}
        if user is not None:
            kw["user"] = user
            kw["password"] = "l" if user == "limited" else user
        if name is not None:
            kw["name"] = name

        async def on_error(e: Exception) -> None:
            self.errors.append(e)
            self._error_seen.set()

        nc = await nats.connect(
            self.srv.url, allow_reconnect=False, max_reconnect_attempts=0, error_cb=on_error, **kw
        )
        self.all.append(nc)
        assert nc.client_id is not None
        self.by_cid[nc.client_id] = label
        return nc

    async def wait_error(self, text: str, timeout: float = 10.0) -> None:
        """Until an error reported to a connection contains ``text``."""
        async with asyncio.timeout(timeout):
            while not any(text in str(e) for e in self.errors):
                self._error_seen.clear()
                await self._error_seen.wait()

    async def close(self) -> None:
        for nc in self.all:
            if not nc.is_closed:
                await nc.close()


@pytest.fixture
async def conns(server: ServerProcess) -> AsyncIterator[Conns]:
    c = Conns(server)
    yield c
    await c.close()


def normalise(raw: bytes, conns: Conns) -> dict[str, Any]:
    ev: dict[str, Any] = json.loads(raw)
    for k in ("name", "id", "seq", "time"):
        assert k in ev["server"], k
        ev["server"][k] = "*"
    events = ev["events"]
    for e in events:
        assert e.pop("ts")
        if "cid" in e:
            e["cid"] = conns.by_cid.get(e["cid"], "?")
    # egress events in a row: in a fixed order
    out: list[dict[str, Any]] = []
    run: list[dict[str, Any]] = []
    for e in [*events, None]:
        if e is not None and e["type"] == "eg":
            run.append(e)
            continue
        out.extend(sorted(run, key=lambda x: json.dumps(x, sort_keys=True)))
        run = []
        if e is not None:
            out.append(e)
    ev["events"] = out
    return ev


async def next_event(sub: Subscription, conns: Conns) -> dict[str, Any]:
    msg = await sub.next_msg(timeout=10)
    return normalise(msg.data, conns)


SERVER = {
    "name": "*",
    "host": "127.0.0.1",
    "id": "*",
    "ver": "2.15.1",
    "feature_flags": {
        "js_ack_fc_v2": False,
        "js_api_reply_v2": False,
        "js_raft_delete_range": True,
        "js_snapshot_sources": False,
    },
    "jetstream": False,
    "flags": 0,
    "seq": "*",
    "time": "*",
}


def ingress(cid: str, acc: str, subj: str, name: str = "", **more: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"type": "in", "kind": 0, "cid": cid}
    if name:
        e["name"] = name
    return {**e, "acc": acc, "subj": subj, **more}


def egress(cid: str, sub: str, **more: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"type": "eg", "kind": 0, "cid": cid}
    if "name" in more:
        e["name"] = more.pop("name")
    if "acc" in more:
        e["acc"] = more.pop("acc")
    e["sub"] = sub
    e.update(more)
    return e


def event(header: dict[str, list[str]], payload: bytes, *events: dict[str, Any]) -> dict[str, Any]:
    """The event expected for a message published by nats-py with these headers."""
    block = b"NATS/1.0\r\n" + b"".join(f"{k}: {v[0]}\r\n".encode() for k, v in header.items()) + b"\r\n"
    size = len(block) + len(payload)
    return {"server": SERVER, "request": {"header": header, "msgsize": size}, "events": list(events)}


async def test_trace_and_trace_only(conns: Conns) -> None:
    pub = await conns("pub", "a")
    s1 = await conns("s1", "a", name="subs")
    s2 = await conns("s2", "a")
    trace = await pub.subscribe("t.events")
    subs = [await s1.subscribe("new"), await s1.subscribe("new", queue="q"), await s2.subscribe("*")]
    for nc in (pub, s1, s2):
        await nc.flush()

    # nobody listens: the ingress alone
    await pub.publish("no.one", b"hello!", headers={"Nats-Trace-Dest": "t.events", "Nats-Trace-Only": "true"})
    hdr = {"Nats-Trace-Dest": ["t.events"], "Nats-Trace-Only": ["true"]}
    assert await next_event(trace, conns) == event(hdr, b"hello!", ingress("pub", "A", "no.one"))

    # a mapped subject, three subscribers (one in a queue group)
    expected_egress = [
        egress("s1", "new", name="subs"),
        egress("s1", "new", name="subs", queue="q"),
        egress("s2", "*"),
    ]
    for only in (True, False):
        headers = {"Zed": "z", "Nats-Trace-Dest": "t.events", "App": "x"}
        if only:
            headers["Nats-Trace-Only"] = "true"
        await pub.publish("old", b"hello!", headers=headers)
        ev = await next_event(trace, conns)
        hdr = {k: [v] for k, v in sorted(headers.items())}  # the reference writes them sorted
        want = event(
            hdr, b"hello!", ingress("pub", "A", "old"), {"type": "sm", "to": "new"}, *expected_egress
        )
        want["events"][2:] = sorted(want["events"][2:], key=lambda x: json.dumps(x, sort_keys=True))
        assert ev == want
        assert json.dumps(ev) == json.dumps(want)  # the same order of fields as well
        # delivered with the trace headers kept, or not at all: a plain marker comes first
        for nc in (s1, s2):
            await nc.flush()
        await pub.publish("new", b"marker")
        for sub in subs:
            got = await sub.next_msg(timeout=10)
            if not only:
                assert got.data == b"hello!"
                assert got.headers == headers
                got = await sub.next_msg(timeout=10)
            assert got.data == b"marker"


async def test_ingress_errors_and_bad_destinations(conns: Conns) -> None:
    pub = await conns("pub", "limited")
    watcher = await conns("watcher", "a")
    trace = await watcher.subscribe("t.events")
    foo = await watcher.subscribe("foo")
    await watcher.flush()

    # a publish permission violation: the event has the ingress error, nothing is delivered
    await pub.publish("foo.denied", b"x", headers={"Nats-Trace-Dest": "t.events"})
    ev = await next_event(trace, conns)
    text = 'Permissions Violation for Publish to "foo.denied"'
    assert ev["events"] == [ingress("pub", "A", "foo.denied", error=text)]

    # a reserved reply subject
    await pub.publish("foo", b"x", reply="_R_.bad", headers={"Nats-Trace-Dest": "t.events"})
    ev = await next_event(trace, conns)
    text = 'Permissions Violation for Publish with Reply of "_R_.bad"'
    assert ev["events"] == [ingress("pub", "A", "foo", error=text)]

    # an invalid destination: no event; delivered unless trace-only
    await pub.publish("foo", b"wild", headers={"Nats-Trace-Dest": "t.*"})
    await pub.publish("foo", b"wild-only", headers={"Nats-Trace-Dest": "t.*", "Nats-Trace-Only": "true"})
    # a destination the publisher may not publish to: -ERR, nothing delivered
    await pub.publish("foo", b"denied-dest", headers={"Nats-Trace-Dest": "elsewhere"})
    await pub.publish("foo", b"marker", headers={"Nats-Trace-Dest": "t.events"})
    await pub.flush()
    assert (await foo.next_msg(timeout=10)).data == b"wild"
    assert (await foo.next_msg(timeout=10)).data == b"marker"
    ev = await next_event(trace, conns)
    assert ev["events"] == [ingress("pub", "A", "foo"), egress("watcher", "foo")]
    await conns.wait_error('permissions violation for publish to "elsewhere"')


async def test_origin_account_header_disables_tracing(conns: Conns) -> None:
    pub = await conns("pub", "a")
    trace = await pub.subscribe("t.events")
    foo = await pub.subscribe("foo")
    await pub.flush()
    await pub.publish("foo", b"x", headers={"Nats-Trace-Dest": "t.events", "Nats-Trace-Origin-Account": "A"})
    got = await foo.next_msg(timeout=10)
    assert got.headers == {"Nats-Trace-Origin-Account": "A", "Nats-Trace-Dest": "trace disabled"}
    await pub.publish("foo", b"y", headers={"Nats-Trace-Dest": "t.events"})
    ev = await next_event(trace, conns)
    assert ev["request"]["header"] == {"Nats-Trace-Dest": ["t.events"]}


async def test_traceparent_uses_the_accounts_destination(conns: Conns) -> None:
    b = await conns("b", "b")
    acc_trace = await b.subscribe("acc.trace")
    app = await b.subscribe("app")
    await b.flush()
    # not sampled: not traced, delivered as it is
    await b.publish("app", b"1", headers={"traceparent": NOT_SAMPLED})
    # sampled at 100%: traced to the account's destination and delivered
    await b.publish("app", b"2", headers={"traceparent": TRACEPARENT, "Nats-Trace-Only": "true"})
    ev = await next_event(acc_trace, conns)
    hdr = {"traceparent": [TRACEPARENT], "Nats-Trace-Only": ["true"]}
    assert ev == event(hdr, b"2", ingress("b", "B", "app"), egress("b", "app"))
    assert [(await app.next_msg(timeout=10)).data for _ in range(2)] == [b"1", b"2"]
    # in account A (no msg_trace) a traceparent traces nothing
    a = await conns("a", "a")
    a_sub = await a.subscribe("app")
    await a.flush()
    await a.publish("app", b"3", headers={"traceparent": TRACEPARENT})
    assert (await a_sub.next_msg(timeout=10)).headers == {"traceparent": TRACEPARENT}


async def test_stream_export_with_and_without_allow_trace(conns: Conns) -> None:
    a = await conns("a", "a")
    b = await conns("b", "b")
    trace = await a.subscribe("t.events")
    news = await b.subscribe("imp.news.x")
    quiet = await b.subscribe("imp.quiet.x")
    await b.flush()
    await a.flush()
    for only in (True, False):
        for subject, local, allow in (("news.x", "imp.news.x", True), ("quiet.x", "imp.quiet.x", False)):
            headers = {"Nats-Trace-Dest": "t.events"}
            if only:
                headers["Nats-Trace-Only"] = "1"
            await a.publish(subject, b"data", headers=headers)
            ev = await next_event(trace, conns)
            events: list[dict[str, Any]] = [
                ingress("a", "A", subject),
                {"type": "se", "acc": "B", "to": local},
            ]
            if allow:
                # the subscription as the exporting account sees it (the reference's shadow one)
                events.append(egress("b", subject, acc="B"))
            assert ev["events"] == events
    # only the delivered messages arrived, their trace headers as published
    await a.publish("news.x", b"marker")
    await a.publish("quiet.x", b"marker")
    for sub in (news, quiet):
        got = await sub.next_msg(timeout=10)
        assert (got.data, got.headers) == (b"data", {"Nats-Trace-Dest": "t.events"})
        assert (await sub.next_msg(timeout=10)).data == b"marker"


async def test_stream_export_egress_names_the_exporters_subject(conns: Conns) -> None:
    """Each importing subscription appears as the exporter sees it (the reference's shadow
    subscription): mapped back through the import, or the import's subject when wider."""
    a = await conns("a", "a")
    b = await conns("b", "b")
    trace = await a.subscribe("t.events")
    for subject in ("imp.>", "imp.news.*", "mine", "m.*.y", "m.1.y", ">"):
        await b.subscribe(subject)
    await b.flush()
    await a.flush()
    expected = {
        "news.x": ("imp.news.x", ["news.*", "news.>", "news.>"]),
        "lit": ("mine", ["lit", "lit"]),
        "w.1.x": ("m.1.y", ["w.*.x", "w.*.x", "w.1.x"]),
    }
    for subject, (local, subs) in expected.items():
        await a.publish(subject, b"x", headers={"Nats-Trace-Dest": "t.events"})
        ev = await next_event(trace, conns)
        events = ev["events"][1:]
        assert [e for e in events if e["type"] == "se"] == [{"type": "se", "acc": "B", "to": local}] * len(
            subs
        )
        assert sorted(e["sub"] for e in events if e["type"] == "eg") == subs


async def test_service_import_with_and_without_allow_trace(conns: Conns) -> None:
    a = await conns("svc", "a", name="service")
    b = await conns("b", "b")
    trace = await b.subscribe("t.events")
    seen: list[dict[str, str]] = []

    async def respond(msg: Any) -> None:
        seen.append(dict(msg.headers or {}))
        await msg.respond(b"ok")

    await a.subscribe("svc", cb=respond)
    await a.subscribe("nosvc", cb=respond)
    await a.flush()
    await b.flush()
    for subject, allow in (("svc", True), ("nosvc", False)):
        reply = await b.request(subject, b"q", timeout=10, headers={"Nats-Trace-Dest": "t.events"})
        assert reply.data == b"ok"
        ev = await next_event(trace, conns)
        events: list[dict[str, Any]] = [
            ingress("b", "B", subject),
            {"type": "si", "acc": "A", "from": subject, "to": subject},
        ]
        if allow:
            events.append(egress("svc", subject, name="service", acc="A"))
        assert ev["events"] == events
    # the service saw the trace destination mapped to a reply subject of its account, or disabled
    assert seen[0]["Nats-Trace-Dest"].startswith("_R_.")
    assert seen[1]["Nats-Trace-Dest"] == "trace disabled"
    # trace only: the service gets nothing, the event lists it
    await b.publish("svc", b"q", headers={"Nats-Trace-Dest": "t.events", "Nats-Trace-Only": "true"})
    ev = await next_event(trace, conns)
    assert ev["events"][-1] == egress("svc", "svc", name="service", acc="A")
    await b.publish("nosvc", b"q", headers={"Nats-Trace-Dest": "t.events", "Nats-Trace-Only": "true"})
    ev = await next_event(trace, conns)
    assert ev["events"][-1]["type"] == "si"
    await b.request("svc", b"after", timeout=10)
    assert len(seen) == 3 and "Nats-Trace-Dest" not in seen[2]


@pytest.mark.parametrize("encoding", ["gzip", "snappy", "br"])
async def test_compressed_event(conns: Conns, encoding: str) -> None:
    a = await conns("a", "a")
    trace = await a.subscribe("t.events")
    await a.flush()
    await a.publish("x", b"data", headers={"Nats-Trace-Dest": "t.events", "Accept-Encoding": encoding})
    msg = await trace.next_msg(timeout=10)
    if encoding == "gzip":
        raw = gzip.decompress(msg.data)
    elif encoding == "snappy":
        raw = bytes(cramjam.snappy.decompress(msg.data))
    else:
        raw, encoding = msg.data, "identity"
    assert msg.headers == {"Content-Encoding": encoding}
    ev = normalise(raw, conns)
    assert ev["events"] == [ingress("a", "A", "x")]


# -- JetStream -----------------------------------------------------------------------------


@pytest.fixture
def js_server(kind: Kind, tmp_path: Path) -> Iterator[ServerProcess]:
    srv = serve(kind, tmp_path, f'jetstream {{ store_dir: "{tmp_path / "store"}" }}\n')
    try:
        yield srv
    finally:
        srv.stop()


async def test_into_a_stream(js_server: ServerProcess) -> None:
    conns = Conns(js_server)
    try:
        nc = await conns("pub")
        js = nc.jetstream()
        await js.add_stream(name="S", subjects=["orders.*"])
        trace = await nc.subscribe("t.events")
        await nc.flush()
        hdr = {"Nats-Trace-Dest": "t.events", "Nats-Trace-Only": "true"}
        await nc.publish("orders.1", b"only", headers=hdr)
        ev = await next_event(trace, conns)
        assert ev["server"]["jetstream"] is True and ev["server"]["flags"] == 7
        assert ev["events"] == [
            ingress("pub", "$G", "orders.1"),
            {"type": "js", "stream": "S", "subject": "orders.1"},
        ]
        assert (await js.stream_info("S")).state.messages == 0
        # delivered: stored, its trace destination disabled
        await nc.publish("orders.2", b"kept", headers={"Nats-Trace-Dest": "t.events", "App": "1"})
        ev = await next_event(trace, conns)
        assert ev["events"] == [
            ingress("pub", "$G", "orders.2"),
            {"type": "js", "stream": "S", "subject": "orders.2"},
        ]
        stored = await js.get_msg("S", 1)
        assert stored.data == b"kept"
        assert stored.headers == {"Nats-Trace-Dest": "trace disabled", "App": "1"}
        # a refused message: the js event has the error
        await nc.publish("orders.3", b"x", headers={**hdr, "Nats-Expected-Stream": "OTHER"})
        ev = await next_event(trace, conns)
        assert ev["events"][-1] == {"type": "js", "stream": "S", "error": "expected stream does not match"}
        await nc.publish("orders.3", b"x", headers={**hdr, "Nats-Expected-Last-Sequence": "7"})
        ev = await next_event(trace, conns)
        assert ev["events"][-1] == {"type": "js", "stream": "S", "error": "last sequence mismatch: 7 vs 1"}
        await nc.publish("orders.3", b"x", headers={**hdr, "Nats-Expected-Last-Msg-Id": "nope"})
        ev = await next_event(trace, conns)
        assert ev["events"][-1] == {"type": "js", "stream": "S", "error": 'last msgid mismatch: "nope" vs ""'}
        await nc.publish("orders.3", b"x", headers={**hdr, "Nats-Rollup": "all"})
        ev = await next_event(trace, conns)
        assert ev["events"][-1] == {"type": "js", "stream": "S", "error": "rollup not permitted"}
        # an error reply still goes to a trace-only request; a good one gets no PubAck
        inbox = nc.new_inbox()
        replies = await nc.subscribe(inbox)
        await nc.publish("orders.4", b"x", reply=inbox, headers={**hdr, "Nats-Expected-Stream": "OTHER"})
        await next_event(trace, conns)
        await nc.publish("orders.4", b"x", reply=inbox, headers=hdr)
        await next_event(trace, conns)
        await nc.publish("orders.4", b"x", reply=inbox)
        first = json.loads((await replies.next_msg(timeout=10)).data)
        assert first["error"]["err_code"] == 10060
        assert json.loads((await replies.next_msg(timeout=10)).data) == {"stream": "S", "seq": 2}
        # an interest stream without consumers: nointerest
        await js.add_stream(name="I", subjects=["int.>"], retention="interest")
        await nc.publish("int.x", b"x", headers=hdr)
        ev = await next_event(trace, conns)
        assert ev["events"][-1] == {"type": "js", "stream": "I", "subject": "int.x", "nointerest": True}
    finally:
        await conns.close()


# -- limits and echo -----------------------------------------------------------------------


@pytest.fixture
def small_server(kind: Kind, tmp_path: Path) -> Iterator[ServerProcess]:
    srv = serve(kind, tmp_path, "max_payload: 1024\n")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.parametrize("only", [True, False])
async def test_max_payload_error_event(small_server: ServerProcess, only: bool) -> None:
    conns = Conns(small_server)
    try:
        nc = await conns("watcher")
        trace = await nc.subscribe("t.events")
        await nc.flush()
        reader, writer = await asyncio.open_connection("127.0.0.1", small_server.port)
        await reader.readline()  # INFO
        hdr = (
            b"NATS/1.0\r\nNats-Trace-Dest:t.events\r\n"
            + (b"Nats-Trace-Only:true\r\n" if only else b"")
            + b"\r\n"
        )
        writer.write(b'CONNECT {"protocol":1,"headers":true,"no_responders":true,"verbose":false}\r\n')
        writer.write(b"HPUB foo %d 2048\r\n" % len(hdr) + hdr + b"AAAAAAAAAA")
        await writer.drain()
        ev = await trace.next_msg(timeout=10)
        events = json.loads(ev.data)["events"]
        assert len(events) == 1
        got = events[0]
        assert (got["type"], got["subj"], got["error"]) == ("in", "foo", "maximum payload exceeded")
        assert json.loads(ev.data)["request"]["msgsize"] == 2048
        assert b"Maximum Payload Violation" in await reader.readline()
        writer.close()
    finally:
        await conns.close()


async def test_no_echo_egress_error(conns: Conns) -> None:
    pub = await conns("pub", "a")
    quiet = await nats.connect(conns.srv.url, user="a", password="a", no_echo=True)
    conns.all.append(quiet)
    assert quiet.client_id is not None
    conns.by_cid[quiet.client_id] = "quiet"
    trace = await pub.subscribe("t.events")
    await quiet.subscribe("echo.me")
    await pub.flush()
    await quiet.flush()
    await quiet.publish("echo.me", b"x", headers={"Nats-Trace-Dest": "t.events"})
    ev = await next_event(trace, conns)
    assert ev["events"] == [
        ingress("quiet", "A", "echo.me"),
        egress("quiet", "echo.me", error="Not delivered because of no echo"),
    ]


async def test_subscription_deny_egress_error(conns: Conns) -> None:
    pub = await conns("pub", "a")
    watcher = await conns("watcher", "nosecret")
    trace = await pub.subscribe("t.events")
    await watcher.subscribe("*.x")
    await watcher.flush()
    await pub.flush()
    await pub.publish("secret.x", b"x", headers={"Nats-Trace-Dest": "t.events"})
    ev = await next_event(trace, conns)
    assert ev["events"] == [
        ingress("pub", "A", "secret.x"),
        egress("watcher", "*.x", error="Not delivered because subscription denies this subject"),
    ]


async def test_jetstream_api_is_a_system_service_import(js_server: ServerProcess) -> None:
    """The reference serves `$JS.API` through a service import from the system account,
    without allow_trace: the trace stops there; a trace-only request is not executed."""
    conns = Conns(js_server)
    try:
        nc = await conns("pub")
        js = nc.jetstream()
        trace = await nc.subscribe("t.events")
        inbox = nc.new_inbox()
        replies = await nc.subscribe(inbox)
        await nc.flush()
        create = json.dumps({"name": "X", "subjects": ["x"]}).encode()
        subject = "$JS.API.STREAM.CREATE.X"
        si = {"type": "si", "acc": "$SYS", "from": subject, "to": subject}
        only = {"Nats-Trace-Dest": "t.events", "Nats-Trace-Only": "true"}
        await nc.publish(subject, create, reply=inbox, headers=only)
        ev = await next_event(trace, conns)
        assert ev["events"] == [ingress("pub", "$G", subject), si]
        no_responders = await replies.next_msg(timeout=10)
        assert no_responders.headers is not None and no_responders.headers.get("Status") == "503"
        assert await js.streams_info() == []
        # delivered: executed, untraced past the import
        await nc.publish(subject, create, reply=inbox, headers={"Nats-Trace-Dest": "t.events"})
        ev = await next_event(trace, conns)
        assert ev["events"] == [ingress("pub", "$G", subject), si]
        created = json.loads((await replies.next_msg(timeout=10)).data)
        assert created["config"]["name"] == "X"
    finally:
        await conns.close()


@pytest.fixture
def no_sys_server(kind: Kind, tmp_path: Path) -> Iterator[ServerProcess]:
    srv = serve(kind, tmp_path, "no_system_account: true\n")
    try:
        yield srv
    finally:
        srv.stop()


async def test_no_event_without_a_system_account(no_sys_server: ServerProcess) -> None:
    """The reference sends trace events through its system account: none without one."""
    conns = Conns(no_sys_server)
    try:
        nc = await conns("pub")
        trace = await nc.subscribe("t.events")
        foo = await nc.subscribe("foo")
        await nc.flush()
        await nc.publish("foo", b"x", headers={"Nats-Trace-Dest": "t.events"})
        assert (await foo.next_msg(timeout=10)).data == b"x"
        await nc.publish("t.events", b"marker")
        assert (await trace.next_msg(timeout=10)).data == b"marker"
    finally:
        await conns.close()


async def test_what_a_stream_publishes_is_not_traced(js_server: ServerProcess) -> None:
    """A republished copy (and the PubAck) are the stream's own messages, not the trace's."""
    conns = Conns(js_server)
    try:
        nc = await conns("pub")
        config = {"name": "R", "subjects": ["r.*"], "republish": {"src": ">", "dest": "rp.>"}}
        created = await nc.request("$JS.API.STREAM.CREATE.R", json.dumps(config).encode(), timeout=10)
        assert "error" not in json.loads(created.data)
        copies = await nc.subscribe("rp.>")
        trace = await nc.subscribe("t.events")
        await nc.flush()
        ack = await nc.request("r.1", b"x", timeout=10, headers={"Nats-Trace-Dest": "t.events"})
        assert json.loads(ack.data) == {"stream": "R", "seq": 1}
        ev = await next_event(trace, conns)
        assert ev["events"] == [ingress("pub", "$G", "r.1"), {"type": "js", "stream": "R", "subject": "r.1"}]
        copy = await copies.next_msg(timeout=10)
        assert copy.subject == "rp.r.1" and copy.headers is not None
        assert copy.headers["Nats-Trace-Dest"] == "trace disabled"
    finally:
        await conns.close()


CHAINS = """
accounts {
  A {
    users = [{user: a, password: a}]
    exports = [{service: "svc.*", allow_trace: true}, {stream: "s.>"}]
    mappings = { "m.x": "svc.mapped" }
  }
  B {
    users = [{user: b, password: b}]
    imports = [
      {service: {account: A, subject: "svc.*"}, to: "ask.*"}
      {stream: {account: A, subject: "s.>"}, allow_trace: true}
    ]
    mappings = { "q": "ask.viaq" }
  }
  C {
    users = [{user: c, password: c}]
    imports = [{stream: {account: A, subject: "s.>"}}]
  }
}
"""


@pytest.fixture
def chains_server(kind: Kind, tmp_path: Path) -> Iterator[ServerProcess]:
    srv = serve(kind, tmp_path, CHAINS)
    try:
        yield srv
    finally:
        srv.stop()


async def test_mappings_imports_and_queues_in_one_trace(chains_server: ServerProcess) -> None:
    """Events of a message mapped into a wildcard service import answered by a queue group,
    and of one exported to two accounts of which only one allows tracing."""
    conns = Conns(chains_server)
    try:
        a = await conns("svc", "a", name="svcA")
        b = await conns("b", "b")
        c = await conns("c", "c")
        b_trace = await b.subscribe("t")
        a_trace = await a.subscribe("t")

        async def respond(msg: Any) -> None:
            if msg.reply:
                await msg.respond(b"ok")

        await a.subscribe("svc.*", cb=respond, queue="workers")
        await b.subscribe("s.>")
        await c.subscribe("s.1")
        for nc in (a, b, c):
            await nc.flush()
        worker = egress("svc", "svc.*", name="svcA", acc="A", queue="workers")
        reply = await b.request("ask.1", b"q", timeout=10, headers={"Nats-Trace-Dest": "t"})
        assert reply.data == b"ok"
        assert (await next_event(b_trace, conns))["events"] == [
            ingress("b", "B", "ask.1"),
            {"type": "si", "acc": "A", "from": "ask.1", "to": "svc.1"},
            worker,
        ]
        await b.publish("q", b"q", headers={"Nats-Trace-Dest": "t", "Nats-Trace-Only": "true"})
        assert (await next_event(b_trace, conns))["events"] == [
            ingress("b", "B", "q"),
            {"type": "sm", "to": "ask.viaq"},
            {"type": "si", "acc": "A", "from": "ask.viaq", "to": "svc.viaq"},
            worker,
        ]
        await a.publish("m.x", b"q", headers={"Nats-Trace-Dest": "t"})
        assert (await next_event(a_trace, conns))["events"] == [
            ingress("svc", "A", "m.x", name="svcA"),
            {"type": "sm", "to": "svc.mapped"},
            egress("svc", "svc.*", name="svcA", queue="workers"),
        ]
        await a.publish("s.1", b"q", headers={"Nats-Trace-Dest": "t", "Nats-Trace-Only": "true"})
        assert (await next_event(a_trace, conns))["events"] == [
            ingress("svc", "A", "s.1", name="svcA"),
            {"type": "se", "acc": "B", "to": "s.1"},
            egress("b", "s.>", acc="B"),
            {"type": "se", "acc": "C", "to": "s.1"},
        ]
    finally:
        await conns.close()


async def test_trace_only_request_leaves_no_pending_response(tmp_path: Path) -> None:
    """A trace-only request through a service import is never answered: its reply mapping
    is dropped at once (the reference removes its response import), not left to expire."""
    import pynatsd

    path = tmp_path / "s.conf"
    path.write_text(CONFIG)
    async with pynatsd.Server(config_file=str(path), port=-1, host="127.0.0.1") as srv:
        b = await nats.connect(srv.client_url, user="b", password="b")
        a = await nats.connect(srv.client_url, user="a", password="a")
        try:
            trace = await b.subscribe("t.events")
            await a.subscribe("svc")
            await a.flush()
            await b.flush()
            only = {"Nats-Trace-Dest": "t.events", "Nats-Trace-Only": "true"}
            await b.publish("svc", b"q", reply="my.reply", headers=only)
            await trace.next_msg(timeout=10)
            exporter = srv.server.accounts["A"]
            assert exporter.responses is not None and exporter.responses.pending == {}
        finally:
            await a.close()
            await b.close()
