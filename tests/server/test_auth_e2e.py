"""Authentication and permissions through the server, over raw sockets and nats-py."""

from __future__ import annotations

import bcrypt
import nats
import pytest
from nats.errors import NoServersError

import pynatsd
from pynatsd.options import Permission, Permissions, ResponsePermission, User
from tests.support.wire import AsyncWireClient as Raw

VIOLATION = b"-ERR 'Authorization Violation'\r\n"


async def test_token() -> None:
    async with pynatsd.Server(authorization="s3cret") as srv:
        r = await Raw.connect(srv.port)
        assert b'"auth_required":true' in r.info
        assert await r.roundtrip(b'CONNECT {"verbose":false,"auth_token":"s3cret"}\r\n') == b""
        bad = await Raw.connect(srv.port)
        await bad.send(b'CONNECT {"verbose":false,"auth_token":"nope"}\r\n')
        assert await bad.read_to_close() == VIOLATION
        await r.close()


async def test_anything_before_connect_is_a_violation() -> None:
    async with pynatsd.Server(authorization="s3cret") as srv:
        r = await Raw.connect(srv.port)
        await r.send(b"PING\r\n")
        assert await r.read_to_close() == VIOLATION


async def test_user_password_with_nats_py() -> None:
    async with pynatsd.Server(username="alice", password="pw") as srv:
        nc = await nats.connect(srv.client_url, user="alice", password="pw")
        sub = await nc.subscribe("a")
        await nc.publish("a", b"x")
        assert (await sub.next_msg(timeout=10)).data == b"x"
        await nc.close()
        with pytest.raises((NoServersError, nats.errors.Error)):
            await nats.connect(
                srv.client_url, user="alice", password="bad", allow_reconnect=False, max_reconnect_attempts=0
            )


async def test_users_list_with_bcrypt_and_second_connect_rechecked() -> None:
    hashed = bcrypt.hashpw(b"bpw", bcrypt.gensalt(rounds=4)).decode()
    users = [User("plain", "ppw"), User("hashed", hashed)]
    async with pynatsd.Server(users=users) as srv:
        for user, pw in (("plain", "ppw"), ("hashed", "bpw")):
            r = await Raw.connect(srv.port)
            cmd = b'CONNECT {"verbose":false,"user":"%b","pass":"%b"}\r\n' % (user.encode(), pw.encode())
            assert await r.roundtrip(cmd) == b""
            # credentials are kept across a CONNECT without them...
            assert await r.roundtrip(b'CONNECT {"verbose":false}\r\n') == b""
            # ...but a CONNECT with a wrong password is a violation
            await r.send(b'CONNECT {"user":"%b","pass":"wrong"}\r\n' % user.encode())
            assert await r.read_to_close() == VIOLATION
        bad = await Raw.connect(srv.port)
        await bad.send(b'CONNECT {"user":"hashed","pass":"%b"}\r\n' % hashed.encode())
        assert await bad.read_to_close() == VIOLATION


def _perms(
    pub: list[str] | None = None,
    sub: list[str] | None = None,
    deny_pub: list[str] | None = None,
    deny_sub: list[str] | None = None,
    responses: bool = False,
) -> Permissions:
    return Permissions(
        publish=Permission(allow=pub or [], deny=deny_pub or []) if (pub or deny_pub) else None,
        subscribe=Permission(allow=sub or [], deny=deny_sub or []) if (sub or deny_sub) else None,
        allow_responses=ResponsePermission(max_msgs=1) if responses else None,
    )


