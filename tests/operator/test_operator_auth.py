"""Operator mode with the MEMORY resolver: users log in with creds files through nats-py,
and every claim is allowed and refused the same way by the reference and by pynatsd."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import nats
import pytest
from nats.errors import Error as NatsError

from pynatsd import jwt
from pynatsd.jwt import claims as C
from tests.support.launcher import Kind, ServerProcess
from tests.support.operator import World

from .conftest import serve

VIOLATION = "nats: 'Authorization Violation'"
TIMEOUT = 20.0


async def _connect(server: ServerProcess, creds: Path | None = None, **kw: object) -> nats.NATS:
    errors: list[Exception] = []

    async def on_error(e: Exception) -> None:
        errors.append(e)

    opts: dict[str, object] = {
        "allow_reconnect": False,
        "max_reconnect_attempts": 0,
        "connect_timeout": TIMEOUT,
        "error_cb": on_error,
        **kw,
    }
    if creds is not None:
        opts["user_credentials"] = str(creds)
    nc = await nats.connect(server.url, **opts)  # type: ignore[arg-type]
    nc._test_errors = errors  # type: ignore[attr-defined]
    return nc


async def _login(server: ServerProcess, creds: Path | None) -> str:
    """'ok' after a round trip, or the error nats-py reports."""
    try:
        nc = await _connect(server, creds)
    except NatsError as e:
        return str(e)
    except Exception as e:  # no servers available etc.: the first error tells
        return f"{type(e).__name__}: {e}"
    try:
        await nc.flush(timeout=TIMEOUT)
    finally:
        await nc.close()
    return "ok"


async def _roundtrip(nc: nats.NATS, subject: str, sub_nc: nats.NATS | None = None) -> bytes:
    """Publish one message and receive it (on ``sub_nc`` when given)."""
    receiver = sub_nc or nc
    sub = await receiver.subscribe(subject)
    await receiver.flush(timeout=TIMEOUT)
    await nc.publish(subject, b"hello")
    await nc.flush(timeout=TIMEOUT)
    msg = await sub.next_msg(timeout=TIMEOUT)
    await sub.unsubscribe()
    return msg.data


async def test_creds_login_and_refusals(kind: Kind, world: World) -> None:
    a = world.account("A")
    good = world.creds(a, "good")
    other_op = World(world.dir / "other")
    (world.dir / "other").mkdir()
    stranger_acct = other_op.account("B")
    stranger = other_op.creds(stranger_acct, "stranger")  # its account is not preloaded here
    token, _ukp = world.user(a, "wrongseed")
    wrong_seed = world.write_creds("wrongseed", token, jwt.KeyPair.create(jwt.PREFIX_USER))
    unknown = world.account("unknown-not-preloaded")
    del world.accounts["unknown-not-preloaded"]
    # An account JWT of another operator, preloaded here: its users are refused.
    foreign = other_op.account("F")
    config = world.config(preload={foreign.pub: other_op.account_jwt(foreign)})
    not_preloaded = world.creds(unknown, "np")
    foreign_user = other_op.creds(foreign, "foreign")
    with serve(kind, config) as server:
        assert await _login(server, good) == "ok"
        nc = await _connect(server, good)
        assert await _roundtrip(nc, "a.b") == b"hello"
        assert nc._server_info.get("nonce")
        await nc.close()
        assert await _login(server, None) == VIOLATION
        server.wait_for_log("Authentication requires a user JWT")
        assert await _login(server, stranger) == VIOLATION
        server.wait_for_log("Account JWT lookup error: account missing")
        assert await _login(server, not_preloaded) == VIOLATION
        assert await _login(server, foreign_user) == VIOLATION
        server.wait_for_log("Account JWT lookup error: account validation failed")
        assert await _login(server, wrong_seed) == VIOLATION
        server.wait_for_log("Signature not verified")
        server.wait_for_log("authentication error")


async def test_accounts_are_isolated(kind: Kind, world: World) -> None:
    a, b = world.account("A"), world.account("B")
    ca, cb, ca2 = world.creds(a, "a1"), world.creds(b, "b1"), world.creds(a, "a2")
    with serve(kind, world.config()) as server:
        na, nb, na2 = await _connect(server, ca), await _connect(server, cb), await _connect(server, ca2)
        got: list[bytes] = []

        async def collect(m: nats.aio.msg.Msg) -> None:
            got.append(m.data)

        await nb.subscribe("x", cb=collect)
        await nb.flush()
        assert await _roundtrip(na, "x", na2) == b"hello"
        await nb.flush()
        assert got == []
        for nc in (na, nb, na2):
            await nc.close()


async def test_bearer_tokens(kind: Kind, world: World) -> None:
    a = world.account("A")
    nobear = world.account("NB", lambda ac: setattr(ac.nats.limits, "disallow_bearer", True))

    def bearer(uc: C.UserClaims) -> None:
        uc.nats.bearer_token = True

    tok, _ = world.user(a, "bearer", bearer)
    anyseed = jwt.KeyPair.create(jwt.PREFIX_USER)  # a bearer token needs no signature
    bearer_creds = world.write_creds("bearer", tok, anyseed)
    tok2, _ = world.user(nobear, "bearer2", bearer)
    refused = world.write_creds("bearer2", tok2, anyseed)
    with serve(kind, world.config()) as server:
        assert await _login(server, bearer_creds) == "ok"
        assert await _login(server, refused) == VIOLATION
        server.wait_for_log("Account does not allow bearer tokens")


async def test_expiry(kind: Kind, world: World) -> None:
    a = world.account("A")
    expired = world.creds(a, "expired", edit=lambda uc: setattr(uc, "exp", int(time.time()) - 10))
    later = world.creds(a, "later", edit=lambda uc: setattr(uc, "nbf", int(time.time()) + 3600))
    soon = world.creds(a, "soon", edit=lambda uc: setattr(uc, "exp", int(time.time()) + 3))
    with serve(kind, world.config()) as server:
        assert await _login(server, expired) == VIOLATION
        server.wait_for_log("User JWT no longer valid")
        assert await _login(server, later) == VIOLATION
        closed = asyncio.Event()

        async def on_closed() -> None:
            closed.set()

        nc = await _connect(server, soon, closed_cb=on_closed)
        await asyncio.wait_for(closed.wait(), TIMEOUT)
        assert str(nc.last_error) == "nats: user authentication expired"
        server.wait_for_log("User Authentication Expired")


async def test_account_expiring_closes_its_users(kind: Kind, world: World) -> None:
    a = world.account("A", lambda ac: setattr(ac, "exp", int(time.time()) + 3))
    creds = world.creds(a)
    with serve(kind, world.config()) as server:
        nc = await _connect(server, creds)
        await _closed_with(nc, "account authentication expired")
        server.wait_for_log("Account Authentication Expired")
        assert await _login(server, creds) == VIOLATION
        server.wait_for_log("Account JWT has expired")


async def test_expired_account(kind: Kind, world: World) -> None:
    a = world.account("A", lambda ac: setattr(ac, "exp", int(time.time()) - 10))
    creds = world.creds(a)
    with serve(kind, world.config()) as server:
        assert await _login(server, creds) == VIOLATION
        server.wait_for_log("Account JWT lookup error: account validation failed")
        log = server.tail(100)
        assert f"Account [{a.pub}] has validation issues:" in log and "  - claim is expired" in log


def _perm(
    pub_allow: tuple[str, ...] = (),
    pub_deny: tuple[str, ...] = (),
    sub_allow: tuple[str, ...] = (),
    sub_deny: tuple[str, ...] = (),
) -> Callable[[C.UserClaims], None]:
    def edit(uc: C.UserClaims) -> None:
        uc.nats.pub = C.Permission(allow=list(pub_allow), deny=list(pub_deny))
        uc.nats.sub = C.Permission(allow=list(sub_allow), deny=list(sub_deny))

    return edit


async def _answered(nc: nats.NATS, subject: str) -> nats.aio.msg.Msg:
    """The answer to a request, asked again while nobody answers: with the reference, a
    nats-py flush right after a SUB sometimes returns before the server has registered it
    (as tests/server/test_accounts.py::answered notes), so a first request can meet no
    responder."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            return await nc.request(subject, b"", timeout=TIMEOUT)
        except nats.errors.NoRespondersError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def _closed_with(nc: nats.NATS, text: str) -> None:
    """Wait until the connection is closed with ``text`` as its last error (nats-py closes
    the connection itself on an -ERR other than a permissions violation)."""
    deadline = time.monotonic() + TIMEOUT
    while not nc.is_closed:
        if time.monotonic() > deadline:
            raise AssertionError(f"not closed; errors {nc._test_errors!r}")  # type: ignore[attr-defined]
        await asyncio.sleep(0.01)
    assert text.lower() in str(nc.last_error).lower(), nc.last_error


