"""Authenticator: CONNECT credential checks.

Expected outcomes are those nats-server 2.15.1 produced for the same configuration.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import bcrypt
import pytest

from pynatsd.auth import (
    Authenticator,
    AuthResult,
    is_bcrypt,
)
from pynatsd.auth import authenticator as auth_mod
from pynatsd.options import Options, Permission, Permissions, User
from pynatsd.protocol.errors import ERR_AUTH_TIMEOUT, ERR_AUTH_VIOLATION
from pynatsd.protocol.frames import err_line

# A fixed salt keeps parametrized ids identical across pytest-xdist workers.
_SALT = b"$2b$04$0123456789abcdefghijku"


def _hash(pw: str, prefix: str = "$2b$", salt: bytes = _SALT) -> str:
    h = bcrypt.hashpw(pw.encode(), salt).decode()
    return prefix + h[4:]


HASH_PB = _hash("pb")
HASH_TOK = _hash("tok")
PERMS_A = Permissions(publish=Permission(allow=["a.>"]))
DEFAULTS = Permissions(publish=Permission(deny=["secret"]))

NKEY = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"


def conn(**kw: Any) -> dict[str, Any]:
    """A CONNECT object; ``pw`` stands for the ``pass`` field."""
    d: dict[str, Any] = {"verbose": False, "pedantic": False}
    if "pw" in kw:
        d["pass"] = kw.pop("pw")
    d.update(kw)
    return d


def users_opts(**kw: Any) -> Options:
    return Options(
        users=[
            User("a", "pa", PERMS_A),
            User("b", HASH_PB),
            User("c"),
        ],
        **kw,
    )


class CountingCheck:
    """Stands in for the bcrypt run so tests can count (and optionally hold) it."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls = 0
        self.gate = gate
        self._real = auth_mod._bcrypt_check

    def __call__(self, hashed: str, password: str) -> bool:
        self.calls += 1
        if self.gate is not None:
            assert self.gate.wait(10)
        return self._real(hashed, password)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> CountingCheck:
    c = CountingCheck()
    monkeypatch.setattr(auth_mod, "_bcrypt_check", c)
    return c


# -- configuration facts -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opts", "required", "advertised", "nau"),
    [
        (Options(), False, False, False),
        (Options(password="only-a-password"), False, False, False),
        (Options(authorization="tok"), True, True, False),
        (Options(username="u", password="p"), True, True, False),
        (Options(username="u"), True, True, False),
        (users_opts(), True, True, False),
        (users_opts(no_auth_user="a"), True, False, True),
        (users_opts(no_auth_user="ghost"), True, True, False),
    ],
)
def test_auth_required(opts: Options, required: bool, advertised: bool, nau: bool) -> None:
    a = Authenticator(opts)
    assert a.auth_required is required
    assert a.advertise_auth_required is advertised
    assert a.has_no_auth_user is nau


def test_auth_timeout_default() -> None:
    assert Authenticator(Options()).auth_timeout == 2.0
    assert Authenticator(Options(auth_timeout=0.5)).auth_timeout == 0.5


def test_error_lines() -> None:
    assert err_line(ERR_AUTH_VIOLATION) == b"-ERR 'Authorization Violation'\r\n"
    assert err_line(ERR_AUTH_TIMEOUT) == b"-ERR 'Authentication Timeout'\r\n"


def test_no_auth_configured_accepts_anything() -> None:
    a = Authenticator(Options())
    assert a.authenticate(conn()) == AuthResult(None, None)
    assert a.authenticate(conn(user="x", pw="y", auth_token="z")) == AuthResult(None, None)


# -- token -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("connect", "ok"),
    [
        (conn(auth_token="tok"), True),
        (conn(auth_token="nope"), False),
        (conn(), False),
        (conn(user="u", pw="p"), False),
        (conn(user="u", pw="p", auth_token="tok"), True),
        (conn(auth_token="TOK"), False),
        (conn(nkey=NKEY, sig="abc"), False),
    ],
)
def test_token(connect: dict[str, Any], ok: bool) -> None:
    result = Authenticator(Options(authorization="tok")).authenticate(connect)
    assert result == (AuthResult(None, None) if ok else None)


