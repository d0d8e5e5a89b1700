"""Go's ``encoding/json`` output (``json.Marshal``), from msgspec.

msgspec already writes what Go writes for the values the reference sends (compact, struct
fields in declaration order, map keys sorted, ``[]byte`` as standard base64) except for
Go's HTML-safe escapes, which are added here. Floats are not covered: Go formats them its
own way, and no JSON the reference sends in pynatsd's scope holds one.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

__all__ = ["go_json_escape", "marshal_json"]

# "deterministic": map keys sorted like Go does, struct fields kept in declaration order.
_ENCODER: Final = msgspec.json.Encoder(order="deterministic")
_HTML_ESCAPES: Final = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)
_NEEDS_ESCAPE: Final = re.compile(b"[<>&]|\xe2\x80[\xa8\xa9]")


def go_json_escape(raw: bytes) -> bytes:
    """Rewrite msgspec's JSON as Go's encoder writes it: ``<>&`` and U+2028/9 as ``\\uXXXX``.

    Safe on whole documents: these characters only ever occur inside strings.
    """
    if _NEEDS_ESCAPE.search(raw) is None:
        return raw
    for plain, escaped in _HTML_ESCAPES:
        raw = raw.replace(plain, escaped)
    return raw


def marshal_json(obj: object) -> bytes:
    """The bytes Go's ``json.Marshal`` writes for the same value (compact, Go escapes)."""
    return go_json_escape(_ENCODER.encode(obj))