async def _wait_error(nc: nats.NATS, text: str) -> None:
    """Wait until nats-py has reported an error containing ``text`` (case-insensitive)."""
    errors: list[Exception] = nc._test_errors  # type: ignore[attr-defined]
    deadline = time.monotonic() + TIMEOUT
    while not any(text.lower() in str(e).lower() for e in errors):
        if time.monotonic() > deadline:
            raise AssertionError(f"no error with {text!r}; got {errors!r}")
        await asyncio.sleep(0.01)


async def test_allow_responses_and_account_default_permissions(kind: Kind, world: World) -> None:
    def defaults(ac: C.AccountClaims) -> None:
        ac.nats.default_permissions.pub = C.Permission(deny=["secret.>"])

    a = world.account("A", defaults)

    def responder(uc: C.UserClaims) -> None:
        uc.nats.resp = C.ResponsePermission(max=1, ttl=0)
        uc.nats.sub = C.Permission(allow=["svc"])

    svc = world.creds(a, "svc", edit=responder)
    plain = world.creds(a, "plain")  # no permissions of its own: the account's defaults
    with serve(kind, world.config()) as server:
        s, c = await _connect(server, svc), await _connect(server, plain)

        async def answer(msg: nats.aio.msg.Msg) -> None:
            await msg.respond(b"pong")
            await s.publish("not.a.reply", b"x")

        await s.subscribe("svc", cb=answer)
        await s.flush()
        reply = await _answered(c, "svc")
        assert reply.data == b"pong"
        await _wait_error(s, 'Publish to "not.a.reply"')
        await c.publish("secret.x", b"x")
        await _wait_error(c, 'Publish to "secret.x"')
        await s.close()
        await c.close()


