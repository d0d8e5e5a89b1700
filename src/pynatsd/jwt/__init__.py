"""NATS JWTs (pure, no I/O): the claim types, decoding and verifying, encoding, validation.

The reference's jwt v2 library is the model: the same JSON, the same checks and error
texts (which the reference writes in its log lines). ``nats`` sections are msgspec structs
(:mod:`pynatsd.jwt.claims`); :func:`decode` verifies the issuer's Ed25519 signature;
:func:`encode` signs with a :class:`KeyPair` (from a seed); :mod:`pynatsd.jwt.validate`
holds the rules the server applies at connect time.
"""

from pynatsd.jwt import claims
from pynatsd.jwt.claims import (
    NO_LIMIT,
    AccountClaims,
    ActivationClaims,
    AuthRequestClaims,
    AuthResponseClaims,
    GenericClaims,
    OperatorClaims,
    UserClaims,
)
from pynatsd.jwt.codec import (
    AnyClaims,
    JWTError,
    decode,
    decode_account,
    decode_activation,
    decode_operator,
    decode_user,
    encode,
)
from pynatsd.jwt.creds import format_creds, parse_decorated_jwt, parse_decorated_seed
from pynatsd.jwt.keys import PREFIX_ACCOUNT, PREFIX_OPERATOR, PREFIX_SERVER, PREFIX_USER, KeyPair

__all__ = [
    "NO_LIMIT",
    "PREFIX_ACCOUNT",
    "PREFIX_OPERATOR",
    "PREFIX_SERVER",
    "PREFIX_USER",
    "AccountClaims",
    "ActivationClaims",
    "AnyClaims",
    "AuthRequestClaims",
    "AuthResponseClaims",
    "GenericClaims",
    "JWTError",
    "KeyPair",
    "OperatorClaims",
    "UserClaims",
    "claims",
    "decode",
    "decode_account",
    "decode_activation",
    "decode_operator",
    "decode_user",
    "encode",
    "format_creds",
    "new_account_claims",
    "new_user_claims",
    "parse_decorated_jwt",
    "parse_decorated_seed",
]


def new_user_claims(subject: str) -> UserClaims:
    """A user's claims with the library's defaults (no limits: -1)."""
    c = UserClaims(sub=subject)
    c.nats.subs = c.nats.data = c.nats.payload = NO_LIMIT
    return c


def new_account_claims(subject: str) -> AccountClaims:
    """An account's claims with the library's defaults (no limits: -1; wildcard exports)."""
    c = AccountClaims(sub=subject)
    lim = c.nats.limits
    lim.subs = lim.data = lim.payload = lim.imports = lim.exports = lim.conn = lim.leaf = NO_LIMIT
    lim.wildcards = True
    return c
