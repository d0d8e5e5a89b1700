"""Bad CONNECTs in operator mode, byte for byte on both servers: malformed, forged or
mistyped JWTs and signatures are refused and nothing crashes; other clients go on."""

from __future__ import annotations

import base64
import json

import pytest

from pynatsd import jwt
from tests.support.launcher import Kind
from tests.support.operator import World
from tests.support.wire import WireClient

from .conftest import serve


def _cases(world: World) -> dict[str, object]:
    a = world.account("A")
    token, ukp = world.user(a)
    return {"token": token, "ukp": ukp, "acct": a}


def _connect(client: WireClient, fields: dict[str, object]) -> bytes:
    client.send(b"CONNECT " + json.dumps({"verbose": False, **fields}).encode() + b"\r\nPING\r\n")
    return client.read_until_eof()


BAD = [
    "jwt not a string",
    "jwt garbage",
    "jwt two chunks",
    "jwt of an account",
    "sig not a string",
    "sig not base64",
    "sig of another nonce",
    "no sig",
    "user key as nkey only",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_connects_are_refused(kind: Kind, world: World, case: str) -> None:
    c = _cases(world)
    token, ukp = str(c["token"]), c["ukp"]
    assert isinstance(ukp, jwt.KeyPair)
    with serve(kind, world.config()) as server:
        with WireClient.open(server.port) as client:
            nonce = client.info["nonce"].encode()
            good_sig = base64.urlsafe_b64encode(ukp.sign(nonce)).rstrip(b"=").decode()
            fields: dict[str, object] = {
                "jwt not a string": {"jwt": 5, "sig": good_sig},
                "jwt garbage": {"jwt": "eyJhbGciOi.xx.yy", "sig": good_sig},
                "jwt two chunks": {"jwt": "a.b", "sig": good_sig},
                "jwt of an account": {"jwt": world.account_jwt(c["acct"]), "sig": good_sig},  # type: ignore[arg-type]
                "sig not a string": {"jwt": token, "sig": 7},
                "sig not base64": {"jwt": token, "sig": "***"},
                "sig of another nonce": {
                    "jwt": token,
                    "sig": base64.urlsafe_b64encode(ukp.sign(b"other")).rstrip(b"=").decode(),
                },
                "no sig": {"jwt": token},
                "user key as nkey only": {"nkey": ukp.public_key, "sig": good_sig},
            }[case]
            reply = _connect(client, fields)
        # The server is still there for a good client.
        with WireClient.open(server.port) as client:
            nonce = client.info["nonce"].encode()
            sig = base64.b64encode(ukp.sign(nonce)).decode()  # standard base64, as nats-py sends it
            ok = client.send(
                b"CONNECT "
                + json.dumps({"verbose": False, "jwt": token, "sig": sig}).encode()
                + b"\r\nPING\r\n"
            )
            assert ok and client.read_line() == b"PONG\r\n"
    expected = {
        "jwt not a string": b"",  # a mistyped CONNECT field: closed without -ERR, as the reference
        "sig not a string": b"",
    }.get(case, b"-ERR 'Authorization Violation'\r\n")
    assert reply == expected