async def test_src_times_and_connection_types(kind: Kind, world: World) -> None:
    a = world.account("A")
    now = time.gmtime(time.time())
    hour = now.tm_hour

    def times(inside: bool):  # type: ignore[no-untyped-def]
        def edit(uc: C.UserClaims) -> None:
            uc.nats.times_location = "UTC"
            if inside:
                uc.nats.times = [C.TimeRange(start="00:00:00", end="23:59:59")]
            else:
                s = (hour + 2) % 24
                uc.nats.times = [C.TimeRange(start=f"{s:02d}:00:00", end=f"{s:02d}:30:00")]

        return edit

    cases = {
        "src ok": world.creds(a, "s1", edit=lambda uc: setattr(uc.nats, "src", ["127.0.0.0/8"])),
        "src bad": world.creds(a, "s2", edit=lambda uc: setattr(uc.nats, "src", ["10.0.0.0/8"])),
        "times ok": world.creds(a, "t1", edit=times(True)),
        "times bad": world.creds(a, "t2", edit=times(False)),
        "std ok": world.creds(
            a, "c1", edit=lambda uc: setattr(uc.nats, "allowed_connection_types", ["STANDARD"])
        ),
        "ws only": world.creds(
            a, "c2", edit=lambda uc: setattr(uc.nats, "allowed_connection_types", ["WEBSOCKET"])
        ),
        "unknown only": world.creds(
            a, "c3", edit=lambda uc: setattr(uc.nats, "allowed_connection_types", ["FOO"])
        ),
    }
    with serve(kind, world.config()) as server:
        got = {name: await _login(server, creds) for name, creds in cases.items()}
        server.wait_for_log("Bad src Ip 127.0.0.1")
        server.wait_for_log("Outside connect times")
        server.wait_for_log("Connection type not allowed")
        server.wait_for_log('invalid connection types ["FOO"]')
    assert got == {
        "src ok": "ok",
        "src bad": VIOLATION,
        "times ok": "ok",
        "times bad": VIOLATION,
        "std ok": "ok",
        "ws only": VIOLATION,
        "unknown only": VIOLATION,
    }


