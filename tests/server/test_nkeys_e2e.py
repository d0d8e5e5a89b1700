"""NKey users end to end: one config file, run by pynatsd and by the reference, driven by
nats-py (``nkeys_seed_str``) and by raw sockets; both servers must behave the same."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.support.launcher import ServerProcess, start_server
from tests.support.nkeys import ACCOUNT, UNKNOWN_USER, USER_A, USER_B
from tests.support.wire import AsyncWireClient as Raw

VIOLATION = b"-ERR 'Authorization Violation'\r\n"

CONFIG = f"""
authorization {{
  users = [
    {{nkey: {USER_A.public}, permissions: {{publish: "a.>", subscribe: ["a.>", "_INBOX.>"]}}}}
    {{nkey: {USER_B.public}}}
    {{user: pw, password: secret}}
    {{user: gone, password: x}}
  ]
}}
"""


@pytest.fixture(params=["pynatsd", "reference"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    path = tmp_path / "nkeys.conf"
    path.write_text(CONFIG)
    srv = start_server(request.param, "-c", str(path), cwd=tmp_path)
    try:
        yield srv
    finally:
        srv.stop()


async def _flows(pub: nats.NATS, sub: Any, subject: str, data: bytes) -> Any:
    """The first message ``sub`` gets of ``data`` published on ``subject`` again and again.

    With the reference, a nats-py flush right after a SUB sometimes returns before the
    server has registered the SUB (seen in its trace: the PUB of the other connection is
    processed first, ~4% of runs), so one publish after the flush can reach nobody; the
    test waits for the message to flow (10 s) instead of trusting that ordering."""
    for _ in range(100):
        await pub.publish(subject, data)
        await pub.flush()
        try:
            return await sub.next_msg(timeout=0.1)
        except nats.errors.TimeoutError:
            continue
    raise AssertionError(f"nothing published on {subject} reached the subscriber")


async def _connect(srv: ServerProcess, **kw: Any) -> nats.NATS:
    return await nats.connect(srv.url, allow_reconnect=False, max_reconnect_attempts=0, **kw)


async def test_good_seed_connects_and_messages_flow(server: ServerProcess) -> None:
    b = await _connect(server, nkeys_seed_str=USER_B.seed)
    pw = await _connect(server, user="pw", password="secret")
    try:
        sub = await pw.subscribe("mixed.>")
        await pw.flush()
        assert (await _flows(b, sub, "mixed.1", b"from nkey")).data == b"from nkey"
        sub_b = await b.subscribe("back")
        await b.flush()
        assert (await _flows(pw, sub_b, "back", b"from password user")).data == b"from password user"
    finally:
        await b.close()
        await pw.close()


@pytest.mark.parametrize("seed", [UNKNOWN_USER.seed, ACCOUNT.seed], ids=["unknown-user", "account-key"])
async def test_unconfigured_seed_is_refused_with_the_references_error(
    server: ServerProcess, seed: str
) -> None:
    errors: list[Exception] = []

    async def error_cb(e: Exception) -> None:
        errors.append(e)

    with pytest.raises(Exception) as info:
        await _connect(server, nkeys_seed_str=seed, error_cb=error_cb)
    text = " ".join(str(e) for e in [info.value, *errors]).lower()
    assert "authorization violation" in text


async def test_nkey_user_permissions_are_enforced(server: ServerProcess) -> None:
    errors: list[str] = []
    got_error = asyncio.Event()

    async def error_cb(e: Exception) -> None:
        errors.append(str(e))
        got_error.set()

    a = await _connect(server, nkeys_seed_str=USER_A.seed, error_cb=error_cb)
    watcher = await _connect(server, nkeys_seed_str=USER_B.seed)
    try:
        allowed = await watcher.subscribe("a.>")
        denied = await watcher.subscribe("b.>")
        await watcher.flush()
        await a.publish("a.allowed", b"yes")
        await a.flush()  # nats-py may hold a publish made right after connecting until a flush
        msg = await allowed.next_msg(timeout=10)
        assert (msg.subject, msg.data) == ("a.allowed", b"yes")

        await a.publish("b.denied", b"no")
        await a.flush()
        await asyncio.wait_for(got_error.wait(), 10)
        assert 'permissions violation for publish to "b.denied"' in errors[0].lower()
        # Had the denied message been routed, it would reach the watcher before this marker,
        # which the watcher publishes only after the server refused the publish.
        await watcher.publish("b.marker", b"m")
        await watcher.flush()
        assert (await denied.next_msg(timeout=10)).subject == "b.marker"

        got_error.clear()
        await a.subscribe("b.secret")
        await asyncio.wait_for(got_error.wait(), 10)
        assert 'permissions violation for subscription to "b.secret"' in errors[-1].lower()
        assert a.is_connected  # violations do not close the connection
    finally:
        await a.close()
        await watcher.close()


# -- raw wire: the nonce and the signature ------------------------------------------------


def _nonce(info: bytes) -> str:
    obj = json.loads(info[5:].strip())
    nonce = obj["nonce"]
    assert isinstance(nonce, str)
    return nonce


def _connect_line(nkey: str, sig: str | None) -> bytes:
    o: dict[str, Any] = {"verbose": False, "pedantic": False, "nkey": nkey}
    if sig is not None:
        o["sig"] = sig
    return b"CONNECT " + json.dumps(o).encode() + b"\r\n"


async def test_info_carries_a_fresh_nonce_per_connection(server: ServerProcess) -> None:
    nonces = []
    for _ in range(3):
        r = await Raw.connect(server.port)
        info = json.loads(r.info[5:].strip())
        assert info["auth_required"] is True
        nonces.append(_nonce(r.info))
        await r.close()
    assert len(set(nonces)) == 3
    assert all(len(n) == 15 for n in nonces)


@pytest.mark.parametrize("encoding", ["sig_url", "sig_std"])
async def test_raw_good_signature_in_either_base64(server: ServerProcess, encoding: str) -> None:
    r = await Raw.connect(server.port)
    sig = getattr(USER_A, encoding)(_nonce(r.info))
    assert await r.roundtrip(_connect_line(USER_A.public, sig)) == b""
    await r.close()


def _bad(nonce: str) -> dict[str, tuple[str, str | None]]:
    return {
        "wrong-key-signature": (USER_A.public, USER_B.sig_url(nonce)),
        "stale-nonce": (USER_A.public, USER_A.sig_url(nonce + "x")),
        "missing-sig": (USER_A.public, None),
        "empty-sig": (USER_A.public, ""),
        "garbage-sig": (USER_A.public, "%%%"),
        "unknown-key": (UNKNOWN_USER.public, UNKNOWN_USER.sig_url(nonce)),
        "account-key": (ACCOUNT.public, ACCOUNT.sig_url(nonce)),
        "malformed-key": ("UNOTAKEY", USER_A.sig_url(nonce)),
    }


@pytest.mark.parametrize("case", list(_bad("n")))
async def test_raw_bad_signature_or_key_is_refused_and_closed(server: ServerProcess, case: str) -> None:
    r = await Raw.connect(server.port)
    nkey, sig = _bad(_nonce(r.info))[case]
    await r.send(_connect_line(nkey, sig) + b"PING\r\n")
    assert await r.read_to_close() == VIOLATION
    line = server.wait_for_log("authentication error")
    assert f'authentication error - Nkey "{nkey}"' in line


async def test_second_connect_with_a_bad_signature_closes(server: ServerProcess) -> None:
    r = await Raw.connect(server.port)
    nonce = _nonce(r.info)
    assert await r.roundtrip(_connect_line(USER_A.public, USER_A.sig_url(nonce))) == b""
    await r.send(_connect_line(USER_A.public, USER_B.sig_url(nonce)) + b"PING\r\n")
    assert await r.read_to_close() == VIOLATION


async def test_password_user_needs_no_signature(server: ServerProcess) -> None:
    r = await Raw.connect(server.port)
    assert await r.roundtrip(b'CONNECT {"verbose":false,"user":"pw","pass":"secret"}\r\n') == b""
    await r.close()


async def test_reload_keeps_nkey_users_and_closes_removed_ones(server: ServerProcess, tmp_path: Path) -> None:
    a = await Raw.connect(server.port)
    assert (
        await a.roundtrip(_connect_line(USER_A.public, USER_A.sig_url(_nonce(a.info))) + b"SUB a.r 1\r\n")
        == b""
    )
    b = await Raw.connect(server.port)
    assert await b.roundtrip(_connect_line(USER_B.public, USER_B.sig_url(_nonce(b.info)))) == b""
    # B is removed; A stays, its signature still checked against the nonce it was given.
    # The reference closes a removed user's connection without an -ERR (its account is gone).
    gone = await Raw.connect(server.port)
    assert await gone.roundtrip(b'CONNECT {"verbose":false,"user":"gone","pass":"x"}\r\n') == b""
    new_config = CONFIG.replace(f"{{nkey: {USER_B.public}}}", "").replace("{user: gone, password: x}", "")
    (tmp_path / "nkeys.conf").write_text(new_config)
    os.kill(server.pid, signal.SIGHUP)
    await asyncio.to_thread(server.wait_for_log, "Reloaded server configuration")
    assert await b.read_to_close() == b""
    assert await gone.read_to_close() == b""
    pw = await Raw.connect(server.port)
    assert (
        await pw.roundtrip(b'CONNECT {"verbose":false,"user":"pw","pass":"secret"}\r\nPUB a.r 2\r\nok\r\n')
        == b""
    )
    assert await a.roundtrip(b"") == b"MSG a.r 1 2\r\nok\r\n"
    await a.close()
    await pw.close()


async def test_lame_duck_info_has_no_nonce(server: ServerProcess) -> None:
    r = await Raw.connect(server.port)
    # protocol 1: the reference sends async INFO (lame duck's included) only to such clients
    connect = _connect_line(USER_A.public, USER_A.sig_url(_nonce(r.info))).replace(
        b"{", b'{"protocol": 1, ', 1
    )
    assert await r.roundtrip(connect) == b""
    os.kill(server.pid, signal.SIGUSR2)
    infos: list[dict[str, Any]] = []
    while not infos or not infos[-1].get("ldm"):
        line = await r.read_line()
        if line.startswith(b"INFO "):
            infos.append(json.loads(line[5:].strip()))
    assert all("nonce" not in info for info in infos)  # only the connection's first INFO has it
    await r.close()
