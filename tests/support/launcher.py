"""Server processes for tests and the benchmark harness: the reference binary or pynatsd.

One :class:`ServerProcess` runs a server command in a process group of its own, listening on
a free 127.0.0.1 port (``-a``/``-p`` are added unless ``host=None``), and counts it started
once stderr shows the ``Server is ready`` line. A thread drains stderr into :attr:`log`
(the newest ``log_lines`` lines) so a chatty server never blocks on a full pipe, and tests
can wait for later log lines with :meth:`ServerProcess.wait_for_log`.

Environment knob: PYNATSD_STARTUP_TIMEOUT (seconds to wait for the ready line, default 30).

``bench/harness.py`` imports this module, so it needs nothing beyond the standard library.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Literal, Self

from .binary import ReferenceNotFound, find_nats_server, pynatsd_command

Kind = Literal["reference", "pynatsd"]
KINDS: tuple[Kind, ...] = ("reference", "pynatsd")

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_MARKER = "Server is ready"
STARTUP_TIMEOUT = float(os.environ.get("PYNATSD_STARTUP_TIMEOUT", "30"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (another process may still take it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(*, unbuffered: bool = False) -> dict[str, str]:
    """This environment, with ``pynatsd`` importable from this checkout whether or not it is installed."""
    env = dict(os.environ)
    src = str(REPO_ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    return env


def signal_group(proc: subprocess.Popen[bytes] | subprocess.Popen[str], sig: int) -> None:
    """Send ``sig`` to the process group led by ``proc`` (started with ``start_new_session``)."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


class ServerStartError(RuntimeError):
    """The server did not log its ready line (or could not be run at all).

    ``returncode`` is the exit code when the process ended before it was ready, None when
    it timed out (or was never started).
    """

    def __init__(self, message: str, returncode: int | None = None) -> None:
        super().__init__(message)
        self.returncode = returncode


