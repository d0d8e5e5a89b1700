"""Why a subject mapping was refused, as data: callers turn a kind into their own error
(a JetStream error code, a config-file text) the way the reference does."""

from __future__ import annotations

import enum


class TransformErrorKind(enum.Enum):
    """One member per error value of the reference; the value is its text."""

    BAD_SUBJECT = "invalid subject"
    INVALID_TRANSFORM = "invalid mapping destination: invalid transform"
    NOT_USING_ALL_WILDCARDS = "invalid mapping destination: not using all of the token wildcard(s)"
    UNKNOWN_FUNCTION = "invalid mapping destination: unknown function"
    INDEX_OUT_OF_RANGE = "invalid mapping destination: wildcard index out of range"
    NOT_ENOUGH_ARGS = "invalid mapping destination: not enough arguments passed to the function"
    INVALID_ARG = "invalid mapping destination: function argument is invalid or in the wrong format"
    TOO_MANY_ARGS = "invalid mapping destination: too many arguments passed to the function"
    NOT_SUPPORTED_FOR_IMPORT = "invalid mapping destination: the only mapping function allowed for import transforms is {{Wildcard()}}"


class TransformError(ValueError):
    """A mapping that does not parse. ``kind`` says why, ``detail`` names the offending
    destination token (empty when the reference names none); ``str()`` is the reference's text."""

    def __init__(self, kind: TransformErrorKind, detail: str = "") -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind.value} in {detail}" if detail else kind.value)

    @property
    def is_destination_error(self) -> bool:
        """True for the reference's "invalid mapping destination" family (not a bad subject)."""
        return self.kind is not TransformErrorKind.BAD_SUBJECT
