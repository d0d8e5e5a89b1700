"""What is kept of a closed client connection: a bounded ring for ``/connz?state=closed``.

The reference remembers the last ``max_closed_clients`` (default 10,000) connections with
their counters, subscriptions and the reason they were closed. The record is taken once,
when the connection is unregistered, so keeping it costs the message path nothing.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pynatsd.server.client import Client


@dataclass(frozen=True, slots=True)
class SubRecord:
    """One subscription of a closed connection (the reference's SubDetail)."""

    account: str
    subject: str
    queue: str | None
    sid: str
    msgs: int
    max: int
    cid: int


@dataclass(frozen=True, slots=True)
class ClosedClient:
    """A closed connection as /connz shows it; times are float seconds since the epoch."""

    cid: int
    ip: str
    port: int
    start: float
    last_activity: float
    stop: float
    reason: str
    rtt: float
    pending_bytes: int
    in_msgs: int
    out_msgs: int
    in_bytes: int
    out_bytes: int
    stalls: int
    num_subs: int
    name: str
    lang: str
    version: str
    tls_version: str
    tls_cipher: str
    tls_first: bool
    user: str
    account: str  # "" for the global account, as the reference keeps it
    subs: tuple[SubRecord, ...] = field(default=())


def sub_records(c: Client) -> tuple[SubRecord, ...]:
    acc = c.account.name
    return tuple(
        SubRecord(acc, s.subject, s.queue, s.sid, s.delivered, s.max_msgs, c.cid) for s in c.subs.values()
    )


def record(c: Client, subs: tuple[SubRecord, ...], global_name: str) -> ClosedClient:
    """Snapshot ``c`` as it closes (``subs`` taken before its subscriptions were removed)."""
    tls_version, tls_cipher = c.tls_state()
    acc = c.account.name
    return ClosedClient(
        cid=c.cid,
        ip=c.host,
        port=c.port,
        start=c.start,
        last_activity=max(c.last_activity, c.start),
        stop=time.time(),
        reason=c.close_reason,
        rtt=c.rtt,
        pending_bytes=0,
        in_msgs=c.in_msgs,
        out_msgs=c.out_msgs,
        in_bytes=c.in_bytes,
        out_bytes=c.out_bytes,
        stalls=c.stalls,
        num_subs=len(subs),
        name=c.name,
        lang=c.lang,
        version=c.version,
        tls_version=tls_version,
        tls_cipher=tls_cipher,
        tls_first=c.tls_first,
        user=c.raw_auth_user(),
        account="" if acc == global_name else acc,
        subs=subs,
    )


class ClosedRing:
    """The newest ``size`` closed connections, oldest first."""

    __slots__ = ("_ring",)

    def __init__(self, size: int) -> None:
        self._ring: deque[ClosedClient] = deque(maxlen=max(size, 1))

    def resize(self, size: int) -> None:
        if self._ring.maxlen != max(size, 1):
            self._ring = deque(self._ring, maxlen=max(size, 1))

    def append(self, cc: ClosedClient) -> None:
        self._ring.append(cc)

    def last_cid(self) -> int:
        return self._ring[-1].cid if self._ring else 0

    def snapshot(self) -> list[ClosedClient]:
        return list(self._ring)
