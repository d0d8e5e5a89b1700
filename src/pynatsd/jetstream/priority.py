"""Priority groups of a pull consumer: which waiting request gets the next message.

A consumer with a ``priority_policy`` other than "none" (or a pin kept from an earlier one,
until it times out) owns one :class:`PriorityGroups`; consumers without one never reach this
module (their pull requests and delivery pass only check ``Consumer.priority is None``). The
reference's three policies:

- ``pinned_client``: the first request (of a client that names no pin) that meets a message
  gets a new pin id; from then on only requests carrying that id (``"id"`` in the request)
  are served and each delivery carries ``Nats-Pin-Id``. Requests without an id wait, those
  with another id end with 423. The pin is dropped when no request with the id arrives for
  ``priority_timeout`` (advisory reason "timeout") or by ``CONSUMER.UNPIN`` ("admin").
- ``overflow``: a request with ``min_pending`` / ``min_ack_pending`` is served only while
  the consumer has at least that many messages pending / unacknowledged.
- ``prioritized``: requests are served by ``priority`` (0 first, 9 last), round robin
  within a level.

As in the reference, requests take turns message by message (a request not yet filled goes
to the back of the queue, of its level for ``prioritized``) and a request that cannot be
served now is passed over, not dropped.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import TYPE_CHECKING

from pynatsd.gocompat import ZERO_TIME, format_time
from pynatsd.jetstream import headers as H
from pynatsd.jetstream import schemas as S
from pynatsd.store.base import StoredMsg

if TYPE_CHECKING:
    from asyncio import TimerHandle

    from pynatsd.jetstream.consumer import Consumer
    from pynatsd.jetstream.pull import PullRequest

NANOS = 1_000_000_000
PIN_HEADER = "Nats-Pin-Id"
STATUS_PIN_MISMATCH = "423 Nats-Pin-Id mismatch"  # a request naming a pin other than the current one
STATUS_WRONG_PIN = "423 Nats-Wrong-Pin-Id"  # a waiting request whose pin is no longer the current one
NO_PRIORITY = 2**31 - 1  # where a request without a JSON body queues under "prioritized"
_GROUP_NAME = re.compile(r"[a-zA-Z0-9/_=-]{1,16}")
_NUID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def valid_group_name(name: str) -> bool:
    """The reference's rule for priority group names (also in CONSUMER.UNPIN requests)."""
    return _GROUP_NAME.fullmatch(name) is not None


def new_pin_id() -> str:
    """A pin id shaped like the reference's (a 22-character NUID)."""
    return "".join(secrets.choice(_NUID_ALPHABET) for _ in range(22))


def request_error(consumer: Consumer, req: S.PullRequestBody) -> str | None:
    """The status a JSON pull request gets at once for its priority fields, None when it may
    wait. Called only when the consumer has a policy or the request sets such a field."""
    policy = consumer.config.priority_policy
    if (req.min_pending or req.min_ack_pending) and policy != "overflow":
        return "400 Bad Request - Not a Overflow Priority consumer"
    if req.id and policy != "pinned_client":
        return "400 Bad Request - Not a Pinned Client Priority consumer"
    if req.priority < 0 or req.priority > 9:
        return "400 Bad Request - Priority must be between 0 and 9"
    prio = consumer.priority
    if prio is None or policy == "none":  # a pin kept from an earlier policy is not asked for
        return None
    if not req.group:
        return "400 Bad Request - Priority Group missing"
    if req.group not in (consumer.config.priority_groups or ()):
        return "400 Bad Request - Invalid Priority Group"
    if prio.pin_id:
        if req.id == prio.pin_id:
            prio.arm_pin_timer(req.group)  # the pinned client is still there
        elif req.id:
            return STATUS_PIN_MISMATCH
    return None


