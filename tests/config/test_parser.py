"""Config file parser: syntax, values, variables, includes, positions and errors.

The differential tests at the end feed the same text to the reference server
(``nats-server -t -c``) with only the unknown key ``x`` (or similar) at the top, so its
verdict is about syntax alone: it either reports ``unknown field`` (parsed fine) or a
parse error.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pynatsd.config.errors import ConfigError, Position
from pynatsd.config.parser import Node, parse_file, parse_string, unwrap
from tests.support.config import needs_reference, reference_test_config, write


def p(text: str) -> Any:
    return unwrap(parse_string(text, "t.conf"))


def err(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_string(text, "t.conf")
    return info.value


# ---------------------------------------------------------------------------------------
# Syntax
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["port: 4222", "port = 4222", "port 4222", "port:4222", "port=4222", "port\t4222"]
)
def test_key_value_separators(text: str) -> None:
    assert p(text) == {"port": 4222}


def test_separator_may_follow_newline_but_value_may_not() -> None:
    assert p("debug\n: true") == {"debug": True}
    e = err("debug:\ntrue")
    assert (e.line, e.reason) == (2, "Expected value but found new line")


def test_quoted_keys_and_case_is_kept() -> None:
    assert p("\"a b\": 1\n'c:d' = 2\nDeBuG: true") == {"a b": 1, "c:d": 2, "DeBuG": True}


def test_value_terminators_on_one_line() -> None:
    assert p("a: 1; b: 2, c: 3") == {"a": 1, "b": 2, "c": 3}
    assert p("a: 1;\nb: 2;") == {"a": 1, "b": 2}


def test_nested_maps_with_and_without_separator() -> None:
    text = """
    authorization {
      user = bob
      inner: { deep { x: 1, y: "two" } }
    }
    other = {}
    """
    assert p(text) == {
        "authorization": {"user": "bob", "inner": {"deep": {"x": 1, "y": "two"}}},
        "other": {},
    }


def test_map_entries_separated_by_newlines_commas_or_semicolons() -> None:
    assert p("m { a: 1\n b: 2, c: 3; d: 4 }") == {"m": {"a": 1, "b": 2, "c": 3, "d": 4}}


def test_map_value_may_start_on_next_line() -> None:
    assert p("m {\n  a:\n  1\n}") == {"m": {"a": 1}}


def test_arrays_comma_and_newline_separated() -> None:
    assert p('a: ["x", "y", "z"]') == {"a": ["x", "y", "z"]}
    assert p("a: [\n  x\n  y\n  z\n]") == {"a": ["x", "y", "z"]}
    assert p("a: [ 1, 2 ]") == {"a": [1, 2]}
    assert p("a: [x, y,]") == {"a": ["x", "y"]}
    assert p("a: []") == {"a": []}
    assert p("a: [[1 ], [b, c], {k: v}]") == {"a": [[1], ["b", "c"], {"k": "v"}]}


def test_number_directly_before_closing_bracket_is_a_reference_quirk() -> None:
    # The reference reads "1]" as the start of a string and then misses the ']'.
    e = err("a: [1]")
    assert "Expected an array value terminator" in e.reason
    assert p("a: [1 ]") == {"a": [1]}
    # A size suffix ends the number, so the ']' is seen (and "1k" stays a string).
    assert p("a: [1k]") == {"a": ["1k"]}
    assert p("a: [1k ]") == {"a": [1000]}


@pytest.mark.parametrize(
    "text",
    [
        "# comment\nport: 1",
        "// comment\nport: 1",
        "port: 1 # trailing",
        "port: 1 // trailing",
        "port: 1 /",  # a lone '/' after a value is skipped, as in the reference
        "m {\n # c\n // c\n}\nport: 1",
        "a: [ # c\n // c\n]\nport: 1",
    ],
)
def test_comments(text: str) -> None:
    assert p(text)["port"] == 1


def test_hash_inside_a_bare_word_is_not_a_comment() -> None:
    assert p("x: a#b") == {"x": "a#b"}
    assert p("x: #a") == {"x": "#a"}


def test_top_level_braces_json_style() -> None:
    assert p('{ "debug": true, "port": 4222 }') == {"debug": True, "port": 4222}
    assert p("{\n debug: true\n}") == {"debug": True}
    assert p("{{debug: true}}") == {"debug": True}
    assert p("{debug: true} {trace: true}") == {"debug": True, "trace": True}
    assert p("debug: true}") == {"debug": True}
    assert p("debug: true\n}") == {"debug": True}
    assert p("}") == {}
    e = err("{debug: true")
    assert e.reason.startswith("Expected a block-level value to end")


# ---------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------


def test_strings() -> None:
    assert p('x: "a b # not a comment"') == {"x": "a b # not a comment"}
    assert p("x: 'single \\q kept'") == {"x": "single \\q kept"}
    assert p('x: "tab\\tnl\\ncr\\rq\\"bs\\\\hex\\x41"') == {"x": 'tab\tnl\ncr\rq"bs\\hexA'}
    assert p("x: bare-word_1.2/x") == {"x": "bare-word_1.2/x"}
    assert p("x: a\\tb") == {"x": "a\tb"}  # escapes also work in bare words
    assert p('x: ab"cd') == {"x": 'ab"cd'}
    assert p("x: ab'") == {"x": "ab"}
    assert p('x: ""') == {"x": ""}
    assert p("x:") == {"x": ""}


def test_strings_that_start_like_numbers() -> None:
    assert p("x: 10s") == {"x": "10s"}
    assert p("x: 12abc") == {"x": "12abc"}
    assert p("x: 1e5") == {"x": "1e5"}
    assert p("x: 1k5") == {"x": "1k5"}
    assert p("x: 0x1F") == {"x": "0x1F"}
    assert p("x: 1_000") == {"x": "1_000"}
    assert p("x: 1#c") == {"x": "1#c"}


def test_addresses_are_strings() -> None:
    assert p("listen: 127.0.0.1:4222") == {"listen": "127.0.0.1:4222"}
    assert p("listen: localhost:4222") == {"listen": "localhost:4222"}
    assert p("x: 1.2.3") == {"x": "1.2.3"}
    assert p("x: 12:30") == {"x": "12:30"}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("007", 7),
        ("4222", 4222),
        ("-1", -1),
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
        ("1.5", 1.5),
        ("-0.25", -0.25),
    ],
)
def test_numbers(text: str, value: float) -> None:
    got = p(f"x: {text}")["x"]
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1k", 1000),
        ("1K", 1000),
        ("1kb", 1024),
        ("1KB", 1024),
        ("1Kb", 1024),
        ("1ki", 1024),
        ("1KiB", 1024),
        ("2m", 2_000_000),
        ("1MB", 1024**2),
        ("1mib", 1024**2),
        ("1Mi", 1024**2),
        ("3g", 3 * 10**9),
        ("2GB", 2 * 1024**3),
        ("1GiB", 1024**3),
        ("1t", 10**12),
        ("1TB", 1024**4),
        ("1p", 10**15),
        ("1pib", 1024**5),
        ("1e", 10**18),
        ("1ei", 1024**6),
        ("-1k", -1000),
        ("-2kb", -2048),
    ],
)
def test_size_suffixes(text: str, value: int) -> None:
    assert p(f"x: {text}") == {"x": value}


def test_bad_size_suffix_and_out_of_range() -> None:
    assert err("x: 1kbb").reason == "invalid size suffix 'kbb' in '1kbb'"
    assert err("x: 9223372036854775808").reason == "integer '9223372036854775808' is out of the range"
    assert err("x: 16e").reason == "integer '16e' is out of the range"


@pytest.mark.parametrize("word", ["true", "TRUE", "yes", "Yes", "on", "ON"])
def test_true_words(word: str) -> None:
    assert p(f"x: {word}") == {"x": True}


@pytest.mark.parametrize("word", ["false", "False", "no", "NO", "off", "Off"])
def test_false_words(word: str) -> None:
    assert p(f"x: {word}") == {"x": False}


def test_quoted_bool_is_a_string() -> None:
    assert p('x: "true"') == {"x": "true"}
    assert p("x: [true]") == {"x": [True]}


def test_datetime() -> None:
    assert p("x: 2020-01-02T03:04:05Z") == {"x": datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)}
    assert err("x: 2020-01-02").reason == "Expected 'T' in ISO8601 datetime, but found '' instead."
    assert (
        err("x: 2020-13-02T03:04:05Z").reason
        == "expected Zulu formatted DateTime, but got '2020-13-02T03:04:05Z'"
    )
    assert err("x: 12-3").reason == "All ISO8601 dates must be in full Zulu form."


def test_block_strings() -> None:
    assert p("x: (\nline one\n  line two\n)\ny: 1") == {"x": "\nline one\n  line two\n", "y": 1}
    # At the very end of the file the reference keeps the ')'.
    assert p("x: (\nabc\n)") == {"x": "\nabc\n)"}
    assert err("x: (abc").reason == "Unexpected EOF processing block."


def test_duplicate_keys_last_wins() -> None:
    assert p("a: 1\na: 2") == {"a": 2}


# ---------------------------------------------------------------------------------------
# Variables
# ---------------------------------------------------------------------------------------


def test_variable_from_earlier_key() -> None:
    cfg = parse_string("NAME: foo\nserver_name: $NAME")
    assert unwrap(cfg) == {"NAME": "foo", "server_name": "foo"}
    assert cfg["NAME"].used_as_variable
    assert not cfg["server_name"].used_as_variable


def test_variable_keeps_type_and_structure() -> None:
    assert p("P: 4222\nport: $P\nL: [a, b ]\nl: $L\nM { k: 1 }\nm: $M") == {
        "P": 4222,
        "port": 4222,
        "L": ["a", "b"],
        "l": ["a", "b"],
        "M": {"k": 1},
        "m": {"k": 1},
    }


def test_variables_are_block_scoped() -> None:
    text = "OUTER: o\nauth {\n  INNER: i\n  a: $OUTER\n  b: $INNER\n  deeper { c: $INNER }\n}"
    assert p(text)["auth"] == {"INNER": "i", "a": "o", "b": "i", "deeper": {"c": "i"}}
    e = err("auth { INNER: i }\nx: $INNER")
    assert (e.line, e.reason) == (2, "variable reference for 'INNER' on line 2 can not be found")


def test_variable_must_be_defined_before_use() -> None:
    e = err("server_name: $NAME\nNAME: foo")
    assert (e.file, e.line, e.column) == ("t.conf", 1, 14)  # where the name is written
    assert e.reason == "variable reference for 'NAME' on line 1 can not be found"
    assert str(e) == "t.conf:1:14: variable reference for 'NAME' on line 1 can not be found"


def test_variable_inside_array_uses_enclosing_maps() -> None:
    assert p("A: 1\nx: [$A, $A ]") == {"A": 1, "x": [1, 1]}


def test_variables_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYNATSD_T_STR", "hello")
    monkeypatch.setenv("PYNATSD_T_SIZE", "1MB")
    monkeypatch.setenv("PYNATSD_T_BOOL", "yes")
    monkeypatch.setenv("PYNATSD_T_LIST", "[a, b ]")
    monkeypatch.setenv("PYNATSD_T_EMPTY", "")
    monkeypatch.setenv("PYNATSD_T_NESTED", "$PYNATSD_T_STR")
    text = "a: $PYNATSD_T_STR\nb: $PYNATSD_T_SIZE\nc: $PYNATSD_T_BOOL\nd: $PYNATSD_T_LIST\ne: $PYNATSD_T_EMPTY\nf: $PYNATSD_T_NESTED"
    assert p(text) == {"a": "hello", "b": 1024 * 1024, "c": True, "d": ["a", "b"], "e": "", "f": "hello"}


def test_file_variables_shadow_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYNATSD_T_X", "env")
    assert p("PYNATSD_T_X: file\ny: $PYNATSD_T_X") == {"PYNATSD_T_X": "file", "y": "file"}


def test_environment_value_that_does_not_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYNATSD_T_BAD", "a b")
    e = err("\nx: $PYNATSD_T_BAD")
    assert e.line == 2
    assert e.reason.startswith("variable reference for 'PYNATSD_T_BAD' on line 2 could not be parsed: ")
    assert "Expected a top-level value to end" in e.reason


def test_self_referencing_environment_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYNATSD_T_LOOP", "$PYNATSD_T_LOOP")
    assert "could not be parsed" in err("x: $PYNATSD_T_LOOP").reason


def test_environment_values_point_at_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYNATSD_T_MAP", "{ a: [1, 2 ] }")
    cfg = parse_string("\n\nx: $PYNATSD_T_MAP", "t.conf")
    inner = cfg["x"].value
    assert isinstance(inner, dict)
    assert inner["a"].pos == Position("t.conf", 3, 5)  # the "$PYNATSD_T_MAP" reference


def test_dollar_in_quotes_and_bcrypt_hashes_are_literal() -> None:
    assert p('x: "$HOME"') == {"x": "$HOME"}
    assert p("x: $2a$11$abcdefghijklmnop") == {"x": "$2a$11$abcdefghijklmnop"}
    assert p("x: pre$fix") == {"x": "pre$fix"}


def test_odd_variable_names() -> None:
    assert err("x: $").reason == "variable reference for '' on line 1 can not be found"
    # '}' ends a bare word, as in the reference
    assert err("x: ${HOME}").reason == "variable reference for '{HOME' on line 1 can not be found"


# ---------------------------------------------------------------------------------------
# Includes
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "form", ["include sub/a.conf", "include 'sub/a.conf'", 'include "sub/a.conf"', "INCLUDE sub/a.conf"]
)
def test_include_forms(tmp_path: Path, form: str) -> None:
    write(tmp_path / "sub" / "a.conf", "debug: true\n")
    main = write(tmp_path / "main.conf", f"{form}\nport: 1\n")
    assert unwrap(parse_file(main)) == {"debug": True, "port": 1}


def test_include_is_relative_to_the_including_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "conf" / "sub" / "leaf.conf", "trace: true")
    write(tmp_path / "conf" / "sub" / "mid.conf", "include ./leaf.conf\ndebug: true")
    main = write(tmp_path / "conf" / "main.conf", "include sub/mid.conf")
    monkeypatch.chdir(tmp_path)
    assert unwrap(parse_file(main)) == {"trace": True, "debug": True}
    assert unwrap(parse_file("conf/main.conf")) == {"trace": True, "debug": True}


def test_include_inside_a_map(tmp_path: Path) -> None:
    write(tmp_path / "users.conf", "user: bob\npassword: secret\n")
    main = write(tmp_path / "main.conf", "authorization {\n  include users.conf\n  timeout: 2\n}\n")
    assert unwrap(parse_file(main)) == {"authorization": {"user": "bob", "password": "secret", "timeout": 2}}


def test_included_keys_are_visible_as_variables(tmp_path: Path) -> None:
    write(tmp_path / "vars.conf", "PORT: 4333\n")
    main = write(tmp_path / "main.conf", "include vars.conf\nport: $PORT\n")
    cfg = parse_file(main)
    assert cfg["port"].value == 4333
    assert cfg["PORT"].used_as_variable


def test_included_positions_name_the_included_file(tmp_path: Path) -> None:
    inc = write(tmp_path / "inc.conf", "\n  debug: true\n")
    main = write(tmp_path / "main.conf", "include inc.conf\n")
    assert parse_file(main)["debug"].pos == Position(inc, 2, 3)


def test_include_of_a_missing_file(tmp_path: Path) -> None:
    main = write(tmp_path / "main.conf", "port: 1\ninclude nope.conf\n")
    with pytest.raises(ConfigError) as info:
        parse_file(main)
    e = info.value
    assert (e.file, e.line) == (main, 2)
    expected = os.path.join(str(tmp_path), "nope.conf")
    assert e.reason == f"error parsing include file 'nope.conf', open {expected}: no such file or directory"


def test_errors_inside_an_included_file_point_into_it(tmp_path: Path) -> None:
    inc = write(tmp_path / "bad.conf", "a: 1\nb: $UNDEFINED_PYNATSD_VAR\n")
    main = write(tmp_path / "main.conf", "include bad.conf\n")
    with pytest.raises(ConfigError) as info:
        parse_file(main)
    assert (info.value.file, info.value.line) == (inc, 2)


def test_include_cycle_is_an_error_not_a_crash(tmp_path: Path) -> None:
    write(tmp_path / "b.conf", "include a.conf\n")
    main = write(tmp_path / "a.conf", "include b.conf\n")
    with pytest.raises(ConfigError) as info:
        parse_file(main)
    assert "include cycle" in info.value.reason


def test_absolute_include_is_joined_to_the_including_directory(tmp_path: Path) -> None:
    # The reference joins every include path to the including file's directory.
    write(tmp_path / "etc" / "x.conf", "debug: true")
    main = write(tmp_path / "main.conf", "include /etc/x.conf")
    assert unwrap(parse_file(main)) == {"debug": True}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("include 5", "Expected include value but found start of a number"),
        ("include [a]", "Expected include value but found start of an array"),
        ("include {a}", "Expected include value but found start of a map"),
        ("include (a)", "Expected include value but found start of a block"),
        ("include\n", "Expected include value but found new line"),
        ("include 'abc", "Unexpected EOF in quoted include"),
        ('include "abc', "Unexpected EOF in double quoted include"),
    ],
)
def test_bad_include_syntax(text: str, reason: str) -> None:
    assert err(text).reason == reason


def test_include_followed_by_a_separator_is_an_ordinary_key() -> None:
    assert p("include: x") == {"include": "x"}


def test_parse_file_missing(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.conf")
    with pytest.raises(ConfigError) as info:
        parse_file(missing)
    assert (
        str(info.value) == f"{missing}: error opening config file: open {missing}: no such file or directory"
    )


# ---------------------------------------------------------------------------------------
# Positions and errors
# ---------------------------------------------------------------------------------------


def test_positions_follow_the_reference_counting() -> None:
    cfg = parse_string('a: 1\n  b: 2\n\tc = 3\n"d": 4\nm {\n  k: [x,\n   y ]\n}', "f.conf")
    assert cfg["a"].pos == Position("f.conf", 1, 0)
    assert cfg["b"].pos == Position("f.conf", 2, 3)
    assert cfg["c"].pos == Position("f.conf", 3, 2)
    assert cfg["d"].pos == Position("f.conf", 4, 2)
    inner = cfg["m"].value
    assert isinstance(inner, dict)
    assert inner["k"].pos == Position("f.conf", 6, 3)
    items = inner["k"].value
    assert isinstance(items, list) and all(isinstance(i, Node) for i in items)
    assert [i.pos.line for i in items] == [6, 7]
    assert p("a: 1") == {"a": 1}
    assert parse_string('  "foo": 1', "f.conf")["foo"].pos.column == 3


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (
            "debug: true debug: false",
            1,
            "Expected a top-level value to end with a new line, comment or EOF, but got 'd' instead.",
        ),
        (
            "x: 1.5k",
            1,
            "Expected a top-level value to end with a new line, comment or EOF, but got 'k' instead.",
        ),
        (
            "x: -5x",
            1,
            "Expected a top-level value to end with a new line, comment or EOF, but got 'x' instead.",
        ),
        ("x: .5", 1, "Floats must start with a digit"),
        ("x: -.5", 1, "Floats must start with a digit, not '.'."),
        ("x: -a", 1, "Expected a digit but got 'a'."),
        ("x: 1.", 1, "Floats must have a digit after the '.', but got '' instead."),
        ('x: "abc', 1, "Unexpected EOF."),
        ("x: 'abc", 1, "Unexpected EOF."),
        (
            'x: "a\\qb"',
            1,
            "Invalid escape character 'q'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.",
        ),
        ('x: "\\x4g"', 1, "Expected two hexadecimal digits after '\\x', but got '4g'"),
        ("x: [\n1 ,, 2]", 2, "Unexpected array value terminator ','."),
        (
            "x: [a b]",
            1,
            'Expected an array value terminator "," or an array terminator "]", but got \'b\' instead.',
        ),
        (
            "x: {a=1 b=2}",
            1,
            'Expected a map value terminator "," or a map terminator "}", but got \'b\' instead.',
        ),
        ("x: {a ,}", 1, 'Unexpected map value terminator ",".'),
        ("x: { : 1}", 1, "Unexpected key separator ':'."),
        ("x: {]}", 1, "Unexpected array end ']' processing map."),
        ("x: {", 1, "Unexpected EOF processing map."),
        ("x { a", 1, "Unexpected EOF processing map key."),
        ("x { 'a", 1, "Unexpected EOF processing quoted map key."),
        ('x { "a', 1, "Unexpected EOF processing double quoted map key."),
        (": 1", 1, "Unexpected key separator ':'"),
        ("/", 1, "Unexpected EOF."),
        ("debug", 1, "config is invalid"),
        ("a: 1\nfoo", 2, "config is invalid"),
        ("x: {a: }", 1, 'missing value for key "a"'),
    ],
)
def test_syntax_errors(text: str, line: int, reason: str) -> None:
    e = err(text)
    assert (e.file, e.line, e.reason) == ("t.conf", line, reason)
    if e.first.syntax:  # the lexer's: worded as the reference's
        assert str(e) == f"Parse error on line {line}: '{reason}'"
    else:
        assert str(e).startswith(f"t.conf:{line}:")


def test_unwrap_accepts_nodes_maps_lists_and_scalars() -> None:
    cfg = parse_string("a: [1, {b: c} ]")
    assert unwrap(cfg["a"]) == [1, {"b": "c"}]
    assert unwrap(5) == 5


# ---------------------------------------------------------------------------------------
# Robustness
# ---------------------------------------------------------------------------------------

# Random includes resolve under a directory that does not exist, so they read nothing.
_NOWHERE = "/nonexistent-pynatsd-test-dir/fuzz.conf"
_CONFIG_ALPHABET = st.sampled_from(
    [*"{}[]()=:;,#/\"'\\$ \t\n\r-.+0123456789abcdekmgtpixKMGBTZ_\x00\u00a0\u0663", "include ", "true", "\\x4"]
)


@pytest.mark.timeout(120)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_random_text_only_raises_config_error(text: str) -> None:
    try:
        parse_string(text, _NOWHERE)
    except ConfigError:
        pass


@pytest.mark.timeout(120)
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_CONFIG_ALPHABET, max_size=80).map("".join))
def test_config_like_text_only_raises_config_error(text: str) -> None:
    try:
        cfg = parse_string(text, _NOWHERE)
    except ConfigError as e:
        assert e.line >= 0 and e.reason
    else:
        unwrap(cfg)


def test_deep_nesting_does_not_recurse() -> None:
    depth = 5000
    cfg = parse_string("x: " + "[" * depth + "]" * depth)
    node = cfg["x"]
    for _ in range(depth - 1):
        assert isinstance(node.value, list)
        node = node.value[0]


# ---------------------------------------------------------------------------------------
# Differential: the reference's verdict on syntax
# ---------------------------------------------------------------------------------------


_UNKNOWN = re.compile(r':(\d+):(\d+): unknown field "([^"]*)"')


# Each text uses only top-level keys the reference does not know, so when it parses the
# text it answers with "unknown field" errors that also reveal where it put each key.
SYNTAX_CASES = [
    "x: 1",
    "x = 1\ny 2\nz: 3",
    "x: [1, 2 ]",
    "x: [1]",
    "x: [1k]",
    "x: [\n a\n b\n]",
    "x: [a b]",
    "x { a: 1, b { c: d } }",
    "x: {a=1 b=2}",
    "x: 10s",
    "x: 1e5",
    "x: 1.5k",
    "x: 1kib",
    "x: 2020-01-01T00:00:00Z",
    "x: 2020-01-01",
    "x: 127.0.0.1:4222",
    "x: 1.2.3.4x",
    'x: "a\\tb"',
    'x: "a\\qb"',
    "x: 'a\\qb'",
    "x: (\nblock\n)\n",
    "x: (unterminated",
    "{x: 1}",
    "{x: 1",
    "x: 1}",
    "x",
    "x: $UNDEFINED_PYNATSD_VARIABLE",
    "x: 99999999999999999999",
    "x: 1 // c\n# c\n  y: 2",
    "\n\n  x: 1\n\ty: 2",
    'x: 1; y: 2, "z": 3',
    "x: {,}",
    "x: {a: 1,, b: 2}",
    "x: -5x",
    "x: 1.",
]


@needs_reference
@pytest.mark.parametrize("text", SYNTAX_CASES)
def test_reference_agrees_on_syntax(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "syntax.conf", text)
    rc, out = reference_test_config(path)
    reference_positions = {(key, int(line), int(col)) for line, col, key in _UNKNOWN.findall(out)}
    reference_parsed = rc == 0 or bool(reference_positions)
    try:
        cfg = parse_file(path)
    except ConfigError:
        ours_parsed = False
    else:
        ours_parsed = True
    assert ours_parsed == reference_parsed, out
    if ours_parsed:
        assert {(k, n.pos.line, n.pos.column) for k, n in cfg.items()} == reference_positions


@needs_reference
def test_reference_agrees_on_includes_and_variables(tmp_path: Path) -> None:
    write(tmp_path / "sub" / "inc.conf", "w: 1\n")
    write(tmp_path / "sub" / "nested.conf", "include inc.conf\n")
    cases = {
        "include sub/nested.conf\nV: 2\nx: $V\n": True,
        "include sub/missing.conf\n": False,
        "blk { V: 1 }\nx: $V\n": False,
        "blk { V: 1\n  y: $V }\n": True,
    }
    for text, parses in cases.items():
        path = write(tmp_path / "main.conf", text)
        rc, out = reference_test_config(path)
        assert (rc == 0 or "unknown field" in out) == parses, out
        if parses:
            parse_file(path)
        else:
            with pytest.raises(ConfigError):
                parse_file(path)
