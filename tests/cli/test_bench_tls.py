"""``pynats bench`` over TLS (the harness's pubsub-tls and request-tls), on both servers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.binary import require_reference
from tests.support.launcher import KINDS, Kind, child_env, start_server
from tests.support.tls import Certs, make_certs


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(params=KINDS)
def tls_url(request: pytest.FixtureRequest, certs: Certs) -> Iterator[str]:
    kind: Kind = request.param
    if kind == "reference":
        require_reference()
    server = start_server(kind, "--tls", "--tlscert", certs.server.cert, "--tlskey", certs.server.key)
    try:
        yield server.url
    finally:
        server.stop()


def run_bench(url: str, *args: str, tls: tuple[str, ...], expect_ok: bool = True) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pynatsd.cli.pynats",
            "-s",
            url,
            *tls,
            "bench",
            *args,
            "--timeout",
            "30",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
        check=False,
    )
    assert (proc.returncode == 0) == expect_ok, proc.stdout + proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    assert result["ok"] is expect_ok, result["errors"]
    return result


def test_pubsub_and_request_over_tls(tls_url: str, certs: Certs) -> None:
    tls = ("--tlsca", certs.ca)
    result = run_bench(tls_url, "pubsub", "--msgs", "20000", "--size", "128", tls=tls)
    assert result["received"] == [20000]
    result = run_bench(tls_url, "request", "--msgs", "200", "--size", "32", tls=tls)
    assert result["received"] == [200]


def test_tls_server_without_tls_options_is_a_clear_error(tls_url: str, tmp_path: Path) -> None:
    result = run_bench(tls_url, "pubsub", "--msgs", "10", tls=(), expect_ok=False)
    assert any("requires TLS" in e for e in result["errors"])
