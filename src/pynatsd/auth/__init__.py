"""Authentication (who may connect) and authorization (what a connection may do)."""

from pynatsd.auth.authenticator import (
    AUTH_TIMEOUT_ERR,
    AUTH_VIOLATION_ERR,
    AUTHENTICATION_TIMEOUT,
    AUTHORIZATION_VIOLATION,
    DEFAULT_AUTH_TIMEOUT,
    Authenticator,
    AuthResult,
    is_bcrypt,
)
from pynatsd.auth.permissions import (
    RESERVED_REPLY_PREFIXES,
    SYSTEM_QUEUE_GROUP,
    ClientPermissions,
    err_line,
    go_quote,
    is_reserved_reply,
    publish_violation,
    reply_violation,
    subscribe_violation,
)

__all__ = [
    "AUTHENTICATION_TIMEOUT",
    "AUTHORIZATION_VIOLATION",
    "AUTH_TIMEOUT_ERR",
    "AUTH_VIOLATION_ERR",
    "DEFAULT_AUTH_TIMEOUT",
    "RESERVED_REPLY_PREFIXES",
    "SYSTEM_QUEUE_GROUP",
    "AuthResult",
    "Authenticator",
    "ClientPermissions",
    "err_line",
    "go_quote",
    "is_bcrypt",
    "is_reserved_reply",
    "publish_violation",
    "reply_violation",
    "subscribe_violation",
]
