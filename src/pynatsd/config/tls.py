"""The config file's ``tls {}`` block (the reference's parseTLS), with its error texts.

The block is then built once (:func:`pynatsd.tls.build_context`) so that a missing key
file or an unparsable CA is reported at load time, as the reference's GenTLSConfig does.
Settings pynatsd does not build (certificate stores, OCSP peer checks) are refused.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from pynatsd.config.errors import ConfigIssue, Position, go_type_name
from pynatsd.config.parser import Node
from pynatsd.gocompat import parse_duration_ns
from pynatsd.options import TLSOptions
from pynatsd.tls import HANDSHAKE_FIRST_FALLBACK_DELAY, TLSConfigError, build_context
from pynatsd.tls.context import CIPHERS, CURVES, INSECURE_CIPHERS

__all__ = ["parse_tls"]

_PIN_RE = re.compile(r"^[A-Fa-f0-9]{64}$")
_NS = 1_000_000_000
_UNBUILT = {
    "cert_store": "TLS certificate stores",
    "cert_match_by": "TLS certificate stores",
    "cert_match": "TLS certificate stores",
    "cert_match_skip_invalid": "TLS certificate stores",
    "ca_certs_match": "TLS certificate stores",
    "ocsp_peer": "OCSP peer verification",
}


class _Bad(Exception):
    def __init__(self, pos: Position, reason: str) -> None:
        super().__init__(reason)
        self.pos = pos
        self.reason = reason


def _flag(node: Node, key: str, what: str) -> bool:
    if not isinstance(node.value, bool):
        raise _Bad(node.pos, f"error parsing tls config, expected '{key}' to be {what}")
    return node.value


def _file(node: Node, key: str) -> str:
    if not isinstance(node.value, str):
        raise _Bad(node.pos, f"error parsing tls config, expected '{key}' to be filename")
    return node.value


def _names(node: Node, key: str, known: Collection[str], unknown: str) -> list[str]:
    items = node.value
    if not isinstance(items, list) or not items:
        raise _Bad(node.pos, f"error parsing tls config, '{key}' cannot be empty")
    for item in items:
        if str(item.value) not in known:
            raise _Bad(item.pos, f"{unknown} {item.value}")
    return [str(i.value) for i in items]


def _timeout(node: Node) -> float:
    v = node.value
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise _Bad(node.pos, "error parsing tls config, 'timeout' wrong type")
    if isinstance(v, str):
        try:
            return parse_duration_ns(v) / _NS
        except ValueError as exc:
            raise _Bad(node.pos, f"error parsing tls config, 'timeout' {exc}")
    return float(v)


def _handshake_first(node: Node, key: str, tc: TLSOptions) -> None:
    v = node.value
    if isinstance(v, bool):
        tc.handshake_first = v
        return
    if not isinstance(v, str):
        raise _Bad(node.pos, f'field "{key}" should be a boolean or a string, got {go_type_name(v)}')
    low = v.lower()
    if low in ("true", "on"):
        tc.handshake_first = True
    elif low in ("false", "off"):
        tc.handshake_first = False
    elif low in ("auto", "auto_fallback"):
        tc.handshake_first, tc.fallback_delay = True, HANDSHAKE_FIRST_FALLBACK_DELAY
    else:
        try:
            tc.fallback_delay = parse_duration_ns(v) / _NS
        except ValueError:
            raise _Bad(node.pos, f'field "{key}"\'s value "{v}" is invalid')
        tc.handshake_first = True


def _pins(node: Node) -> set[str] | None:
    items = node.value
    if not isinstance(items, list):
        raise _Bad(
            node.pos,
            "error parsing tls config, expected 'pinned_certs' to be a list of hex-encoded sha256 "
            "of DER encoded SubjectPublicKeyInfo",
        )
    pins: set[str] = set()
    for item in items:
        entry = str(item.value).lower()
        if not _PIN_RE.match(entry):
            raise _Bad(
                item.pos,
                f"error parsing tls config, 'pinned_certs' key {entry} does not look like hex-encoded "
                "sha256 of DER encoded SubjectPublicKeyInfo",
            )
        pins.add(entry)
    return pins or None


def _certs(node: Node) -> list[tuple[str, str]]:
    items = node.value
    if not isinstance(items, list):
        raise _Bad(node.pos, f"error parsing certificates config: unsupported type {go_type_name(items)}")
    pairs = []
    for item in items:
        fields = item.value
        if not isinstance(fields, dict):
            raise _Bad(
                item.pos, f"error parsing certificates config: unsupported type {go_type_name(fields)}"
            )
        cert = key = ""
        for k, v in fields.items():
            if not isinstance(v.value, str):
                raise _Bad(
                    v.pos, f"error parsing certificates config: unsupported type {go_type_name(v.value)}"
                )
            if k == "cert_file":
                cert = v.value
            elif k == "key_file":
                key = v.value
            else:
                raise _Bad(v.pos, f'error parsing tls certs config, unknown field "{k}"')
        if not cert or not key:
            raise _Bad(
                item.pos,
                "error parsing certificates config: both 'cert_file' and 'cert_key' options are required",
            )
        pairs.append((cert, key))
    return pairs


def _field(tc: TLSOptions, key: str, node: Node, unsupported: dict[str, str], where: str) -> None:
    low = key.lower()
    if low in ("cert_file", "key_file", "ca_file"):
        setattr(tc, low, _file(node, low))
    elif low == "insecure":
        tc.insecure = _flag(node, low, "a boolean")
        if tc.insecure:
            unsupported[f"{where}.{key}"] = "TLS 'insecure' (certificate checks off)"
    elif low == "verify":
        tc.verify = _flag(node, low, "a boolean")
    elif low == "verify_and_map":
        tc.map = _flag(node, low, "a boolean")
        tc.verify = tc.verify or tc.map
    elif low == "verify_cert_and_check_known_urls":
        if _flag(node, low, "a boolean"):
            raise _Bad(node.pos, "verify_cert_and_check_known_urls not supported in this context")
    elif low == "allow_insecure_cipher_suites":
        tc.allow_insecure_cipher_suites = _flag(node, low, "a boolean")
    elif low == "cipher_suites":
        tc.cipher_suites = _names(node, "cipher_suites", {*CIPHERS, *INSECURE_CIPHERS}, "unrecognized cipher")
    elif low == "curve_preferences":
        tc.curve_preferences = _names(node, "curve_preferences", CURVES, "unrecognized curve preference")
    elif low == "timeout":
        tc.timeout = _timeout(node)
    elif low == "connection_rate_limit":
        v = node.value
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Bad(node.pos, "error parsing tls config, 'connection_rate_limit' wrong type")
        tc.connection_rate_limit = v
        if v > 0:
            unsupported[f"{where}.{key}"] = "TLS connection rate limiting"
    elif low == "pinned_certs":
        tc.pinned_certs = _pins(node)
    elif low in ("handshake_first", "first", "immediate"):
        _handshake_first(node, key, tc)
    elif low in ("certs", "certificates"):
        tc.certs = _certs(node)
    elif low == "min_version":
        v = node.value
        if not isinstance(v, str):
            raise _Bad(node.pos, f"error parsing tls config: 'min_version' wrong type: {v}")
        if v in ("1.0", "1.1"):
            raise _Bad(node.pos, f"error parsing tls config: unsupported TLS version: TLS {v}")
        if v not in ("1.2", "1.3"):
            raise _Bad(node.pos, f"error parsing tls config: unknown version: {v}")
        tc.min_version = v
    elif low in _UNBUILT:
        unsupported[f"{where}.{key}"] = _UNBUILT[low]
    else:
        raise _Bad(node.pos, f'error parsing tls config, unknown field "{key}"')


def parse_tls(
    node: Node, unsupported: dict[str, str], where: str = "tls"
) -> tuple[TLSOptions | None, list[ConfigIssue]]:
    """A ``tls`` block -> TLSOptions, checked and built once; features pynatsd does not
    have are added to ``unsupported`` (the server then refuses to start, naming them)."""
    fields = node.value
    if not isinstance(fields, dict):
        return None, [ConfigIssue(node.pos, "error parsing tls config, expected a map")]
    tc = TLSOptions()
    try:
        for key, child in fields.items():
            _field(tc, key, child, unsupported, where)
        if tc.certs and tc.cert_file:
            raise _Bad(
                node.pos, "error parsing tls config, cannot combine 'cert_file' option with 'certs' option"
            )
        if tc.min_version:
            if tc.min_version in ("1.0", "1.1"):
                raise _Bad(
                    node.pos, f"error parsing tls config: unsupported TLS version: TLS {tc.min_version}"
                )
            if tc.min_version not in ("1.2", "1.3"):
                raise _Bad(node.pos, f"error parsing tls config: unknown version: {tc.min_version}")
        if not tc.insecure:
            build_context(tc)
    except _Bad as exc:
        return None, [ConfigIssue(exc.pos, exc.reason)]
    except TLSConfigError as exc:
        return None, [ConfigIssue(node.pos, str(exc))]
    return tc, []
