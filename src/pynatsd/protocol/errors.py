"""The reference's client-facing ``-ERR`` texts, kept as data in one place."""

from __future__ import annotations

ERR_UNKNOWN_OP = "Unknown Protocol Operation"
ERR_MAX_CONTROL_LINE = "maximum control line exceeded"
ERR_MAX_PAYLOAD = "Maximum Payload Violation"
ERR_INVALID_SUBJECT = "Invalid Subject"
ERR_INVALID_PUB_SUBJECT = "Invalid Publish Subject"
ERR_AUTH_VIOLATION = "Authorization Violation"
ERR_AUTH_TIMEOUT = "Authentication Timeout"
ERR_MAX_CONNECTIONS = "maximum connections exceeded"
ERR_MAX_SUBSCRIPTIONS = "maximum subscriptions exceeded"
ERR_STALE_CONNECTION = "Stale Connection"
ERR_SLOW_CONSUMER = "Slow Consumer"
ERR_SECURE_REQUIRED = "Secure Connection - TLS Required"
ERR_NO_HEADERS = "Headers Not Supported"  # HPUB on a connection that did not ask for headers
ERR_INVALID_CONNECT = "Invalid Connect"  # placeholder wording, replaced by the catalogue


def err_line(text: str) -> bytes:
    """Frame an error as the reference does: ``-ERR 'text'\\r\\n``."""
    return b"-ERR '" + text.encode() + b"'\r\n"


class ProtocolError(Exception):
    """A protocol error; ``close`` says whether the reference drops the connection after it."""

    def __init__(self, text: str, close: bool = True) -> None:
        super().__init__(text)
        self.text = text
        self.close = close
