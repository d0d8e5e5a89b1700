"""Go programs as test tools: ``go install`` into a cache, once per version.

Go is a test tool here, never part of the product. :func:`go_tool` returns the path of a
binary built with ``go install <package>@<version>`` (e.g. the ``nats`` CLI), and
:func:`go_program` one built from this repository's Go module in ``tests/go`` (scenarios
written with the official Go client, nats.go), rebuilt when its sources change; a test that
needs it is skipped on a machine without Go, but fails under ``CI=true``, as
:func:`~tests.support.binary.require_reference` does for the reference server. Binaries
live in ``$XDG_CACHE_HOME/pynatsd-tests/go/bin`` (``~/.cache`` by default), with a
``<name>.version`` file saying which version each is; a file lock keeps parallel test
workers from installing the same tool twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from .binary import in_ci

NATSCLI = ("github.com/nats-io/natscli/nats", "v0.5.0")
GO_DEFAULT = "/usr/local/go/bin/go"  # the official installer's place, when not on PATH
GO_MODULE = Path(__file__).resolve().parent.parent / "go"  # tests/go: go.mod, go.sum, programs
INSTALL_TIMEOUT = 1800  # seconds: a first install downloads and compiles modules


def go_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pynatsd-tests" / "go"


def _missing(reason: str) -> None:
    import pytest  # only tests get here

    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing Go tool is an error)", pytrace=False)
    pytest.skip(reason)


def go_tool(package: str, version: str) -> str:
    """The binary of ``package@version``, installed on first use (skip/fail without Go)."""
    name = package.rstrip("/").rsplit("/", 1)[-1]
    bindir = go_cache_dir() / "bin"
    binary = bindir / name
    stamp = bindir / f"{name}.version"
    if binary.is_file() and stamp.is_file() and stamp.read_text().strip() == version:
        return str(binary)
    go = _go(f"{package}@{version}")
    bindir.mkdir(parents=True, exist_ok=True)
    with open(bindir / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.is_file() and stamp.is_file() and stamp.read_text().strip() == version:
            return str(binary)
        env = {**os.environ, "GOBIN": str(bindir)}
        done = subprocess.run(
            [go, "install", f"{package}@{version}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            _missing(f"go install {package}@{version} failed: {done.stderr.strip()[-2000:]}")
        stamp.write_text(version + "\n")
    return str(binary)


def _go(what: str) -> str:
    """The go command (on PATH or where the official installer puts it)."""
    go = shutil.which("go") or (GO_DEFAULT if os.access(GO_DEFAULT, os.X_OK) else None)
    if go is None:
        _missing(f"Go is not installed: cannot build {what}")
        raise AssertionError("unreachable")
    return go


def go_program(name: str) -> str:
    """The binary of ``tests/go/<name>``, built on first use and whenever the module's
    sources change (the build is keyed by their hash; skip/fail without Go)."""
    digest = hashlib.sha256()
    for path in sorted(GO_MODULE.rglob("*")):
        if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
            digest.update(str(path.relative_to(GO_MODULE)).encode() + b"\0" + path.read_bytes())
    bindir = go_cache_dir() / "build"
    binary = bindir / f"{name}-{digest.hexdigest()[:16]}"
    if binary.is_file():
        return str(binary)
    go = _go(f"tests/go/{name}")
    bindir.mkdir(parents=True, exist_ok=True)
    with open(bindir / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.is_file():
            return str(binary)
        tmp = binary.with_suffix(".tmp")
        done = subprocess.run(
            [go, "build", "-o", str(tmp), f"./{name}"],
            cwd=GO_MODULE,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            import pytest

            # Go is there but the program does not build: a defect, not a missing tool.
            pytest.fail(f"go build ./{name} failed: {done.stderr.strip()[-2000:]}", pytrace=False)
        tmp.rename(binary)
    return str(binary)


def nats_cli() -> str:
    """The ``nats`` CLI (natscli v0.5.0)."""
    return go_tool(*NATSCLI)
