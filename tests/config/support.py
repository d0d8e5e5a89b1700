"""What the config tests share: writing config files and the reference server's verdict on them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def write(path: Path, text: str) -> str:
    """Write a config file (and its directories); returns its path as a string."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def reference_binary() -> str | None:
    found = shutil.which("nats-server")
    if found:
        return found
    beside = Path(sys.executable).parent / "nats-server"
    return str(beside) if beside.exists() else None


NATS_SERVER = reference_binary()
needs_reference = pytest.mark.skipif(NATS_SERVER is None, reason="reference nats-server binary not found")


def reference_test_config(path: str) -> tuple[int, str]:
    """``nats-server -t -c path``: its exit code and everything it printed."""
    assert NATS_SERVER is not None
    proc = subprocess.run([NATS_SERVER, "-t", "-c", path], capture_output=True, timeout=30, check=False)
    return proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace")
