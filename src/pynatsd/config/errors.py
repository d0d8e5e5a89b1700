"""Config file errors that always point at a file, line and column.

Columns are counted the way the reference server counts them (0-based on the first line,
1-based on later lines) so that our messages can be compared with its messages verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Position:
    """Where a token starts; line 0 means "the whole file" (e.g. it could not be read)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem (or warning) found in a config file."""

    position: Position
    reason: str
    syntax: bool = False  # a lexer error: the reference names only its line

    def __str__(self) -> str:
        if self.syntax:
            return f"Parse error on line {self.position.line}: '{self.reason}'"
        where = str(self.position)
        return f"{where}: {self.reason}" if where else self.reason  # the reference has a few without


class ConfigError(Exception):
    """A config file that cannot be used; holds every problem found, first one first.

    The reference reports all problems at once, so the loader collects them before raising;
    ``file``, ``line``, ``column`` and ``reason`` describe the first one for simple callers.
    """

    def __init__(self, issues: ConfigIssue | list[ConfigIssue]) -> None:
        self.issues: list[ConfigIssue] = [issues] if isinstance(issues, ConfigIssue) else list(issues)
        if not self.issues:
            raise ValueError("ConfigError needs at least one issue")
        super().__init__("\n".join(str(i) for i in self.issues))

    @classmethod
    def at(cls, position: Position, reason: str) -> ConfigError:
        return cls(ConfigIssue(position, reason))

    @property
    def first(self) -> ConfigIssue:
        return self.issues[0]

    @property
    def file(self) -> str:
        return self.first.position.file

    @property
    def line(self) -> int:
        return self.first.position.line

    @property
    def column(self) -> int:
        return self.first.position.column

    @property
    def reason(self) -> str:
        return self.first.reason


def go_type_name(v: object) -> str:
    """Go's ``%T`` of a parsed config value, as the reference's messages print it."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int64"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "[]interface {}"
    return "map[string]interface {}"
