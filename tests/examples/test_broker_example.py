"""examples/broker/validation.py (seed 004's validation run) on an embedded pynatsd and on
the reference: the same output lines on both."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ReferenceServer
from tests.support.binary import require_reference

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "broker" / "validation.py"
EXPECTED = [
    "Created stream TEST for topic test.messages",
    "Subscribed to topic test.messages with durable consumer validation-queue",
    "Publishing test messages...",
    *[
        line
        for i in range(1, 6)
        for line in (f"Published message {i}", f"Received message: Test message {i}")
    ],
]


def run(*args: str) -> list[str]:
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[FAIL]" not in result.stdout
    return result.stdout.splitlines()


def _normalized(lines: list[str]) -> list[str]:
    """The run without its first line (the URL differs). "Received message: Test message i"
    may print just before "Published message i" (the delivery and the publish ack race):
    each such pair is sorted, the pairs keep their order."""
    body = lines[1:]
    out: list[str] = []
    i = 0
    while i < len(body):
        if body[i].startswith(("Published message", "Received message")) and i + 1 < len(body):
            out += sorted(body[i : i + 2])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return out


@pytest.mark.timeout(180)
def test_validation_run_on_pynatsd_and_on_the_reference(tmp_path: Path) -> None:
    require_reference()
    ours = run()
    assert ours[0].startswith("Connected to NATS at nats://127.0.0.1:")
    ref = ReferenceServer("-js", "-sd", str(tmp_path))
    try:
        theirs = run("--server", ref.url)
    finally:
        ref.stop()
    assert theirs[0] == f"Connected to NATS at {ref.url}"
    expected = _normalized(["", *EXPECTED])
    assert _normalized(ours)[: len(expected)] == expected
    assert _normalized(ours) == _normalized(theirs)  # the same run, counters and [ok] lines included
