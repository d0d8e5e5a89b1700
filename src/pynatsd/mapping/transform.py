"""The subject transform engine: one parser and one mapper for every place the reference maps
subjects (stream ``subject_transform``, source/mirror transforms, republish, the config file's
``mappings``, import transforms).

The rules are the reference's (server/subject_transform.go): a destination token is a literal,
``$N`` / ``{{wildcard(N)}}`` (the N-th ``*`` of the source), a mapping function in ``{{ }}``, or a
final ``>``. Token lengths and positions count UTF-8 bytes, as the reference's do. Pure: no I/O.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Final

from pynatsd.mapping.errors import TransformError
from pynatsd.mapping.errors import TransformErrorKind as K

# Destination token types (the reference's enum order, for readability only).
_LITERAL: Final = 0
_PARTITION: Final = 2
_WILDCARD: Final = 3
_SPLIT_FROM_LEFT: Final = 4
_SPLIT_FROM_RIGHT: Final = 5
_SLICE_FROM_LEFT: Final = 6
_SLICE_FROM_RIGHT: Final = 7
_SPLIT: Final = 8
_LEFT: Final = 9
_RIGHT: Final = 10
_RANDOM: Final = 11

_INT32_MAX: Final = 2**31 - 1
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1

# Go's RE2 \s is [\t\n\f\r ]; Python's is wider, so spell it out.
_WS = r"[\t\n\f\r ]*"
_COMMA = re.compile(r",[\t\n\f\r ]*")


def _fn(name: str) -> re.Pattern[str]:
    # Each letter of the name that the reference accepts in either case: the first and the
    # capitals of its camel case (e.g. [sS]plit[fF]rom[lL]eft).
    pattern = "".join(f"[{c.lower()}{c.upper()}]" if i == 0 or c.isupper() else c for i, c in enumerate(name))
    return re.compile(r"\{\{" + _WS + pattern + _WS + r"\((.*)\)" + _WS + r"\}\}")


_PARTITION_RE: Final = _fn("partition")
_WILDCARD_RE: Final = _fn("wildcard")
_SPLIT_FROM_LEFT_RE: Final = _fn("splitFromLeft")
_SPLIT_FROM_RIGHT_RE: Final = _fn("splitFromRight")
_SLICE_FROM_LEFT_RE: Final = _fn("sliceFromLeft")
_SLICE_FROM_RIGHT_RE: Final = _fn("sliceFromRight")
_SPLIT_RE: Final = _fn("split")
_LEFT_RE: Final = _fn("left")
_RIGHT_RE: Final = _fn("right")
_RANDOM_RE: Final = _fn("random")

# Functions taking (wildcard index, int32), in the order the reference tries them.
_INDEX_INT_FNS: Final = (
    (_SPLIT_FROM_LEFT_RE, _SPLIT_FROM_LEFT),
    (_SPLIT_FROM_RIGHT_RE, _SPLIT_FROM_RIGHT),
    (_SLICE_FROM_LEFT_RE, _SLICE_FROM_LEFT),
    (_SLICE_FROM_RIGHT_RE, _SLICE_FROM_RIGHT),
    (_RIGHT_RE, _RIGHT),
    (_LEFT_RE, _LEFT),
)
# The functions a stream subject transform or a config mapping may use: the reference's
# ValidateMapping does not list left() and right(), so those are "unknown" there.
_VALIDATED_FNS: Final = (
    _PARTITION_RE,
    _WILDCARD_RE,
    _SPLIT_FROM_LEFT_RE,
    _SPLIT_FROM_RIGHT_RE,
    _SLICE_FROM_LEFT_RE,
    _SLICE_FROM_RIGHT_RE,
    _SPLIT_RE,
    _RANDOM_RE,
)


def _atoi(text: str, lo: int = _INT64_MIN, hi: int = _INT64_MAX) -> int | None:
    """Go's strconv.Atoi / ParseInt(s, 10, bits): optional sign, ASCII digits, in range."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    value = int(text)
    return value if lo <= value <= hi else None


def _int32(value: int) -> int:
    """Go's int32(v) conversion (wraps)."""
    return (value + 2**31) % 2**32 - 2**31


def _args(regex: re.Pattern[str], token: str) -> list[str] | None:
    m = regex.search(token)
    return None if m is None else _COMMA.split(m.group(1))


