"""Differential wire tests for NKey users: the same bytes to the reference and to pynatsd
with the same config file. INFO carries a nonce (its value is random, so it is compared
by shape and by place among the keys); a CONNECT's ``sig`` must sign that nonce."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.nkeys import ACCOUNT, UNKNOWN_USER, USER_A, USER_B
from tests.support.wire import OPTIONAL_INFO_KEYS, WireClient, normalize, parse_info

if TYPE_CHECKING:
    from .conftest import Target

AUTH_VIOLATION = b"-ERR 'Authorization Violation'\r\n"
SILENT_CLOSE = b""

USERS = (
    f"    {{nkey: {USER_A.public}, permissions: {{publish: a.>, subscribe: a.>}}}}\n"
    f"    {{nkey: {USER_B.public}}}\n"
    "    {user: pw, password: secret}\n"
)
CONFIG = f"authorization {{\n  users = [\n{USERS}  ]\n}}\n"
NO_AUTH_CONFIG = CONFIG + f"no_auth_user: {USER_A.public}\n"

AUTH_INFO = b'INFO {"api_lvl":5,"auth_required":true,"headers":true,"max_payload":1048576,"proto":1} \r\n'
NO_AUTH_INFO = b'INFO {"api_lvl":5,"headers":true,"max_payload":1048576,"proto":1} \r\n'
BASE_KEYS = ["server_id", "server_name", "version", "proto", "go", "host", "port", "headers"]
TAIL_KEYS = ["max_payload", "client_id", "client_ip", "nonce", "api_lvl"]


def _info(port: int) -> tuple[bytes, list[str], bool]:
    """Normalized INFO, its key order (implementation-only keys left out), nonce shape."""
    with WireClient.open(port) as client:
        line = client.info_line
    info = parse_info(line)
    keys = [k for k in info if k not in OPTIONAL_INFO_KEYS]
    shaped = re.fullmatch(r"[A-Za-z0-9_-]{15}", info.get("nonce", "")) is not None
    return normalize(line), keys, shaped


def test_info_has_a_nonce_where_the_reference_puts_it(target: Target) -> None:
    expected_keys = [*BASE_KEYS, "auth_required", *TAIL_KEYS]
    target.compare(_info, (AUTH_INFO, expected_keys, True), config=CONFIG)


def test_info_with_an_nkey_no_auth_user(target: Target) -> None:
    target.compare(_info, (NO_AUTH_INFO, [*BASE_KEYS, *TAIL_KEYS], True), config=NO_AUTH_CONFIG)


def test_info_without_nkey_users_has_no_nonce(target: Target) -> None:
    config = "authorization { users = [ {user: pw, password: secret} ] }\n"
    target.compare(
        _info, (AUTH_INFO, [*BASE_KEYS, "auth_required", *TAIL_KEYS[:3], "api_lvl"], False), config=config
    )


def _connect(nkey: Any, sig: Any = None, **extra: Any) -> bytes:
    o: dict[str, Any] = {"verbose": True, "nkey": nkey, **extra}
    if sig is not None:
        o["sig"] = sig
    return b"CONNECT " + json.dumps(o, separators=(",", ":")).encode() + b"\r\n"


# Scripts that need no nonce: every one is refused (a signature made for no nonce fails).
BAD_CASES = [
    ("missing-sig", _connect(USER_A.public), AUTH_VIOLATION),
    ("empty-sig", _connect(USER_A.public, ""), AUTH_VIOLATION),
    ("junk-sig", _connect(USER_A.public, "not-base64!"), AUTH_VIOLATION),
    ("sig-of-another-text", _connect(USER_A.public, USER_A.sig_url("0123456789abcde")), AUTH_VIOLATION),
    ("unknown-key", _connect(UNKNOWN_USER.public, UNKNOWN_USER.sig_url("x")), AUTH_VIOLATION),
    ("account-key", _connect(ACCOUNT.public, ACCOUNT.sig_url("x")), AUTH_VIOLATION),
    ("seed-as-key", _connect(USER_A.seed, "x"), AUTH_VIOLATION),
    ("lowercase-key", _connect(USER_A.public.lower(), "x"), AUTH_VIOLATION),
    (
        "unknown-key-with-good-password",
        _connect(UNKNOWN_USER.public, user="pw", **{"pass": "secret"}),
        AUTH_VIOLATION,
    ),
    ("nkey-not-a-string", _connect(5, "x"), SILENT_CLOSE),
    ("sig-not-a-string", _connect(USER_A.public, 5), SILENT_CLOSE),
]


@pytest.mark.parametrize(("send", "reply"), [pytest.param(s, r, id=i) for i, s, r in BAD_CASES])
def test_refused(target: Target, send: bytes, reply: bytes) -> None:
    target.script(send + b"PING\r\n", reply, closed=True, config=CONFIG)


@pytest.mark.parametrize(
    ("send", "reply"),
    [
        pytest.param(
            b'CONNECT {"verbose":true,"user":"pw","pass":"secret"}\r\nPING\r\n',
            b"+OK\r\nPONG\r\n",
            id="password-user",
        ),
        pytest.param(
            b'CONNECT {"verbose":true,"user":"pw","pass":"bad"}\r\nPING\r\n',
            AUTH_VIOLATION,
            id="bad-password",
        ),
        pytest.param(b'CONNECT {"verbose":true}\r\nPING\r\n', AUTH_VIOLATION, id="no-credentials"),
    ],
)
def test_password_users_beside_nkeys(target: Target, send: bytes, reply: bytes) -> None:
    target.script(send, reply, closed=reply == AUTH_VIOLATION, config=CONFIG)


def _signed_session(port: int, encoding: str) -> tuple[bytes, bool]:
    """CONNECT as USER_A signing this connection's nonce, then use its permissions."""
    with WireClient.open(port) as c:
        sig = getattr(USER_A, encoding)(c.info["nonce"])
        c.send(
            _connect(USER_A.public, sig),
            b"SUB a.x 1\r\nSUB b.x 2\r\nPUB a.x 2\r\nhi\r\nPUB b.x 2\r\nno\r\nPING\r\n",
        )
        c.wait(lambda: b"PONG\r\n" in c.pending, "PONG")
        return c.consume_all(), c.eof