class ServerProcess:
    """One server child process; see the module docstring. Not started until :meth:`start`.

    ``host=None`` leaves ``-a``/``-p`` to ``args`` (``port`` is then 0); otherwise ``port=None``
    picks a free port, and a start that fails because the port was taken meanwhile is retried
    on another. ``monitor=True`` adds ``-m <free port>`` (:attr:`monitor_port`).
    """

    def __init__(
        self,
        command: Sequence[str],
        *args: str,
        host: str | None = "127.0.0.1",
        port: int | None = None,
        monitor: bool = False,
        name: str = "server",
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        log_lines: int = 1000,
    ) -> None:
        self.command = list(command)
        self.args = list(args)
        self.host = host
        self.name = name
        self.cwd = cwd
        self.env = dict(env) if env is not None else child_env(unbuffered=True)
        self._any_port = host is not None and port is None
        self.port = free_port() if self._any_port else (port or 0)
        self.monitor_port = free_port() if monitor else 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: deque[str] = deque(maxlen=log_lines)
        self._lines_seen = 0  # every line read so far; ``log`` keeps the newest of them
        self._cursor = 0  # wait_for_log looks at lines from this number on
        self._ended = True
        self._changed = threading.Condition()
        self._drainer: threading.Thread | None = None

    # -- what runs -----------------------------------------------------------------------
    @property
    def argv(self) -> list[str]:
        listen = ["-a", self.host, "-p", str(self.port)] if self.host is not None else []
        monitor = ["-m", str(self.monitor_port)] if self.monitor_port else []
        return [*self.command, *listen, *monitor, *self.args]

    @property
    def url(self) -> str:
        return f"nats://{self.host or '127.0.0.1'}:{self.port}"

    # -- starting ------------------------------------------------------------------------
    def start(
        self, *, ready: str | None = READY_MARKER, timeout: float | None = None, attempts: int = 3
    ) -> Self:
        """Run the server and wait for a stderr line containing ``ready`` (None: do not wait).

        Raises :class:`ServerStartError` (the process stopped) if it exits or times out first.
        """
        timeout = STARTUP_TIMEOUT if timeout is None else timeout
        error = ServerStartError(f"{self.name} server was not started")
        for _ in range(max(attempts, 1)):
            self._spawn()
            if ready is None or self._wait_line(ready, time.monotonic() + timeout) is not None:
                return self
            assert self.proc is not None
            exited = self._ended  # stderr closed: the process is ending
            returncode: int | None = None
            if exited:
                try:
                    returncode = self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            self.stop()
            tail = self.tail()
            how = f"exited with code {returncode}" if exited else f"timed out after {timeout:.0f}s"
            error = ServerStartError(
                f"{self.name} server {how} before logging {ready!r}\n"
                f"command: {' '.join(self.argv)}\nstderr:\n{tail}",
                returncode,
            )
            if not (self._any_port and "in use" in tail.lower()):  # only a port race is worth retrying
                break
            self.port = free_port()
            if self.monitor_port:
                self.monitor_port = free_port()
        raise error

    def _spawn(self) -> None:
        self.log.clear()
        self._lines_seen = self._cursor = 0
        self._ended = False
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.cwd,
            env=self.env,
            start_new_session=True,  # its own process group: stop() takes down anything it started
        )
        assert self.proc.stderr is not None
        self._drainer = threading.Thread(
            target=self._drain, args=(self.proc.stderr,), name=f"stderr-{self.name}-{self.port}", daemon=True
        )
        self._drainer.start()

    def _drain(self, stream: IO[bytes]) -> None:
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode(errors="replace").rstrip("\r\n")
                with self._changed:
                    self.log.append(line)
                    self._lines_seen += 1
                    self._changed.notify_all()
        except (OSError, ValueError):
            pass
        finally:
            stream.close()
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    # -- the log -------------------------------------------------------------------------
    def _wait_line(self, text: str, deadline: float) -> str | None:
        """The first line containing ``text`` from the cursor on; None at EOF or the deadline."""
        with self._changed:
            scanned = self._cursor
            while True:
                oldest = self._lines_seen - len(self.log)
                for number in range(max(scanned, oldest), self._lines_seen):
                    line = self.log[number - oldest]
                    if text in line:
                        self._cursor = number + 1
                        return line
                scanned = self._lines_seen
                remaining = deadline - time.monotonic()
                if self._ended or remaining <= 0:
                    return None
                self._changed.wait(remaining)

    def wait_for_log(self, text: str, timeout: float = 20.0) -> str:
        """The next stderr line containing ``text``, after the last line found this way (or
        the ready line); AssertionError if the server ends or ``timeout`` passes first."""
        line = self._wait_line(text, time.monotonic() + timeout)
        if line is None:
            raise AssertionError(
                f"{text!r} not seen in the {self.name} log; got:\n{self.tail(len(self.log))}"
            )
        return line

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` stderr lines."""
        with self._changed:
            return "\n".join(list(self.log)[-lines:])

    # -- the process ---------------------------------------------------------------------
    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit (``subprocess.TimeoutExpired`` after ``timeout``)."""
        assert self.proc is not None, "not started"
        return self.proc.wait(timeout)

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL the process group at once."""
        if self.alive():
            assert self.proc is not None
            signal_group(self.proc, signal.SIGKILL)
            self.proc.wait(timeout)
        self._join()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group; SIGKILL it if it has not exited within ``timeout``."""
        if self.alive():
            assert self.proc is not None
            signal_group(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                signal_group(self.proc, signal.SIGKILL)
                self.proc.wait(timeout)
        self._join()

    def _join(self) -> None:
        if self._drainer is not None:
            self._drainer.join(5)  # the drain thread closes stderr at EOF

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def server_command(kind: Kind, *, allow_override: bool = False) -> list[str]:
    """The command for a server of ``kind``; :class:`ServerStartError` if the reference is missing.

    ``allow_override`` lets $PYNATSD_SERVER_CMD replace the pynatsd command (see
    :func:`~tests.support.binary.pynatsd_command`).
    """
    if kind == "reference":
        try:
            return [find_nats_server()]
        except ReferenceNotFound as exc:
            raise ServerStartError(str(exc)) from None
    return pynatsd_command(allow_override=allow_override)


def start_server(
    kind: Kind,
    *args: str,
    port: int | None = None,
    monitor: bool = False,
    cwd: str | Path | None = None,
    timeout: float | None = None,
    attempts: int = 3,
    log_lines: int = 1000,
) -> ServerProcess:
    """A started server of ``kind`` on 127.0.0.1 (a free port unless ``port`` is given)."""
    server = ServerProcess(
        server_command(kind),
        *args,
        port=port,
        monitor=monitor,
        name=kind,
        cwd=cwd,
        log_lines=log_lines,
    )
    return server.start(timeout=timeout, attempts=attempts)
