"""The pull request queue of a pull consumer: ``CONSUMER.MSG.NEXT`` requests waiting to be
filled, their expiries and idle heartbeats, and the status replies that end them.

A request is checked against the consumer's limits when it arrives (answered at once with
the reference's 400/408/409 status when it breaks one), then waits until the consumer's
delivery pass fills it, its expiry passes (408) or, with ``no_wait``, nothing is there now
(404). Waiting requests take turns as in the reference: each message goes to the request at
the head, which then moves to the back while it wants more. One timer serves the soonest
expiry or heartbeat of all requests.

Counts follow the reference's: a request's pending count starts at the ``batch`` it sent
(0 for JSON without one, even negative), one message is delivered even when that is below 1,
and status replies report ``batch - delivered`` as it is.
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
STATUS_REQUESTS_PENDING = "408 Requests Pending"
STATUS_API_LEVEL = "412 Required Api Level"
_ATOI = re.compile(rb"[+-]?[0-9]+")
_I64 = 2**63


@dataclass(slots=True)
class PullRequest:
    reply: bytes
    batch: int  # messages to deliver (at least 1)
    max_bytes: int  # as sent: a budget only when > 0
    expires_at: float  # loop time; 0 = never
    no_wait: bool
    heartbeat: float  # seconds; 0 = none
    delivered: int = 0
    bytes: int = 0
    next_heartbeat: float = 0.0
    pg: S.PullRequestBody | None = None  # the JSON body, kept for consumers with priority groups
    asked: int = 1  # the batch as sent, which pending counts start from

    def left(self) -> list[tuple[str, str]]:
        """The pending headers of a status that ends this request (the reference's counters)."""
        left_bytes = self.max_bytes - self.bytes if self.max_bytes > 0 else self.max_bytes
        return [
            ("Nats-Pending-Messages", str(self.asked - self.delivered)),
            ("Nats-Pending-Bytes", str(left_bytes)),
        ]


def api_level_too_high(hdr: bytes) -> bool:
    """A request whose ``Nats-Required-Api-Level`` header this server does not meet (the
    reference answers ``412 Required Api Level``)."""
    return H.api_level_unmet(H.get_header(hdr, H.REQUIRED_API_LEVEL), S.API_LEVEL)


def parse_request(data: bytes) -> tuple[S.PullRequestBody, int, bool]:
    """A MSG.NEXT body as the reference reads it: (request, batch as sent, from JSON). JSON
    only when it starts with ``{``; otherwise a decimal integer (Go's Atoi) is the batch and
    anything else asks for 1. Raises ``ApiError`` for bad JSON."""
    body = data.strip()
    if body[:1] == b"{":
        req = codec.unmarshal(body, S.PullRequestBody)
        return req, req.batch, True
    if _ATOI.fullmatch(body) is not None and -_I64 <= (n := int(body)) < _I64:
        return S.PullRequestBody(batch=n), n, False
    return S.PullRequestBody(batch=1), 1, False


class PullQueue:
    """Waiting requests of one pull consumer, oldest first."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.waiting: deque[PullRequest] = deque()
        self._timer: TimerHandle | None = None
        self.timer_fired = False

    def add(self, reply: bytes, data: bytes) -> None:
        """A CONSUMER.MSG.NEXT request: queue it (or answer at once) and try to fill it."""
        try:
            req, asked, is_json = parse_request(data)
        except ApiError as err:
            text = err.description.removeprefix("invalid JSON: ")
            # the reference's text here has no "at offset N" suffix
            self.status(reply, "400 Bad Request - " + re.sub(r" at offset \d+$", "", text))
            return
        pg = req if is_json else None  # the reference's priority fields come with JSON only
        consumer = self.consumer
        cfg = consumer.config
        if req.idle_heartbeat > 0 and req.idle_heartbeat * 2 > req.expires:
            self.status(reply, "400 Bad Request - heartbeat value too large")
            return
        if cfg.max_batch and asked > cfg.max_batch:
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
        now = consumer.core.loop.time()
        full = bool(cfg.max_waiting) and len(self.waiting) >= cfg.max_waiting
        if full:
            self.expire(now)  # make room: requests that expired or lost their requester go
        if req.no_wait and not self._no_wait_may_wait(reply, req.expires, now):
            return
        if cfg.max_waiting and len(self.waiting) >= cfg.max_waiting:
            if req.idle_heartbeat <= 0:  # with heartbeats the client notices by itself
                self.status(reply, STATUS_MAX_WAITING)
            return
        pr = PullRequest(
            reply=reply,
            batch=max(asked, 1),
            max_bytes=req.max_bytes,
            # any expiry but 0, even one already past, ends the request with 408
            expires_at=now + req.expires / NANOS if req.expires else 0.0,
            no_wait=req.no_wait,
            heartbeat=req.idle_heartbeat / NANOS if req.idle_heartbeat > 0 else 0.0,
            asked=asked,
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

    def _no_wait_may_wait(self, reply: bytes, expires: int, now: float) -> bool:
        """The reference's checks of a no_wait request on arrival: nothing to deliver and no
        expiry → 404; fewer messages than the requests already waiting still want → ``408
        Requests Pending``. Otherwise it may queue."""
        c = self.consumer
        available = c.num_pending() + len(c.acks.redeliver)
        if available == 0:
            if expires:
                return True
            self.status(reply, STATUS_NO_MESSAGES)
            return False
        self.expire(now)
        if available < sum(r.asked - r.delivered for r in self.waiting):
            self.status(reply, STATUS_REQUESTS_PENDING)
            return False
        return True

    def status(self, reply: bytes, status: str, req: PullRequest | None = None) -> None:
        """A status reply to a request: a heartbeat names the last delivery, the end of a
        request says what of it was left."""
        entries: list[tuple[str, str]] = []
        if status == STATUS_HEARTBEAT:
            c = self.consumer
            entries = [("Nats-Last-Consumer", str(c.dseq)), ("Nats-Last-Stream", str(c.delivered_sseq))]
        elif req is not None:
            entries = req.left()
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

    def served(self, req: PullRequest, count: int, size: int) -> bool:
        """``count`` messages of ``size`` bytes went to ``req``, the head request: it ends
        when its batch is full or its byte budget is spent to the byte (False), else it wants
        more and its heartbeat starts over (True; the caller gives it its next turn)."""
        req.delivered += count
        req.bytes += size
        if req.delivered >= req.batch or (req.max_bytes > 0 and req.bytes >= req.max_bytes):
            self.waiting.popleft()
            if req.max_bytes > req.bytes:  # bytes left over: say so
                self.status(req.reply, STATUS_BATCH_COMPLETED, req)
            return False
        if req.heartbeat:
            req.next_heartbeat = self.consumer.core.loop.time() + req.heartbeat
        return True

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
        self.timer_fired = True  # the next pass answers no_wait requests even when stalled
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