class PriorityGroups:
    """The priority state of one pull consumer: its policy and the current pin."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.policy = consumer.config.priority_policy
        self.pin_id = ""
        self.pinned_ns = 0
        self._pin_timer: TimerHandle | None = None

    # -- the queue -------------------------------------------------------------------------
    def enqueue(self, req: PullRequest) -> None:
        """A new request joins the queue: at the back, or of its level for "prioritized"."""
        waiting = self.consumer.pull.waiting
        if self.policy != "prioritized":
            waiting.append(req)
            return
        level = _level(req)
        i = len(waiting)
        while i > 0 and _level(waiting[i - 1]) > level:
            i -= 1
        waiting.insert(i, req)

    def _requeue_head(self) -> None:
        """The head request got a message and wants more: it takes its turn again later."""
        waiting = self.consumer.pull.waiting
        if len(waiting) < 2:
            return
        req = waiting.popleft()
        if self.policy == "prioritized":
            self.enqueue(req)
        else:
            waiting.append(req)

    # -- the delivery pass -----------------------------------------------------------------
    def deliver(self) -> None:
        """Fill waiting requests message by message, each to the request the policy picks."""
        c = self.consumer
        pull = c.pull
        acks = c.acks
        # redeliveries go out even at max_ack_pending (they add nothing to the pending set)
        while pull.waiting and (acks.redeliver or acks.can_take_more()):
            took = c._take()
            if took is None:
                break
            sm, redelivery, reply, size = took
            req = self._next_waiting(size)
            if req is None:
                c._unread(sm.seq, redelivery)
                break
            if self.policy == "pinned_client":
                hdr = H.append_headers(sm.hdr, [(PIN_HEADER, self.pin_id)])
                sm = StoredMsg(seq=sm.seq, subject=sm.subject, hdr=hdr, data=sm.data, ts=sm.ts)
            c._send(sm, req.reply, redelivery, reply)
            if pull.served(req, 1, size):
                self._requeue_head()

    def _next_waiting(self, size: int) -> PullRequest | None:
        """The request the next message (of ``size`` bytes) goes to, brought to the head of
        the queue; requests passed over go to the back. Requests holding a stale pin end
        with 423, one that cannot take the message's size with 409, one whose requester
        is gone silently."""
        c = self.consumer
        pull = c.pull
        waiting = pull.waiting
        has_interest = c.core.has_interest
        need_new_pin = self.policy == "pinned_client" and not self.pin_id
        cycled = 0
        while waiting:
            req = waiting[0]
            pg = req.pg
            assigned = False
            if need_new_pin:
                if pg is not None and pg.id:  # a pin from before: it is gone
                    waiting.popleft()
                    self._wrong_pin(req)
                    continue
                if pg is not None and pg.group:
                    self._pin(pg)
                    assigned = True
            elif self.pin_id:
                if pg is None or not pg.id:  # waits for the pin to go
                    waiting.rotate(-1)
                    cycled += 1
                    if cycled >= len(waiting):
                        return None
                    continue
                if pg.id != self.pin_id:
                    waiting.popleft()
                    self._wrong_pin(req)
                    continue
            if self.policy == "overflow" and pg is not None and not self._overflowing(pg):
                waiting.rotate(-1)
                cycled += 1
                if cycled >= len(waiting):
                    return None
                continue
            if req.max_bytes > 0 and req.bytes + size > req.max_bytes:
                pull.too_big(req)
                if assigned:
                    self.unpin()
                continue
            if has_interest(req.reply):
                return req
            waiting.popleft()  # the requester is gone: its request ends unanswered
        return None

    def _wrong_pin(self, req: PullRequest) -> None:
        """423 to a request holding a pin that is gone, with what it had left."""
        self.consumer.pull.status(req.reply, STATUS_WRONG_PIN, req)

    def _overflowing(self, pg: S.PullRequestBody) -> bool:
        """Whether an overflow request may be served: no thresholds, or one of them met
        (pending counts the message in hand, ack pending does not yet)."""
        if pg.min_pending <= 0 and pg.min_ack_pending <= 0:
            return True
        c = self.consumer
        pending = c.pending_count() + 1
        if 0 < pg.min_pending <= pending:
            return True
        return 0 < pg.min_ack_pending <= len(c.acks.pending)

    # -- the pin ---------------------------------------------------------------------------
    def _pin(self, pg: S.PullRequestBody) -> None:
        self.pin_id = new_pin_id()
        self.pinned_ns = time.time_ns()
        pg.id = self.pin_id  # the request's later deliveries carry the pin
        self.arm_pin_timer(pg.group)
        self._advisory("PINNED", "io.nats.jetstream.advisory.v1.consumer_group_pinned", pg.group, "")

    def arm_pin_timer(self, group: str) -> None:
        """(Re)start the pin's ``priority_timeout``: the pinned client must ask again by then."""
        if self._pin_timer is not None:
            self._pin_timer.cancel()
        ttl = self.consumer.config.priority_timeout / NANOS
        self._pin_timer = self.consumer.core.loop.call_later(ttl, self._pin_expired, group)

    def _pin_expired(self, group: str) -> None:
        self._pin_timer = None
        if not self.pin_id or self.consumer.closed:
            return
        self.unpin()
        self.unpinned(group, "timeout")
        if self.policy == "none":  # the policy went while the pin lasted
            self.consumer.priority_done()

    def unpin(self) -> None:
        """Drop the pin (no advisory)."""
        self.pin_id = ""
        self.pinned_ns = 0
        if self._pin_timer is not None:
            self._pin_timer.cancel()
            self._pin_timer = None

    def unpinned(self, group: str, reason: str) -> None:
        """The unpinned advisory; the next message goes to a new pin."""
        self._advisory("UNPINNED", "io.nats.jetstream.advisory.v1.consumer_group_unpinned", group, reason)
        self.consumer.kick()

    def _advisory(self, event: str, kind: str, group: str, reason: str) -> None:
        c = self.consumer
        fields: dict[str, object] = {
            "account": c.core.account_name,
            "stream": c.stream.name,
            "consumer": c.name,
            "group": group,
        }
        if event == "PINNED":
            fields["pinned_id"] = self.pin_id
        else:
            fields["reason"] = reason
        c.js.advisory(f"$JS.EVENT.ADVISORY.CONSUMER.{event}.{c.stream.name}.{c.name}", kind, fields)

    def close(self) -> None:
        self.unpin()

    def info(self) -> list[S.PriorityGroupState] | None:
        """Consumer info's ``priority_groups``: the first group with the current pin."""
        groups = self.consumer.config.priority_groups
        if not groups:
            return None
        return [
            S.PriorityGroupState(
                group=groups[0],
                pinned_client_id=self.pin_id,
                pinned_ts=format_time(self.pinned_ns) if self.pinned_ns else ZERO_TIME,
            )
        ]


def _level(req: PullRequest) -> int:
    return NO_PRIORITY if req.pg is None else req.pg.priority
