"""gocompat is the bottom layer: the standard library, msgspec and ``pynatsd.version`` only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pynatsd.gocompat

_ALLOWED = {"msgspec", "pynatsd.version"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_gocompat_imports_nothing_above_it() -> None:
    package = Path(pynatsd.gocompat.__file__).parent
    for path in sorted(package.glob("*.py")):
        for name in _imports(path):
            ok = (
                name.split(".")[0] in sys.stdlib_module_names
                or name == "__future__"
                or name in _ALLOWED
                or name.startswith("pynatsd.gocompat")
            )
            assert ok, f"{path.name} imports {name}"
