"""Accounts, imports and exports, the system account: one scenario on both servers.

Each test starts the reference nats-server and pynatsd (as processes, from the same config
file in the reference's syntax) and drives them through nats-py, asserting the same
observable results on both.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError, NoServersError
from nats.errors import TimeoutError as NatsTimeout

from tests.support.binary import require_reference
from tests.support.launcher import KINDS, Kind, ServerProcess, start_server
from tests.support.wire import AsyncWireClient as Raw

ACCOUNTS = """
accounts {
  A {
    users = [{user: a, password: a}]
    exports = [
      {stream: "news.>"}
      {service: "help.>"}
      {service: "feed", response: stream, threshold: "5s"}
      {service: "private", accounts: [B]}
      {service: "shared"}
      {stream: "only.b", accounts: [B]}
    ]
    mappings = { "old.*": "new.$1" }
  }
  B {
    users = [
      {user: b, password: b}
      {user: limited, password: l, permissions: {publish: ["q.>", "ask", "_INBOX.>"], subscribe: ["imported.>", "_INBOX.>"]}}
    ]
    imports = [
      {stream: {account: A, subject: "news.>"}, prefix: "imported"}
      {stream: {account: A, subject: "only.b"}, to: "mine.b"}
      {service: {account: A, subject: "help.>"}, to: "q.>"}
      {service: {account: A, subject: "feed"}}
      {service: {account: A, subject: "private"}, to: "ask"}
      {service: {account: A, subject: "shared"}, share: true}
    ]
  }
  C {
    users = [{user: c, password: c}]
    imports = [{stream: {account: A, subject: "news.>"}}]
  }
  SYS { users = [{user: sys, password: sys}] }
}
system_account: SYS
authorization { users = [{user: g, password: g}] }
"""


def responder(data: bytes):  # type: ignore[no-untyped-def]
    async def respond(msg: Msg) -> None:
        await msg.respond(data)

    return respond


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
    srv = serve(kind, tmp_path, ACCOUNTS)
    try:
        yield srv
    finally:
        srv.stop()


async def connect(srv: ServerProcess, user: str | None = None, **kw: object) -> nats.NATS:
    if user is not None:
        kw.setdefault("password", user if user != "limited" else "l")
        kw["user"] = user
    return await nats.connect(srv.url, allow_reconnect=False, max_reconnect_attempts=0, **kw)  # type: ignore[arg-type]


class Conns:
    """The connections of one test, closed at its end."""

    def __init__(self, srv: ServerProcess) -> None:
        self.srv = srv
        self.all: list[nats.NATS] = []

    async def __call__(self, user: str | None = None, **kw: object) -> nats.NATS:
        nc = await connect(self.srv, user, **kw)
        self.all.append(nc)
        # The reference answers the connect's PING before its account's imports reach the
        # new connection: a request sent right away can meet no responders (seen 2 in 200).
        # One more round trip settles it.
        await nc.flush()
        return nc

    async def close(self) -> None:
        for nc in self.all:
            if not nc.is_closed:
                await nc.close()


@pytest.fixture
async def conns(server: ServerProcess) -> AsyncIterator[Conns]:
    c = Conns(server)
    yield c
    await c.close()


async def test_accounts_are_isolated(conns: Conns) -> None:
    a, b, g, sys = await conns("a"), await conns("b"), await conns("g"), await conns("sys")
    subs = {name: await nc.subscribe("topic") for name, nc in (("a", a), ("b", b), ("g", g), ("sys", sys))}
    for nc in (a, b, g, sys):
        await nc.flush()
    await b.publish("topic", b"from b")
    await b.flush()
    got = await subs["b"].next_msg(timeout=10)
    assert got.data == b"from b"
    # each account hears only its own publishes: a marker published in each account after
    # b's message arrives first, so nothing from b came before it
    for name, nc in (("a", a), ("g", g), ("sys", sys)):
        await nc.publish("topic", name.encode())
        assert (await subs[name].next_msg(timeout=10)).data == name.encode()


async def test_stream_import_with_prefix_and_to(conns: Conns) -> None:
    a, b, c = await conns("a"), await conns("b"), await conns("c")
    got_b = await b.subscribe("imported.news.>")
    got_mine = await b.subscribe("mine.b")
    got_c = await c.subscribe("news.>")
    await b.flush()
    await c.flush()
    await a.publish("news.sport", b"goal", headers={"H": "1"})
    await a.publish("only.b", b"for b")
    await a.flush()
    m = await got_b.next_msg(timeout=10)
    assert (m.subject, m.data, m.headers) == ("imported.news.sport", b"goal", {"H": "1"})
    m = await got_mine.next_msg(timeout=10)
    assert (m.subject, m.data) == ("mine.b", b"for b")
    m = await got_c.next_msg(timeout=10)
    assert (m.subject, m.data) == ("news.sport", b"goal")


async def test_service_import_with_to_and_wildcards(conns: Conns) -> None:
    a, b = await conns("a"), await conns("b")
    seen: list[tuple[str, str]] = []
    infos: list[dict[str, object]] = []

    async def helper(msg: Msg) -> None:
        seen.append((msg.subject, msg.reply))
        infos.append(json.loads((msg.headers or {})["Nats-Request-Info"]))
        await msg.respond(b"answer to " + msg.subject.encode())

    await a.subscribe("help.>", cb=helper)
    await a.flush()
    r = await b.request("q.topic.one", b"?", timeout=10)
    assert r.data == b"answer to help.topic.one"
    subject, reply = seen[0]
    assert subject == "help.topic.one"
    # the exporter never sees the requester's inbox, only a reply subject of its own
    assert reply.startswith("_R_.") and "_INBOX" not in reply
    # and learns which account asked (the reference's Nats-Request-Info header)
    assert infos[0]["acc"] == "B" and set(infos[0]) <= {"acc", "rtt"}
    # the importer's own subject space does not have the exporter's subject
    with pytest.raises(NoRespondersError):
        await b.request("help.topic.one", b"?", timeout=10)


async def test_shared_request_info(conns: Conns) -> None:
    a, b = await conns("a"), await conns("b", name="asker")
    infos: list[dict[str, object]] = []

    async def shared(msg: Msg) -> None:
        infos.append(json.loads((msg.headers or {})["Nats-Request-Info"]))
        await msg.respond(b"")

    await a.subscribe("shared", cb=shared)
    await a.flush()
    await b.request("shared", b"", timeout=10)
    info = infos[0]
    assert (info["acc"], info["user"], info["name"], info["lang"], info["kind"]) == (
        "B",
        "b",
        "asker",
        "python3",
        "Client",
    )
    # the server's name and the client's details are there; rtt may be 0 (then left out)
    assert {
        "start",
        "host",
        "id",
        "acc",
        "user",
        "name",
        "lang",
        "ver",
        "server",
        "kind",
        "client_type",
    } <= set(info)


async def test_service_without_responder_is_no_responders(conns: Conns) -> None:
    b = await conns("b")
    with pytest.raises(NoRespondersError):
        await b.request("q.nobody", b"?", timeout=10)


async def test_singleton_response_passes_once_streamed_many(conns: Conns) -> None:
    a, b = await conns("a"), await conns("b")

    async def twice(msg: Msg) -> None:
        await msg.respond(b"1")
        await msg.respond(b"2")
        await msg.respond(b"3")

    await a.subscribe("help.x", cb=twice)
    await a.subscribe("feed", cb=twice)
    await a.flush()
    inbox = b.new_inbox()
    sub = await b.subscribe(inbox + ".*")
    await b.flush()
    await b.publish("q.x", b"", reply=inbox + ".single")
    await b.publish("feed", b"", reply=inbox + ".stream")
    got: list[tuple[str, bytes]] = []
    while len([g for g in got if g[0].endswith("stream")]) < 3:
        m = await sub.next_msg(timeout=10)
        got.append((m.subject, m.data))
    # a response to a singleton service passes once; the extra ones were sent before the
    # streamed answers, on the same connection, so they would have arrived by now
    assert [d for s, d in got if s.endswith("single")] == [b"1"]
    assert [d for s, d in got if s.endswith("stream")] == [b"1", b"2", b"3"]


async def test_restricted_service_export(conns: Conns) -> None:
    a, b = await conns("a"), await conns("b")

    async def private(msg: Msg) -> None:
        await msg.respond(b"secret")

    await a.subscribe("private", cb=private)
    await a.flush()
    assert (await b.request("ask", b"", timeout=10)).data == b"secret"


async def answered(nc: nats.NATS, subject: str) -> Msg:
    """The first answer to a request on ``subject``, asked again while nobody answers.

    With the reference, a nats-py flush right after a SUB sometimes returns before the
    server has registered the SUB (seen ~4% of runs), so a first request can meet no
    responder; the test waits (10 s) for the service to answer instead."""
    for _ in range(50):
        try:
            return await nc.request(subject, b"", timeout=0.2)
        except (NoRespondersError, NatsTimeout):
            await asyncio.sleep(0.05)
    raise AssertionError(f"no answer on {subject}")


async def flowed(publisher: nats.NATS, subject: str, sub: Subscription) -> Msg:
    """The first message to reach ``sub``, published again while none does: with the
    reference, interest behind a stream import can lag the subscriber's flush (as in
    :func:`answered`)."""
    for _ in range(50):
        await publisher.publish(subject, b"imported")
        try:
            return await sub.next_msg(timeout=0.2)
        except NatsTimeout:
            continue
    raise AssertionError(f"nothing on {subject} arrived")


async def test_permissions_of_an_account_user(conns: Conns) -> None:
    a = await conns("a")
    errors: list[Exception] = []

    async def on_error(e: Exception) -> None:
        errors.append(e)

    limited = await conns("limited", error_cb=on_error)
    await a.subscribe("help.>", cb=responder(b"ok"))
    await a.flush()
    assert (await answered(limited, "q.fine")).data == b"ok"
    await limited.publish("elsewhere", b"")
    await limited.flush()
    for _ in range(100):
        if errors:
            break
        await asyncio.sleep(0.1)
    assert 'permissions violation for publish to "elsewhere"' in str(errors[0]).lower()


async def test_account_mappings_apply_in_their_account_only(conns: Conns) -> None:
    a, b = await conns("a"), await conns("b")
    sa = await a.subscribe("new.>")
    sb = await b.subscribe("old.>")
    await a.flush()
    await b.flush()
    await b.publish("old.x", b"b is not mapped")
    await a.publish("old.x", b"a is mapped")
    assert (await sa.next_msg(timeout=10)).subject == "new.x"
    assert (await sb.next_msg(timeout=10)).data == b"b is not mapped"


async def test_system_account_has_its_own_subjects(conns: Conns) -> None:
    sys, g = await conns("sys"), await conns("g")
    s = await sys.subscribe("only.here")
    await sys.flush()
    await g.publish("only.here", b"from $G")
    await sys.publish("only.here", b"from SYS")
    assert (await s.next_msg(timeout=10)).data == b"from SYS"


async def test_wrong_account_password_fails(server: ServerProcess) -> None:
    with pytest.raises((NoServersError, nats.errors.Error)):
        await nats.connect(
            server.url, user="a", password="b", allow_reconnect=False, max_reconnect_attempts=0
        )


NO_AUTH = """
accounts {
  A { exports = [{stream: "feed.>"}], users = [{user: pub, password: p}] }
  B {
    users = [{user: anon, password: x, permissions: {publish: "allowed.>", subscribe: ["feed.>", "allowed.>"]}}]
    imports = [{stream: {account: A, subject: "feed.>"}}]
  }
}
no_auth_user: anon
"""


async def test_no_auth_user_into_an_account(kind: Kind, tmp_path: Path) -> None:
    srv = serve(kind, tmp_path, NO_AUTH)
    conns = Conns(srv)
    try:
        errors: list[Exception] = []

        async def on_error(e: Exception) -> None:
            errors.append(e)

        anon = await conns(error_cb=on_error)  # no credentials at all
        pub = await conns("pub", password="p")
        s = await anon.subscribe("feed.>")
        own = await anon.subscribe("allowed.x")
        await anon.flush()
        assert (await flowed(pub, "feed.1", s)).data == b"imported"
        await anon.publish("allowed.x", b"mine")
        assert (await own.next_msg(timeout=10)).data == b"mine"
        await anon.publish("denied", b"")
        await anon.flush()
        for _ in range(100):
            if errors:
                break
            await asyncio.sleep(0.1)
        assert 'permissions violation for publish to "denied"' in str(errors[0]).lower()
    finally:
        await conns.close()
        srv.stop()


SYS_ONLY = """
accounts { $SYS { users = [{user: admin, password: admin}] } }
"""


async def test_system_account_users_only_leave_others_in_global(kind: Kind, tmp_path: Path) -> None:
    srv = serve(kind, tmp_path, SYS_ONLY)
    conns = Conns(srv)
    try:
        r = await Raw.connect(srv.port)
        info = json.loads(r.info.split(b" ", 1)[1])
        assert info["auth_required"] is True  # as the reference, though anybody gets in
        await r.close()
        anon, admin = await conns(), await conns("admin")
        s1 = await anon.subscribe("x")
        s2 = await admin.subscribe("x")
        await anon.flush()
        await admin.flush()
        await anon.publish("x", b"g")
        await admin.publish("x", b"sys")
        assert (await s1.next_msg(timeout=10)).data == b"g"
        assert (await s2.next_msg(timeout=10)).data == b"sys"
    finally:
        await conns.close()
        srv.stop()


LIMITS = """
accounts {
  L { users = [{user: l1, password: l}, {user: l2, password: l}], limits { max_connections: 1, max_payload: 100, max_subscriptions: 2 } }
}
"""


async def test_account_limits(kind: Kind, tmp_path: Path) -> None:
    srv = serve(kind, tmp_path, LIMITS)
    try:
        first = await Raw.connect(srv.port)
        assert await first.roundtrip(b'CONNECT {"verbose":false,"user":"l1","pass":"l"}\r\n') == b""
        second = await Raw.connect(srv.port)
        await second.send(b'CONNECT {"verbose":false,"user":"l2","pass":"l"}\r\nPING\r\n')
        assert b"-ERR 'maximum account active connections exceeded'" in await second.read_to_close()
        out = await first.roundtrip(b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n")
        assert out == b"-ERR 'maximum subscriptions exceeded'\r\n"
        await first.send(b"PUB a 101\r\n" + b"x" * 101 + b"\r\n")
        assert b"-ERR 'Maximum Payload Violation'" in await first.read_to_close()
    finally:
        srv.stop()


async def test_info_fields_are_the_same(tmp_path: Path) -> None:
    require_reference()
    keys = {}
    for kind in KINDS:
        srv = serve(kind, tmp_path, ACCOUNTS)
        try:
            r = await Raw.connect(srv.port)
            info = json.loads(r.info.split(b" ", 1)[1])
            await r.close()
        finally:
            srv.stop()
        # known differences that have nothing to do with accounts: our own version field; the
        # reference's build commit, its xkey (no xkey support) and api_lvl (pynatsd sends it
        # only with JetStream on)
        keys[kind] = {k for k in info if k not in ("pynatsd_version", "git_commit", "xkey", "api_lvl")}
        assert info["auth_required"] is True
    assert keys["pynatsd"] == keys["reference"]


async def test_reload_applies_imports_and_keeps_other_connections(kind: Kind, tmp_path: Path) -> None:
    path = tmp_path / f"{kind}.conf"
    path.write_text(ACCOUNTS)
    srv = start_server(kind, "-c", str(path))
    conns = Conns(srv)
    try:
        a, c, g = await conns("a"), await conns("c"), await conns("g")
        closed = asyncio.Event()

        async def on_closed() -> None:
            closed.set()

        b = await conns("b", closed_cb=on_closed)
        await a.subscribe("help.>", cb=responder(b"v1"))
        await a.flush()
        assert (await b.request("q.x", b"", timeout=10)).data == b"v1"
        gsub = await g.subscribe("still")
        await g.flush()
        # C now also imports the service; B's import is gone
        new = ACCOUNTS.replace(
            'imports = [{stream: {account: A, subject: "news.>"}}]',
            'imports = [{stream: {account: A, subject: "news.>"}}, {service: {account: A, subject: "help.>"}}]',
        ).replace('{service: {account: A, subject: "help.>"}, to: "q.>"}', "")
        path.write_text(new)
        os.kill(srv.pid, signal.SIGHUP)
        srv.wait_for_log("Reloaded server configuration")
        assert (await c.request("help.y", b"", timeout=10)).data == b"v1"
        with pytest.raises((NoRespondersError, NatsTimeout)):
            await b.request("q.x", b"", timeout=2)
        await g.publish("still", b"here")
        assert (await gsub.next_msg(timeout=10)).data == b"here"
        assert not closed.is_set() and b.is_connected
    finally:
        await conns.close()
        srv.stop()


JS_ACCOUNTS = """
accounts {
  A { users = [{user: a, password: a}] }
  $SYS { users = [{user: sys, password: sys}] }
}
authorization { users = [{user: g, password: g}] }
"""


@pytest.mark.parametrize("only_system", [False, True], ids=["accounts", "system-only"])
async def test_jetstream_is_not_enabled_in_accounts(kind: Kind, tmp_path: Path, only_system: bool) -> None:
    """As the reference: with accounts of its own in the config no account has JetStream,
    not even $G; with only the system account given users, $G keeps it; $SYS never has it."""
    config = (
        JS_ACCOUNTS.replace("  A { users = [{user: a, password: a}] }\n", "") if only_system else JS_ACCOUNTS
    )
    path = tmp_path / f"{kind}.conf"
    path.write_text(config)
    srv = start_server(kind, "-c", str(path), "-js", "-sd", str(tmp_path / "store"))
    conns = Conns(srv)
    try:
        users = ["g", "sys"] if only_system else ["a", "g", "sys"]
        for user in users:
            nc = await conns(user)
            for subject in ("$JS.API.INFO", "$JS.API.STREAM.CREATE.S"):
                reply = json.loads((await nc.request(subject, b'{"name":"S"}', timeout=10)).data)
                if user == "g" and only_system:
                    assert "error" not in reply
                    continue
                assert reply["error"] == {
                    "code": 503,
                    "err_code": 10039,
                    "description": "JetStream not enabled for account",
                }
                kind_of = "account_info_response" if subject.endswith("INFO") else "stream_create_response"
                if user == "sys" and not subject.endswith("INFO"):
                    kind_of = "system_response"  # the system account answers for itself
                assert reply["type"] == "io.nats.jetstream.api.v1." + kind_of
    finally:
        await conns.close()
        srv.stop()


def nkey_config() -> str:
    from tests.support.nkeys import USER_A, USER_B

    return f"""
