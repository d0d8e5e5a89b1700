"""What pynatsd reads from a client certificate (no crypto package at run time), checked
against ``cryptography``; and the verify_and_map lookup order."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from pynatsd.auth.certmap import parse_dn, user_for_cert
from pynatsd.options import TLSOptions, User
from pynatsd.tls import CertIdentity, build_context, peer_identity
from tests.support.tls import Certs, Pair, make_certs


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def _handshake(c: Certs, who: Pair) -> ssl.SSLObject:
    """A full handshake in memory; the server side's SSLObject."""
    server_ctx = build_context(
        TLSOptions(cert_file=c.server.cert, key_file=c.server.key, ca_file=c.ca, verify=True)
    )
    client_ctx = c.client_ctx(who)
    s_in, s_out, c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
    for _ in range(10):
        for side in (client, server):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    client.write(b"x")  # TLS 1.3: the server has the client's certificate once it reads
    s_in.write(c_out.read())
    assert server.read(1) == b"x"
    return server


def test_identity_of_a_client_certificate(certs: Certs) -> None:
    ident = peer_identity(_handshake(certs, certs.alice))
    assert ident is not None
    assert ident.emails == ("alice@example.com",) and ident.dns_names == ()
    assert ident.subject == certs.alice.subject  # Go's pkix.Name.String() == RFC 4514 here
    bob = peer_identity(_handshake(certs, certs.bob))
    assert bob is not None and bob.dns_names == ("bob.example.com",)
    assert bob.subject == certs.bob.subject and bob.subject.startswith("CN=bob,OU=Eng,O=Acme")


def test_spki_pin_matches_cryptography(certs: Certs) -> None:
    from pynatsd.tls import spki_sha256

    der = _handshake(certs, certs.alice).getpeercert(binary_form=True)
    assert der is not None and spki_sha256(der) == certs.alice.spki_sha256


def test_parse_dn() -> None:
    assert parse_dn("CN=bob, O=Acme\\, Inc,OU=a+UID=7") == [
        frozenset({("CN", "bob")}),
        frozenset({("O", "Acme, Inc")}),
        frozenset({("OU", "a"), ("UID", "7")}),
    ]
    assert parse_dn("not a dn") is None


def test_lookup_order() -> None:
    ident = CertIdentity(
        emails=("a@x",),
        dns_names=("host.x",),
        subject="CN=bob,O=Acme",
        rdns=((("CN", "bob"),), (("O", "Acme"),)),
    )
    users = {u.username: u for u in (User("host.x"), User("a@x"), User("o=acme, cn=BOB"))}
    assert user_for_cert(ident, users) is users["a@x"]  # e-mail first
    del users["a@x"]
    assert user_for_cert(ident, users) is users["host.x"]  # then DNS
    del users["host.x"]
    # DN: types case-insensitive, RDNs in any order; values compared as written
    assert user_for_cert(ident, users) is None
    users["O=Acme,CN=bob"] = User("O=Acme,CN=bob")
    assert user_for_cert(ident, users) is users["O=Acme,CN=bob"]
    assert user_for_cert(None, users) is None


def test_context_refuses_what_it_cannot_honour(tmp_path: Path, certs: Certs) -> None:
    from pynatsd.tls import TLSConfigError

    with pytest.raises(TLSConfigError, match="insecure"):
        build_context(TLSOptions(cert_file=certs.server.cert, key_file=certs.server.key, insecure=True))
    with pytest.raises(TLSConfigError, match="missing 'key_file'"):
        build_context(TLSOptions(cert_file=certs.server.cert))
    ctx = build_context(TLSOptions(cert_file=certs.server.cert, key_file=certs.server.key, min_version="1.3"))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
