"""NKeys: the public keys of NKey users, the per-connection nonce and its signature.

An NKey is an Ed25519 public key written as base32 (no padding) of a prefix byte (``U``
for users, ``A`` accounts, ...), the 32 key bytes and a CRC-16 (XMODEM, little-endian).
The server sends a random nonce in INFO; a client that names an NKey in CONNECT
(``nkey``) signs the nonce's text with its seed and sends the signature in ``sig``, in
base64 (raw URL alphabet, or standard padded: the reference accepts both).

The Ed25519 check is PyNaCl's (libsodium); only the key encoding is decoded here, because
the ``nkeys`` package can verify only with a seed in hand, never with a public key alone.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets

import nacl.exceptions
import nacl.signing

__all__ = [
    "NONCE_RAW_LEN",
    "PREFIX_ACCOUNT",
    "PREFIX_USER",
    "crc16",
    "decode_public_key",
    "decode_signature",
    "is_valid_public_user_key",
    "new_nonce",
    "verify_nonce",
]

PREFIX_USER = 20 << 3  # encodes to "U"
PREFIX_ACCOUNT = 0  # encodes to "A"
_PUBLIC_PREFIXES = frozenset({PREFIX_USER, PREFIX_ACCOUNT, 13 << 3, 2 << 3, 14 << 3})  # U A N C O

NONCE_RAW_LEN = 11  # random bytes; 15 characters once encoded, as the reference's nonce
_KEY_LEN = 32
_SIG_LEN = 64

_B32_CHARS = re.compile(rb"[A-Z2-7]*")
_B64_URL_RAW = re.compile(rb"[A-Za-z0-9_-]*")
_B64_STD = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def crc16(data: bytes) -> int:
    """CRC-16/XMODEM (polynomial 0x1021, initial 0), the NKeys checksum."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def decode_public_key(key: str, prefix: int | None = None) -> bytes | None:
    """The 32 key bytes of a public NKey, or None unless it is well formed (base32,
    checksum, a public prefix; ``prefix`` when given). Never raises."""
    raw_text = key.encode("ascii", "replace")
    if not _B32_CHARS.fullmatch(raw_text):
        return None
    try:
        raw = base64.b32decode(raw_text + b"=" * (-len(raw_text) % 8))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 1 + _KEY_LEN + 2:
        return None
    body, crc = raw[:-2], int.from_bytes(raw[-2:], "little")
    if crc16(body) != crc or body[0] not in _PUBLIC_PREFIXES:
        return None
    if prefix is not None and body[0] != prefix:
        return None
    return body[1:]


def is_valid_public_user_key(key: str) -> bool:
    """Whether ``key`` is a user's public NKey (``U...``), as the config requires."""
    return decode_public_key(key, PREFIX_USER) is not None


def new_nonce() -> bytes:
    """A fresh random nonce for one connection's INFO: base64 raw URL of 11 random bytes."""
    return base64.urlsafe_b64encode(secrets.token_bytes(NONCE_RAW_LEN)).rstrip(b"=")


def decode_signature(sig: str) -> bytes | None:
    """``sig`` of CONNECT: base64 raw URL first, then standard with padding; None if neither."""
    text = sig.encode("ascii", "replace").replace(b"\r", b"").replace(b"\n", b"")
    if _B64_URL_RAW.fullmatch(text) and len(text) % 4 != 1:
        return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
    if _B64_STD.fullmatch(text) and len(text) % 4 == 0:
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def verify_nonce(public_key: str, nonce: bytes, sig: str) -> bool:
    """Whether ``sig`` is the signature of ``nonce`` by the seed behind ``public_key``."""
    key = decode_public_key(public_key)
    raw_sig = decode_signature(sig)
    if key is None or raw_sig is None or len(raw_sig) != _SIG_LEN:
        return False
    try:
        nacl.signing.VerifyKey(key).verify(nonce, raw_sig)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError):
        return False
    return True
