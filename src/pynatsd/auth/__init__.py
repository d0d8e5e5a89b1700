"""Authentication (who may connect) and authorization (what a connection may do)."""

from pynatsd.auth.authenticator import (
    DEFAULT_AUTH_TIMEOUT,
    Authenticator,
    AuthResult,
    is_bcrypt,
)
from pynatsd.auth.permissions import (
    RESERVED_REPLY_PREFIXES,
    RESERVED_REPLY_PREFIXES_B,
    SYSTEM_QUEUE_GROUP,
    ClientPermissions,
    is_reserved_reply,
    publish_violation,
    reply_violation,
    subscribe_violation,
)

__all__ = [
    "DEFAULT_AUTH_TIMEOUT",
    "RESERVED_REPLY_PREFIXES",
    "RESERVED_REPLY_PREFIXES_B",
    "SYSTEM_QUEUE_GROUP",
    "AuthResult",
    "Authenticator",
    "ClientPermissions",
    "is_bcrypt",
    "is_reserved_reply",
    "publish_violation",
    "reply_violation",
    "subscribe_violation",
]
