"""Fixtures for differential wire tests: the reference nats-server versus pynatsd.

Every test taking the ``target`` fixture runs once per server kind
(``[reference]`` and ``[pynatsd]``). Select one side with ``-k reference`` or
``-k pynatsd``. The pynatsd side also starts the reference and compares live
transcripts, so it needs the nats-server binary too.

Servers are started lazily and shared for the whole session (one per kind and
configuration); tests that need a pristine server ask for ``fresh=True``.
A pynatsd server that cannot start makes its tests FAIL (they are its spec).

Environment knobs: NATS_SERVER_BIN (reference binary), PYNATSD_SERVER_CMD (command
used instead of ``python -m pynatsd``; pointing it at nats-server self-checks this
harness), PYNATSD_STARTUP_TIMEOUT, PYNATSD_WIRE_TIMEOUT (seconds).

The processes come from tests/support/launcher.py, the raw client from tests/support/wire.py.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.launcher import KINDS, Kind, ServerProcess, ServerStartError, server_command
from tests.support.wire import run_script

T = TypeVar("T")


@dataclass(frozen=True)
class ServerSpec:
    kind: Kind
    args: tuple[str, ...] = ()
    config: str | None = None  # config file *contents*
    monitor: bool = False  # add "-m <free port>"


def start_server(spec: ServerSpec, workdir: Path, attempts: int = 3) -> ServerProcess:
    """Start a server on a free port and wait for its ready line (ServerStartError if not)."""
    args: list[str] = []
    if spec.config is not None:
        digest = hashlib.sha1(spec.config.encode()).hexdigest()[:12]
        config_path = workdir / f"server-{digest}.conf"
        config_path.write_text(spec.config)
        args += ["-c", str(config_path)]
    args += spec.args
    server = ServerProcess(
        server_command(spec.kind, allow_override=True),
        *args,
        monitor=spec.monitor,
        name=spec.kind,
        cwd=workdir,
        log_lines=300,
    )
    return server.start(attempts=attempts)


class ServerPool:
    """Lazily started servers shared across tests, keyed by spec. Failures are cached."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._servers: dict[ServerSpec, ServerProcess | ServerStartError] = {}
        self._extra: list[ServerProcess] = []

    def get(self, spec: ServerSpec, *, fresh: bool = False) -> ServerProcess:
        if fresh:
            server = start_server(spec, self.workdir)
            self._extra.append(server)
            return server
        cached = self._servers.get(spec)
        if cached is None:
            try:
                cached = start_server(spec, self.workdir)
            except ServerStartError as exc:
                cached = exc
            self._servers[spec] = cached
        if isinstance(cached, ServerStartError):
            raise cached
        if not cached.alive():
            raise ServerStartError(f"{spec.kind} server died earlier:\n{cached.tail()}")
        return cached

    def release(self, server: ServerProcess) -> None:
        if server in self._extra:
            self._extra.remove(server)
        server.stop()

    def close(self) -> None:
        for item in [*self._servers.values(), *self._extra]:
            if isinstance(item, ServerProcess):
                item.stop()
        self._servers.clear()
        self._extra.clear()


@pytest.fixture(scope="session")
def server_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory.mktemp("servers"))
    yield pool
    pool.close()


class Target:
    """The server kind under test, plus access to the reference for live comparison."""

    def __init__(self, kind: Kind, pool: ServerPool) -> None:
        self.kind = kind
        self.pool = pool
        self._fresh: list[ServerProcess] = []

    def _server(
        self, kind: Kind, args: Sequence[str], config: str | None, monitor: bool, fresh: bool
    ) -> ServerProcess:
        spec = ServerSpec(kind=kind, args=tuple(args), config=config, monitor=monitor)
        error: ServerStartError | None = None
        try:
            server = self.pool.get(spec, fresh=fresh)
        except ServerStartError as exc:
            error = exc
        if error is not None:
            # Raised inside the test body, so it is reported as a failure, not an error.
            pytest.fail(f"could not start the {kind} server: {error}", pytrace=False)
        if fresh:
            self._fresh.append(server)
        return server

    def port(self, *args: str, config: str | None = None, monitor: bool = False, fresh: bool = False) -> int:
        """Port of the server under test with this configuration."""
        return self._server(self.kind, args, config, monitor, fresh).port

    def ref_port(
        self, *args: str, config: str | None = None, monitor: bool = False, fresh: bool = False
    ) -> int:
        """Port of a reference server with this configuration."""
        return self._server("reference", args, config, monitor, fresh).port

    def compare(
        self,
        scenario: Callable[[int], T],
        expected: Any,
        *args: str,
        config: str | None = None,
        monitor: bool = False,
        fresh: bool = False,
        view: Callable[[T], Any] = lambda r: r,
    ) -> T:
        """Run ``scenario(port)`` on the target and check ``view(result) == expected``.

        On the pynatsd side the same scenario also runs against the reference and the
        two results must be equal (before the pinned expectation is checked).
        """
        result = scenario(self.port(*args, config=config, monitor=monitor, fresh=fresh))
        if self.kind != "reference":
            reference = scenario(self.ref_port(*args, config=config, monitor=monitor, fresh=fresh))
            assert view(result) == view(reference), f"{self.kind} differs from the reference"
        assert view(result) == expected
        return result

    def script(
        self,
        chunks: bytes | Sequence[bytes],
        reply: bytes,
        *,
        closed: bool,
        args: Sequence[str] = (),
        config: str | None = None,
    ) -> None:
        """Send raw ``chunks`` right after INFO; the bytes after INFO must equal ``reply``.

        ``closed`` pins whether the server closes the connection. For connections that
        stay open, ``reply`` must end with the PONG answering the scenario's last PING.
        """
        chunk_list = [chunks] if isinstance(chunks, bytes) else list(chunks)
        pongs = None if closed else reply.count(b"PONG\r\n")
        if pongs is not None and pongs < 1:
            raise ValueError("an open-connection scenario must end with PING (and reply with PONG)")
        state = "closed" if closed else "open"

        def scenario(port: int) -> Any:
            return run_script(port, chunk_list, pongs=pongs)

        result = scenario(self.port(*args, config=config))
        if self.kind != "reference":
            reference = scenario(self.ref_port(*args, config=config))
            assert result.normalized == reference.normalized, f"{self.kind} differs from the reference"
        assert (result.data, result.state) == (reply, state)

    def cleanup(self) -> None:
        for server in self._fresh:
            self.pool.release(server)
        self._fresh.clear()


@pytest.fixture(params=KINDS)
def target(request: pytest.FixtureRequest, server_pool: ServerPool) -> Iterator[Target]:
    tgt = Target(request.param, server_pool)
    yield tgt
    with contextlib.suppress(Exception):
        tgt.cleanup()
