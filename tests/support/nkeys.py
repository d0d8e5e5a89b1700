"""NKey pairs for tests, made and used with nats-io's own ``nkeys`` package (as clients do),
so our server-side decoding and verification are checked against an independent encoder."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import nkeys


@dataclass(frozen=True)
class Pair:
    seed: str  # "SU..." (user) or "SA..." (account)
    public: str  # "U..." or "A..."

    def sign(self, nonce: str | bytes) -> bytes:
        data = nonce.encode() if isinstance(nonce, str) else nonce
        return bytes(nkeys.from_seed(bytearray(self.seed.encode())).sign(data))

    def sig_url(self, nonce: str | bytes) -> str:
        """The signature as the reference's own clients send it: base64, raw URL alphabet."""
        return base64.urlsafe_b64encode(self.sign(nonce)).rstrip(b"=").decode()

    def sig_std(self, nonce: str | bytes) -> str:
        """The signature as nats-py sends it: standard base64 with padding."""
        return base64.b64encode(self.sign(nonce)).decode()


def pair(n: int, prefix: int = nkeys.PREFIX_BYTE_USER) -> Pair:
    """A deterministic key pair (seed bytes all ``n``), so configs are stable across runs."""
    seed = nkeys.encode_seed(bytes([n]) * 32, prefix)
    return Pair(seed.decode(), bytes(nkeys.from_seed(bytearray(seed)).public_key).decode())


USER_A = pair(1)
USER_B = pair(2)
UNKNOWN_USER = pair(9)
ACCOUNT = pair(3, nkeys.PREFIX_BYTE_ACCOUNT)
