"""JSON read and written the way the reference server does, for the JetStream API.

Writing is :func:`pynatsd.gocompat.marshal_json` (Go's ``json.Marshal``); only PubAcks are
written here, byte for byte as the reference hand-builds them.

Reading: :func:`decode_request` accepts and rejects exactly what the reference accepts and
rejects, and reports a rejection as the reference does: ``invalid JSON: <Go's message>``
(error 10025). It follows Go's ``encoding/json`` as the reference uses it: keys match fields
case-insensitively, ``null`` leaves a field alone, unknown fields are an error, several JSON
values in one body are decoded one after the other into the same request, and the first
problem in document order is the one reported. A fast msgspec pass handles the bodies where
msgspec and Go cannot disagree; the rest go through a scanner and decoder that imitate Go's.

The decoder lives in JetStream rather than in :mod:`pynatsd.gocompat` on purpose: what it
imitates is Go's ``encoding/json`` *applied to the reference's JetStream types*. The enum rules
(``"enum"`` metadata in :mod:`~pynatsd.jetstream.schemas`) are the ``UnmarshalJSON`` methods of
those types, Go type names come from their ``__go_name__``, and every failure is JetStream's
error 10025; taking that apart would only move JetStream knowledge behind hooks.
"""

from __future__ import annotations

import re
from typing import Any, Final, TypeVar

import msgspec

from pynatsd.gocompat import ZERO_TIME, GoTimeError, go_quote, marshal_json, parse_time
from pynatsd.jetstream.errors import ApiError, api_error
from pynatsd.jetstream.schemas import ApiErrorBody, PubAck, PubAckError

__all__ = [
    "decode_pub_ack",
    "decode_request",
    "encode_pub_ack",
    "encode_pub_ack_error",
    "error_response",
    "is_empty_request",
    "looks_like_object_or_array",
]

T = TypeVar("T")

# --------------------------------------------------------------------------------------
# PubAck
# --------------------------------------------------------------------------------------


def encode_pub_ack(stream: str, seq: int, domain: str = "", duplicate: bool = False) -> bytes:
    """The reference's PubAck bytes, exactly."""
    head = '{"stream":' + go_quote(stream)
    if domain:
        head += ',"domain":' + go_quote(domain)
    head += f',"seq":{seq}'
    return (head + (',"duplicate": true}' if duplicate else "}")).encode()


def encode_pub_ack_error(stream: str, err: ApiError) -> bytes:
    """The reference's bytes for a refused publish."""
    return marshal_json(PubAckError(error=ApiErrorBody.of(err), stream=stream, seq=0))


def decode_pub_ack(data: bytes) -> PubAck | PubAckError:
    """Either form of a PubAck."""
    if b'"error"' in data:
        return msgspec.json.decode(data, type=PubAckError)
    return msgspec.json.decode(data, type=PubAck)


# --------------------------------------------------------------------------------------
# Request decoding, the reference's way
# --------------------------------------------------------------------------------------

_WS: Final = b" \t\r\n"


def is_empty_request(data: bytes) -> bool:
    """The reference's "empty request": no bytes, or a JSON object without keys (``{}``, `` { } ``).

    Whitespace alone, ``null``, ``[]`` and anything else are not empty (STREAM.DELETE and
    CONSUMER.DELETE answer those with 10038 "expected an empty request payload").
    """
    if not data:
        return True
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return False
    return isinstance(value, dict) and not value


def looks_like_object_or_array(data: bytes) -> bool:
    """True when the first non-blank byte is ``{`` or ``[``.

    STREAM.INFO, STREAM.NAMES, STREAM.LIST, STREAM.PURGE, CONSUMER.NAMES and CONSUMER.LIST
    decode their body only then, and ignore any other body (``1``, ``"x"``, ``null``, ``x``).
    """
    stripped = data.lstrip(_WS)
    return stripped[:1] in (b"{", b"[")


class _JSONError(Exception):
    """A decoding failure; the text after ``invalid JSON: ``."""


class _Node:
    __slots__ = ("end", "kind", "start", "value")

    def __init__(self, kind: str, value: Any, start: int, end: int) -> None:
        self.kind = kind  # "object" | "array" | "string" | "number" | "bool" | "null"
        self.value = value  # list[tuple[str, _Node]] | list[_Node] | str | str literal | bool | None
        self.start = start
        self.end = end