async def test_signing_keys_scoped_templates_and_revocations(kind: Kind, world: World) -> None:
    a = world.account("A", lambda ac: setattr(ac.nats, "tags", ["team:blue"]))
    sk = world.signing_key(a)
    tmpl = C.UserTemplate(
        pub=C.Permission(allow=["dev.{{name()}}.>", "t.{{account-tag(team)}}"]),
        sub=C.Permission(allow=["_INBOX.>"]),
    )
    scoped = world.signing_key(a, tmpl, role="dev")
    by_sk = world.creds(a, "bysk", signer=sk)
    by_scope = world.creds(a, "alice", signer=scoped)
    scoped_with_perms = world.creds(a, "perms", signer=scoped, edit=_perm(("x",)))
    stranger_sk = jwt.KeyPair.create(jwt.PREFIX_ACCOUNT)
    by_stranger = world.creds(a, "stranger", signer=stranger_sk)
    revoked_key = jwt.KeyPair.create(jwt.PREFIX_USER)
    old_token, _ = world.user(a, "old", key=revoked_key)
    a.claims.nats.revocations = {revoked_key.public_key: int(time.time()) + 5}
    revoked = world.write_creds("old", old_token, revoked_key)
    with serve(kind, world.config()) as server:
        assert await _login(server, by_sk) == "ok"
        assert await _login(server, by_stranger) == VIOLATION
        server.wait_for_log("User JWT issuer is not known")
        assert await _login(server, scoped_with_perms) == VIOLATION
        server.wait_for_log("User JWT is not valid: scoped users require no permissions or limits set")
        assert await _login(server, revoked) == VIOLATION
        server.wait_for_log("User authentication revoked")
        nc = await _connect(server, by_scope)
        await nc.publish("dev.alice.x", b"1")
        await nc.publish("t.blue", b"1")
        await nc.publish("dev.bob.x", b"1")
        await _wait_error(nc, 'Publish to "dev.bob.x"')
        assert len(nc._test_errors) == 1  # type: ignore[attr-defined]
        await nc.close()


async def test_account_limits(kind: Kind, world: World) -> None:
    def limits(ac: C.AccountClaims) -> None:
        ac.nats.limits.conn = 2
        ac.nats.limits.subs = 3
        ac.nats.limits.payload = 100

    a = world.account("A", limits)
    creds = world.creds(a)
    user_lim = world.creds(a, "ul", edit=lambda uc: setattr(uc.nats, "subs", 1))
    with serve(kind, world.config()) as server:
        c1 = await _connect(server, creds)
        for i in range(3):
            await c1.subscribe(f"s.{i}")
        await c1.flush()
        c2 = await _connect(server, user_lim)
        assert await _login(server, creds) == "nats: 'maximum account active connections exceeded'"
        await c1.subscribe("s.3")
        await _closed_with(c1, "maximum subscriptions exceeded")
        await c2.subscribe("u.1")
        await c2.flush()
        await c2.subscribe("u.2")
        await _closed_with(c2, "maximum subscriptions exceeded")
        c3 = await _connect(server, creds)
        await c3.publish("small", b"x" * 100)
        await c3.flush()
        await c3.publish("big", b"x" * 101)
        await _closed_with(c3, "maximum payload violation")