@pytest.mark.parametrize(("token", "ok"), [("tok", True), (HASH_TOK, False), ("x", False), ("", False)])
def test_bcrypt_token(token: str, ok: bool) -> None:
    a = Authenticator(Options(authorization=HASH_TOK))
    assert (a.authenticate(conn(auth_token=token)) is not None) is ok


# -- single user -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("connect", "ok"),
    [
        (conn(user="u", pw="p"), True),
        (conn(user="u", pw="x"), False),
        (conn(), False),
        (conn(auth_token="p"), False),
        (conn(user="u", pw="p", auth_token="zz"), True),
        (conn(user="v", pw="p"), False),
        (conn(user="u"), False),
        (conn(jwt="eyJ.a.b", sig="abc"), False),
    ],
)
def test_single_user(connect: dict[str, Any], ok: bool) -> None:
    result = Authenticator(Options(username="u", password="p")).authenticate(connect)
    assert result == (AuthResult("u", None) if ok else None)


def test_single_user_without_password() -> None:
    a = Authenticator(Options(username="u"))
    assert a.authenticate(conn(user="u")) == AuthResult("u", None)
    assert a.authenticate(conn(user="u", pw="x")) is None


def test_single_user_bcrypt_and_no_default_permissions() -> None:
    a = Authenticator(Options(username="u", password=HASH_PB, default_permissions=DEFAULTS))
    assert a.authenticate(conn(user="u", pw="pb")) == AuthResult("u", None)
    assert a.authenticate(conn(user="u", pw="nope")) is None


def test_token_gets_no_default_permissions() -> None:
    a = Authenticator(Options(authorization="t", default_permissions=DEFAULTS))
    assert a.authenticate(conn(auth_token="t")) == AuthResult(None, None)


# -- users list ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("connect", "expected"),
    [
        (conn(user="a", pw="pa"), AuthResult("a", PERMS_A)),
        (conn(user="b", pw="pb"), AuthResult("b", None)),
        (conn(user="b", pw="x"), None),
        (conn(user="b", pw=HASH_PB), None),
        (conn(user="zz", pw="pa"), None),
        (conn(user="c"), AuthResult("c", None)),
        (conn(), None),
        (conn(auth_token="pa"), None),
        (conn(pw="pa"), None),
        (conn(user="a"), None),
        (conn(nkey=NKEY, sig="abc"), None),
        (conn(jwt="eyJ.a.b", sig="abc"), None),
    ],
)
def test_users(connect: dict[str, Any], expected: AuthResult | None) -> None:
    assert Authenticator(users_opts()).authenticate(connect) == expected


def test_default_permissions_fill_users_without_any() -> None:
    a = Authenticator(users_opts(default_permissions=DEFAULTS))
    assert a.authenticate(conn(user="a", pw="pa")) == AuthResult("a", PERMS_A)
    assert a.authenticate(conn(user="b", pw="pb")) == AuthResult("b", DEFAULTS)
    assert a.authenticate(conn(user="c")) == AuthResult("c", DEFAULTS)


def test_duplicate_user_last_wins() -> None:
    a = Authenticator(Options(users=[User("d", "first"), User("d", "second")]))
    assert a.authenticate(conn(user="d", pw="first")) is None
    assert a.authenticate(conn(user="d", pw="second")) == AuthResult("d", None)


# -- no_auth_user ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("connect", "expected"),
    [
        (conn(), AuthResult("a", PERMS_A)),
        (conn(user="", pw="", auth_token=""), AuthResult("a", PERMS_A)),
        (conn(user=None, auth_token=None), AuthResult("a", PERMS_A)),
        # the reference ignores nkey/jwt/sig here and treats the CONNECT as anonymous
        (conn(nkey=NKEY, sig="abc"), AuthResult("a", PERMS_A)),
        (conn(jwt="eyJ.a.b", sig="abc"), AuthResult("a", PERMS_A)),
        (conn(user="b", pw="pb"), AuthResult("b", None)),
        (conn(user="b", pw="x"), None),
        (conn(user="a", pw="x"), None),
        (conn(user="a"), None),
        (conn(auth_token="pa"), None),
        (conn(pw="pa"), None),
        (conn(user="zz", pw="pa"), None),
    ],
)
def test_no_auth_user(connect: dict[str, Any], expected: AuthResult | None) -> None:
    assert Authenticator(users_opts(no_auth_user="a")).authenticate(connect) == expected


