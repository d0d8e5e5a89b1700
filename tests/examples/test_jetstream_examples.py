"""The JetStream examples of the seed notes, on an embedded pynatsd and on the reference."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ReferenceServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "jetstream"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_on_embedded_pynatsd(script: str) -> None:
    result = run(script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[FAIL]" not in result.stdout and "[ok]" in result.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_on_reference(script: str, tmp_path: Path) -> None:
    ref = ReferenceServer("-js", "-sd", str(tmp_path))
    try:
        result = run(script, "--server", ref.url)
    finally:
        ref.stop()
    assert result.returncode == 0, result.stdout + result.stderr
