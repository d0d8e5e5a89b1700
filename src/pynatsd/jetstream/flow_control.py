"""Push flow control, as the reference does it: a window of delivered bytes.

The window starts at 1/16 of :data:`FC_MAX_PENDING`. Bytes delivered count against it;
past half of it a FlowControl request goes out (a ``100 FlowControl Request`` status whose
reply subject the client answers), and delivery stops once the window is full. Each
answered request doubles the window, up to the maximum, and releases the bytes delivered
before it was sent.
"""

from __future__ import annotations

import secrets

FC_MAX_PENDING = 32 * 1024 * 1024  # the largest window, as the reference's


class FlowControl:
    """The flow-control window of one push consumer."""

    __slots__ = ("bytes", "pending", "prefix", "size", "window")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix  # $JS.FC.<stream>.<consumer>
        self.pending = ""  # the outstanding request's reply subject
        self.bytes = 0  # delivered bytes not yet released by an answer
        self.size = 0  # what the outstanding request releases when answered
        self.window = FC_MAX_PENDING // 16

    def count(self, size: int) -> bool:
        """Account one delivery; True when a flow-control request is due now."""
        self.bytes += size
        if not self.pending:
            return self.bytes > self.window // 2
        if self.bytes - self.size >= self.window:
            self.size += size
        return False

    @property
    def blocked(self) -> bool:
        return self.bytes > self.window

    def request(self) -> str:
        """Start a request: its reply subject, which the client answers."""
        subject = f"{self.prefix}.{secrets.token_hex(2)}"
        self.pending = subject
        self.size = self.bytes
        return subject

    def answered(self, subject: bytes) -> bool:
        """The client answered ``subject``; True when it was the outstanding request."""
        if subject.decode() != self.pending:
            return False
        self.window = min(self.window * 2, FC_MAX_PENDING)
        self.bytes = max(0, self.bytes - self.size)
        self.pending = ""
        self.size = 0
        return True
