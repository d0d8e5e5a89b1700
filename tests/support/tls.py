"""Test certificates, made fresh by the test set-up (no private key is ever committed).

:func:`make_certs` writes a CA, a server certificate for ``localhost``/127.0.0.1 and a few
client certificates (trusted, expired, from an unknown CA) into a directory, and returns
their paths with ready-made ``ssl.SSLContext`` factories for nats-py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


@dataclass(frozen=True)
class Pair:
    """A certificate (chain first) and its key, both PEM files, and the certificate's facts."""

    cert: str
    key: str
    subject: str  # RFC 4514, as the reference prints it for these names
    spki_sha256: str


@dataclass(frozen=True)
class Certs:
    dir: Path
    ca: str
    server: Pair
    alice: Pair  # e-mail SAN alice@example.com
    bob: Pair  # subject DN only (CN=bob, O=Acme, OU=Eng)
    dave: Pair  # trusted, named by no user in the tests
    expired: Pair
    untrusted: Pair  # issued by another CA
    other_ca: str

    def client_ctx(self, who: Pair | None = None, *, ca: str | None = None) -> ssl.SSLContext:
        """A client context trusting our CA (or ``ca``), presenting ``who``'s certificate."""
        ctx = ssl.create_default_context(cafile=ca or self.ca)
        if who is not None:
            ctx.load_cert_chain(who.cert, who.key)
        return ctx


def _pair(leaf: trustme.LeafCert, d: Path, name: str) -> Pair:
    cert, key = d / f"{name}.pem", d / f"{name}-key.pem"
    cert.write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    parsed = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    spki = parsed.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return Pair(str(cert), str(key), parsed.subject.rfc4514_string(), hashlib.sha256(spki).hexdigest())


def make_certs(d: Path, *, server_ca: trustme.CA | None = None) -> Certs:
    """Fresh certificates under ``d`` (see the module docstring)."""
    d.mkdir(parents=True, exist_ok=True)
    ca = server_ca or trustme.CA(organization_name="pynatsd tests")
    other = trustme.CA(organization_name="somebody else")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    other.cert_pem.write_to_path(str(d / "other-ca.pem"))
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    return Certs(
        dir=d,
        ca=str(d / "ca.pem"),
        server=_pair(ca.issue_cert("localhost", "127.0.0.1"), d, "server"),
        alice=_pair(ca.issue_cert("alice@example.com", common_name="alice"), d, "alice"),
        bob=_pair(
            ca.issue_cert(
                "bob.example.com", common_name="bob", organization_name="Acme", organization_unit_name="Eng"
            ),
            d,
            "bob",
        ),
        dave=_pair(ca.issue_cert("dave@example.com", common_name="dave"), d, "dave"),
        expired=_pair(
            ca.issue_cert("carol@example.com", not_before=past, not_after=past + dt.timedelta(days=1)),
            d,
            "expired",
        ),
        untrusted=_pair(other.issue_cert("mallory@example.com"), d, "untrusted"),
        other_ca=str(d / "other-ca.pem"),
    )
