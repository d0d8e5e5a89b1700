"""An account's ``msg_trace`` / ``trace_dest``: what is loaded, and the reference's verdict
(``nats-server -t``) on bad values, message for message."""

from __future__ import annotations

from pathlib import Path

import pytest

from pynatsd.config.loader import ConfigError, load_config, load_config_with_warnings
from tests.support.config import needs_reference, reference_test_config
from tests.support.config import write as write_file


def verdicts(tmp_path: Path, text: str) -> tuple[list[str], list[str]]:
    """(reference messages, ours): empty lists when the config is valid."""
    path = write_file(tmp_path / "server.conf", text)
    rc, out = reference_test_config(path)
    ref = [] if rc == 0 else [line.replace("nats-server: ", "") for line in out.splitlines() if line.strip()]
    try:
        load_config(path)
        ours: list[str] = []
    except ConfigError as exc:
        ours = str(exc).splitlines()
    return ref, ours


def test_destination_and_sampling_are_loaded(tmp_path: Path) -> None:
    text = """accounts {
      A { msg_trace { dest: "a.trace", sampling: "25%" } }
      B { trace_dest: "b.trace" }
      C { msg_trace { dest: "c.trace", sampling: 7 } }
    }"""
    opts = load_config(write_file(tmp_path / "s.conf", text))
    got = {a.name: (a.trace_dest, a.trace_sampling) for a in opts.accounts}
    assert got == {"A": ("a.trace", 25), "B": ("b.trace", 100), "C": ("c.trace", 7)}
    assert opts.unsupported == {}


GOOD = [
    'accounts { A { msg_trace: "a.trace" } }',
    'accounts { A { trace_dest: "a.trace" } }',
    'accounts { A { msg_trace { dest: "a.trace", sampling: 50 } } }',
    'accounts { A { msg_trace { dest: "a.trace", sampling: "100%" } } }',
]

BAD = [
    'accounts { A { msg_trace: "a.*" } }',
    'accounts { A { trace_dest: "a.>" } }',
    "accounts { A { msg_trace: 5 } }",
    "accounts { A { msg_trace: [a] } }",
    "accounts { A { msg_trace { dest: 5 } } }",
    'accounts { A { msg_trace { dest: "bad..subj" } } }',
    'accounts { A { msg_trace { dest: "a.trace", sampling: 0 } } }',
    'accounts { A { msg_trace { dest: "a.trace", sampling: 101 } } }',
    'accounts { A { msg_trace { dest: "a.trace", sampling: "abc" } } }',
    'accounts { A { msg_trace { dest: "a.trace", sampling: "150%" } } }',
    'accounts { A { msg_trace { dest: "a.trace", sampling: true } } }',
    'accounts { A { msg_trace { dest: "a.trace", other: 1 } } }',
]


@needs_reference
@pytest.mark.parametrize("text", GOOD)
def test_accepted_by_both(tmp_path: Path, text: str) -> None:
    assert verdicts(tmp_path, text) == ([], [])


@needs_reference
@pytest.mark.parametrize("text", BAD)
def test_bad_values_have_the_reference_errors(tmp_path: Path, text: str) -> None:
    ref, ours = verdicts(tmp_path, text)
    assert ref, "the reference accepts this config"
    assert ours == ref


@needs_reference
def test_sampling_without_destination_is_the_reference_warning(tmp_path: Path) -> None:
    """A warning (the reference's ``-t`` fails on it; pynatsd logs it and starts)."""
    text = "accounts { A { msg_trace { sampling: 50 } } }"
    path = write_file(tmp_path / "server.conf", text)
    rc, out = reference_test_config(path)
    assert rc != 0
    opts, warnings = load_config_with_warnings(path)
    assert [str(w) for w in warnings] == [out.strip().replace("nats-server: ", "")]
    assert opts.accounts[0].trace_sampling == 0
