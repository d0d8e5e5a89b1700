"""Weighted and cluster-scoped mappings in the engine (no servers): the reference's rules for
choosing a destination, and its errors."""

from __future__ import annotations

from collections import Counter

import pytest

from pynatsd.mapping import LOST, Destination, TransformError, build_mappings


def test_single_destination_and_no_match() -> None:
    m = build_mappings([("a.*", [Destination("b.$1")]), ("c", [Destination("d")])])
    assert m.map("a.x") == "b.x"
    assert m.map("c") == "d"
    assert m.map("a.x.y") is None and m.map("z") is None
    assert m.map_bytes(b"a.\xff") == b"b.\xff"  # raw bytes kept exactly


def test_first_matching_mapping_in_order_wins() -> None:
    m = build_mappings([("a.*", [Destination("first.$1")]), ("a.b", [Destination("second")])])
    assert m.map("a.b") == "first.b"


def test_weights_split_the_traffic() -> None:
    m = build_mappings([("w.*", [Destination("x.$1", 30), Destination("y.$1", 70)])])
    counts = Counter(m.map("w.k") for _ in range(10_000))
    assert set(counts) == {"x.k", "y.k"}
    assert 2_500 < counts["x.k"] < 3_500


def test_the_rest_keeps_the_subject_unless_the_source_is_listed() -> None:
    keep = build_mappings([("k", [Destination("x", 0)])])
    assert {keep.map("k") for _ in range(100)} == {"k"}
    lose = build_mappings([("l", [Destination("l", 0), Destination("x", 0)])])
    assert {lose.map("l") for _ in range(100)} == {LOST}


def test_cluster_scoped_destinations() -> None:
    dests = [Destination("in-c1", 100, "c1"), Destination("elsewhere", 100)]
    assert build_mappings([("s", dests)], cluster="c1").map("s") == "in-c1"
    assert build_mappings([("s", dests)], cluster="c2").map("s") == "elsewhere"
    assert build_mappings([("s", dests)]).map("s") == "elsewhere"
    only = [Destination("in-c1", 100, "c1")]
    assert build_mappings([("s", only)]).map("s") == "s"  # nothing unscoped: the subject stays


@pytest.mark.parametrize(
    ("src", "dests", "text"),
    [
        ("a", [Destination("b", 60), Destination("c", 50)], "total weight needs to be <= 100"),
        ("a", [Destination("b", 60, "c1"), Destination("c", 50, "c1")], "total weight needs to be <= 100"),
        ("a", [Destination("b", 10), Destination("b", 10)], 'duplicate entry for "b"'),
        ("a", [Destination("b", 101)], "individual weights need to be <= 100"),
        ("a..b", [Destination("b")], "invalid subject"),
        ("a.*", [Destination("b.$2")], "invalid mapping destination: wildcard index out of range in $2: [2]"),
    ],
)
def test_errors(src: str, dests: list[Destination], text: str) -> None:
    with pytest.raises(TransformError) as info:
        build_mappings([(src, dests)])
    assert str(info.value) == text