def _quote_char(data: bytes, i: int) -> tuple[str, int]:
    """Go's quoting of the character at ``i`` in syntax errors, and the offset after it."""
    b = data[i]
    if b < 0x80:
        ch, n = chr(b), 1
    else:
        n = 2 if b >= 0xC0 else 1
        n = 3 if b >= 0xE0 else n
        n = 4 if b >= 0xF0 else n
        try:
            ch = data[i : i + n].decode("utf-8")
        except UnicodeDecodeError:
            ch, n = "\ufffd", 1
    if ch == "'":
        return "'\\''", i + n
    if ch == '"':
        return "'\"'", i + n
    return "'" + go_quote(ch)[1:-1] + "'", i + n


class _Scanner:
    """Go's JSON syntax, value by value, with Go's error messages and offsets."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.n = len(data)

    def error(self, i: int, context: str) -> _JSONError:
        if i >= self.n:
            return _JSONError("unexpected EOF")
        q, after = _quote_char(self.data, i)
        return _JSONError(f"invalid character {q} {context} at offset {after}")

    def skip_ws(self, i: int) -> int:
        data, n = self.data, self.n
        while i < n and data[i] in _WS:
            i += 1
        return i

    def value(self, i: int) -> tuple[_Node, int]:
        i = self.skip_ws(i)
        if i >= self.n:
            raise _JSONError("unexpected EOF")
        c = self.data[i]
        if c == 0x7B:  # {
            return self.object(i)
        if c == 0x5B:  # [
            return self.array(i)
        if c == 0x22:  # "
            s, j = self.string(i)
            return _Node("string", s, i, j), j
        if c == 0x2D or 0x30 <= c <= 0x39:
            return self.number(i)
        for word, val in ((b"true", True), (b"false", False), (b"null", None)):
            if c == word[0]:
                j = i + 1
                for expect in word[1:]:
                    if j >= self.n:
                        raise _JSONError("unexpected EOF")
                    if self.data[j] != expect:
                        raise self.error(j, f"in literal {word.decode()} (expecting {chr(expect)!r})")
                    j += 1
                return _Node("null" if val is None else "bool", val, i, j), j
        raise self.error(i, "looking for beginning of value")

    def object(self, i: int) -> tuple[_Node, int]:
        start = i
        items: list[tuple[str, _Node]] = []
        i = self.skip_ws(i + 1)
        if i < self.n and self.data[i] == 0x7D:
            return _Node("object", items, start, i + 1), i + 1
        while True:
            if i >= self.n:
                raise _JSONError("unexpected EOF")
            if self.data[i] != 0x22:
                raise self.error(i, "looking for beginning of object key string")
            key, i = self.string(i)
            i = self.skip_ws(i)
            if i >= self.n:
                raise _JSONError("unexpected EOF")
            if self.data[i] != 0x3A:
                raise self.error(i, "after object key")
            node, i = self.value(i + 1)
            items.append((key, node))
            i = self.skip_ws(i)
            if i >= self.n:
                raise _JSONError("unexpected EOF")
            c = self.data[i]
            if c == 0x7D:
                return _Node("object", items, start, i + 1), i + 1
            if c != 0x2C:
                raise self.error(i, "after object key:value pair")
            i = self.skip_ws(i + 1)

    def array(self, i: int) -> tuple[_Node, int]:
        start = i
        items: list[_Node] = []
        i = self.skip_ws(i + 1)
        if i < self.n and self.data[i] == 0x5D:
            return _Node("array", items, start, i + 1), i + 1
        while True:
            node, i = self.value(i)
            items.append(node)
            i = self.skip_ws(i)
            if i >= self.n:
                raise _JSONError("unexpected EOF")
            c = self.data[i]
            if c == 0x5D:
                return _Node("array", items, start, i + 1), i + 1
            if c != 0x2C:
                raise self.error(i, "after array element")
            i += 1

    def number(self, i: int) -> tuple[_Node, int]:
        data, n, start = self.data, self.n, i

        def digit(k: int) -> bool:
            return k < n and 0x30 <= data[k] <= 0x39

        if data[i] == 0x2D:
            i += 1
            if i >= n:
                raise _JSONError("unexpected EOF")
            if not digit(i):
                raise self.error(i, "in numeric literal")
        if data[i] == 0x30:
            i += 1
        else:
            while digit(i):
                i += 1
        if i < n and data[i] == 0x2E:
            i += 1
            if i >= n:
                raise _JSONError("unexpected EOF")
            if not digit(i):
                raise self.error(i, "in numeric literal")
            while digit(i):
                i += 1
        if i < n and data[i] in b"eE":
            i += 1
            if i < n and data[i] in b"+-":
                i += 1
            if i >= n:
                raise _JSONError("unexpected EOF")
            if not digit(i):
                raise self.error(i, "in numeric literal")
            while digit(i):
                i += 1
        return _Node("number", data[start:i].decode(), start, i), i

    def string(self, i: int) -> tuple[str, int]:
        data, n = self.data, self.n
        out: list[str] = []
        i += 1
        run = i
        while True:
            if i >= n:
                raise _JSONError("unexpected EOF")
            c = data[i]
            if c == 0x22:
                out.append(data[run:i].decode("utf-8", "replace"))
                return "".join(out), i + 1
            if c < 0x20:
                raise self.error(i, "in string")
            if c != 0x5C:
                i += 1
                continue
            out.append(data[run:i].decode("utf-8", "replace"))
            if i + 1 >= n:
                raise _JSONError("unexpected EOF")
            e = data[i + 1]
            simple = {
                0x22: '"',
                0x5C: "\\",
                0x2F: "/",
                0x62: "\b",
                0x66: "\f",
                0x6E: "\n",
                0x72: "\r",
                0x74: "\t",
            }
            if e in simple:
                out.append(simple[e])
                i += 2
            elif e == 0x75:  # \uXXXX
                cp, i = self.hex4(i)
                if 0xD800 <= cp < 0xDC00 and data[i : i + 2] == b"\\u":
                    lo, j = self.hex4(i)
                    if 0xDC00 <= lo < 0xE000:
                        cp, i = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00), j
                out.append("\ufffd" if 0xD800 <= cp < 0xE000 else chr(cp))
            else:
                seq = data[i : i + 2].decode("utf-8", "replace")
                raise _JSONError(f"invalid escape sequence `{seq}` in string at offset {i + 2}")
            run = i

    def hex4(self, i: int) -> tuple[int, int]:
        """The code point of the ``\\uXXXX`` escape at ``i``."""
        digits = self.data[i + 2 : i + 6]
        if len(digits) == 4 and all(d in b"0123456789abcdefABCDEF" for d in digits):
            return int(digits, 16), i + 6
        if len(digits) < 4 and all(d in b"0123456789abcdefABCDEF" for d in digits):
            raise _JSONError("unexpected EOF")
        seq = self.data[i : i + 6].decode("utf-8", "replace")
        raise _JSONError(f"invalid escape sequence `{seq}` in string at offset {i + len(seq.encode())}")


# Type specs: msgspec.inspect output, cached per Struct class.
_SPEC_CACHE: dict[type, msgspec.inspect.StructType] = {}


def _struct_spec(cls: type) -> msgspec.inspect.StructType:
    spec = _SPEC_CACHE.get(cls)
    if spec is None:
        info = msgspec.inspect.type_info(cls)
        assert isinstance(info, msgspec.inspect.StructType)
        spec = _SPEC_CACHE[cls] = info
    return spec


def _unwrap(t: msgspec.inspect.Type) -> tuple[msgspec.inspect.Type, dict[str, Any]]:
    extra: dict[str, Any] = {}
    while isinstance(t, msgspec.inspect.Metadata):
        extra = {**(t.extra or {}), **extra}
        t = t.type
    return t, extra


def _go_type(t: msgspec.inspect.Type) -> str:
    t, extra = _unwrap(t)
    if "go" in extra:
        return str(extra["go"])
    if isinstance(t, msgspec.inspect.UnionType):
        inner = [x for x in t.types if not isinstance(x, msgspec.inspect.NoneType)]
        return _go_type(inner[0]) if len(inner) == 1 else "interface {}"
    if isinstance(t, msgspec.inspect.StrType | msgspec.inspect.LiteralType):
        return "string"
    if isinstance(t, msgspec.inspect.BoolType):
        return "bool"
    if isinstance(t, msgspec.inspect.IntType):
        return "int"
    if isinstance(t, msgspec.inspect.BytesType):
        return "[]uint8"
    if isinstance(t, msgspec.inspect.ListType):
        return "[]" + _go_type(t.item_type)
    if isinstance(t, msgspec.inspect.DictType):
        return f"map[{_go_type(t.key_type)}]{_go_type(t.value_type)}"
    if isinstance(t, msgspec.inspect.StructType):
        return getattr(t.cls, "__go_name__", "") or f"server.{t.cls.__name__}"
    return "interface {}"


_KIND_NAMES: Final = {
    "object": "object",
    "array": "array",
    "string": "string",
    "number": "number",
    "bool": "bool",
}


class _Decoder:
    """Go's ``encoding/json`` decoding of the reference's request types, on scanned nodes."""

    def __init__(self, data: bytes, root: str) -> None:
        self.data = data
        self.root = root  # "StreamConfigRequest"

    def raw(self, node: _Node) -> bytes:
        return self.data[node.start : node.end]

    def type_error(
        self, node: _Node, path: list[str | int], go: str, with_literal: bool = False
    ) -> _JSONError:
        what = _KIND_NAMES[node.kind]
        if with_literal and node.kind == "number":
            what = f"number {node.value}"
        if not path:
            return _JSONError(f"json: cannot unmarshal {what} into Go value of type {go}")
        dotted = ".".join([self.root, *map(str, path)])
        where = dotted if isinstance(path[-1], int) else f"Go struct field {dotted}"
        return _JSONError(f"json: cannot unmarshal {what} into {where} of type {go}")

    # Each convert_* returns the new value, or ``_KEEP`` to leave the current one.
    def convert(self, node: _Node, t: msgspec.inspect.Type, path: list[str | int], current: Any) -> Any:
        t, extra = _unwrap(t)
        nullable = False
        if isinstance(t, msgspec.inspect.UnionType):
            inner = [x for x in t.types if not isinstance(x, msgspec.inspect.NoneType)]
            nullable = len(inner) < len(t.types)
            t, more = _unwrap(inner[0])
            extra = {**more, **extra}
        if "enum" in extra:
            return self.convert_enum(node, t, str(extra["enum"]), path)
        if node.kind == "null":
            if nullable or isinstance(t, msgspec.inspect.ListType | msgspec.inspect.DictType):
                return None
            return _KEEP
        if extra.get("time"):
            if node.kind != "string":
                raise self.type_error(node, path, "time.Time")
            try:
                parse_time(node.value)
            except GoTimeError as e:
                raise _JSONError(str(e)) from None
            return node.value
        go = str(extra.get("go") or _go_type(t))
        if isinstance(t, msgspec.inspect.StructType):
            if node.kind != "object":
                raise self.type_error(node, path, go)
            base = current if isinstance(current, dict) else {}
            return self.convert_struct(node, t, path, base)
        if isinstance(t, msgspec.inspect.StrType):
            if node.kind != "string":
                raise self.type_error(node, path, go)
            return node.value
        if isinstance(t, msgspec.inspect.BoolType):
            if node.kind != "bool":
                raise self.type_error(node, path, go)
            return node.value
        if isinstance(t, msgspec.inspect.IntType):
            if node.kind != "number":
                raise self.type_error(node, path, go)
            lit = node.value
            if any(c in lit for c in ".eE"):
                raise self.type_error(node, path, go, with_literal=True)
            v = int(lit)
            hi = extra.get("max", t.le)
            if (t.ge is not None and v < t.ge) or (hi is not None and v > hi):
                raise self.type_error(node, path, go, with_literal=True)
            return v
        if isinstance(t, msgspec.inspect.ListType):
            if node.kind != "array":
                raise self.type_error(node, path, go)
            items = []
            for idx, item in enumerate(node.value):
                v = self.convert(item, t.item_type, [*path, idx], None)
                items.append(self.zero(t.item_type) if v is _KEEP else v)
            return items
        if isinstance(t, msgspec.inspect.DictType):
            if node.kind != "object":
                raise self.type_error(node, path, go)
            out = dict(current) if isinstance(current, dict) else {}
            for key, item in node.value:
                v = self.convert(item, t.value_type, [*path, key], out.get(key))
                out[key] = self.zero(t.value_type) if v is _KEEP else v
            return out
        raise self.type_error(node, path, go)

    def convert_enum(self, node: _Node, t: msgspec.inspect.Type, how: str, path: list[str | int]) -> Any:
        assert isinstance(t, msgspec.inspect.LiteralType)
        raw = self.raw(node)
        values = [str(v) for v in t.values]
        if how == "compression":
            if node.kind not in ("string", "null"):
                kind = _KIND_NAMES[node.kind]
                raise _JSONError(f"json: cannot unmarshal {kind} into Go value of type string")
            if node.kind == "string" and node.value in values:
                return node.value
            raise _JSONError("unknown compression algorithm")
        text = raw.decode("utf-8", "replace")
        if how == "lower":
            text = text.lower()
        for v in values:
            if text == f'"{v}"':
                return v
        if how == "persist" and text == '""':
            return "default"
        if how == "deliver" and text == '"undefined"':
            return "all"
        if how == "priority":
            raise _JSONError(f"unknown priority policy: {raw.decode('utf-8', 'replace')}")
        if how == "action":
            raise _JSONError(f"unknown consumer action: {raw.decode('utf-8', 'replace')}")
        raise _JSONError(f"can not unmarshal {go_quote(raw)}")

    def convert_struct(
        self, node: _Node, spec: msgspec.inspect.StructType, path: list[str | int], base: dict[str, Any]
    ) -> dict[str, Any]:
        fields = {f.encode_name: f for f in spec.fields}
        folded = {name.casefold(): f for name, f in fields.items()}
        strict = getattr(spec.cls, "__strict__", True)
        out = dict(base)
        for key, item in node.value:
            f = fields.get(key) or folded.get(key.casefold())
            if f is None:
                if strict:
                    raise _JSONError(f"json: unknown field {go_quote(key)}")
                continue
            v = self.convert(item, f.type, [*path, key], out.get(f.name))
            if v is not _KEEP:
                out[f.name] = v
        return out

    def zero(self, t: msgspec.inspect.Type) -> Any:
        t, extra = _unwrap(t)
        if "zero" in extra:
            return extra["zero"]
        if extra.get("time"):
            return ZERO_TIME
        if isinstance(t, msgspec.inspect.UnionType):
            return None
        if isinstance(t, msgspec.inspect.StrType):
            return ""
        if isinstance(t, msgspec.inspect.BoolType):
            return False
        if isinstance(t, msgspec.inspect.IntType):
            return 0
        if isinstance(t, msgspec.inspect.ListType):
            return []
        if isinstance(t, msgspec.inspect.DictType):
            return {}
        if isinstance(t, msgspec.inspect.StructType):
            return {}
        return None

    def build(self, spec: msgspec.inspect.StructType, values: dict[str, Any]) -> Any:
        """The Struct for a decoded dict: missing fields at their default, else Go's zero value."""
        kwargs: dict[str, Any] = {}
        for f in spec.fields:
            if f.name in values:
                v = values[f.name]
            elif not f.required:
                continue
            else:
                v = self.zero(f.type)
            kwargs[f.name] = self.finish(f.type, v)
        return spec.cls(**kwargs)

    def finish(self, t: msgspec.inspect.Type, v: Any) -> Any:
        t, _ = _unwrap(t)
        if isinstance(t, msgspec.inspect.UnionType):
            if v is None:
                return None
            t, _ = _unwrap(next(x for x in t.types if not isinstance(x, msgspec.inspect.NoneType)))
        if isinstance(t, msgspec.inspect.StructType) and isinstance(v, dict):
            return self.build(_struct_spec(t.cls), v)
        if isinstance(t, msgspec.inspect.ListType) and isinstance(v, list):
            return [self.finish(t.item_type, x) for x in v]
        return v


