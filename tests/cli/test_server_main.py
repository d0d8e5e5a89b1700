"""The ``pynatsd`` command: reference flags, config file, signals, pid and ports files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from pynatsd.cli.server_main import UsageError, build_options, parse_flags
from tests.support import ServerProcess, free_port, pynatsd_command
from tests.support.wire import QUIET
from tests.support.wire import AsyncWireClient as Raw


def spawn(*args: str) -> ServerProcess:
    """A ``python -m pynatsd`` child with exactly these flags; its stderr is collected line by line."""
    return ServerProcess(pynatsd_command(), *args, host=None, name="pynatsd")


@contextlib.contextmanager
def running(*args: str) -> Iterator[ServerProcess]:
    proc = spawn(*args)
    try:
        proc.start(timeout=20.0, attempts=1)
        yield proc
    finally:
        proc.stop()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pynatsd", *args], capture_output=True, text=True, timeout=60
    )


def test_go_style_flags() -> None:
    f = parse_flags(["-p", "5", "--addr=1.2.3.4", "-DV", "-sl", "reload=1", "-n", "x", "--http_port", "8"])
    assert f == {
        "port": 5,
        "host": "1.2.3.4",
        "debug_trace": True,
        "signal": "reload=1",
        "server_name": "x",
        "http_port": 8,
    }
    assert parse_flags(["-port", "7", "-T=false"]) == {"port": 7, "logtime": False}
    with pytest.raises(UsageError, match="flag provided but not defined: -nope"):
        parse_flags(["-nope"])
    with pytest.raises(UsageError, match="flag needs an argument"):
        parse_flags(["-p"])
    with pytest.raises(UsageError, match="invalid value"):
        parse_flags(["-p", "x"])


def test_flags_override_config_file(tmp_path: Path) -> None:
    conf = tmp_path / "s.conf"
    conf.write_text("port: 4333\nmax_payload: 64KB\nserver_name: fromfile\n")
    opts = build_options(parse_flags(["-c", str(conf), "-n", "fromflag"]))
    assert (opts.port, opts.max_payload, opts.server_name) == (4333, 64 * 1024, "fromflag")


def test_version_and_help() -> None:
    out = run_cli("-v")
    assert out.returncode == 0 and "nats-server v2.15" in out.stdout
    out = run_cli("-h")
    assert out.returncode == 0 and "--ports_file_dir" in out.stdout
    out = run_cli("--bogus")
    assert out.returncode == 2 and "flag provided but not defined: -bogus" in out.stderr


def test_check_config(tmp_path: Path) -> None:
    good = tmp_path / "good.conf"
    good.write_text("port: 4333\nauthorization { token: s3cret }\n")
    out = run_cli("-t", "-c", str(good))
    assert out.returncode == 0 and "is valid" in out.stdout
    bad = tmp_path / "bad.conf"
    bad.write_text("port: 4333\nbogus_key: 1\n")
    out = run_cli("-t", "-c", str(bad))
    assert out.returncode == 1
    assert "bad.conf:2" in out.stderr and "bogus_key" in out.stderr


@pytest.mark.parametrize(
    ("args", "feature"),
    [(["--profile", "6060"], "profiling")],
)
def test_unbuilt_features_fail_at_start(args: list[str], feature: str) -> None:
    out = run_cli("-p", str(free_port()), *args)
    assert out.returncode == 1
    assert feature in out.stderr and "not supported" in out.stderr


def test_tls_flag_without_certificate_fails_as_the_reference() -> None:
    out = run_cli("-p", str(free_port()), "--tls")
    assert out.returncode == 1
    assert out.stderr.strip() == "pynatsd: TLS Server certificate must be present and valid"


def test_unbuilt_feature_in_config_fails(tmp_path: Path) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text("cluster { port: -1, compression: s2_fast }\n")
    out = run_cli("-p", str(free_port()), "-c", str(conf))
    assert out.returncode == 1 and "not supported" in out.stderr


def test_log_lines_pid_and_ports_files(tmp_path: Path) -> None:
    port, http = free_port(), free_port()
    pid_file = tmp_path / "p.pid"
    with running(
        "-a",
        "127.0.0.1",
        "-p",
        str(port),
        "-m",
        str(http),
        "-P",
        str(pid_file),
        "--ports_file_dir",
        str(tmp_path),
    ) as proc:
        text = "\n".join(proc.log)
        assert f"Listening for client connections on 127.0.0.1:{port}" in text
        assert f"Starting http monitor on 127.0.0.1:{http}" in text
        assert pid_file.read_text() == str(proc.pid)
        ports = json.loads((tmp_path / f"pynatsd_{proc.pid}.ports").read_text())
        assert ports["nats"] == [f"nats://127.0.0.1:{port}"]
        assert ports["monitoring"] == [f"http://127.0.0.1:{http}"]
        # -sl against the pid file: quit = graceful shutdown
        out = run_cli("-sl", f"quit={pid_file}")
        assert out.returncode == 0
        assert proc.wait(20) == 0
    assert not pid_file.exists()


def test_random_port_and_sigterm() -> None:
    with running("-a", "127.0.0.1", "-p", "-1") as proc:
        line = next(ln for ln in proc.log if "Listening for client connections" in ln)
        port = int(line.rsplit(":", 1)[1])

        async def check() -> None:
            nc = await nats.connect(f"nats://127.0.0.1:{port}")
            sub = await nc.subscribe("x")
            await nc.publish("x", b"1")
            assert (await sub.next_msg(timeout=10)).data == b"1"
            await nc.close()

        asyncio.run(check())
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(20) == 0


def test_reload_changes_auth_without_dropping_connections(tmp_path: Path) -> None:
    port = free_port()
    conf = tmp_path / "r.conf"
    conf.write_text(
        f"port: {port}\nhost: 127.0.0.1\nauthorization {{ users: [ {{user: a, password: pa}} ] }}\n"
    )
    with running("-c", str(conf)) as proc:

        async def scenario() -> None:
            keep = await Raw.connect(port)
            await keep.roundtrip(b'CONNECT {"verbose":false,"user":"a","pass":"pa"}\r\nSUB t 1\r\n')
            conf.write_text(
                f"port: {port}\nhost: 127.0.0.1\n"
                "authorization { users: [ {user: a, password: pa}, {user: b, password: pb} ] }\n"
            )
            os.kill(proc.pid, signal.SIGHUP)
            await asyncio.to_thread(proc.wait_for_log, "Reloaded server configuration")
            newcomer = await Raw.connect(port)
            await newcomer.roundtrip(b'CONNECT {"verbose":false,"user":"b","pass":"pb"}\r\nPUB t 2\r\nhi\r\n')
            assert await keep.roundtrip(b"") == b"MSG t 1 2\r\nhi\r\n"
            await keep.close()
            await newcomer.close()

        asyncio.run(scenario())


def test_trace_logs_protocol() -> None:
    port = free_port()
    with running("-a", "127.0.0.1", "-p", str(port), "-DV") as proc:

        async def talk() -> None:
            r = await Raw.connect(port)
            await r.roundtrip(QUIET + b"SUB tr 1\r\n")
            await r.close()

        asyncio.run(talk())
        proc.wait_for_log("<<- [SUB tr 1]")
        proc.wait_for_log("Client connection closed")


def test_signal_reopen_log_file(tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    pid_file = tmp_path / "p.pid"
    # with -l the log goes to the file, so poll the file (with a deadline) instead of stderr
    proc = spawn("-a", "127.0.0.1", "-p", "-1", "-l", str(log), "-P", str(pid_file)).start(ready=None)
    try:
        deadline = time.monotonic() + 20
        while "Server is ready" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline and proc.alive()
            time.sleep(0.05)
        rotated = tmp_path / "p.log.1"
        log.rename(rotated)
        assert run_cli("-sl", f"reopen={pid_file}").returncode == 0
        assert run_cli("-sl", f"ldm={pid_file}").returncode == 0
        while "lame duck" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline + 20, "no lame duck line in the reopened log"
            time.sleep(0.05)
        assert "Server is ready" in rotated.read_text()
    finally:
        proc.stop()