accounts {{
  A {{
    users = [{{nkey: {USER_A.public}}}, {{user: pw, password: pw}}]
    exports = [{{stream: "out.>"}}]
  }}
  B {{
    users = [{{nkey: {USER_B.public}, permissions: {{publish: "in.>", subscribe: ["out.>", "in.>"]}}}}]
    imports = [{{stream: {{account: A, subject: "out.>"}}}}]
  }}
}}
no_auth_user: {USER_B.public}
"""


async def test_nkey_users_inside_accounts(kind: Kind, tmp_path: Path) -> None:
    """NKey users belong to their account like any user; an NKey no_auth_user too."""
    from tests.support.nkeys import USER_A

    srv = serve(kind, tmp_path, nkey_config())
    conns = Conns(srv)
    try:
        errors: list[Exception] = []

        async def on_error(e: Exception) -> None:
            errors.append(e)

        a = await conns(nkeys_seed_str=USER_A.seed)
        pw = await conns("pw")
        anon = await conns(error_cb=on_error)  # the NKey no_auth_user, in B
        got = await anon.subscribe("out.>")
        mine = await anon.subscribe("in.x")
        same_account = await pw.subscribe("out.>")
        await anon.flush()
        await pw.flush()
        await a.publish("out.1", b"from an nkey user")
        await a.flush()
        assert (await got.next_msg(timeout=10)).data == b"from an nkey user"
        assert (await same_account.next_msg(timeout=10)).data == b"from an nkey user"
        await anon.publish("in.x", b"own")
        assert (await mine.next_msg(timeout=10)).data == b"own"
        await anon.publish("out.2", b"")  # not allowed to B's user
        await anon.flush()
        for _ in range(100):
            if errors:
                break
            await asyncio.sleep(0.1)
        assert 'permissions violation for publish to "out.2"' in str(errors[0]).lower()
    finally:
        await conns.close()
        srv.stop()


@pytest.mark.parametrize(
    "users",
    [
        "A {{ users = [{{nkey: {a}}}] }}\n B {{ users = [{{nkey: {a}}}] }}",
        "A {{ users = [{{nkey: {a}}}, {{nkey: {a}}}] }}",
    ],
    ids=["across-accounts", "in-one-account"],
)
def test_duplicate_nkeys_across_accounts(tmp_path: Path, users: str) -> None:
    from pynatsd.config.loader import ConfigError, load_config
    from tests.support.config import reference_test_config
    from tests.support.nkeys import USER_A

    path = tmp_path / "dup.conf"
    path.write_text("accounts {\n " + users.format(a=USER_A.public) + "\n}\n")
    rc, out = reference_test_config(str(path))
    assert rc != 0 and f'Duplicate nkey "{USER_A.public}" detected' in out
    with pytest.raises(ConfigError, match=f'Duplicate nkey "{USER_A.public}" detected'):
        load_config(str(path))
