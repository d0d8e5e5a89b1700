"""The config file's ``mappings`` block: what the loader keeps, and the reference's own verdict
(``nats-server -t -c``) on the same files, word for word for the errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from pynatsd.config.errors import ConfigError
from pynatsd.config.loader import load_config, load_config_with_warnings
from pynatsd.options import MapDest
from tests.support.config import needs_reference, reference_test_config
from tests.support.config import write as write_file
from tests.support.mappings import transform_case


def reference_check(path: str) -> tuple[bool, list[str]]:
    rc, out = reference_test_config(path)
    out = out.replace("nats-server: ", "")
    return rc == 0, [line for line in out.splitlines() if line.strip()]


ACCEPTED = [
    "mappings: { foo: bar }",
    'maps: { "a.*.*": "b.$2.{{wildcard(1)}}.{{partition(3,1,2)}}" }',
    'mappings: { "a.*": [ {destination: "x.$1", weight: 50%}, {dest: "y.$1", weight: 20} ] }',
    'mappings: { "a.>": [ {destination: "x.>", weight: "100%"} ] }',
    'mappings: { a: {dest: b, weight: 40}, c: [ {dest: d, weight: 30, cluster: "c1"}, {dest: e, weight: 100} ] }',
    'mappings: { "a.*": "{{split(1,-)}}.{{left(1,2)}}.{{right(1,2)}}.{{sliceFromLeft(1,2)}}.{{random(5)}}" }',
    "mappings: { a: [ {dest: a, weight: 30}, {dest: b, weight: 30} ] }",
]


def test_loader_keeps_mappings_in_order(tmp_path: Path) -> None:
    path = write_file(tmp_path / "m.conf", ACCEPTED[4])
    opts = load_config(path)
    assert opts.mappings == [
        ("a", [MapDest("b", 40)]),
        ("c", [MapDest("d", 30, "c1"), MapDest("e", 100)]),
    ]
    assert "mappings" not in opts.unsupported


@needs_reference
@pytest.mark.parametrize("text", ACCEPTED)
def test_reference_accepts_what_we_accept(tmp_path: Path, text: str) -> None:
    path = write_file(tmp_path / "m.conf", text)
    ok, messages = reference_check(path)
    assert ok, messages
    opts, warnings = load_config_with_warnings(path)
    assert warnings == [] and opts.mappings


REJECTED = [
    'mappings: { "a.*": "b.*" }',
    'mappings: { "a.*": "b.$2" }',
    'mappings: { "a": "b.$1" }',
    'mappings: { "a.*": "b.{{unknown(1)}}" }',
    'mappings: { "a.*": "b.{{partition()}}" }',
    'mappings: { "a.*": "b.{{split(1)}}" }',
    'mappings: { "a.*": "b.{{wildcard(1,2)}}" }',
    'mappings: { "a.*": "b. c" }',
    'mappings: { "a.*": "b..c" }',
    'mappings: { "a..b": "c" }',
    'mappings: { "a.*": [ {dest: "x.$1", weight: 60}, {dest: "y.$1", weight: 50} ] }',
    'mappings: { "a.*": [ {dest: "x.$1", weight: 60}, {dest: "x.$1", weight: 10} ] }',
    'mappings: { "a.*": [ {dest: "x.$1", weight: 120} ] }',
    'mappings: { "a.*": [ {dest: "x.$1", weight: "abc"} ] }',
    'mappings: { "a.*": [ {dest: "x.$1", weight: 10, bogus: 1} ] }',
    'mappings: { "a.*": {dest: "x.{{wildcard(3)}}", weight: 10} }',
    "mappings: { a: 5 }",
]


@needs_reference
@pytest.mark.parametrize("text", REJECTED)
def test_reference_rejects_what_we_reject(tmp_path: Path, text: str) -> None:
    path = write_file(tmp_path / "m.conf", text)
    ok, messages = reference_check(path)
    assert not ok
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [str(i) for i in info.value.issues] == messages


@needs_reference
def test_missing_weight_in_a_list(tmp_path: Path) -> None:
    # Known difference: the reference places this error at the end of the list item's map,
    # our parser keeps only where a map starts; the text is the same.
    path = write_file(tmp_path / "m.conf", 'mappings: { "a.*": [ {dest: "x.$1"} ] }')
    ok, messages = reference_check(path)
    assert not ok
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [i.reason for i in info.value.issues] == [m.split(": ", 1)[1] for m in messages]
    assert info.value.first.reason == 'Missing weight for mapping destination "x.$1"'


@needs_reference
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=transform_case(0))
def test_fuzzed_mappings_get_the_reference_verdict(tmp_path: Path, case: tuple[str, str, str]) -> None:
    # One mapping per file: the reference reports several in Go map order, which varies.
    src, dest, _ = case
    path = write_file(tmp_path / "m.conf", f"mappings: {{ {json.dumps(src)}: {json.dumps(dest)} }}\n")
    ok, messages = reference_check(path)
    try:
        opts = load_config(path)
    except ConfigError as e:
        assert not ok, (case, str(e))
        assert [str(i) for i in e.issues] == messages
    else:
        assert ok, (case, messages)
        assert opts.mappings == [(src, [MapDest(dest, 100)])]
