"""Operator mode with the URL resolver: account JWTs served by a local HTTP account server
(GET <url>/<account>), fetched when a user logs in (the system account at start), on the
reference and on pynatsd with the same config."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pynatsd.jwt import claims as C
from tests.support.launcher import Kind, ServerStartError
from tests.support.operator import World

from .conftest import serve
from .test_operator_auth import VIOLATION, _connect, _login


class AccountServer:
    """An account server as nsc pushes to: ``GET /jwt/v1/accounts/<public key>``."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.jwts: dict[str, str] = {}
        self.requests: list[str] = []
        self.answer_base = True
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                if self.path == "/jwt/v1/accounts/" and outer.answer_base:  # the start's probe
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                name = self.path.rsplit("/", 1)[-1]
                token = outer.jwts.get(name) if self.path.startswith("/jwt/v1/accounts/") else None
                if token is None:
                    self.send_error(404)
                    return
                body = token.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/jwt")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}/jwt/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def account_server() -> Iterator[AccountServer]:
    srv = AccountServer()
    yield srv
    srv.close()


def _publish(world: World, srv: AccountServer) -> None:
    for acct in world.accounts.values():
        srv.jwts[acct.pub] = world.account_jwt(acct)


def _url_config(world: World, srv: AccountServer, extra: str = "") -> Path:
    op_file = world.dir / "operator.jwt"
    op_file.write_text(world.operator_jwt())
    path = world.dir / "url.conf"
    path.write_text(f"operator: {op_file}\nresolver: URL({srv.url}/accounts/)\n{extra}")
    return path


async def test_accounts_fetched_on_login(kind: Kind, world: World, account_server: AccountServer) -> None:
    a = world.account("A")
    exp = world.account("EXP")
    exp.claims.nats.exports = [C.Export(subject="feed.>", type="stream")]
    a.claims.nats.imports = [C.Import(subject="feed.>", account=exp.pub, type="stream", local_subject="in.>")]
    hidden = world.account("HIDDEN")  # not on the account server
    _publish(world, account_server)
    del account_server.jwts[hidden.pub]
    creds_a, creds_e, creds_h = world.creds(a, "a"), world.creds(exp, "e"), world.creds(hidden, "h")
    with serve(kind, _url_config(world, account_server)) as server:
        assert f"/jwt/v1/accounts/{world.sys.pub}" in account_server.requests  # at start
        assert f"/jwt/v1/accounts/{a.pub}" not in account_server.requests
        na = await _connect(server, creds_a)
        assert f"/jwt/v1/accounts/{a.pub}" in account_server.requests
        sub = await na.subscribe("in.>")
        await na.flush()
        ne = await _connect(server, creds_e)
        await ne.publish("feed.x", b"news")
        await ne.flush()
        msg = await sub.next_msg(timeout=20)
        assert (msg.subject, msg.data) == ("in.x", b"news")
        assert await _login(server, creds_h) == VIOLATION
        server.wait_for_log(
            f'Account JWT lookup error: could not fetch <"{account_server.url}/accounts/{hidden.pub}">: 404 Not Found'
        )
        await na.close()
        await ne.close()


async def test_operator_account_server_url(kind: Kind, world: World, account_server: AccountServer) -> None:
    """No ``resolver``: a single operator's ``account_server_url`` + ``/accounts`` is used."""
    world.account_server_url = account_server.url
    a = world.account("A")
    _publish(world, account_server)
    op_file = world.dir / "operator.jwt"
    op_file.write_text(world.operator_jwt())
    config = world.dir / "asu.conf"
    config.write_text(f"operator: {op_file}\n")
    with serve(kind, config) as server:
        assert await _login(server, world.creds(a)) == "ok"
    assert f"/jwt/v1/accounts/{a.pub}" in account_server.requests


async def test_account_server_must_answer_at_start(
    kind: Kind, world: World, account_server: AccountServer
) -> None:
    account_server.answer_base = False
    with pytest.raises(ServerStartError) as info, serve(kind, _url_config(world, account_server)):
        pass
    assert f'could not fetch <"{account_server.url}/accounts/">: 404 Not Found' in str(info.value)


async def test_account_server_over_tls(kind: Kind, world: World, tmp_path: Path) -> None:
    """``resolver_tls { ca_file }``: the account server's certificate is checked with it."""
    from tests.support.tls import make_certs

    certs = make_certs(tmp_path / "certs")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.server.cert, certs.server.key)
    srv = AccountServer(ctx)
    try:
        a = world.account("A")
        _publish(world, srv)
        config = _url_config(world, srv, f"resolver_tls: {{ ca_file: {certs.ca} }}\n")
        with serve(kind, config) as server:
            assert await _login(server, world.creds(a)) == "ok"
        assert f"/jwt/v1/accounts/{a.pub}" in srv.requests
    finally:
        srv.close()
