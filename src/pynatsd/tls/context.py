"""A parsed ``tls {}`` block -> ``ssl.SSLContext``, with the reference's checks and texts.

This is the one place that knows how the reference's TLS settings (GenTLSConfig) map onto
Python's TLS stack, so every listener (clients now; routes, gateways, leaf nodes and
WebSocket in their issues) gets the same behaviour. Settings the stack cannot honour are
refused with a :class:`TLSConfigError` that says so, never silently weakened.
"""

from __future__ import annotations

import ssl

from pynatsd.options import TLSOptions

__all__ = [
    "CIPHERS",
    "CURVES",
    "DEFAULT_TLS_TIMEOUT",
    "HANDSHAKE_FIRST_FALLBACK_DELAY",
    "INSECURE_CIPHERS",
    "TLSConfigError",
    "build_context",
    "effective_timeout",
]

DEFAULT_TLS_TIMEOUT = 2.0  # seconds (the reference's TLS_TIMEOUT)
HANDSHAKE_FIRST_FALLBACK_DELAY = 0.05  # seconds ("handshake_first: auto")

# Go's cipher suite names (tls.CipherSuites()) -> OpenSSL's. The TLS 1.3 suites are not
# configurable in Go either, so they are accepted and change nothing.
CIPHERS: dict[str, str] = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_AES_128_GCM_SHA256": "",
    "TLS_AES_256_GCM_SHA384": "",
    "TLS_CHACHA20_POLY1305_SHA256": "",
}
# tls.InsecureCipherSuites(): refused unless allow_insecure_cipher_suites; "" = this TLS
# stack does not offer it at all (RC4, 3DES).
INSECURE_CIPHERS: dict[str, str] = {
    "TLS_RSA_WITH_RC4_128_SHA": "",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA": "",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA": "",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
}


def go_cipher_name(openssl_name: str) -> str:
    """An OpenSSL cipher name as Go's tls.CipherSuiteName writes it (TLS 1.3 names are shared)."""
    for table in (CIPHERS, INSECURE_CIPHERS):
        for go, ossl in table.items():
            if ossl == openssl_name or go == openssl_name:
                return go
    return openssl_name


# Go's curve names -> OpenSSL's; "" = known to the reference, not offered by this stack.
CURVES: dict[str, str] = {
    "X25519": "X25519",
    "CurveP256": "prime256v1",
    "CurveP384": "secp384r1",
    "CurveP521": "secp521r1",
    "X25519MLKEM768": "",
    "SecP256r1MLKEM768": "",
    "SecP384r1MLKEM1024": "",
}
_DEFAULT_CIPHERS = ":".join(v for v in CIPHERS.values() if v)


class TLSConfigError(ValueError):
    """A TLS setting that is invalid (the reference's text) or that pynatsd cannot honour."""


def effective_timeout(t: TLSOptions) -> float:
    """The handshake timeout in seconds (0 in the config means the reference's 2 s)."""
    return t.timeout if t.timeout > 0 else DEFAULT_TLS_TIMEOUT


def _ciphers(t: TLSOptions) -> str:
    if t.cipher_suites is None:
        return _DEFAULT_CIPHERS
    names: list[str] = []
    insecure: list[str] = []
    for go_name in t.cipher_suites:
        if go_name in CIPHERS:
            if CIPHERS[go_name]:
                names.append(CIPHERS[go_name])
        elif go_name in INSECURE_CIPHERS:
            insecure.append(go_name)
            if not INSECURE_CIPHERS[go_name]:
                raise TLSConfigError(f"cipher suite {go_name} is not offered by the Python TLS stack")
            names.append(INSECURE_CIPHERS[go_name])
        else:
            raise TLSConfigError(f"unrecognized cipher {go_name}")
    if insecure and not t.allow_insecure_cipher_suites:
        raise TLSConfigError(
            "insecure cipher suites configured without 'allow_insecure_cipher_suites' option set: "
            + ", ".join(insecure)
        )
    # Only TLS 1.3 suites listed: TLS 1.2 keeps the defaults, as Go would use none of them.
    return ":".join(names) if names else _DEFAULT_CIPHERS


def _curve(t: TLSOptions) -> str | None:
    curves = t.curve_preferences
    if curves is None:
        return None
    for name in curves:
        if name not in CURVES:
            raise TLSConfigError(f"unrecognized curve preference {name}")
        if not CURVES[name]:
            raise TLSConfigError(f"curve preference {name} is not offered by the Python TLS stack")
    if len(curves) > 1:
        raise TLSConfigError(
            "pynatsd cannot honour 'curve_preferences' with more than one curve "
            "(the Python TLS stack sets a single curve); list one"
        )
    return CURVES[curves[0]]


def _min_version(t: TLSOptions) -> ssl.TLSVersion:
    v = t.min_version
    if v in ("", "1.2"):
        return ssl.TLSVersion.TLSv1_2
    if v == "1.3":
        return ssl.TLSVersion.TLSv1_3
    if v in ("1.0", "1.1"):
        raise TLSConfigError(f"unsupported TLS version: TLS {v}")
    raise TLSConfigError(f"unknown version: {v}")


def build_context(t: TLSOptions, *, server_side: bool = True) -> ssl.SSLContext:
    """The SSLContext for ``t``, checked as the reference's GenTLSConfig checks it.

    Raises :class:`TLSConfigError` with the reference's text where it has one.
    """
    if t.insecure and server_side:
        raise TLSConfigError("'insecure' is not supported by pynatsd (it disables certificate checks)")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = _min_version(t)
    try:
        ctx.set_ciphers(_ciphers(t))
    except ssl.SSLError as exc:
        raise TLSConfigError(f"error parsing tls config, 'cipher_suites': {exc}") from None
    curve = _curve(t)
    if curve is not None:
        ctx.set_ecdh_curve(curve)
    if t.cert_file and not t.key_file:
        raise TLSConfigError("missing 'key_file' in TLS configuration")
    if t.key_file and not t.cert_file:
        raise TLSConfigError("missing 'cert_file' in TLS configuration")
    if t.cert_file:
        _load_pair(ctx, t.cert_file, t.key_file, "")
    if len(t.certs) > 1:
        raise TLSConfigError(
            "pynatsd cannot honour several 'certs' (choosing one by SNI is not built); list one"
        )
    for i, (cert, key) in enumerate(t.certs):
        _load_pair(ctx, cert, key, f" {i + 1}/{len(t.certs)}")
    if t.verify:
        ctx.verify_mode = ssl.CERT_REQUIRED
    if t.ca_file:
        try:
            ctx.load_verify_locations(cafile=t.ca_file)
        except FileNotFoundError as exc:
            raise TLSConfigError(f"open {t.ca_file}: no such file or directory") from exc
        except (ssl.SSLError, OSError, ValueError):
            raise TLSConfigError("failed to parse root ca certificate") from None
    elif t.verify:
        ctx.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    # Session tickets would let a resumed session skip client-certificate checks made
    # per connection (pinned certs, verify_and_map): issue none, as each handshake is full.
    ctx.options |= ssl.OP_NO_TICKET
    if server_side:
        ctx.num_tickets = 0
    return ctx


def _load_pair(ctx: ssl.SSLContext, cert: str, key: str, which: str) -> None:
    try:
        ctx.load_cert_chain(cert, key)
    except FileNotFoundError as exc:
        raise TLSConfigError(
            f"error parsing X509 certificate/key pair{which}: open {exc.filename}: no such file or directory"
        ) from None
    except (ssl.SSLError, OSError) as exc:
        raise TLSConfigError(f"error parsing X509 certificate/key pair{which}: {exc}") from None
