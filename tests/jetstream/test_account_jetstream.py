"""JetStream per account: each scenario runs on pynatsd and on the reference nats-server,
started from the same config file, driven through nats-py, with the same results asserted.

Covered: which accounts have JetStream, isolation of their streams, the account limits
(``max_streams``, ``max_consumers``, ``max_bytes_required``, per-stream byte caps, memory
and storage reservations, usage on publish), ``$JS.API.INFO`` per account, storage per
account across a restart, account limits the server cannot honour (refused at start),
reload enabling and disabling accounts, and a stream sourcing from another account's
stream through an exported JetStream API.
"""

from __future__ import annotations

import base64
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.errors import APIError

from tests.support.binary import require_reference
from tests.support.jetstream import until_messages
from tests.support.launcher import KINDS, Kind, ServerProcess, ServerStartError, server_command, start_server

T = 10.0

CONFIG = """
jetstream { store_dir: "%(store)s", max_mem: 100MB, max_file: 100MB }
accounts {
  A {
    users = [{user: a, password: a}]
    jetstream {
      max_mem: 100KB, max_file: 1MB, max_streams: 2, max_consumers: 1,
      max_bytes_required: true, store_max_stream_bytes: 500KB, mem_max_stream_bytes: 50KB
    }
  }
  B { users = [{user: b, password: b}], jetstream: enabled }
  C { users = [{user: c, password: c}] }
  L { users = [{user: l, password: l}], jetstream { max_mem: 40000, max_file: 60000 } }
  SYS { users = [{user: sys, password: sys}] }
}
system_account: SYS
"""


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> Kind:
    if request.param == "reference":
        require_reference()
    return request.param  # type: ignore[no-any-return]


def write_config(tmp_path: Path, kind: Kind, text: str = CONFIG) -> Path:
    path = tmp_path / f"{kind}.conf"
    path.write_text(text % {"store": tmp_path / f"store-{kind}"})
    return path