class _Keep:
    __slots__ = ()


_KEEP: Final = _Keep()


def _decode_go(data: bytes, model: type[T], root: str) -> T:
    spec = _struct_spec(model)
    go_name = getattr(model, "__go_name__", "") or f"server.{model.__name__}"
    dec = _Decoder(data, root)
    scanner = _Scanner(data)
    values: dict[str, Any] = {}
    i = 0
    while True:
        i = scanner.skip_ws(i)
        if i >= len(data):
            break
        node, i = scanner.value(i)
        if node.kind == "null":
            continue
        if node.kind != "object":
            raise dec.type_error(node, [], go_name)
        values = dec.convert_struct(node, spec, [], values)
    result: T = dec.build(spec, values)
    return result


_FAST_DECODERS: dict[type, msgspec.json.Decoder[Any]] = {}
_TIME_KEYS: dict[type, tuple[bytes, ...]] = {}


def _time_fields(cls: type, seen: set[type] | None = None) -> set[str]:
    """JSON names of the time fields of a Struct and the Structs inside it (msgspec checks no time syntax)."""
    seen = set() if seen is None else seen
    if cls in seen:
        return set()
    seen.add(cls)
    names: set[str] = set()

    def walk(t: msgspec.inspect.Type, name: str) -> None:
        t, extra = _unwrap(t)
        if extra.get("time"):
            names.add(name)
        elif isinstance(t, msgspec.inspect.UnionType | msgspec.inspect.ListType | msgspec.inspect.DictType):
            inner = (
                t.types
                if isinstance(t, msgspec.inspect.UnionType)
                else ((t.item_type,) if isinstance(t, msgspec.inspect.ListType) else (t.value_type,))
            )
            for x in inner:
                walk(x, name)
        elif isinstance(t, msgspec.inspect.StructType):
            names.update(_time_fields(t.cls, seen))

    for f in _struct_spec(cls).fields:
        walk(f.type, f.encode_name)
    return names


