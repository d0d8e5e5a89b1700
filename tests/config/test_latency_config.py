"""An export's ``latency`` setting: what is loaded, and the same verdict as the reference
(``nats-server -t``) on good and bad values, message for message."""

from __future__ import annotations

from pathlib import Path

import pytest

from pynatsd.config.loader import load_config
from pynatsd.options import ServiceLatency
from tests.config.test_accounts_config import verdicts
from tests.support.config import needs_reference


def exporting(export: str, extra: str = "", imports: str = "") -> str:
    """A config whose account A has ``export`` (and B imports ``imports``)."""
    b = f"\n B {{ imports = [{imports}] }}" if imports else ""
    return f"accounts {{\n A {{ exports = [\n  {export}\n ] }}{b}\n}}\n{extra}"


GOOD = {
    '{service: "q", latency: "lat.q"}': ServiceLatency("lat.q", 100),
    '{service: "q", latency: {subject: "lat.q"}}': ServiceLatency("lat.q", 100),
    '{service: "q", latency: {sampling: 50, subject: "lat.q"}}': ServiceLatency("lat.q", 50),
    '{service: "q", latency: {sampling: "1%", subject: "lat.q"}}': ServiceLatency("lat.q", 1),
    '{service: "q", latency: {sampling: 100%, subject: "lat.q"}}': ServiceLatency("lat.q", 100),
    '{service: "q", latency: {sampling: headers, subject: "lat.q"}}': ServiceLatency("lat.q", 0),
    '{service: "q", latency: {sampling: " HEADERS ", subject: "lat.q"}}': ServiceLatency("lat.q", 0),
    '{service: "q.*", latency: {sampling: "+7", subject: "lat.q"}}': ServiceLatency("lat.q", 7),
    # only the lower-case keys count, the others are ignored
    '{service: "q", latency: {Sampling: 0, subject: "lat.q", other: 1}}': ServiceLatency("lat.q", 100),
}


@needs_reference
@pytest.mark.parametrize("export", list(GOOD))
def test_latency_settings_are_loaded(tmp_path: Path, export: str) -> None:
    text = exporting(export)
    assert verdicts(tmp_path, text) == ([], [])
    opts = load_config(str(tmp_path / "server.conf"))
    assert opts.accounts[0].exports[0].latency == GOOD[export]
    assert not opts.unsupported


BAD = [
    # the value
    '{service: "q", latency: 5}',
    '{service: "q", latency: [a]}',
    '{service: "q", latency: {sampling: 0, subject: "lat.q"}}',
    '{service: "q", latency: {sampling: "101%", subject: "lat.q"}}',
    '{service: "q", latency: {sampling: -5, subject: "lat.q"}}',
    '{service: "q", latency: {sampling: "abc", subject: "lat.q"}}',
    '{service: "q", latency: {sampling: "50 %", subject: "lat.q"}}',
    '{service: "q", latency: {sampling: "99999999999999999999", subject: "lat.q"}}',
    '{service: "q", latency: {sampling: 1.5, subject: "lat.q"}}',
    '{service: "q", latency: {sampling: true, subject: "lat.q"}}',
    '{service: "q", latency: {sampling: 50}}',
    '{service: "q", latency: {subject: 5}}',
    '{service: "q", latency: {}}',
    # where it may appear
    '{stream: "s", latency: "lat.s"}',
    '{latency: {sampling: 50, subject: "lat.s"}, stream: "s"}',
    # what tracking needs: a literal results subject that is not a service of the account,
    # a singleton service, and the system account
    '{service: "q", latency: "lat.*"}',
    '{service: "q", latency: "lat..q"}',
    '{service: "q", latency: "q"}',
    '{service: "q.>", latency: "q.results"}',
    '{service: "q", response: stream, latency: "lat.q"}',
    '{service: "q", response_type: chunked, latency: "lat.q"}',
]


@needs_reference
@pytest.mark.parametrize("export", BAD)
def test_bad_latency_settings_have_the_reference_errors(tmp_path: Path, export: str) -> None:
    ref, ours = verdicts(tmp_path, exporting(export))
    assert ref, "the reference accepts this config"
    assert ours == ref


@needs_reference
def test_latency_needs_the_system_account(tmp_path: Path) -> None:
    """Refused when ``no_system_account`` comes first. The reference reads the top-level keys
    in Go's (random) map order, so when it comes after the accounts it may pass; pynatsd reads
    them in file order and lets it pass then (and, as the reference, publishes no results)."""
    text = "no_system_account: true\n" + exporting('{service: "q", latency: "lat.q"}')
    ref, ours = verdicts(tmp_path, text)
    assert len(ours) == 1
    assert ours[0].endswith('Error adding service latency sampling for "q": system account not setup')
    # the reference refuses only when its map order puts no_system_account first
    assert not ref or ref == ours


@needs_reference
def test_results_subject_checked_against_earlier_services_only(tmp_path: Path) -> None:
    """As the reference: the loop check looks at the services exported before (and
    including) the tracked one, not those after it."""
    before = exporting('{service: "lat.q"}\n  {service: "q", latency: "lat.q"}')
    after = exporting('{service: "q", latency: "lat.q"}\n  {service: "lat.q"}')
    ref, ours = verdicts(tmp_path, before)
    assert ref and ours == ref
    assert verdicts(tmp_path, after) == ([], [])


@needs_reference
def test_imports_of_a_tracked_service(tmp_path: Path) -> None:
    text = exporting(
        '{service: "q.*", latency: {sampling: headers, subject: "lat.q"}}',
        imports='{service: {account: A, subject: "q.1"}, share: true}',
    )
    assert verdicts(tmp_path, text) == ([], [])
