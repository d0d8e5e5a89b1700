"""What the config tests share: writing config files and the reference server's verdict on them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .binary import MISSING_REFERENCE, in_ci, nats_server_binary, require_reference


def write(path: Path, text: str) -> str:
    """Write a config file (and its directories); returns its path as a string."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


NATS_SERVER = nats_server_binary()
#: Skips a test when the reference is missing, except under CI=true: there the test runs and
#: :func:`reference_test_config` fails it.
needs_reference = pytest.mark.skipif(NATS_SERVER is None and not in_ci(), reason=MISSING_REFERENCE)


def reference_test_config(path: str) -> tuple[int, str]:
    """``nats-server -t -c path``: its exit code and everything it printed."""
    proc = subprocess.run(
        [require_reference(), "-t", "-c", path], capture_output=True, timeout=30, check=False
    )
    return proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace")