# Cases msgspec's typed decoding would accept but Go may not: escapes (Go compares raw
# enum text, replaces lone surrogates) and integers beyond 64 bits.
_LONG_NUMBER: Final = re.compile(rb"[0-9]{20}")


def _decode_fast(data: bytes, model: type[T]) -> T | None:
    """msgspec's decoding where it must agree with Go's (no ``\\u`` escapes, no numbers of
    20+ digits, no time fields); None sends the caller to the Go-compatible decoder."""
    dec = _FAST_DECODERS.get(model)
    if dec is None:
        dec = _FAST_DECODERS[model] = msgspec.json.Decoder(model)
        _TIME_KEYS[model] = tuple(f'"{name}"'.encode() for name in sorted(_time_fields(model)))
    if b"\\u" in data or _LONG_NUMBER.search(data) is not None or any(k in data for k in _TIME_KEYS[model]):
        return None
    try:
        result: T = dec.decode(data)
        return result
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def decode_request(data: bytes, model: type[T]) -> T:
    """Decode an API request body as the reference does, or raise ``ApiError`` 10025.

    An empty (or all-blank) body gives the model's zero value. Which APIs decode their body
    at all is the caller's business (:func:`is_empty_request`, :func:`looks_like_object_or_array`).
    """
    fast = _decode_fast(data, model)
    if fast is not None:
        return fast
    go_name = getattr(model, "__go_name__", "") or f"server.{model.__name__}"
    try:
        return _decode_go(data, model, go_name.rpartition(".")[2])
    except _JSONError as e:
        raise api_error("INVALID_JSON", err=str(e)) from None


