"""The pull request queue of a pull consumer: ``CONSUMER.MSG.NEXT`` requests waiting to be
filled, their expiries and idle heartbeats, and the status replies that end them.

A request is checked against the consumer's limits when it arrives (answered at once with
the reference's 400/409 status when it breaks one), then waits in arrival order until the
consumer's delivery pass fills it, its expiry passes (408) or, with ``no_wait``, nothing
is there now (404). One timer serves the soonest expiry or heartbeat of all requests.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pynatsd.gocompat import format_duration
from pynatsd.jetstream import codec
from pynatsd.jetstream import headers as H
from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.errors import ApiError
from pynatsd.jetstream.priority import request_error

if TYPE_CHECKING:
    from asyncio import TimerHandle

    from pynatsd.jetstream.consumer import Consumer

NANOS = 1_000_000_000
STATUS_NO_MESSAGES = "404 No Messages"
STATUS_TIMEOUT = "408 Request Timeout"
STATUS_MAX_BYTES = "409 Message Size Exceeds MaxBytes"
STATUS_MAX_WAITING = "409 Exceeded MaxWaiting"
STATUS_DELETED = "409 Consumer Deleted"
STATUS_BATCH_COMPLETED = "409 Batch Completed"
STATUS_HEARTBEAT = "100 Idle Heartbeat"


@dataclass(slots=True)
class PullRequest:
    reply: bytes
    batch: int
    max_bytes: int
    expires_at: float  # loop time; 0 = never
    no_wait: bool
    heartbeat: float  # seconds; 0 = none
    delivered: int = 0
    bytes: int = 0
    next_heartbeat: float = 0.0
    pg: S.PullRequestBody | None = None  # the JSON body, kept for consumers with priority groups


class PullQueue:
    """Waiting requests of one pull consumer, oldest first."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.waiting: deque[PullRequest] = deque()
        self._timer: TimerHandle | None = None

    def add(self, reply: bytes, data: bytes) -> None:
        """A CONSUMER.MSG.NEXT request: queue it (or answer at once) and try to fill it."""
        body = data.strip()
        pg: S.PullRequestBody | None = None  # the reference's priority fields come with JSON only
        if not body:
            req = S.PullRequestBody()
        elif body.isdigit():
            req = S.PullRequestBody(batch=int(body))
        else:
            try:
                req = pg = codec.decode_request(body, S.PullRequestBody)
            except ApiError as err:
                text = err.description.removeprefix("invalid JSON: ")
                # the reference's text here has no "at offset N" suffix
                self.status(reply, "400 Bad Request - " + re.sub(r" at offset \d+$", "", text))
                return
        batch = max(req.batch, 1)
        consumer = self.consumer
        cfg = consumer.config
        if req.idle_heartbeat and (not req.expires or req.idle_heartbeat * 2 > req.expires):
            self.status(reply, "400 Bad Request - heartbeat value too large")
            return
        if cfg.max_batch and batch > cfg.max_batch:
            self.status(reply, f"409 Exceeded MaxRequestBatch of {cfg.max_batch}")
            return
        if cfg.max_expires and req.expires > cfg.max_expires:
            self.status(reply, f"409 Exceeded MaxRequestExpires of {format_duration(cfg.max_expires)}")
            return
        if cfg.max_bytes and req.max_bytes > cfg.max_bytes:
            self.status(reply, f"409 Exceeded MaxRequestMaxBytes of {cfg.max_bytes}")
            return
        prio = consumer.priority
        if pg is not None and (
            prio is not None or pg.min_pending or pg.min_ack_pending or pg.id or pg.priority
        ):
            error = request_error(consumer, pg)
            if error is not None:
                self.status(reply, error)
                return
        if cfg.max_waiting and len(self.waiting) >= cfg.max_waiting:
            self.status(reply, STATUS_MAX_WAITING)
            return
        now = consumer.core.loop.time()
        pr = PullRequest(
            reply=reply,
            batch=batch,
            max_bytes=req.max_bytes,
            expires_at=now + req.expires / NANOS if req.expires > 0 else 0.0,
            no_wait=req.no_wait,
            heartbeat=req.idle_heartbeat / NANOS,
        )
        if pr.heartbeat:
            pr.next_heartbeat = now + pr.heartbeat
        if prio is None:
            self.waiting.append(pr)
        else:
            pr.pg = pg
            prio.enqueue(pr)
        consumer.touch()
        consumer.run()  # answer no_wait requests in order, within this turn

    def status(self, reply: bytes, status: str, req: PullRequest | None = None) -> None:
        """A status reply to a request: a heartbeat names the last delivery, the end of a
        request says what of it was left."""
        entries: list[tuple[str, str]] = []
        if status == STATUS_HEARTBEAT:
            c = self.consumer
            entries = [("Nats-Last-Consumer", str(c.dseq)), ("Nats-Last-Stream", str(c.delivered_sseq))]
        elif req is not None:
            entries = [
                ("Nats-Pending-Messages", str(max(req.batch - req.delivered, 0))),
                ("Nats-Pending-Bytes", str(max(req.max_bytes - req.bytes, 0) if req.max_bytes else 0)),
            ]
        self.consumer.js.respond(reply, b"", hdr=H.build_headers(entries, status))

    def expire(self, now: float) -> None:
        """End the requests whose expiry passed (408) and, silently, those whose requester
        is gone (no interest on the reply subject, as the reference drops them); send the
        heartbeats that are due."""
        kept: deque[PullRequest] = deque()
        has_interest = self.consumer.core.has_interest
        for req in self.waiting:
            if req.expires_at and now >= req.expires_at:
                self.status(req.reply, STATUS_TIMEOUT, req)
                continue
            if not has_interest(req.reply):
                continue
            if req.heartbeat and now >= req.next_heartbeat:
                self.status(req.reply, STATUS_HEARTBEAT, req)
                req.next_heartbeat = now + req.heartbeat
            kept.append(req)
        self.waiting = kept

    def answer_no_wait(self, paused: bool = False) -> None:
        """No more messages now: no_wait requests end with 404. With an expiry and nothing
        delivered the reference lets one run to its expiry instead (while paused, every
        one with an expiry does)."""
        done = [r for r in self.waiting if r.no_wait and not (r.expires_at and (paused or r.delivered == 0))]
        for req in done:
            self.waiting.remove(req)
            self.status(req.reply, STATUS_NO_MESSAGES)

    def filled(self, req: PullRequest) -> None:
        """The request at the head got its whole batch."""
        self.waiting.popleft()
        if req.max_bytes:
            self.status(req.reply, STATUS_BATCH_COMPLETED, req)

    def too_big(self, req: PullRequest) -> None:
        """The next message does not fit the head request's max_bytes: it ends (409)."""
        self.waiting.popleft()
        self.status(req.reply, STATUS_MAX_BYTES, req)

    def arm(self) -> None:
        """One timer for the soonest request expiry or heartbeat (re-armed only when that
        moves earlier, so a stream of requests does not pile up timers)."""
        times = [r.expires_at for r in self.waiting if r.expires_at]
        times += [r.next_heartbeat for r in self.waiting if r.heartbeat]
        if not times:
            return
        due = min(times) + 0.001
        t = self._timer
        if t is not None and not t.cancelled() and t.when() <= due:
            return  # an earlier (or the same) wake-up is already set
        if t is not None:
            t.cancel()
        self._timer = self.consumer.core.loop.call_at(due, self._fired)

    def _fired(self) -> None:
        self._timer = None
        self.consumer.kick()

    def close(self, deleted: bool) -> None:
        """The consumer stops; with ``deleted`` every waiting request is told (409)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deleted:
            for req in self.waiting:
                self.status(req.reply, STATUS_DELETED)
        self.waiting.clear()