async def test_exports_imports_and_activations(kind: Kind, world: World) -> None:
    exp = world.account("EXP")
    exp.claims.nats.exports = [
        C.Export(name="feed", subject="feed.>", type="stream"),
        C.Export(name="svc", subject="svc.>", type="service", token_req=True),
    ]
    imp = world.account("IMP")
    nope = world.account("NOPE")

    def activation(importer: str) -> str:
        act = jwt.ActivationClaims(sub=importer)
        act.nats.subject, act.nats.kind = "svc.>", "service"
        return jwt.encode(act, exp.key)

    imp.claims.nats.imports = [
        C.Import(subject="feed.>", account=exp.pub, type="stream", local_subject="in.>"),
        C.Import(subject="svc.>", account=exp.pub, type="service", token=activation(imp.pub)),
    ]
    # NOPE imports the service without a token: never wired.
    nope.claims.nats.imports = [
        C.Import(subject="svc.a", account=exp.pub, type="service"),
    ]
    # LATE's token has expired: the account is still valid, the import is not wired.
    late = world.account("LATE")
    act = jwt.ActivationClaims(sub=late.pub, exp=int(time.time()) - 5)
    act.nats.subject, act.nats.kind = "svc.>", "service"
    late.claims.nats.imports = [
        C.Import(subject="svc.>", account=exp.pub, type="service", token=jwt.encode(act, exp.key))
    ]
    ce, ci, cn = world.creds(exp, "e"), world.creds(imp, "i"), world.creds(nope, "n")
    cl = world.creds(late, "l")
    with serve(kind, world.config()) as server:
        e, i, n = await _connect(server, ce), await _connect(server, ci), await _connect(server, cn)
        sub = await i.subscribe("in.>")
        await i.flush()

        async def answer(msg: nats.aio.msg.Msg) -> None:
            await msg.respond(b"served " + msg.subject.encode())

        await e.subscribe("svc.>", cb=answer)
        await e.flush()
        await asyncio.sleep(0)
        await e.publish("feed.x", b"news")
        await e.flush()
        msg = await sub.next_msg(timeout=TIMEOUT)
        assert (msg.subject, msg.data) == ("in.x", b"news")
        reply = await _answered(i, "svc.a")
        assert reply.data == b"served svc.a"
        with pytest.raises(nats.errors.NoRespondersError):
            await n.request("svc.a", b"", timeout=TIMEOUT)
        lt = await _connect(server, cl)
        with pytest.raises(nats.errors.NoRespondersError):
            await lt.request("svc.a", b"", timeout=TIMEOUT)
        for nc in (e, i, n, lt):
            await nc.close()


def test_info_in_operator_mode(kind: Kind, world: World) -> None:
    """INFO asks for auth, carries a nonce and the server's curve key (xkey), in the
    reference's order; a CONNECT without a JWT is refused."""
    import json
    import re

    from tests.support.wire import WireClient

    with serve(kind, world.config()) as server, WireClient.open(server.port) as client:
        info = json.loads(client.info_line[5:])
        client.send(b'CONNECT {"verbose":false}\r\nPING\r\n')
        reply = client.read_until_eof()
    keys = [k for k in info if k not in ("git_commit", "pynatsd_version")]
    assert keys == [
        "server_id", "server_name", "version", "proto", "go", "host", "port", "headers", "auth_required",
        "max_payload", "client_id", "client_ip", "nonce", "api_lvl", "xkey",
    ]  # fmt: skip
    assert info["auth_required"] is True
    assert re.fullmatch(r"[A-Za-z0-9_-]{15}", info["nonce"])
    assert re.fullmatch(r"X[A-Z2-7]{55}", info["xkey"])
    assert reply == b"-ERR 'Authorization Violation'\r\n"


