"""The reference's client-facing ``-ERR`` texts, kept as data in one place.

Framed by :func:`pynatsd.protocol.frames.err_line`. Texts that name a subject (permission
violations) are built where the subject is known, with Go's quoting.
"""

from __future__ import annotations

ERR_UNKNOWN_OP = "Unknown Protocol Operation"
ERR_MAX_CONTROL_LINE = "maximum control line exceeded"
ERR_MAX_PAYLOAD = "Maximum Payload Violation"
ERR_INVALID_SUBJECT = "Invalid Subject"
ERR_INVALID_PUB_SUBJECT = "Invalid Publish Subject"
ERR_AUTH_VIOLATION = "Authorization Violation"
ERR_AUTH_TIMEOUT = "Authentication Timeout"
ERR_USER_AUTH_EXPIRED = "User Authentication Expired"  # operator mode: the user JWT expired
ERR_ACCOUNT_AUTH_EXPIRED = "Account Authentication Expired"  # ... or its account's JWT
ERR_MAX_CONNECTIONS = "maximum connections exceeded"
ERR_MAX_SUBSCRIPTIONS = "maximum subscriptions exceeded"
ERR_STALE_CONNECTION = "Stale Connection"
