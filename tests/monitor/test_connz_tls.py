"""/connz for a TLS connection: version, cipher suite and (with ``auth``) the client
certificate's subject and hashes, on pynatsd and the reference. The cipher suite itself is
not compared: each TLS stack prefers its own among the TLS 1.3 suites."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nats

from tests.monitor.conftest import monitored
from tests.support.launcher import KINDS
from tests.support.tls import make_certs


async def test_connz_tls_fields_match_reference(reference: str, tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    conf = (
        f'tls {{\n  cert_file: "{certs.server.cert}"\n  key_file: "{certs.server.key}"\n'
        f'  ca_file: "{certs.ca}"\n  verify: true\n}}\n'
    )
    seen: dict[str, Any] = {}
    for kind in KINDS:
        async with monitored(kind, tmp_path, conf) as srv:
            nc = await nats.connect(srv.url, tls=certs.client_ctx(certs.alice), name="tls")
            (conn,) = (await srv.json("/connz?auth=1"))["connections"]
            plain = (await srv.json("/connz"))["connections"][0]
            seen[kind] = {
                "keys": sorted(conn),
                "plain keys": sorted(plain),
                "version": conn["tls_version"],
                # Go lists every certificate the client sent; Python 3.11 shows the leaf only
                "certs": conn["tls_peer_certs"][:1],
                "cipher": bool(conn["tls_cipher_suite"].startswith("TLS_")),
            }
            await nc.close()
    assert seen["pynatsd"] == seen["reference"]
    assert seen["pynatsd"]["certs"][0]["subject"] == certs.alice.subject
    assert seen["pynatsd"]["certs"][0]["spki_sha256"] == certs.alice.spki_sha256
    assert "tls_peer_certs" not in seen["pynatsd"]["plain keys"]
