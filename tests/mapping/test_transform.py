"""The transform engine on the reference's own cases (server/subject_transform_test.go) and
the error kinds and texts it gives for bad mappings."""

from __future__ import annotations

import pytest

from pynatsd.mapping import (
    SubjectTransform,
    TransformError,
    TransformErrorKind,
    parse_transform,
    validate_mapping,
)

K = TransformErrorKind
I32 = 2**31 - 1


@pytest.mark.parametrize(
    ("src", "dest", "strict"),
    [
        ("foo..", "bar", False),
        ("foo.*", "bar.*", False),
        ("foo.*", "bar.$2", False),
        ("foo.*", "bar.$1.>", False),
        ("foo.>", "bar.baz", False),
        ("foo.*.*", "bar.$2", True),
        ("foo.*", "foo.$foo", True),
        ("foo.*", "bar.{{Partition(2,1)}}", True),
        ("foo.*", "foo.{{wildcard(2)}}", False),
        ("foo.*", "foo.{{unimplemented(1)}}", False),
        ("foo.*", "foo.{{partition()}}", False),
        ("foo.*", "foo.{{random()}}", False),
        ("foo.*", "foo.{{wildcard(foo)}}", False),
        ("foo.*", "foo.{{wildcard()}}", False),
        ("foo.*", "foo.{{wildcard(1,2)}}", False),
        ("foo.*", "foo.{{ wildcard5) }}", False),
        ("foo.*", "foo.{{splitLeft(2,2}}", False),
        ("foo", "bla.{{wildcard(1)}}", False),
        ("foo.*", f"foo.{{{{partition({I32 + 1})}}}}", False),
        ("foo.*", f"foo.{{{{random({I32 + 1})}}}}", False),
    ],
)
def test_reference_refuses(src: str, dest: str, strict: bool) -> None:
    with pytest.raises(TransformError):
        parse_transform(src, dest, strict=strict)


@pytest.mark.parametrize(
    ("src", "dest", "strict"),
    [
        ("foo.*", "bar.{{Wildcard(1)}}", True),
        ("foo.*.*", "bar.$2", False),
        ("foo.*.*", "bar.{{wildcard(1)}}", False),
        ("foo.*.*", "bar.{{partition(1)}}", False),
        ("foo.*.*", "bar.{{random(5)}}", False),
        ("foo", "bar", False),
        ("foo.*.bar.*.baz", "req.$2.$1", False),
        ("baz.>", "mybaz.>", False),
        ("*", "{{splitfromleft(1,1)}}", False),
        ("", "prefix.>", False),
        ("*.*", "{{partition(10,1,2)}}", False),
        ("foo.*.*", "foo.{{wildcard(1)}}.{{wildcard(2)}}.{{partition(5,1,2)}}", False),
        ("foo.*", f"foo.{{{{partition({I32})}}}}", False),
        ("foo.*", f"foo.{{{{random({I32})}}}}", False),
        ("foo.bar", f"foo.{{{{random({I32})}}}}", False),
    ],
)
def test_reference_accepts(src: str, dest: str, strict: bool) -> None:
    assert isinstance(parse_transform(src, dest, strict=strict), SubjectTransform)


@pytest.mark.parametrize(
    ("src", "dest", "subject", "expected"),
    [
        ("", "prefix.>", "foo", "prefix.foo"),
        ("foo", "", "foo", "foo"),
        ("foo", "bar", "foo", "bar"),
        ("foo.*.bar.*.baz", "req.$2.$1", "foo.A.bar.B.baz", "req.B.A"),
        ("foo.*.bar.*.baz", "req.{{wildcard(2)}}.{{wildcard(1)}}", "foo.A.bar.B.baz", "req.B.A"),
        ("baz.>", "my.pre.>", "baz.1.2.3", "my.pre.1.2.3"),
        ("baz.>", "foo.bar.>", "baz.1.2.3", "foo.bar.1.2.3"),
        ("*", "foo.bar.$1", "foo", "foo.bar.foo"),
        ("*", "{{splitfromleft(1,3)}}", "12345", "123.45"),
        ("*", "{{SplitFromRight(1,3)}}", "12345", "12.345"),
        ("*", "{{SliceFromLeft(1,3)}}", "1234567890", "123.456.789.0"),
        ("*", "{{SliceFromRight(1,3)}}", "1234567890", "1.234.567.890"),
        ("*", "{{split(1,-)}}", "-abc-def--ghi-", "abc.def.ghi"),
        ("*", "{{split(1,-)}}", "abc-def--ghi-", "abc.def.ghi"),
        ("*.*", "{{split(2,-)}}.{{splitfromleft(1,2)}}", "foo.-abc-def--ghij-", "abc.def.ghij.fo.o"),
        ("*", "{{right(1,1)}}", "1234", "4"),
        ("*", "{{right(1,3)}}", "1234", "234"),
        ("*", "{{right(1,6)}}", "1234", "1234"),
        ("*", "{{left(1,1)}}", "1234", "1"),
        ("*", "{{left(1,3)}}", "1234", "123"),
        ("*", "{{left(1,6)}}", "1234", "1234"),
        ("*", "bar.{{partition(0)}}", "baz", "bar.0"),
        ("*", "bar.{{partition(10, 0)}}", "foo", "bar.3"),
        ("*.*", "bar.{{partition(10)}}", "foo.bar", "bar.6"),
        ("*", "bar.{{partition(10)}}", "foo", "bar.3"),
        ("*", "bar.{{partition(10)}}", "baz", "bar.0"),
        ("*", "bar.{{partition(10)}}", "qux", "bar.9"),
        ("*", "bar.{{random(0)}}", "qux", "bar.0"),
        ("foo.bar", "baz.{{partition(10)}}", "foo.bar", "baz.6"),
        ("foo.baz", "qux.{{partition(10)}}", "foo.baz", "qux.4"),
        ("test.subject", "result.{{partition(5)}}", "test.subject", "result.0"),
        ("foo.*", "one.two.{{wildcard(1)}}", "foo.x", "one.two.x"),
        ("*", "{{ Partition (10,1) }}", "foo", "3"),
        ("foo.>", ">", "foo.a.b", "a.b"),
        ("*.>", "x.$1.>", "a.b.c", "x.a.b.c"),
    ],
)
def test_reference_maps(src: str, dest: str, subject: str, expected: str) -> None:
    assert parse_transform(src, dest).map(subject) == expected


