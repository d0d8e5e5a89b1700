"""What a finished (or failed) handshake tells: the peer's identity, pins, log texts.

The peer certificate is read from its DER form with a small DER walker, so the server
needs no crypto package at run time: the subject as the reference prints it (Go's
``pkix.Name.String()``), its SANs, and the SHA-256 of its SubjectPublicKeyInfo for
``pinned_certs``.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass, field

__all__ = [
    "CertIdentity",
    "handshake_error_text",
    "is_probe_error",
    "peer_identity",
    "spki_sha256",
    "tls_version_name",
]

# Attribute types Go names in pkix.Name.String(); others print as ``oid=#hex``.
_GO_ATTR_NAMES = {
    "2.5.4.6": "C",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.3": "CN",
    "2.5.4.5": "SERIALNUMBER",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    "2.5.4.17": "POSTALCODE",
}
# Names an LDAP DN in a users list may use for the types above and a few more.
_LDAP_NAMES = {
    **_GO_ATTR_NAMES,
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
    "1.2.840.113549.1.9.1": "EMAILADDRESS",
}


@dataclass(frozen=True)
class CertIdentity:
    """The names a client certificate offers for ``verify_and_map``, in the reference's order
    of trying them: e-mail SANs, DNS SANs, URI SANs, then the subject DN."""

    emails: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    subject: str = ""  # RFC 2253 order, as Go's pkix.Name.String()
    rdns: tuple[tuple[tuple[str, str], ...], ...] = field(default=())  # (TYPE, value) per RDN


# -- DER ------------------------------------------------------------------------------------


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the element at ``pos``."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, value start, value end) of each element in data[start:end]."""
    out = []
    pos = start
    while pos < end:
        tag, vs, ve = _tlv(data, pos)
        out.append((tag, pos, vs, ve))
        pos = ve
    return out


def _tbs_fields(der: bytes) -> list[tuple[int, int, int, int]]:
    _, cs, _ = _tlv(der, 0)
    _, ts, te = _tlv(der, cs)
    fields = _children(der, ts, te)
    if fields and fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    return fields  # serial, signature, issuer, validity, subject, spki, ...


def _oid(raw: bytes) -> str:
    parts = [raw[0] // 40, raw[0] % 40]
    n = 0
    for b in raw[1:]:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(n)
            n = 0
    return ".".join(str(p) for p in parts)


def spki_sha256(der: bytes) -> str:
    """Hex SHA-256 of the certificate's DER SubjectPublicKeyInfo (what ``pinned_certs`` lists)."""
    _, start, _, end = _tbs_fields(der)[5]
    return hashlib.sha256(der[start:end]).hexdigest()


def _escape(value: str) -> str:
    """Go's escaping of an attribute value in pkix.Name.String()."""
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;' or (i == 0 and ch in " #") or (i == len(value) - 1 and ch == " "):
            out.append("\\" + ch)
        elif ch == "\0":
            out.append("\\00")
        else:
            out.append(ch)
    return "".join(out)


def _subject(der: bytes) -> tuple[str, tuple[tuple[tuple[str, str], ...], ...]]:
    _, _, start, end = _tbs_fields(der)[4]
    rdns: list[tuple[tuple[str, str], ...]] = []
    printed: list[str] = []
    for _, _, ss, se in _children(der, start, end):  # SET per RDN
        attrs: list[tuple[str, str]] = []
        parts: list[str] = []
        for _, _, as_, ae in _children(der, ss, se):  # SEQUENCE { type, value }
            (_, _, os_, oe), (_, vpos, vs, ve) = _children(der, as_, ae)[:2]
            oid = _oid(der[os_:oe])
            value = der[vs:ve].decode("utf-8", "replace")
            attrs.append((_LDAP_NAMES.get(oid, oid), value))
            name = _GO_ATTR_NAMES.get(oid)
            parts.append(f"{name}={_escape(value)}" if name else f"{oid}=#{der[vpos:ve].hex()}")
        rdns.append(tuple(attrs))
        printed.append("+".join(parts))
    return ",".join(reversed(printed)), tuple(reversed(rdns))


def peer_cert_facts(sslobj: ssl.SSLObject | ssl.SSLSocket) -> list[dict[str, str]]:
    """The peer's certificate as /connz shows it (``subject``, ``spki_sha256``,
    ``cert_sha256``); Python gives the leaf only, where Go lists the chain the peer sent."""
    der = sslobj.getpeercert(binary_form=True)
    if not der:
        return []
    try:
        subject, _ = _subject(der)
        spki = spki_sha256(der)
    except (IndexError, ValueError):
        return []
    facts = {"subject": subject, "spki_sha256": spki, "cert_sha256": hashlib.sha256(der).hexdigest()}
    return [{k: v for k, v in facts.items() if v}]


def peer_identity(sslobj: ssl.SSLObject | ssl.SSLSocket) -> CertIdentity | None:
    """The identity of a verified peer certificate; None without one."""
    der = sslobj.getpeercert(binary_form=True)
    if not der:
        return None
    info = sslobj.getpeercert() or {}
    sans: dict[str, list[str]] = {}
    for entry in info.get("subjectAltName", ()):
        sans.setdefault(str(entry[0]), []).append(str(entry[1]))
    try:
        subject, rdns = _subject(der)
    except (IndexError, ValueError):
        subject, rdns = "", ()
    return CertIdentity(
        emails=tuple(sans.get("email", ())),
        dns_names=tuple(sans.get("DNS", ())),
        uris=tuple(sans.get("URI", ())),
        subject=subject,
        rdns=rdns,
    )


# -- log texts --------------------------------------------------------------------------------


def is_probe_error(exc: BaseException) -> bool:
    """Plaintext or a stalled peer on a TLS port (a load balancer's probe): logged at debug
    level by the reference, unlike real handshake failures."""
    if isinstance(exc, TimeoutError | ConnectionAbortedError):
        return True
    return isinstance(exc, ssl.SSLError) and exc.reason in _PLAINTEXT_REASONS


_PLAINTEXT_REASONS = ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST", "UNKNOWN_PROTOCOL")


def handshake_error_text(exc: BaseException) -> str:
    """The reference's words for why a server-side handshake failed (Go's crypto/tls texts
    where the failure is the same; OpenSSL's otherwise)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        msg = (exc.verify_message or "").lower()
        if "expired" in msg or "not yet valid" in msg:
            return "tls: failed to verify certificate: x509: certificate has expired or is not yet valid"
        if "issuer" in msg or "self-signed" in msg or "self signed" in msg:
            return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
        return f"tls: failed to verify certificate: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        if exc.reason in _PLAINTEXT_REASONS:
            return "tls: first record does not look like a TLS handshake"
        if exc.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
            return "tls: client didn't provide a certificate"
        if exc.reason == "UNSUPPORTED_PROTOCOL":
            return "tls: client offered only unsupported versions"
        if exc.reason == "NO_SHARED_CIPHER":
            return "tls: no cipher suite supported by both client and server"
    if isinstance(exc, TimeoutError | ConnectionAbortedError):
        return "i/o timeout"
    return str(exc) or type(exc).__name__


def tls_version_name(version: str | None) -> str:
    """``TLSv1.3`` -> ``1.3``, as the reference's debug line prints it."""
    return (version or "").removeprefix("TLSv")
