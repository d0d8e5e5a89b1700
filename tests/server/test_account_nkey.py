"""Accounts with an ``nkey``: on both servers the account works as any other and clients
still see it by its config name (the reference keeps the key without using it in config mode)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nats.aio.msg import Msg

from tests.config.test_account_nkey_config import ACCOUNT_KEY
from tests.server.test_accounts import Conns, serve
from tests.support.binary import require_reference
from tests.support.launcher import KINDS, Kind

CONFIG = f"""
accounts {{
  A {{
    nkey: {ACCOUNT_KEY}
    users = [{{user: a, password: a}}]
    exports = [{{service: "svc", latency: "lat.svc"}}]
  }}
  B {{
    users = [{{user: b, password: b}}]
    imports = [{{service: {{account: A, subject: "svc"}}, share: true}}]
  }}
}}
"""


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> Kind:
    if request.param == "reference":
        require_reference()
    return request.param  # type: ignore[no-any-return]


async def test_an_account_with_an_nkey_is_known_by_its_name(kind: Kind, tmp_path: Path) -> None:
    srv = serve(kind, tmp_path, CONFIG)
    conns = Conns(srv)
    try:
        a, b = await conns("a"), await conns("b")
        infos: list[dict[str, object]] = []

        async def respond(msg: Msg) -> None:
            infos.append(json.loads((msg.headers or {})["Nats-Request-Info"]))
            await msg.respond(b"ok")

        results = await a.subscribe("lat.svc")
        await a.subscribe("svc", cb=respond)
        await a.flush()
        assert (await b.request("svc", b"?", timeout=10)).data == b"ok"
        assert infos[0]["acc"] == "B"
        r = json.loads((await results.next_msg(timeout=10)).data)
        assert (r["status"], r["requestor"]["acc"], r["responder"]["acc"]) == (200, "B", "A")
    finally:
        await conns.close()
        srv.stop()