def test_random_stays_in_range() -> None:
    t = parse_transform("*", "bar.{{random(6)}}")
    assert {t.map("qux") for _ in range(200)} <= {f"bar.{i}" for i in range(6)}


def test_no_match_and_non_literal_subjects_give_none() -> None:
    t = parse_transform("foo.*", "bar.$1")
    assert t.map("foo.a.b") is None
    assert t.map("baz.a") is None
    assert t.map("foo.*") is None
    assert t.map("foo..") is None
    assert t.map_bytes(b"foo.a") == b"bar.a"


def test_byte_positions_like_the_reference() -> None:
    # "é" is two bytes: left(1,1) keeps one byte; raw bytes are kept exactly by map_bytes.
    t = parse_transform("*", "{{left(1,2)}}")
    assert t.map("éa") == "é"
    assert t.map_bytes("aé".encode()) == b"a\xc3"
    assert t.map("aé") == "a\ufffd"


@pytest.mark.parametrize(
    ("src", "dest", "kind", "text"),
    [
        ("foo..", "bar", K.BAD_SUBJECT, "invalid subject"),
        ("foo.*", "bar.*", K.BAD_SUBJECT, "invalid subject"),
        (
            "foo.*",
            "foo.{{wildcard(2)}}",
            K.INDEX_OUT_OF_RANGE,
            "invalid mapping destination: wildcard index out of range in {{wildcard(2)}}: [2]",
        ),
        (
            "foo",
            "bla.{{wildcard(1)}}",
            K.INDEX_OUT_OF_RANGE,
            "invalid mapping destination: wildcard index out of range in {{wildcard(1)}}",
        ),
        (
            "foo.*",
            "foo.{{unimplemented(1)}}",
            K.UNKNOWN_FUNCTION,
            "invalid mapping destination: unknown function in {{unimplemented(1)}}",
        ),
        ("foo.*", "foo.{{partition()}}", K.INVALID_ARG, None),
        ("foo.*", "foo.{{random()}}", K.INVALID_ARG, None),
        ("foo.*", "foo.{{random(1,2)}}", K.NOT_ENOUGH_ARGS, None),
        ("foo.*", "foo.{{wildcard()}}", K.NOT_ENOUGH_ARGS, None),
        ("foo.*", "foo.{{wildcard(1,2)}}", K.TOO_MANY_ARGS, None),
        ("foo.*", "foo.{{split(1)}}", K.NOT_ENOUGH_ARGS, None),
        ("foo.*", "foo.{{split(1,a,b)}}", K.TOO_MANY_ARGS, None),
        ("foo.*", "foo.{{split(1,a )}}", K.INVALID_ARG, None),
        ("foo.*", "foo.{{left(1)}}", K.NOT_ENOUGH_ARGS, None),
        ("foo.*", "foo.{{left(1,x)}}", K.INVALID_ARG, None),
        ("foo.*.*", "bar.$2", K.NOT_USING_ALL_WILDCARDS, None),
    ],
)
def test_error_kinds_and_texts(src: str, dest: str, kind: TransformErrorKind, text: str | None) -> None:
    with pytest.raises(TransformError) as info:
        parse_transform(src, dest, strict=kind is K.NOT_USING_ALL_WILDCARDS)
    assert info.value.kind is kind
    if text is not None:
        assert str(info.value) == text


def test_validate_mapping_is_stricter() -> None:
    # The reference's ValidateMapping does not list left()/right() and refuses whitespace.
    parse_transform("*", "{{left(1,2)}}")
    with pytest.raises(TransformError) as info:
        validate_mapping("*", "{{left(1,2)}}")
    assert str(info.value) == "invalid mapping destination: unknown function in {{left(1,2)}}"
    with pytest.raises(TransformError) as info:
        parse_transform("foo", "a b", validate=True)
    assert str(info.value) == "invalid mapping destination: invalid transform"
    with pytest.raises(TransformError) as info:
        validate_mapping("foo", "a..b")
    assert info.value.kind is K.INVALID_TRANSFORM