def error_response(cls: type[T], err: ApiError) -> T:
    """An error response of type ``cls`` the way the reference writes it.

    Fields the reference always writes get their zero value: ``total``/``offset``/``limit`` 0,
    ``purged`` 0, STREAM.NAMES ``streams`` null, STREAM.LIST and CONSUMER.NAMES/LIST ``[]``.
    Encode it with :func:`pynatsd.gocompat.marshal_json`.
    """
    spec = _struct_spec(cls)
    dec = _Decoder(b"", "")
    values: dict[str, Any] = {"error": ApiErrorBody.of(err)}
    result: T = dec.build(spec, values)
    return result


def unmarshal(data: bytes, model: type[T]) -> T:
    """Go's ``json.Unmarshal`` into a pointer to a ``model`` pointer, as the reference decodes
    pull requests: the input must be exactly one JSON value (syntax errors first, then
    ``invalid character … after top-level value``, ``unexpected end of JSON input``) and type
    errors name the field without its struct (``Go struct field .batch``). Raises
    ``ApiError`` 10025."""
    fast = _decode_fast(data, model)
    if fast is not None:
        return fast
    scanner = _Scanner(data)
    try:
        _, end = scanner.value(0)
        end = scanner.skip_ws(end)
        if end < len(data):
            raise scanner.error(end, "after top-level value")
        return _decode_go(data, model, "")
    except _JSONError as e:
        text = "unexpected end of JSON input" if str(e) == "unexpected EOF" else str(e)
        raise api_error("INVALID_JSON", err=text) from None
