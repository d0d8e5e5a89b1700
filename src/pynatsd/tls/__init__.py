"""Transport security shared by every listener: a ``tls {}`` block -> ``ssl.SSLContext``
(:mod:`.context`) and what a handshake tells about the peer (:mod:`.peer`)."""

from pynatsd.tls.context import (
    DEFAULT_TLS_TIMEOUT,
    HANDSHAKE_FIRST_FALLBACK_DELAY,
    TLSConfigError,
    build_context,
    effective_timeout,
    go_cipher_name,
)
from pynatsd.tls.peer import (
    CertIdentity,
    handshake_error_text,
    is_probe_error,
    peer_cert_facts,
    peer_identity,
    spki_sha256,
    tls_version_name,
)

__all__ = [
    "DEFAULT_TLS_TIMEOUT",
    "HANDSHAKE_FIRST_FALLBACK_DELAY",
    "CertIdentity",
    "TLSConfigError",
    "build_context",
    "effective_timeout",
    "go_cipher_name",
    "handshake_error_text",
    "is_probe_error",
    "peer_cert_facts",
    "peer_identity",
    "spki_sha256",
    "tls_version_name",
]