def _is_mustache(token: str) -> bool:
    return len(token) > 4 and token.startswith("{{") and token.endswith("}}")


# One parsed destination token: (type, source token positions, int argument, string argument).
_Op = tuple[int, tuple[int, ...], int, str]


def _index_int_args(token: str, args: list[str], kind: int) -> _Op:
    if len(args) < 2:
        raise TransformError(K.NOT_ENOUGH_ARGS, token)
    if len(args) > 2:
        raise TransformError(K.TOO_MANY_ARGS, token)
    index = _atoi(args[0].strip(" "))
    value = _atoi(args[1].strip(" "), -(2**31), _INT32_MAX)
    if index is None or value is None:
        raise TransformError(K.INVALID_ARG, token)
    return kind, (index,), value, ""


def _placeholder(token: str) -> _Op:
    """Parse one destination token (the reference's indexPlaceHolders)."""
    if len(token) <= 1:
        return _LITERAL, (-1,), -1, ""
    if token[0] == "$":
        n = _atoi(token[1:])
        # Other things rely on tokens starting with $: not a placeholder then, a literal.
        return (_LITERAL, (-1,), -1, "") if n is None else (_WILDCARD, (n,), -1, "")
    if not _is_mustache(token):
        return _LITERAL, (-1,), -1, ""

    args = _args(_WILDCARD_RE, token)
    if args is not None:
        if len(args) == 1 and args[0] == "":
            raise TransformError(K.NOT_ENOUGH_ARGS, token)
        if len(args) > 1:
            raise TransformError(K.TOO_MANY_ARGS, token)
        n = _atoi(args[0].strip(" "))
        if n is None:
            raise TransformError(K.INVALID_ARG, token)
        return _WILDCARD, (n,), -1, ""

    args = _args(_PARTITION_RE, token)
    if args is not None:
        count = _atoi(args[0].strip(" "))
        if count is None or count > _INT32_MAX:
            raise TransformError(K.INVALID_ARG, token)
        indexes = []
        for arg in args[1:]:
            i = _atoi(arg.strip(" "))
            if i is None:
                raise TransformError(K.INVALID_ARG, token)
            indexes.append(i)
        return _PARTITION, tuple(indexes), _int32(count), ""

    for regex, kind in _INDEX_INT_FNS:
        args = _args(regex, token)
        if args is not None:
            return _index_int_args(token, args, kind)

    args = _args(_SPLIT_RE, token)
    if args is not None:
        if len(args) < 2:
            raise TransformError(K.NOT_ENOUGH_ARGS, token)
        if len(args) > 2:
            raise TransformError(K.TOO_MANY_ARGS, token)
        i = _atoi(args[0].strip(" "))
        if i is None or " " in args[1] or "." in args[1]:
            raise TransformError(K.INVALID_ARG, token)
        return _SPLIT, (i,), -1, args[1]

    args = _args(_RANDOM_RE, token)
    if args is not None:
        if len(args) != 1:
            raise TransformError(K.NOT_ENOUGH_ARGS, token)
        ceiling = _atoi(args[0].strip(" "))
        if ceiling is None or ceiling > _INT32_MAX:
            raise TransformError(K.INVALID_ARG, token)
        return _RANDOM, (), _int32(ceiling), ""

    raise TransformError(K.UNKNOWN_FUNCTION, token)


def _subject_info(subject: str) -> tuple[bool, list[str], int, bool]:
    """Valid (no empty token, ``>`` last), tokens, number of ``*``, has ``>``. Like the
    reference's subjectInfo, whitespace is not checked here."""
    if not subject:
        return False, [], 0, False
    tokens = subject.split(".")
    stars = 0
    fwc = False
    for t in tokens:
        if not t or fwc:
            return False, [], 0, False
        if t == ">":
            fwc = True
        elif t == "*":
            stars += 1
    return True, tokens, stars, fwc


