"""Every module of ``pynatsd`` imports on its own, in a fresh interpreter.

An import cycle can stay hidden as long as some other module happens to be imported first; a
fresh interpreter per module exposes it (``cannot import name ... from partially initialized
module``). Modules are found by walking the package directories with ``pkgutil.iter_modules``,
which lists modules without importing them, so one broken module cannot hide the others.
"""

from __future__ import annotations

import importlib.util
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "pynatsd"


def _package_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    assert spec is not None and spec.submodule_search_locations, f"{PACKAGE} is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


PACKAGE_DIR = _package_dir()


def _walk(path: Path, prefix: str) -> list[str]:
    names = [prefix]
    for info in pkgutil.iter_modules([str(path)]):
        name = f"{prefix}.{info.name}"
        if info.ispkg:
            names += _walk(path / info.name, name)
        else:
            names.append(name)
    return names


MODULES = sorted(_walk(PACKAGE_DIR, PACKAGE))


def test_walk_finds_the_modules() -> None:
    assert {PACKAGE, f"{PACKAGE}.version", f"{PACKAGE}.cli.pynats"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone(module: str, tmp_path: Path) -> None:
    env = dict(os.environ)
    # The same pynatsd as this process, not whatever the working directory would shadow it with.
    src = str(PACKAGE_DIR.parent)
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, f"import {module} failed (exit {proc.returncode}):\n{proc.stderr}"
