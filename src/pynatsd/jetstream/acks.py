"""Ack tracking and redelivery: what a consumer delivered and has not had acknowledged.

Acks arrive on ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``, a
prefix the consumer claims, so each goes straight to :meth:`AckTracker.on_ack`. The
tracker keeps the pending set in stream order with the ack floor under its first entry,
the redelivery queue (fed by the ack-wait timer, backoff aware, and by naks), and the
messages that ran out of deliveries (``max_deliver``): still unacknowledged, no longer
pending, never redelivered.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from pynatsd.jetstream.consumer_state import Pending

if TYPE_CHECKING:
    from asyncio import TimerHandle

    from pynatsd.jetstream import schemas as S
    from pynatsd.jetstream.consumer import Consumer
    from pynatsd.server.internal import Client, Subscription

NANOS = 1_000_000_000
DEFAULT_ACK_WAIT = 30 * NANOS


class AckTracker:
    """The pending set, the ack floor and redelivery of one consumer."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        cfg = consumer.config
        self.ack_none = cfg.ack_policy == "none"
        self.ack_all = cfg.ack_policy in ("all", "flow_control")  # flow_control: acks "all" on FC answers
        self.pending: dict[int, Pending] = {}  # sseq -> delivery, in stream order
        self.redeliver: deque[int] = deque()  # sseqs due for redelivery, in stream order
        self.redelivered: dict[int, int] = {}  # sseq -> deliveries beyond the first
        self.stuck: dict[int, int] = {}  # past max_deliver: sseq -> first consumer sequence
        self.floor_cseq = 0
        self.floor_sseq = 0
        self.last_ack_ns = 0
        self.sample_pct = sample_percent(cfg)  # parsed once, checked on every ack
        self._timer: TimerHandle | None = None

    def restore(
        self, floor_cseq: int, floor_sseq: int, pending: dict[int, Pending], redelivered: dict[int, int]
    ) -> None:
        """State read back after a restart; everything pending is due after ack_wait as usual."""
        self.floor_cseq, self.floor_sseq = floor_cseq, floor_sseq
        self.pending = dict(sorted(pending.items()))
        self.redelivered = dict(redelivered)

    def config_changed(self, cfg: S.ConsumerConfig) -> None:
        self.sample_pct = sample_percent(cfg)

    def can_take_more(self) -> bool:
        """Whether max_ack_pending allows another delivery."""
        mp = self.consumer.config.max_ack_pending
        return self.ack_none or mp <= 0 or len(self.pending) < mp

    def owes(self, seq: int) -> bool:
        """Whether ``seq`` was delivered and still waits for its ack."""
        return seq in self.pending

    # -- delivery records ----------------------------------------------------------------
    def delivered(self, sseq: int, cseq: int, now_ns: int) -> None:
        """A first delivery: it is pending (or, with ack none, acknowledged at once)."""
        if self.ack_none:
            self.floor_cseq, self.floor_sseq = cseq, sseq
        else:
            self.pending[sseq] = Pending(cseq, now_ns, 1, cseq)

    def redelivered_now(self, sseq: int, cseq: int, now_ns: int) -> None:
        p = self.pending[sseq]
        p.deliveries += 1
        p.ts = now_ns
        p.cseq = cseq
        self.redelivered[sseq] = p.deliveries - 1

    def deliveries_of(self, sseq: int) -> int:
        """How many times ``sseq`` has been delivered (it must be pending)."""
        return self.pending[sseq].deliveries

    # -- acks ---------------------------------------------------------------------------------
    def on_ack(
        self, sub: Subscription, pub: Client, subject: bytes, reply: bytes | None, hdr: int, msg: bytes
    ) -> None:
        """A message on the consumer's ack prefix: an ack, nak, progress, next or term."""
        tokens = subject.split(b".")
        if len(tokens) < 9:
            return
        try:
            sseq = int(tokens[5])
            int(tokens[6])  # a consumer sequence that is not a number makes it no ack
        except ValueError:
            return
        if not reply and (not msg or msg == b"+ACK") and hdr < 0:  # the common case first
            self.ack(sseq)
            return
        body = msg[hdr:] if hdr > 0 else msg
        kind = body[:4]
        consumer = self.consumer
        if kind in (b"+ACK", b"") or not body.strip():
            self.ack(sseq)
        elif kind == b"-NAK":
            self.nak(sseq, body[4:])
        elif kind == b"+WPI":
            p = self.pending.get(sseq)
            if p is not None:
                p.ts = time.time_ns()
                self.arm()
        elif kind == b"+NXT":
            self.ack(sseq)
            if reply:
                consumer.pull.add(reply, body[4:].strip())
        elif kind == b"+TER":
            self.term(sseq, body[5:].strip().decode("utf-8", "replace"))
        else:
            self.ack(sseq)
        if reply and kind != b"+NXT":
            # AckSync: answered once the state change is recorded.
            consumer.js.respond_after_consumer_state(consumer, reply)

    def ack(self, sseq: int) -> None:
        if self.ack_none:
            return
        if not self.ack_all and not self.stuck and not self.sample_pct:
            # the common case, kept short: one explicit ack of a pending message
            if self.pending.pop(sseq, None) is None:
                return
            if self.redelivered:
                self.redelivered.pop(sseq, None)
            # the floor sits under the first pending message: only acking that one moves it
            self._acked([sseq], sseq == self.floor_sseq + 1 or not self.pending)
            return
        acked: list[int] = []
        if self.ack_all:
            for seq in [s for s in self.pending if s <= sseq]:
                del self.pending[seq]
                self.redelivered.pop(seq, None)
                acked.append(seq)
        else:
            if self.stuck.pop(sseq, None) is not None:
                self.redelivered.pop(sseq, None)
                acked.append(sseq)
            p = self.pending.pop(sseq, None)
            if p is not None:
                self.redelivered.pop(sseq, None)
                acked.append(sseq)
                if self.sample_pct:
                    self._sample_ack(sseq, p)
        if acked:
            self._acked(acked, True)

    def _acked(self, seqs: list[int], floor_moves: bool) -> None:
        """After acks: the floor, the durable state, retention and the next delivery pass."""
        self.last_ack_ns = time.time_ns()
        if floor_moves:
            self.update_floor()
        consumer = self.consumer
        if not consumer.state_dirty:
            consumer.mark_dirty()
        if consumer.stream.config.retention != "limits":
            consumer.stream.on_acked(consumer, seqs)
        if not consumer.scheduled:
            consumer.kick()

    def _sample_ack(self, sseq: int, p: Pending) -> None:
        if secrets.randbelow(100) >= self.sample_pct:
            return
        self._advise(
            "$JS.EVENT.METRIC.CONSUMER.ACK",
            "io.nats.jetstream.metric.v1.consumer_ack",
            consumer_seq=p.cseq,
            stream_seq=sseq,
            ack_time=time.time_ns() - p.ts,
            deliveries=p.deliveries,
        )

    def update_floor(self) -> None:
        """The floor sits below the oldest message still owed an ack (pending or stuck)."""
        oldest: tuple[int, int] | None = None
        if self.pending:
            first_seq = next(iter(self.pending))
            p = self.pending[first_seq]
            oldest = (first_seq, p.first_cseq or p.cseq)
        if self.stuck:
            s_seq = min(self.stuck)
            if oldest is None or s_seq < oldest[0]:
                oldest = (s_seq, self.stuck[s_seq])
        if oldest is None:
            self.floor_sseq = self.consumer.delivered_sseq
            self.floor_cseq = self.consumer.dseq
        else:
            self.floor_sseq = oldest[0] - 1
            self.floor_cseq = oldest[1] - 1

    def nak(self, sseq: int, arg: bytes) -> None:
        p = self.pending.get(sseq)
        if p is None:
            return
        self._advise(
            "$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED",
            "io.nats.jetstream.advisory.v1.nak",
            consumer_seq=p.cseq,
            stream_seq=sseq,
            deliveries=p.deliveries,
        )
        delay = 0
        arg = arg.strip()
        if arg:
            try:
                d = json.loads(arg)
                if isinstance(d, dict):
                    delay = int(d.get("delay", 0))
            except ValueError:
                try:
                    delay = int(float(arg) * NANOS) if arg else 0
                except ValueError:
                    delay = 0
        if delay > 0:
            # redeliver when the delay is over: pretend it was delivered delay - ack_wait ago
            p.ts = time.time_ns() + delay - self.ack_wait_for(p.deliveries)
            self.arm()
        else:
            self._queue_redelivery(sseq)
            self.consumer.kick()

    def term(self, sseq: int, reason: str) -> None:
        p = self.pending.pop(sseq, None)
        if p is None:
            return
        self.redelivered.pop(sseq, None)
        self.update_floor()
        consumer = self.consumer
        consumer.mark_dirty()
        fields: dict[str, Any] = {"consumer_seq": p.cseq, "stream_seq": sseq, "deliveries": p.deliveries}
        if reason:
            fields["reason"] = reason
        self._advise(
            "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED", "io.nats.jetstream.advisory.v1.terminated", **fields
        )
        consumer.stream.on_acked(consumer, [sseq])
        consumer.kick()

    def _advise(self, prefix: str, kind: str, **fields: Any) -> None:
        consumer = self.consumer
        stream = consumer.stream.name
        consumer.js.advisory(
            f"{prefix}.{stream}.{consumer.name}",
            kind,
            {"stream": stream, "consumer": consumer.name, **fields},
        )

    # -- redelivery -----------------------------------------------------------------------
    def ack_wait_for(self, deliveries: int) -> int:
        """The ack wait after the ``deliveries``-th delivery (backoff replaces ack_wait)."""
        cfg = self.consumer.config
        backoff = cfg.backoff
        if backoff:
            return backoff[min(deliveries, len(backoff)) - 1]
        return cfg.ack_wait or DEFAULT_ACK_WAIT

    def _queue_redelivery(self, sseq: int) -> None:
        if sseq in self.redeliver:
            return
        p = self.pending.get(sseq)
        if p is None:
            return
        max_deliver = self.consumer.config.max_deliver
        if max_deliver > 0 and p.deliveries >= max_deliver:
            self._max_deliveries_reached(sseq, p)
            return
        # keep the queue in stream order
        if not self.redeliver or self.redeliver[-1] < sseq:
            self.redeliver.append(sseq)
        else:
            self.redeliver = deque(sorted([*self.redeliver, sseq]))

    def _max_deliveries_reached(self, sseq: int, p: Pending) -> None:
        self._advise(
            "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES",
            "io.nats.jetstream.advisory.v1.max_deliver",
            stream_seq=sseq,
            deliveries=p.deliveries,
        )
        # no more redeliveries: it stays unacknowledged but no longer counts as pending
        del self.pending[sseq]
        self.stuck[sseq] = p.first_cseq or p.cseq
        self.update_floor()
        self.consumer.mark_dirty()

    def arm(self) -> None:
        """(Re)arm the one timer for the soonest ack-wait expiry."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.ack_none or not self.pending or self.consumer.closed:
            return
        wait_for = self.ack_wait_for
        if self.redeliver:
            # Messages already queued for redelivery wait for a delivery pass, not for the
            # timer (counting them would fire it again and again while nothing can be sent).
            queued = set(self.redeliver)
            waits = [p.ts + wait_for(p.deliveries) for s, p in self.pending.items() if s not in queued]
            if not waits:
                return
            soonest = min(waits)
        else:  # the common case: runs after every delivery pass
            soonest = min(p.ts + wait_for(p.deliveries) for p in self.pending.values())
        delay = max(0.0, (soonest - time.time_ns()) / NANOS)
        self._timer = self.consumer.core.loop.call_later(delay + 0.0005, self._redelivery_due)

    def _redelivery_due(self) -> None:
        self._timer = None
        now = time.time_ns()
        for sseq, p in list(self.pending.items()):
            if p.ts + self.ack_wait_for(p.deliveries) <= now and sseq not in self.redeliver:
                self._queue_redelivery(sseq)
        self.arm()
        self.consumer.kick()

    def take_redelivery(self) -> int | None:
        """The next message due for redelivery that is still pending, if any."""
        while self.redeliver:
            seq = self.redeliver.popleft()
            if seq in self.pending:
                return seq
        return None

    def forget(self, seq: int) -> None:
        """A pending message is gone from the stream: stop tracking it."""
        self.pending.pop(seq, None)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def sample_percent(cfg: S.ConsumerConfig) -> int:
    """``sample_freq`` ("30" or "30%"): the share of acks reported as metrics."""
    text = cfg.sample_freq.strip().rstrip("%")
    return int(text) if text.isdigit() else 0