def validate_mapping(src: str, dest: str) -> None:
    """The stricter check the reference applies to stream subject transforms and config
    mappings (its ValidateMapping): a ``{{...}}`` token must name a function it lists,
    literal tokens may not hold whitespace, and the transform must build."""
    if not dest:
        return
    fwc = False
    for t in dest.split("."):
        if not t or fwc:
            raise TransformError(K.INVALID_TRANSFORM, t)
        if _is_mustache(t):
            if not any(regex.search(t) for regex in _VALIDATED_FNS):
                raise TransformError(K.UNKNOWN_FUNCTION, t)
            continue
        if t == ">":
            fwc = True
        elif any(c in t for c in "\t\n\f\r "):
            raise TransformError(K.INVALID_TRANSFORM)
    parse_transform(src, dest)


def parse_transform(src: str, dest: str, *, strict: bool = False, validate: bool = False) -> SubjectTransform:
    """Build the transform from ``src`` (a subject filter; empty means ``>``) to ``dest``.

    ``strict`` is the reference's rule for import transforms, which must be reversible: only
    wildcard placeholders, each ``*`` of ``src`` used. ``validate`` adds the stricter checks of
    :func:`validate_mapping` (stream subject transforms, config mappings). An empty ``dest``
    gives the identity (the reference builds no transform then). Raises :class:`TransformError`.
    """
    if validate:
        validate_mapping(src, dest)
    if not dest:
        return SubjectTransform(src or ">", dest, [], [], [], identity=True)
    if not src:
        src = ">"
    src_ok, stokens, stars, src_fwc = _subject_info(src)
    dest_ok, dtokens, dstars, dest_fwc = _subject_info(dest)
    if not src_ok or not dest_ok or dstars > 0 or src_fwc != dest_fwc:
        raise TransformError(K.BAD_SUBJECT)

    ops: list[_Op] = []
    if stars > 0 or src_fwc:
        # Wildcard N refers to the source position of the N-th '*' (0 when there is none).
        star_pos = {n: i for n, i in enumerate((i for i, t in enumerate(stokens) if t == "*"), 1)}
        placeholders = 0
        for token in dtokens:
            kind, indexes, intarg, strarg = _placeholder(token)
            if strict and kind not in (_LITERAL, _WILDCARD):
                raise TransformError(K.NOT_SUPPORTED_FOR_IMPORT, token)
            if kind in (_LITERAL, _RANDOM):
                ops.append((kind, indexes, intarg, strarg))
                continue
            placeholders += len(indexes)
            positions = []
            for n in indexes:
                if n > stars:
                    raise TransformError(K.INDEX_OUT_OF_RANGE, f"{token}: [{n}]")
                positions.append(star_pos.get(n, 0))
            ops.append((kind, tuple(positions), intarg, strarg))
        if strict and placeholders < stars:
            raise TransformError(K.NOT_USING_ALL_WILDCARDS, dest)
    else:
        for token in dtokens:
            kind, _indexes, intarg, _strarg = _placeholder(token)
            if kind == _LITERAL:
                ops.append((kind, (-1,), -1, ""))
            elif kind in (_RANDOM, _PARTITION):
                # Without wildcards a partition hashes the whole subject whatever its arguments.
                ops.append((kind, (), intarg, ""))
            else:
                raise TransformError(K.INDEX_OUT_OF_RANGE, token)
    return SubjectTransform(src, dest, stokens, dtokens, ops)