def test_no_auth_user_gets_default_permissions() -> None:
    a = Authenticator(users_opts(no_auth_user="c", default_permissions=DEFAULTS))
    assert a.authenticate(conn()) == AuthResult("c", DEFAULTS)


def test_no_auth_user_with_bcrypt_password_cannot_log_in(counting: CountingCheck) -> None:
    # Reference quirk kept on purpose: the borrowed password is the hash itself.
    a = Authenticator(users_opts(no_auth_user="b"))
    assert a.authenticate(conn()) is None
    assert counting.calls == 0  # decided without running bcrypt
    assert a.authenticate(conn(user="b", pw="pb")) == AuthResult("b", None)


def test_unknown_no_auth_user_means_no_anonymous_login() -> None:
    assert Authenticator(users_opts(no_auth_user="ghost")).authenticate(conn()) is None


# -- malformed credentials -------------------------------------------------------------------


@pytest.mark.parametrize(
    "connect", [conn(user=1, pw="pa"), conn(user="a", pw=["pa"]), conn(auth_token={"t": 1}), conn(user=True)]
)
def test_non_string_credentials_fail(connect: dict[str, Any]) -> None:
    a = Authenticator(users_opts(no_auth_user="a"))
    assert a.authenticate(connect) is None


# -- bcrypt details --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (HASH_PB, True),
        ("$2a$10$abc", True),
        ("$2x$04$abc", True),
        ("$2y$12$abc", True),
        ("$2$10$abc", False),
        ("$2c$10$abc", False),
        ("$2a$1$abc", False),
        ("2a$10$abc", False),
        ("plain", False),
        ("", False),
    ],
)
def test_is_bcrypt(secret: str, expected: bool) -> None:
    assert is_bcrypt(secret) is expected


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2x$", "$2y$"])
def test_bcrypt_prefixes_and_72_byte_limit(prefix: str) -> None:
    pw = "A" * 72
    a = Authenticator(Options(users=[User("u", _hash(pw, prefix))]))
    assert a.authenticate(conn(user="u", pw=pw)) is not None
    assert a.authenticate(conn(user="u", pw=pw + "X")) is not None  # Go reads 72 bytes only
    assert a.authenticate(conn(user="u", pw=pw[:71])) is None


def test_not_quite_bcrypt_is_plain_text() -> None:
    stored = "$2$" + HASH_PB[4:]
    a = Authenticator(Options(users=[User("u", stored)]))
    assert a.authenticate(conn(user="u", pw=stored)) is not None
    assert a.authenticate(conn(user="u", pw="pb")) is None


def test_malformed_hash_fails_quietly() -> None:
    a = Authenticator(Options(users=[User("u", "$2a$10$tooshort")]))
    assert a.authenticate(conn(user="u", pw="x")) is None


def test_non_ascii_password() -> None:
    pw = "pässwörd-\U0001f600"
    a = Authenticator(Options(users=[User("u", _hash(pw)), User("v", pw)]))
    assert a.authenticate(conn(user="u", pw=pw)) is not None
    assert a.authenticate(conn(user="v", pw=pw)) is not None
    assert a.authenticate(conn(user="v", pw="passwörd")) is None


# -- bcrypt cache ----------------------------------------------------------------------------


def test_successful_bcrypt_checks_are_cached(counting: CountingCheck) -> None:
    a = Authenticator(users_opts())
    for _ in range(5):
        assert a.authenticate(conn(user="b", pw="pb")) == AuthResult("b", None)
    assert counting.calls == 1


