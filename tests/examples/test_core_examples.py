"""The core-pattern examples behave the same on pynatsd and on the reference nats-server.

Each script in examples/core/ checks its own outcome, prints one ``[ok] ...`` line per
expectation and exits non-zero when one did not happen. Here each runs the way a user
runs it (a subprocess of sys.executable) against (a) the pynatsd it embeds when given no
--server, (b) a pynatsd started through the embedding API and (c) the reference
nats-server binary; the outcome lines must then be identical on (b) and (c).

Environment knobs: NATS_SERVER_BIN (reference binary), PYNATSD_EXAMPLE_TIMEOUT (seconds
per script run).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import pynatsd
from tests.support import ServerStartError, free_port, start_server
from tests.support.launcher import child_env

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples" / "core"
SCRIPT_TIMEOUT = float(os.environ.get("PYNATSD_EXAMPLE_TIMEOUT", "120"))
STARTUP_TIMEOUT = 30.0

# Lines each script must print (whole lines, in this order, other lines may come between).
EXPECTED: dict[str, list[str]] = {
    "broadcast.py": [
        "published 'update 0' before anyone subscribed",
        "dashboard received: update 1, update 2, update 3, update 4, update 5",
        "[ok] each of the 3 subscribers received all 5 messages, in publish order",
        "[ok] the message published before anyone subscribed reached no one",
    ],
    "queue_group.py": [
        "auditor saw 60 jobs",
        "[ok] each of the 60 jobs was handled by exactly one worker",
        "[ok] the auditor outside the group saw all 60 jobs",
        "[ok] the jobs were spread over several workers",
    ],
    "request_reply_ack.py": [
        "[ok] all 10 jobs were acknowledged with OK",
        "[ok] jobs [3, 7] were resent after an ERR reply",
        "[ok] jobs [5, 9] were resent after a timeout (no reply)",
        "[ok] the consumer did the work of each job exactly once (the resent duplicate was not redone)",
    ],
    "drain_vs_close.py": [
        "close(): 50 messages received, 10 handled when close() was called, 10 handled in the end, 40 dropped",
        "drain(): 50 messages received, 10 handled when drain() was called, 50 handled in the end, 0 dropped",
        "[ok] all 50 messages had reached the subscriber before shutdown started",
        "[ok] only 10 had been handled when close() or drain() was called",
        "[ok] close() dropped the 40 received but unhandled messages",
        "[ok] drain() handled all 50 received messages",
    ],
    "json_messages.py": [
        'on the wire: {"Name":"derek","Address":"140 New Montgomery Street","Age":22}',
        "rejected a message on 'hello': Expected `int`, got `str` - at `$.Age`",
        "request -> reply: Greeting(text='Hello derek, 22 years old')",
        "[ok] the subscriber got the 2 people as typed Person values",
        "[ok] the malformed message was rejected by validation and never reached the handler",
        "[ok] a JSON request got a typed JSON reply",
    ],
    "channel_binding.py": [
        "the async iterator yielded 3 people and ended",
        "[ok] the 3 people put into the send queue came out of the receive queue, in order",
        "[ok] the async iterator yielded the same 3 people and ended after its unsubscribe limit",
    ],
}
# Lines that must come out exactly once each (concurrent requests: their order may vary).
EXPECTED_ONCE: dict[str, list[str]] = {
    "request_reply_ack.py": [
        "producer: job 3 attempt 1 -> ERR database unavailable; resending",
        "producer: job 5 attempt 1 -> timeout; resending",
        "producer: job 7 attempt 1 -> ERR database unavailable; resending",
        "producer: job 9 attempt 1 -> timeout; resending",
        "consumer: job 9 attempt 2 -> already done, OK without redoing it",
    ],
}
SCRIPTS = sorted(EXPECTED)


# -- running a script ----------------------------------------------------------------------


@functools.cache
def run_example(script: str, server_url: str | None) -> subprocess.CompletedProcess[str]:
    """Run one example to completion (cached: the comparison test reuses earlier runs)."""
    cmd = [sys.executable, str(EXAMPLES / script)]
    if server_url is not None:
        cmd += ["--server", server_url]
    try:
        return subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT,
            env=child_env(unbuffered=True),  # the embedded mode works without an installed pynatsd
            cwd=REPO_ROOT,
        )
    except subprocess.TimeoutExpired as e:
        out, err = (_text(x) for x in (e.stdout, e.stderr))
        pytest.fail(f"{script} did not finish within {SCRIPT_TIMEOUT:.0f}s\nstdout:\n{out}\nstderr:\n{err}")


def _text(output: str | bytes | None) -> str:
    """TimeoutExpired carries bytes even when the run asked for text."""
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def assert_succeeded(script: str, result: subprocess.CompletedProcess[str]) -> list[str]:
    """Exit code 0 and the expected lines; returns the stdout lines."""
    where = f"{script} exited with {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, where
    lines = result.stdout.splitlines()
    assert not [line for line in lines if line.startswith("[FAIL]")], where
    position = 0
    for expected in EXPECTED[script]:
        assert expected in lines[position:], f"missing (or out of order): {expected!r}\n{where}"
        position = lines.index(expected, position) + 1
    for expected in EXPECTED_ONCE.get(script, []):
        assert lines.count(expected) == 1, f"expected exactly once: {expected!r}\n{where}"
    return lines


def outcome_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("[")]


# -- servers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pynatsd_url() -> Iterator[str]:
    """A pynatsd started through the embedding API (on a background thread)."""
    with pynatsd.Server() as srv:
        yield srv.client_url


@pytest.fixture(scope="module")
def reference_url() -> Iterator[str]:
    """The reference nats-server on a free 127.0.0.1 port, once it logged that it is ready."""
    try:
        server = start_server("reference", timeout=STARTUP_TIMEOUT)
    except ServerStartError as exc:
        pytest.fail(f"the reference nats-server did not start:\n{exc}")
    try:
        yield server.url
    finally:
        server.stop()


# -- tests -------------------------------------------------------------------------------


def test_every_example_is_covered() -> None:
    # Modules starting with "_" (the shared plumbing in _common.py) are not examples.
    assert sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")) == SCRIPTS


@pytest.mark.timeout(SCRIPT_TIMEOUT + 60)
@pytest.mark.parametrize("script", SCRIPTS)
def test_with_its_own_embedded_server(script: str) -> None:
    lines = assert_succeeded(script, run_example(script, None))
    assert any(line.startswith("started an embedded pynatsd at nats://127.0.0.1:") for line in lines)


@pytest.mark.timeout(SCRIPT_TIMEOUT + 60)
@pytest.mark.parametrize("script", SCRIPTS)
def test_against_pynatsd(script: str, pynatsd_url: str) -> None:
    lines = assert_succeeded(script, run_example(script, pynatsd_url))
    assert not any(line.startswith("started an embedded pynatsd") for line in lines)


@pytest.mark.timeout(SCRIPT_TIMEOUT + STARTUP_TIMEOUT + 60)
@pytest.mark.parametrize("script", SCRIPTS)
def test_against_reference_nats_server(script: str, reference_url: str) -> None:
    assert_succeeded(script, run_example(script, reference_url))


@pytest.mark.timeout(2 * SCRIPT_TIMEOUT + STARTUP_TIMEOUT + 60)
@pytest.mark.parametrize("script", SCRIPTS)
def test_same_outcome_on_pynatsd_and_reference(script: str, pynatsd_url: str, reference_url: str) -> None:
    ours = outcome_lines(run_example(script, pynatsd_url).stdout.splitlines())
    reference = outcome_lines(run_example(script, reference_url).stdout.splitlines())
    assert ours and ours == reference


def test_unreachable_server_exits_non_zero() -> None:
    port = free_port()  # nothing listens there
    result = run_example("broadcast.py", f"nats://127.0.0.1:{port}")
    assert result.returncode == 2, result.stderr
    assert f"could not connect to nats://127.0.0.1:{port}" in result.stderr
