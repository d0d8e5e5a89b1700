"""``marshal_json`` against Go's ``json.Marshal``.

The expected bytes were generated once with the Go toolchain (go1.26, ``json.Marshal`` of the
same maps) and pasted here; they are not computed by these tests.
"""

from __future__ import annotations

import pytest

from pynatsd.gocompat import go_json_escape, marshal_json

GO_MARSHAL = [
    (
        {"a": '<>&\u2028\u2029\x01\x7f\u00e9"\\/\t\n'},
        b'{"a":"\\u003c\\u003e\\u0026\\u2028\\u2029\\u0001\x7f\xc3\xa9\\"\\\\/\\t\\n"}',
    ),
    ({"b": 1, "a": 2, "A": 3, "_": 4}, b'{"A":3,"_":4,"a":2,"b":1}'),
    ({"d": b"hi\x00", "n": None, "l": [], "t": True}, b'{"d":"aGkA","l":[],"n":null,"t":true}'),
]


@pytest.mark.parametrize(("value", "raw"), GO_MARSHAL)
def test_marshal_json(value: object, raw: bytes) -> None:
    assert marshal_json(value) == raw


def test_go_json_escape_leaves_other_json_alone() -> None:
    assert go_json_escape(b'{"a":"b"}') == b'{"a":"b"}'