@pytest.fixture
def server(kind: Kind, tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server(kind, "-c", str(write_config(tmp_path, kind)))
    try:
        yield srv
    finally:
        srv.stop()


async def connect(srv: ServerProcess, user: str) -> nats.NATS:
    nc = await nats.connect(
        srv.url, user=user, password=user, allow_reconnect=False, max_reconnect_attempts=0
    )
    # The reference answers the connect's PING before the account's JetStream API import
    # reaches the new connection; one more round trip settles it (see test_accounts.Conns).
    await nc.flush()
    return nc


async def api(nc: nats.NATS, subject: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else b""
    reply: dict[str, Any] = json.loads((await nc.request(subject, data, timeout=T)).data)
    return reply


def outcome(reply: dict[str, Any]) -> int | str:
    """The error code of a reply, or "ok"."""
    return reply["error"]["err_code"] if "error" in reply else "ok"


def stream(name: str, **cfg: Any) -> dict[str, Any]:
    return {"name": name, "subjects": [name.lower()], **cfg}


async def test_account_limits_on_streams_and_consumers(server: ServerProcess) -> None:
    a = await connect(server, "a")
    try:
        info = await api(a, "$JS.API.INFO")
        assert info["limits"] == {
            "max_memory": 100 * 1024,
            "max_storage": 1024 * 1024,
            "max_streams": 2,
            "max_consumers": 1,
            "max_ack_pending": -1,
            "memory_max_stream_bytes": 50 * 1024,
            "storage_max_stream_bytes": 500 * 1024,
            "max_bytes_required": True,
        }
        steps: list[tuple[str, dict[str, Any]]] = [
            ("STREAM.CREATE.S1", stream("S1")),  # no max_bytes: required
            ("STREAM.CREATE.S1", stream("S1", max_bytes=600_000)),  # above the file cap
            ("STREAM.CREATE.M1", stream("M1", storage="memory", max_bytes=60_000)),  # above the memory cap
            ("STREAM.CREATE.S1", stream("S1", max_bytes=400_000)),
            ("STREAM.CREATE.S1", stream("S1", max_bytes=400_000)),  # the same again: no new stream
            ("STREAM.CREATE.S2", stream("S2", max_bytes=500_000)),
            ("STREAM.CREATE.S3", stream("S3", max_bytes=100)),  # a third stream
            ("STREAM.UPDATE.S2", stream("S2", max_bytes=700_000)),  # above the cap
            ("STREAM.UPDATE.S2", stream("S2", max_bytes=450_000)),
            ("STREAM.UPDATE.S2", stream("S2", max_bytes=500_000)),
            ("STREAM.CREATE.S1", stream("S1", max_bytes=400_000, max_consumers=5)),  # above max_consumers
        ]
        results = [outcome(await api(a, "$JS.API." + subj, body)) for subj, body in steps]
        assert results == [10113, 10122, 10122, "ok", "ok", "ok", 10027, 10122, "ok", "ok", 10026]
        info = await api(a, "$JS.API.INFO")
        assert (info["streams"], info["reserved_storage"], info["reserved_memory"]) == (2, 900_000, 0)
        consumer = {"stream_name": "S1", "config": {"ack_policy": "explicit"}}
        first = await api(a, "$JS.API.CONSUMER.CREATE.S1", consumer)
        second = await api(a, "$JS.API.CONSUMER.CREATE.S1", consumer)
        assert (outcome(first), outcome(second)) == ("ok", 10026)
        assert second["error"]["description"] == "maximum consumers limit reached"
        # the account's limit is per stream, as the reference applies it
        assert outcome(await api(a, "$JS.API.CONSUMER.CREATE.S2", {**consumer, "stream_name": "S2"})) == "ok"
        assert (await api(a, "$JS.API.INFO"))["consumers"] == 2
    finally:
        await a.close()


async def test_storage_reservations_count_the_accounts_other_streams(server: ServerProcess) -> None:
    """``max_file`` 60000 in account L: reservations of file streams add up to it, memory
    ones are counted apart, and an update may grow a stream only into what is left."""
    nc = await connect(server, "l")
    try:
        steps: list[tuple[str, dict[str, Any]]] = [
            ("STREAM.CREATE.F1", stream("F1", max_bytes=70_000)),
            ("STREAM.CREATE.F1", stream("F1", max_bytes=40_000)),
            ("STREAM.CREATE.F2", stream("F2", max_bytes=30_000)),
            ("STREAM.CREATE.F2", stream("F2", max_bytes=20_000)),
            ("STREAM.CREATE.F3", stream("F3")),  # unset max_bytes reserves one byte: none left
            ("STREAM.CREATE.M1", stream("M1", storage="memory", max_bytes=40_000)),
            ("STREAM.CREATE.M2", stream("M2", storage="memory")),  # none left in memory either
            ("STREAM.UPDATE.F2", stream("F2", max_bytes=25_000)),
            ("STREAM.UPDATE.F2", stream("F2", max_bytes=10_000)),
            ("STREAM.CREATE.F3", stream("F3", max_bytes=10_000)),
        ]
        results = [outcome(await api(nc, "$JS.API." + subj, body)) for subj, body in steps]
        assert results == [10047, "ok", 10047, "ok", 10047, "ok", 10028, 10047, "ok", "ok"]
        info = await api(nc, "$JS.API.INFO")
        assert (info["reserved_storage"], info["reserved_memory"], info["streams"]) == (60_000, 40_000, 4)
    finally:
        await nc.close()


@pytest.mark.parametrize("storage", ["memory", "file"])
async def test_publishing_past_the_accounts_limit_is_refused(server: ServerProcess, storage: str) -> None:
    """Account L holds 40000 bytes in memory and 60000 on disk: the message that would go
    past it is refused with 10002; a stream that discards old messages keeps going."""
    nc = await connect(server, "l")
    try:
        js = nc.jetstream(timeout=T)
        await js.add_stream(name="FULL", subjects=["full"], storage=storage)
        stored = 0
        with pytest.raises(APIError) as refused:
            for _ in range(100):
                await js.publish("full", b"x" * 1000)
                stored += 1
        assert (refused.value.err_code, refused.value.description) == (
            10002,
            "resource limits exceeded for account",
        )
        assert stored == (39 if storage == "memory" else 58)
        # freeing space lets publishing go on at once
        await js.purge_stream("FULL")
        await js.publish("full", b"again")
        await js.delete_stream("FULL")
        await js.add_stream(name="ROLL", subjects=["roll"], storage=storage, max_bytes=20_000)
        for _ in range(100):  # 100 KB through a stream that keeps 20 KB
            await js.publish("roll", b"y" * 1000)
        assert (await js.stream_info("ROLL")).state.bytes <= 20_000
    finally:
        await nc.close()


async def test_accounts_have_their_own_streams(server: ServerProcess) -> None:
    a, b, c, sys = [await connect(server, u) for u in ("a", "b", "c", "sys")]
    try:
        for nc in (a, b):
            created = await api(nc, "$JS.API.STREAM.CREATE.S", stream("S", max_bytes=1000, subjects=["x"]))
            assert outcome(created) == "ok"
        await a.publish("x", b"from a")
        await b.publish("x", b"from b")
        await b.publish("x", b"from b again")
        await a.flush()
        await b.flush()
        for nc, count, data in ((a, 1, b"from a"), (b, 2, b"from b")):
            got = await api(nc, "$JS.API.STREAM.MSG.GET.S", {"seq": 1})
            assert got["message"]["data"] == base64.b64encode(data).decode()
            assert (await api(nc, "$JS.API.STREAM.INFO.S"))["state"]["messages"] == count
            assert (await api(nc, "$JS.API.STREAM.NAMES"))["streams"] == ["S"]
        for nc in (c, sys):
            reply = await api(nc, "$JS.API.INFO")
            assert reply["error"] == {
                "code": 503,
                "err_code": 10039,
                "description": "JetStream not enabled for account",
            }
        deleted = await api(b, "$JS.API.STREAM.DELETE.S")
        assert deleted["success"] is True
        assert (await api(a, "$JS.API.STREAM.INFO.S"))["state"]["messages"] == 1
    finally:
        for nc in (a, b, c, sys):
            await nc.close()


async def test_each_accounts_streams_are_stored_apart_and_recovered(kind: Kind, tmp_path: Path) -> None:
    path = write_config(tmp_path, kind)
    srv = start_server(kind, "-c", str(path))
    try:
        for user, n in (("a", 3), ("b", 5)):
            nc = await connect(srv, user)
            js = nc.jetstream(timeout=T)
            await js.add_stream(name="KEEP", subjects=["keep"], max_bytes=10_000)
            for i in range(n):
                await js.publish("keep", b"%d" % i)
            await nc.close()
    finally:
        srv.stop()
    store = tmp_path / f"store-{kind}" / "jetstream"
    assert (store / "A" / "streams" / "KEEP").is_dir() and (store / "B" / "streams" / "KEEP").is_dir()
    srv = start_server(kind, "-c", str(path))
    try:
        for user, n in (("a", 3), ("b", 5)):
            nc = await connect(srv, user)
            info = await nc.jetstream(timeout=T).stream_info("KEEP")
            assert info.state.messages == n
            await nc.close()
    finally:
        srv.stop()


@pytest.mark.parametrize(
    ("limits", "error"),
    [
        ("max_mem: 200MB", "insufficient memory resources available (10028)"),
        ("max_file: 200MB", "insufficient storage resources available (10047)"),
    ],
)
def test_account_limits_beyond_the_server_stop_the_start(
    kind: Kind, tmp_path: Path, limits: str, error: str
) -> None:
    text = CONFIG.replace("jetstream: enabled", f"jetstream {{ {limits} }}")
    srv = ServerProcess(server_command(kind), "-c", str(write_config(tmp_path, kind, text)), name=kind)
    with pytest.raises(ServerStartError):
        srv.start(timeout=30, attempts=1)
    expected = f"Can't start JetStream: Error enabling jetstream on configured accounts: {error}"
    assert any(expected in line for line in srv.log), srv.log[-5:]


def test_jetstream_in_the_system_account_stops_the_start(kind: Kind, tmp_path: Path) -> None:
    text = CONFIG.replace("SYS { users", "SYS { jetstream: enabled, users")
    srv = ServerProcess(server_command(kind), "-c", str(write_config(tmp_path, kind, text)), name=kind)
    with pytest.raises(ServerStartError):
        srv.start(timeout=30, attempts=1)
    assert any("Not allowed to enable JetStream on the system account" in line for line in srv.log), srv.log[
        -5:
    ]


async def test_reload_enables_and_disables_jetstream_per_account(kind: Kind, tmp_path: Path) -> None:
    path = write_config(tmp_path, kind)
    srv = start_server(kind, "-c", str(path))
    b = c = None
    try:
        b, c = await connect(srv, "b"), await connect(srv, "c")
        assert outcome(await api(b, "$JS.API.STREAM.CREATE.S", stream("S"))) == "ok"
        await nats_publish_acked(b, "s", 2)
        assert outcome(await api(c, "$JS.API.INFO")) == 10039
        # C gains JetStream, B loses it
        swapped = (
            (CONFIG % {"store": tmp_path / f"store-{kind}"})
            .replace(
                "C { users = [{user: c, password: c}] }",
                "C { users = [{user: c, password: c}], jetstream: enabled }",
            )
            .replace("jetstream: enabled }\n  C", "}\n  C")
        )
        swapped = swapped.replace(
            "  SYS {", "  D { users = [{user: d, password: d}] }\n  SYS {"
        )  # a new account
        path.write_text(swapped)
        os.kill(srv.pid, signal.SIGHUP)
        srv.wait_for_log("Reloaded server configuration")
        d = await connect(srv, "d")
        assert outcome(await api(d, "$JS.API.INFO")) == 10039
        await d.close()
        assert outcome(await api(c, "$JS.API.INFO")) == "ok"
        assert outcome(await api(c, "$JS.API.STREAM.CREATE.S", stream("S"))) == "ok"
        assert outcome(await api(b, "$JS.API.INFO")) == 10039
        assert b.is_connected and c.is_connected
        # B gets it back with its stream as it was
        path.write_text(CONFIG % {"store": tmp_path / f"store-{kind}"})
        os.kill(srv.pid, signal.SIGHUP)
        srv.wait_for_log("Reloaded server configuration")
        assert (await api(b, "$JS.API.STREAM.INFO.S"))["state"]["messages"] == 2
    finally:
        for nc in (b, c):
            if nc is not None:
                await nc.close()
        srv.stop()


async def nats_publish_acked(nc: nats.NATS, subject: str, n: int) -> None:
    js = nc.jetstream(timeout=T)
    for i in range(n):
        await js.publish(subject, b"%d" % i)


CROSS = """
jetstream { store_dir: "%(store)s" }
accounts {
  ORIGIN {
    users = [{user: o, password: o}]
    jetstream: enabled
    exports = [
      {service: "$JS.API.>"}
      {stream: "deliver.>"}
    ]
  }
  COPY {
    users = [{user: p, password: p}]
    jetstream: enabled
    imports = [
      {service: {account: ORIGIN, subject: "$JS.API.>"}, to: "JS.ORIGIN.API.>"}
      {stream: {account: ORIGIN, subject: "deliver.>"}}
    ]
  }
}
"""


async def test_a_stream_sources_from_another_accounts_stream(kind: Kind, tmp_path: Path) -> None:
    srv = start_server(kind, "-c", str(write_config(tmp_path, kind, CROSS)))
    o = p = None
    try:
        o = await nats.connect(srv.url, user="o", password="o")
        p = await nats.connect(srv.url, user="p", password="p")
        await o.flush()
        await p.flush()
        ojs = o.jetstream(timeout=T)
        await ojs.add_stream(name="ORDERS", subjects=["orders.>"])
        for i in range(5):
            await ojs.publish(f"orders.{i}", b"%d" % i)
        src = {"name": "ORDERS", "external": {"api": "JS.ORIGIN.API", "deliver": "deliver.copy"}}
        created = await api(p, "$JS.API.STREAM.CREATE.COPY", {"name": "COPY", "sources": [src]})
        assert outcome(created) == "ok", created
        pjs = p.jetstream(timeout=T)
        await ojs.publish("orders.late", b"late")
        # the copy catches up with all six: the origin's consumer, the import, the delivery
        await until_messages(p, "COPY", 6)
        last = await pjs.get_last_msg("COPY", "orders.late")
        assert last.data == b"late"
    finally:
        for nc in (o, p):
            if nc is not None:
                await nc.close()
        srv.stop()