def _enc(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _dec(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def fnv32a(data: bytes) -> int:
    """FNV-1a, 32 bits: the reference's partition hash."""
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def _byte_slices(token: str) -> tuple[bytes | str, int]:
    """The token as something to slice by byte positions, and its byte length."""
    if token.isascii():
        return token, len(token)
    raw = _enc(token)
    return raw, len(raw)


def _s(part: bytes | str) -> str:
    return part if isinstance(part, str) else _dec(part)


class SubjectTransform:
    """A parsed mapping. :meth:`map` gives the destination of a literal subject that ``src``
    matches, None otherwise."""

    __slots__ = ("_dtoks", "_fwc", "_ops", "_stoks", "dest", "has_placeholders", "identity", "src")

    def __init__(
        self,
        src: str,
        dest: str,
        stokens: list[str],
        dtokens: list[str],
        ops: list[_Op],
        *,
        identity: bool = False,
    ) -> None:
        self.src = src
        self.dest = dest
        self.identity = identity
        self._stoks = stokens
        self._dtoks = dtokens
        self._ops = ops
        self._fwc = bool(dtokens) and dtokens[-1] == ">"
        # True when the result depends on the subject (not just a fixed literal destination).
        self.has_placeholders = any(op[0] != _LITERAL for op in ops) or self._fwc

    def __repr__(self) -> str:
        return f"SubjectTransform({self.src!r}, {self.dest!r})"

    def matches(self, tokens: Sequence[str]) -> bool:
        """Whether the literal subject ``tokens`` is matched by ``src``."""
        stoks = self._stoks if self._stoks else self.src.split(".")
        for i, pat in enumerate(stoks):
            if i >= len(tokens):
                return False
            if pat == ">":
                return True
            if pat != "*" and pat != tokens[i]:
                return False
        return len(tokens) == len(stoks)

    def map(self, subject: str) -> str | None:
        """The mapped subject, or None when ``subject`` is not a literal subject ``src`` matches.
        A cut inside a multi-byte character (byte positions, as the reference) becomes U+FFFD."""
        out = self._map(subject)
        if out is None or out.isascii():
            return out
        try:
            out.encode("utf-8")
        except UnicodeEncodeError:
            return _enc(out).decode("utf-8", "replace")
        return out

    def map_bytes(self, subject: bytes) -> bytes | None:
        """:meth:`map` on raw subject bytes, byte-exact like the reference."""
        out = self._map(_dec(subject))
        return None if out is None else _enc(out)

    def _map(self, subject: str) -> str | None:
        if self.src == ">" and self.dest in (">", ""):
            return subject
        tokens = subject.split(".")
        for t in tokens:
            if not t or t == "*" or t == ">":
                return None
        if self.src != ">" and not self.matches(tokens):
            return None
        if self.identity:
            return subject
        return self.transform_tokens(tokens)

    def transform_tokens(self, tokens: Sequence[str]) -> str:
        """Apply the destination to the tokens of a subject already known to match."""
        out: list[str] = []
        dtoks = self._dtoks
        for i, (kind, idx, n, sep) in enumerate(self._ops):
            if kind == _LITERAL:
                if dtoks[i] == ">":
                    break
                out.append(dtoks[i])
            elif kind == _WILDCARD:
                out.append(tokens[idx[0]] if idx and idx[0] < len(tokens) else "")
            elif kind == _PARTITION:
                key = "".join(tokens[j] for j in idx) if idx else ".".join(tokens)
                buckets = n & 0xFFFFFFFF
                out.append(str(fnv32a(_enc(key)) % buckets) if buckets else "0")
            elif kind == _RANDOM:
                out.append(str(random.getrandbits(31) % abs(n)) if n else "0")
            elif kind == _SPLIT:
                out.append(_split(tokens[idx[0]], sep))
            else:
                out.append(_by_size(kind, tokens[idx[0]], n))
        result = ".".join(out)
        if self._fwc:
            # The loop stopped at '>' after writing the separator before it.
            tail = ".".join(tokens[len(self._stoks) - 1 :])
            result = result + "." + tail if out else tail
        return result


def _split(token: str, sep: str) -> str:
    parts = list(token) if sep == "" else token.split(sep)
    b: list[str] = []
    last = len(parts) - 1
    for j, part in enumerate(parts):
        b.append(part)
        if j < last and parts[j + 1] != "" and not (j == 0 and part == ""):
            b.append(".")
    return "".join(b)


def _by_size(kind: int, token: str, n: int) -> str:
    """splitFromLeft/Right, sliceFromLeft/Right, left, right (byte positions)."""
    data, length = _byte_slices(token)
    if not 0 < n < length:
        return token
    if kind == _SPLIT_FROM_LEFT:
        parts = [data[:n], data[n:]]
    elif kind == _SPLIT_FROM_RIGHT:
        parts = [data[: length - n], data[length - n :]]
    elif kind == _LEFT:
        parts = [data[:n]]
    elif kind == _RIGHT:
        parts = [data[length - n :]]
    elif kind == _SLICE_FROM_LEFT:
        parts = [data[i : i + n] for i in range(0, length, n)]
    else:  # _SLICE_FROM_RIGHT
        rem = length % n
        parts = ([data[:rem]] if rem else []) + [data[i : i + n] for i in range(rem, length, n)]
    return ".".join(_s(p) for p in parts)
