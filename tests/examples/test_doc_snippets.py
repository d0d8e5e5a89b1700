"""Every Python snippet in README.md and docs/*.md runs as written.

A snippet is a complete program, run with this interpreter in a fresh directory. A snippet
whose first line is a comment naming a test file (``# test_app.py``) is a pytest module: it
runs under pytest there, with the pynatsd plugin the package registers, and must pass.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.launcher import child_env

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
_TEST_FILE = re.compile(r"#\s*(test_\w+\.py)\s*$")


def _snippets() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for m in _BLOCK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.append((f"{doc.relative_to(REPO)}:{line}", m.group(1)))
    return found


SNIPPETS = _snippets()


def test_the_readme_has_snippets() -> None:
    assert any(where.startswith("README.md") for where, _ in SNIPPETS)


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("where", "code"), SNIPPETS, ids=[w for w, _ in SNIPPETS])
def test_snippet_runs(where: str, code: str, tmp_path: Path) -> None:
    first = code.splitlines()[0] if code else ""
    m = _TEST_FILE.match(first)
    if m:
        (tmp_path / m.group(1)).write_text(code)
        (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", m.group(1)]
    else:
        (tmp_path / "snippet.py").write_text(code)
        cmd = [sys.executable, "snippet.py"]
    run = subprocess.run(cmd, cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=150)
    assert run.returncode == 0, f"{where} failed:\n{run.stdout}\n{run.stderr}"