def test_failures_are_not_cached(counting: CountingCheck) -> None:
    a = Authenticator(users_opts())
    for _ in range(3):
        assert a.authenticate(conn(user="b", pw="wrong")) is None
    assert counting.calls == 3
    assert a.authenticate(conn(user="b", pw="pb")) is not None
    assert counting.calls == 4


def test_cache_is_keyed_by_stored_hash(counting: CountingCheck) -> None:
    other_salt = b"$2b$04$abcdefghijklmnopqrstuu"
    a = Authenticator(Options(users=[User("x", _hash("same")), User("y", _hash("same", salt=other_salt))]))
    assert a.authenticate(conn(user="x", pw="same")) is not None
    assert a.authenticate(conn(user="y", pw="same")) is not None
    assert counting.calls == 2
    # a wrong password for y is not excused by x's cached success
    assert a.authenticate(conn(user="y", pw="other")) is None


def test_cache_is_bounded_lru(counting: CountingCheck) -> None:
    a = Authenticator(
        Options(users=[User("p", _hash("1")), User("q", _hash("2")), User("r", _hash("3"))]),
        cache_size=2,
    )
    for user, pw in [("p", "1"), ("q", "2"), ("p", "1"), ("r", "3")]:  # r evicts q
        assert a.authenticate(conn(user=user, pw=pw)) is not None
    assert counting.calls == 3
    assert a.authenticate(conn(user="p", pw="1")) is not None
    assert counting.calls == 3
    assert a.authenticate(conn(user="q", pw="2")) is not None
    assert counting.calls == 4


def test_cache_does_not_keep_plaintext() -> None:
    a = Authenticator(users_opts())
    assert a.authenticate(conn(user="b", pw="pb")) is not None
    assert all("pb" not in repr(k) and b"pb" not in k[1] for k in a._cache)


def test_cache_can_be_disabled(counting: CountingCheck) -> None:
    a = Authenticator(users_opts(), cache_size=0)
    a.authenticate(conn(user="b", pw="pb"))
    a.authenticate(conn(user="b", pw="pb"))
    assert counting.calls == 2


# -- async -----------------------------------------------------------------------------------


async def test_async_matches_sync() -> None:
    a = Authenticator(users_opts(no_auth_user="a"))
    for c in [
        conn(),
        conn(user="b", pw="pb"),
        conn(user="b", pw="x"),
        conn(user="a", pw="pa"),
        conn(user="q"),
    ]:
        assert await a.authenticate_async(c) == a.authenticate(c)


async def test_async_coalesces_concurrent_identical_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    counting = CountingCheck(gate)
    monkeypatch.setattr(auth_mod, "_bcrypt_check", counting)
    a = Authenticator(users_opts())
    tasks = [asyncio.create_task(a.authenticate_async(conn(user="b", pw="pb"))) for _ in range(20)]
    await asyncio.sleep(0)  # one loop pass: every task reaches the shared check
    assert len(a._inflight) == 1
    gate.set()
    results = await asyncio.gather(*tasks)
    assert results == [AuthResult("b", None)] * 20
    assert counting.calls == 1
    assert not a._inflight
    assert await a.authenticate_async(conn(user="b", pw="pb")) == AuthResult("b", None)
    assert counting.calls == 1  # now served from the cache


async def test_async_waiter_cancellation_does_not_cancel_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    counting = CountingCheck(gate)
    monkeypatch.setattr(auth_mod, "_bcrypt_check", counting)
    a = Authenticator(users_opts())
    first = asyncio.create_task(a.authenticate_async(conn(user="b", pw="pb")))
    second = asyncio.create_task(a.authenticate_async(conn(user="b", pw="pb")))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == AuthResult("b", None)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert counting.calls == 1


async def test_async_failure_is_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    counting = CountingCheck()
    monkeypatch.setattr(auth_mod, "_bcrypt_check", counting)
    a = Authenticator(users_opts())
    assert await a.authenticate_async(conn(user="b", pw="bad")) is None
    assert await a.authenticate_async(conn(user="b", pw="bad")) is None
    assert counting.calls == 2