SIGNED_REPLY = (
    b"+OK\r\n+OK\r\n"
    b"-ERR 'Permissions Violation for Subscription to \"b.x\"'\r\n"
    b"+OK\r\nMSG a.x 1 2\r\nhi\r\n"
    b"-ERR 'Permissions Violation for Publish to \"b.x\"'\r\n"
    b"PONG\r\n"
)


@pytest.mark.parametrize("encoding", ["sig_url", "sig_std"])
def test_good_signature_then_permissions(target: Target, encoding: str) -> None:
    target.compare(lambda port: _signed_session(port, encoding), (SIGNED_REPLY, False), config=CONFIG)


def _no_auth_session(port: int) -> bytes:
    """No credentials at all: the connection is the no_auth_user NKey, with its permissions."""
    with WireClient.open(port) as c:
        c.send(b'CONNECT {"verbose":true}\r\nSUB a.y 1\r\nSUB b.y 2\r\nPUB a.y 1\r\nz\r\nPING\r\n')
        c.wait(lambda: b"PONG\r\n" in c.pending, "PONG")
        return c.consume_all()


def test_nkey_no_auth_user(target: Target) -> None:
    expected = (
        b"+OK\r\n+OK\r\n-ERR 'Permissions Violation for Subscription to \"b.y\"'\r\n"
        b"+OK\r\nMSG a.y 1 1\r\nz\r\nPONG\r\n"
    )
    target.compare(_no_auth_session, expected, config=NO_AUTH_CONFIG)


def test_nkey_no_auth_user_named_without_signature(target: Target) -> None:
    target.script(
        _connect(USER_A.public) + b"PING\r\n", b"+OK\r\nPONG\r\n", closed=False, config=NO_AUTH_CONFIG
    )
