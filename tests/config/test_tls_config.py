"""The ``tls {}`` block, ``allow_non_tls`` and ``https_port``: the reference's verdicts and texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from pynatsd.config.errors import ConfigError
from pynatsd.config.loader import load_config, load_config_with_warnings
from tests.support.config import needs_reference, reference_test_config
from tests.support.config import write as write_file
from tests.support.tls import Certs, make_certs


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def _text(template: str, c: Certs) -> str:
    return template.format(cert=c.server.cert, key=c.server.key, ca=c.ca, pin="ab" * 32)


def _reference(path: str) -> tuple[bool, list[str]]:
    rc, out = reference_test_config(path)
    out = out.replace("nats-server: ", "")
    return rc == 0, [line for line in out.splitlines() if line.strip()]


ACCEPTED = [
    'tls {{ cert_file: "{cert}", key_file: "{key}" }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", ca_file: "{ca}", verify: true, timeout: 3 }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", ca_file: "{ca}", verify_and_map: true }}\n'
    'authorization {{ users = [ {{ user: "a@b.c" }} ] }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", timeout: "1.5s", min_version: "1.3" }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", handshake_first: true }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", handshake_first: "auto" }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", first: "300ms" }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", pinned_certs: ["{pin}"] }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", cipher_suites: ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"] }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", curve_preferences: ["CurveP256"] }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}" }}\nallow_non_tls: true',
    'tls {{ cert_file: "{cert}", key_file: "{key}" }}\nhttps_port: 8443',
    'tls {{ certs: [ {{ cert_file: "{cert}", key_file: "{key}" }} ] }}',
]

# Refused by both with the same first message (file:line:col: reason).
REJECTED_SAME_MESSAGE = [
    'tls {{ cert_file: "{cert}", key_file: "{key}", bogus: 1 }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", verify: "yes" }}',
    'tls {{ cert_file: 1, key_file: "{key}" }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", timeout: "soon" }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", timeout: true }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", pinned_certs: ["nothex"] }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", cipher_suites: ["TLS_NOPE"] }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", cipher_suites: [] }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", curve_preferences: ["CurveNope"] }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", min_version: "1.1" }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", min_version: "2.0" }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", handshake_first: "maybe" }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", handshake_first: 1 }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", cipher_suites: ["TLS_RSA_WITH_AES_128_GCM_SHA256"] }}',
    'tls {{ cert_file: "{cert}" }}',
    'tls {{ key_file: "{key}" }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", certs: [ {{ cert_file: "{cert}", key_file: "{key}" }} ] }}',
]

# Refused by both; pynatsd says why in its own words (the texts name files or OpenSSL).
REJECTED = [
    'tls {{ cert_file: "/nonexistent.pem", key_file: "{key}" }}',
    'tls {{ cert_file: "{cert}", key_file: "{key}", ca_file: "{key}" }}',
]


@needs_reference
@pytest.mark.parametrize("template", ACCEPTED)
def test_accepted_by_both(tmp_path: Path, certs: Certs, template: str) -> None:
    path = write_file(tmp_path / "s.conf", _text(template, certs))
    ok, messages = _reference(path)
    assert ok, messages
    opts, warnings = load_config_with_warnings(path)
    assert warnings == [] and opts.tls is not None and not opts.unsupported


@needs_reference
@pytest.mark.parametrize(
    ("template", "same"), [(t, True) for t in REJECTED_SAME_MESSAGE] + [(t, False) for t in REJECTED]
)
def test_rejected_by_both(tmp_path: Path, certs: Certs, template: str, same: bool) -> None:
    path = write_file(tmp_path / "s.conf", _text(template, certs))
    ok, messages = _reference(path)
    assert not ok
    with pytest.raises(ConfigError) as info:
        load_config(path)
    if same:
        assert str(info.value.first) == messages[0]


@pytest.mark.parametrize(
    ("template", "why"),
    [
        (
            'tls {{ cert_file: "{cert}", key_file: "{key}", curve_preferences: ["X25519", "CurveP256"] }}',
            "one",
        ),
        (
            'tls {{ cert_file: "{cert}", key_file: "{key}", curve_preferences: ["X25519MLKEM768"] }}',
            "not offered",
        ),
        (
            'tls {{ cert_file: "{cert}", key_file: "{key}", allow_insecure_cipher_suites: true, '
            'cipher_suites: ["TLS_RSA_WITH_RC4_128_SHA"] }}',
            "not offered",
        ),
    ],
)
def test_settings_the_python_stack_cannot_honour_are_refused(
    tmp_path: Path, certs: Certs, template: str, why: str
) -> None:
    path = write_file(tmp_path / "s.conf", _text(template, certs))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert why in str(info.value.first)


@pytest.mark.parametrize(
    ("key", "feature"),
    [
        ("insecure: true", "insecure"),
        ('cert_store: "WindowsCurrentUser"', "certificate stores"),
        ("ocsp_peer: true", "OCSP"),
        ("connection_rate_limit: 10", "rate limiting"),
    ],
)
def test_unbuilt_settings_are_refused_at_start(tmp_path: Path, certs: Certs, key: str, feature: str) -> None:
    path = write_file(
        tmp_path / "s.conf", _text('tls {{ cert_file: "{cert}", key_file: "{key}", ', certs) + key + " }"
    )
    opts = load_config(path)
    assert any(feature in f for f in opts.unsupported.values()), opts.unsupported