async def test_publish_and_subscribe_permissions() -> None:
    users = [User("u", "p", _perms(pub=["ok.>"], sub=["in.*"], deny_sub=["in.secret"]))]
    async with pynatsd.Server(users=users) as srv:
        r = await Raw.connect(srv.port)
        out = await r.roundtrip(
            b'CONNECT {"verbose":false,"user":"u","pass":"p"}\r\n'
            b"SUB in.a 1\r\nSUB out 2\r\nSUB in.secret 3\r\nPUB no 0\r\n\r\nPUB ok.x 0\r\n\r\n"
        )
        assert out == (
            b"-ERR 'Permissions Violation for Subscription to \"out\"'\r\n"
            b"-ERR 'Permissions Violation for Subscription to \"in.secret\"'\r\n"
            b"-ERR 'Permissions Violation for Publish to \"no\"'\r\n"
        )
        await r.close()


async def test_wildcard_subscription_does_not_receive_denied_subjects() -> None:
    users = [User("u", "p", _perms(deny_sub=["in.secret"])), User("pub", "p")]
    async with pynatsd.Server(users=users) as srv:
        r = await Raw.connect(srv.port)
        await r.roundtrip(b'CONNECT {"verbose":false,"user":"u","pass":"p"}\r\nSUB in.* 1\r\n')
        p = await Raw.connect(srv.port)
        await p.roundtrip(
            b'CONNECT {"verbose":false,"user":"pub","pass":"p"}\r\nPUB in.secret 1\r\ns\r\nPUB in.open 1\r\no\r\n'
        )
        assert await r.roundtrip(b"") == b"MSG in.open 1 1\r\no\r\n"
        await r.close()
        await p.close()


async def test_allow_responses_lets_a_service_reply_once() -> None:
    users = [User("svc", "p", _perms(pub=["nothing"], sub=["req"], responses=True)), User("cli", "p")]
    async with pynatsd.Server(users=users) as srv:
        svc = await Raw.connect(srv.port)
        await svc.roundtrip(b'CONNECT {"verbose":false,"user":"svc","pass":"p"}\r\nSUB req 1\r\n')
        cli = await Raw.connect(srv.port)
        await cli.roundtrip(
            b'CONNECT {"verbose":false,"user":"cli","pass":"p"}\r\nSUB _INBOX.1 9\r\nPUB req _INBOX.1 1\r\nq\r\n'
        )
        assert await svc.roundtrip(b"") == b"MSG req 1 _INBOX.1 1\r\nq\r\n"
        out = await svc.roundtrip(b"PUB _INBOX.1 1\r\na\r\nPUB _INBOX.1 1\r\nb\r\n")
        assert out == b"-ERR 'Permissions Violation for Publish to \"_INBOX.1\"'\r\n"
        assert await cli.roundtrip(b"") == b"MSG _INBOX.1 9 1\r\na\r\n"
        await svc.close()
        await cli.close()


async def test_no_auth_user() -> None:
    users = [User("guest", "g", _perms(pub=["public.>"])), User("admin", "a")]
    async with pynatsd.Server(users=users, no_auth_user="guest") as srv:
        r = await Raw.connect(srv.port)
        assert b"auth_required" not in r.info
        out = await r.roundtrip(b'CONNECT {"verbose":false}\r\nPUB public.x 0\r\n\r\nPUB private 0\r\n\r\n')
        assert out == b"-ERR 'Permissions Violation for Publish to \"private\"'\r\n"
        admin = await Raw.connect(srv.port)
        assert (
            await admin.roundtrip(
                b'CONNECT {"verbose":false,"user":"admin","pass":"a"}\r\nPUB private 0\r\n\r\n'
            )
            == b""
        )
        await r.close()
        await admin.close()


async def test_default_permissions_apply_to_users_without_their_own() -> None:
    users = [User("u", "p")]
    async with pynatsd.Server(users=users, default_permissions=_perms(pub=["only.this"])) as srv:
        r = await Raw.connect(srv.port)
        out = await r.roundtrip(
            b'CONNECT {"verbose":false,"user":"u","pass":"p"}\r\nPUB other 0\r\n\r\nPUB only.this 0\r\n\r\n'
        )
        assert out == b"-ERR 'Permissions Violation for Publish to \"other\"'\r\n"
        await r.close()