async def test_resolver_pinned_accounts(kind: Kind, world: World) -> None:
    a, b = world.account("A"), world.account("B")
    ca, cb, cs = world.creds(a, "a"), world.creds(b, "b"), world.creds(world.sys, "s")
    with serve(kind, world.config(f"resolver_pinned_accounts: [{a.pub}]\n")) as server:
        assert await _login(server, ca) == "ok"
        assert await _login(server, cs) == "ok"  # the system account is always pinned
        assert await _login(server, cb) == VIOLATION
        server.wait_for_log(f"Account {b.pub} not listed as operator pinned account")


async def test_activation_expiry_stops_the_import(kind: Kind, world: World) -> None:
    """An import whose activation expires stops: a subscriber in the importing account gets
    messages before, and none after (each time a fresh subscriber: with the reference, a
    subscription made before the expiry was once seen to get a message again after missing
    one)."""
    exp = world.account("EXP")
    exp.claims.nats.exports = [C.Export(subject="feed.>", type="stream", token_req=True)]
    imp = world.account("IMP")
    act = jwt.ActivationClaims(sub=imp.pub, exp=int(time.time()) + 3)
    act.nats.subject, act.nats.kind = "feed.>", "stream"
    imp.claims.nats.imports = [
        C.Import(subject="feed.>", account=exp.pub, type="stream", token=jwt.encode(act, exp.key))
    ]
    with serve(kind, world.config()) as server:
        e = await _connect(server, world.creds(exp, "e"))

        async def received(tag: str) -> list[bytes]:
            """Subscribe afresh in IMP, publish in EXP, flush both; what arrived."""
            i = await _connect(server, world.creds(imp, f"i{tag}"))
            sub = await i.subscribe("feed.>")
            await i.flush(timeout=TIMEOUT)
            await e.publish("feed.x", tag.encode())
            await e.flush(timeout=TIMEOUT)
            await i.flush(timeout=TIMEOUT)
            got = []
            if tag == "before":  # delivered: wait for it, however the server orders it
                got.append((await sub.next_msg(timeout=TIMEOUT)).data)
            while sub.pending_msgs:
                got.append((await sub.next_msg(timeout=TIMEOUT)).data)
            await i.close()
            return got

        assert await received("before") == [b"before"]
        while time.time() < act.exp + 1.5:  # the expiry itself is the event waited for
            await asyncio.sleep(0.1)
        assert await received("after") == []
        await e.close()


async def test_reload_applies_new_account_claims(kind: Kind, world: World) -> None:
    """SIGHUP with changed preloaded claims applies them as the reference applies an account
    update: a revoked user is told so and closed, connections over a lowered limit (the
    newest) are closed, a good new login still works."""
    import os
    import signal

    a = world.account("A")
    victim_token, victim_key = world.user(a, "victim")
    victim = world.write_creds("victim", victim_token, victim_key)
    other = world.creds(a, "other")
    with serve(kind, world.config()) as server:
        v, first = await _connect(server, victim), await _connect(server, other)
        o = await _connect(server, other)
        # two reloads: the reference revokes and prunes in different goroutines, so with both
        # in one update whether the revoked connection still counts against the limit varies
        a.claims.nats.revocations = {victim_key.public_key: int(time.time()) + 5}
        world.config()
        os.kill(server.pid, signal.SIGHUP)
        await _closed_with(v, "user authentication revoked")
        server.wait_for_log("Reloaded server configuration")
        a.claims.nats.limits.conn = 1
        world.config()
        os.kill(server.pid, signal.SIGHUP)
        await _closed_with(o, "maximum account active connections exceeded")
        server.wait_for_log("Reloaded server configuration")
        assert not first.is_closed
        await first.close()
        assert await _login(server, victim) == VIOLATION
        assert await _login(server, other) == "ok"
