"""What pynatsd must do exactly as Go does, because the reference's texts and JSON show it.

Quoting (``%q``), integer and duration syntax, ``time.Time`` text and ``json.Marshal``
output, each as the Go standard library has it. This package is a bottom layer: it imports
only the standard library and msgspec, so every other part of pynatsd may use it.
"""

from pynatsd.gocompat._duration import format_duration, parse_duration, parse_duration_ns
from pynatsd.gocompat._json import go_json_escape, marshal_json
from pynatsd.gocompat._strconv import go_atoi, go_parse_bool, go_quote
from pynatsd.gocompat._time import ZERO_TIME, GoTimeError, format_time, go_time_text, parse_time

__all__ = [
    "ZERO_TIME",
    "GoTimeError",
    "format_duration",
    "format_time",
    "go_atoi",
    "go_json_escape",
    "go_parse_bool",
    "go_quote",
    "go_time_text",
    "marshal_json",
    "parse_duration",
    "parse_duration_ns",
    "parse_time",
]
