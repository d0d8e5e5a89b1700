"""Operator-mode config: load errors are the reference's (``nats-server -t -c`` on the same
file, same position and text), start refusals are its texts, and what is not built yet
(URL and NATS-based resolvers) is refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from pynatsd import jwt
from pynatsd.config.loader import ConfigError, load_config
from pynatsd.server.server import NatsServer, StartError, UnsupportedFeature
from tests.support.config import needs_reference, reference_test_config
from tests.support.launcher import ServerProcess, ServerStartError, server_command
from tests.support.operator import World


def _files(tmp_path: Path) -> dict[str, str]:
    world = World(tmp_path)
    a = world.account("A")
    world.config()
    token, ukp = world.user(a)
    return {
        "OP": str(tmp_path / "operator.jwt"),
        "USER": str(world.write_creds("u", token, ukp)),
        "ACC": a.pub,
        "ACCJWT": world.account_jwt(a),
        "OPKEY": world.op.public_key,
    }


CASES = [
    "operator: {dir}/missing.jwt\nresolver: MEMORY\n",
    "operator: eyJhbGciOi.xx.yy\nresolver: MEMORY\n",
    "operator: {USER}\nresolver: MEMORY\n",
    "operator: 5\nresolver: MEMORY\n",
    "trusted: [ABC]\nresolver: MEMORY\n",
    "trusted: {ACC}\nresolver: MEMORY\n",
    "trusted: 5\n",
    "operator: {OP}\nresolver: FOO\n",
    "operator: {OP}\nresolver: 5\n",
    "operator: {OP}\nresolver: MEMORY\nresolver_preload: {{ {ACC}: notajwt }}\n",
    "operator: {OP}\nresolver: MEMORY\nresolver_preload: 5\n",
    "operator: {OP}\nresolver: MEMORY\nresolver_preload: {{ {ACC}: 5 }}\n",
]


@needs_reference
@pytest.mark.parametrize("template", CASES)
def test_load_errors_are_the_references(tmp_path: Path, template: str) -> None:
    path = tmp_path / "t.conf"
    path.write_text(template.format(dir=tmp_path, **_files(tmp_path)))
    rc, out = reference_test_config(str(path))
    assert rc != 0
    expected = out.replace("nats-server: ", "").strip().splitlines()[0]
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(info.value.first) == expected


@needs_reference
@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("accounts: {{ B: {{}} }}\n", "operators do not allow Accounts to be configured directly"),
        (
            "authorization: {{ users: [{{user: a, password: b}}] }}\n",
            "operators do not allow users to be configured directly",
        ),
        ("system_account: {ACC}\n", "system_account in config and operator JWT must be identical"),
        (
            "resolver_pinned_accounts: [{OPKEY}]\n",
            'pinned account key "{OPKEY}" is not a valid public account nkey',
        ),
    ],
)
def test_start_refusals_are_the_references(tmp_path: Path, extra: str, reason: str) -> None:
    files = _files(tmp_path)
    path = tmp_path / "s.conf"
    path.write_text(f"operator: {files['OP']}\nresolver: MEMORY\n" + extra.format(**files))
    for kind in ("reference", "pynatsd"):
        server = ServerProcess(server_command(kind), "-c", str(path), name=kind)
        with pytest.raises(ServerStartError):
            server.start(attempts=1)
        assert reason.format(**files) in server.tail(), (kind, server.tail())


def test_unbuilt_resolvers_are_refused_clearly(tmp_path: Path) -> None:
    files = _files(tmp_path)
    path = tmp_path / "u.conf"
    for resolver in (
        "{ type: full, dir: " + str(tmp_path) + " }",
        "{ type: cache, dir: " + str(tmp_path) + " }",
    ):
        path.write_text(f"operator: {files['OP']}\nresolver: {resolver}\n")
        opts = load_config(str(path))
        assert opts.unsupported == {"resolver": "the NATS-based account resolver (full or cache)"}


def test_url_resolver_config(tmp_path: Path) -> None:
    files = _files(tmp_path)
    path = tmp_path / "u.conf"
    path.write_text(f"operator: {files['OP']}\nresolver: URL(http://127.0.0.1:1/jwt/v1/accounts)\n")
    opts = load_config(str(path))
    assert (opts.account_resolver, opts.resolver_url, opts.unsupported) == (
        "URL",
        "http://127.0.0.1:1/jwt/v1/accounts/",
        {},
    )
    # A single operator naming no resolver asks its account server (nsc pushes to .../accounts).
    world = World(tmp_path / "w")
    (tmp_path / "w").mkdir()
    world.account_server_url = "http://127.0.0.1:2/jwt/v1"
    world.config()
    path.write_text(f"operator: {tmp_path / 'w' / 'operator.jwt'}\n")
    opts = load_config(str(path))
    assert (opts.account_resolver, opts.resolver_url) == ("URL", "http://127.0.0.1:2/jwt/v1/accounts/")


async def test_system_account_must_be_preloaded(tmp_path: Path) -> None:
    world = World(tmp_path)
    sys_pub = world.sys.pub
    del world.accounts["SYS"]
    opts = load_config(str(world.config()))
    assert opts.system_account == sys_pub  # from the operator JWT
    with pytest.raises(StartError, match="error resolving system account: account missing"):
        await NatsServer(opts).start()
    assert not isinstance(StartError("x"), UnsupportedFeature)


def test_operator_jwt_decorated_or_inline(tmp_path: Path) -> None:
    world = World(tmp_path)
    token = world.operator_jwt()
    deco = tmp_path / "op.txt"
    deco.write_text(f"-----BEGIN NATS OPERATOR JWT-----\n{token}\n------END NATS OPERATOR JWT------\n")
    for value in (str(deco), token):
        path = tmp_path / "d.conf"
        path.write_text(f"operator: {value}\nresolver: MEMORY\nsystem_account: {world.sys.pub}\n")
        opts = load_config(str(path))
        assert opts.trusted_operators == [token]
        assert jwt.decode_operator(opts.trusted_operators[0]).sub == world.op.public_key
