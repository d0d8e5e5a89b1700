"""NKey seeds and key pairs, for signing JWTs (auth callout responses, tests).

Public keys are decoded by :mod:`pynatsd.protocol.nkeys`; a seed is the same base32 text
of two prefix bytes (``S`` then the key type), the 32-byte Ed25519 seed and a CRC-16.
The curve (Ed25519) is PyNaCl's.
"""

from __future__ import annotations

import base64
import binascii

import nacl.public
import nacl.signing

from pynatsd.protocol.nkeys import crc16

__all__ = [
    "PREFIX_ACCOUNT",
    "PREFIX_OPERATOR",
    "PREFIX_SERVER",
    "PREFIX_USER",
    "CurveKey",
    "KeyPair",
]

PREFIX_SEED = 18 << 3  # "S"
PREFIX_OPERATOR = 14 << 3  # "O"
PREFIX_SERVER = 13 << 3  # "N"
PREFIX_CLUSTER = 2 << 3  # "C"
PREFIX_ACCOUNT = 0  # "A"
PREFIX_USER = 20 << 3  # "U"
PREFIX_CURVE = 23 << 3  # "X": x25519 keys, for encrypting auth callout messages
_TYPES = frozenset({PREFIX_OPERATOR, PREFIX_SERVER, PREFIX_CLUSTER, PREFIX_ACCOUNT, PREFIX_USER})


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def encode_public(prefix: int, key: bytes) -> str:
    body = bytes([prefix]) + key
    return _b32(body + crc16(body).to_bytes(2, "little"))


class KeyPair:
    """An Ed25519 key pair of one NKey type, made from a seed."""

    __slots__ = ("_signing", "prefix", "public_key")

    def __init__(self, prefix: int, seed: bytes) -> None:
        if prefix not in _TYPES or len(seed) != 32:
            raise ValueError("invalid nkey seed")
        self.prefix = prefix
        self._signing = nacl.signing.SigningKey(seed)
        self.public_key = encode_public(prefix, bytes(self._signing.verify_key))

    @classmethod
    def create(cls, prefix: int) -> KeyPair:
        """A new random key pair of the given type."""
        return cls(prefix, bytes(nacl.signing.SigningKey.generate()))

    @classmethod
    def from_seed(cls, seed: str | bytes) -> KeyPair:
        """Decode a seed (``SU...``, ``SA...``, ``SO...``); ValueError when malformed."""
        text = (seed.decode("ascii", "replace") if isinstance(seed, bytes) else seed).strip()
        try:
            raw = base64.b32decode(text + "=" * (-len(text) % 8))
        except (binascii.Error, ValueError):
            raise ValueError("invalid nkey seed") from None
        if len(raw) != 2 + 32 + 2:
            raise ValueError("invalid nkey seed")
        body, crc = raw[:-2], int.from_bytes(raw[-2:], "little")
        if crc16(body) != crc:
            raise ValueError("invalid nkey seed checksum")
        b1 = body[0] & 0xF8
        b2 = ((body[0] & 0x07) << 5) | ((body[1] & 0xF8) >> 3)
        if b1 != PREFIX_SEED:
            raise ValueError("invalid nkey seed")
        return cls(b2, body[2:])

    @property
    def seed(self) -> str:
        """The seed's text (``S`` + type letter + ...)."""
        b1 = PREFIX_SEED | (self.prefix >> 5)
        b2 = (self.prefix & 31) << 3
        body = bytes([b1, b2]) + bytes(self._signing)
        return _b32(body + crc16(body).to_bytes(2, "little"))

    def sign(self, data: bytes) -> bytes:
        return self._signing.sign(data).signature


class CurveKey:
    """An x25519 key pair (``X...``): the server's ``xkey`` in INFO, with which auth callout
    requests and responses can be encrypted."""

    __slots__ = ("private", "public_key")

    def __init__(self, private: nacl.public.PrivateKey) -> None:
        self.private = private
        self.public_key = encode_public(PREFIX_CURVE, bytes(private.public_key))

    @classmethod
    def create(cls) -> CurveKey:
        return cls(nacl.public.PrivateKey.generate())
