"""Consumers: a cursor over a stream that delivers, tracks acks and redelivers.

A consumer delivers through core routing: pull consumers to the reply subject of each
``CONSUMER.MSG.NEXT`` request, push consumers to their ``deliver_subject``. Each delivery
carries the reply subject ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``
on which the client acknowledges; an in-process subscription on ``$JS.ACK.<stream>.<consumer>.>``
receives those acks. Delivery runs at most once per loop turn (``_kick``), so a burst of
new messages or acks costs one pass.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from pynatsd.gocompat import ZERO_TIME, format_duration, format_time, parse_time
from pynatsd.jetstream import codec
from pynatsd.jetstream import headers as H
from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.consumer_config import required_api_level
from pynatsd.jetstream.errors import ApiError
from pynatsd.protocol.subjects import subject_matches
from pynatsd.store.base import StoredMsg

if TYPE_CHECKING:
    from asyncio import TimerHandle

    from pynatsd.jetstream.stream import Stream
    from pynatsd.server.internal import Client, Subscription

NANOS = 1_000_000_000
DEFAULT_ACK_WAIT = 30 * NANOS
STATUS_NO_MESSAGES = "404 No Messages"
STATUS_TIMEOUT = "408 Request Timeout"
STATUS_MAX_BYTES = "409 Message Size Exceeds MaxBytes"
STATUS_MAX_WAITING = "409 Exceeded MaxWaiting"
STATUS_DELETED = "409 Consumer Deleted"
STATUS_HEARTBEAT = "100 Idle Heartbeat"
STATUS_FLOW_CONTROL = "100 FlowControl Request"
STATUS_BATCH_COMPLETED = "409 Batch Completed"
FC_MAX_PENDING = 32 * 1024 * 1024  # the largest flow-control window, as the reference's
PUSH_BATCH = 256  # push deliveries written per batch
PUSH_TURN_MSGS = 4096  # push deliveries per loop turn before the rest waits for the next one


@dataclass(slots=True)
class Pending:
    """A delivered, not yet acknowledged message."""

    cseq: int
    ts: int  # ns when last delivered (ack_wait counts from here)
    deliveries: int
    first_cseq: int = 0  # consumer sequence of the first delivery (ack floor arithmetic)


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


@dataclass
class ConsumerState:
    """What survives a restart: delivered and ack floor sequences and the pending set."""

    delivered_cseq: int = 0
    delivered_sseq: int = 0
    ack_floor_cseq: int = 0
    ack_floor_sseq: int = 0
    pending: dict[int, Pending] = field(default_factory=dict)
    redelivered: dict[int, int] = field(default_factory=dict)


class Consumer:
    """One consumer of a stream."""

    def __init__(
        self, stream: Stream, name: str, config: S.ConsumerConfig, created: int, durable: bool
    ) -> None:
        self.stream = stream
        self.js = stream.js
        self.core = stream.core
        self.name = name
        self.config = config
        self.created = created
        self.durable = durable
        self.filters = _filters(config)
        self.is_pull = not config.deliver_subject
        self.ack_none = config.ack_policy == "none"
        self.ack_all = config.ack_policy == "all"
        # cursor: the next stream sequence to look at
        self.sseq = 0
        self.dseq = 0  # last consumer sequence handed out
        self.delivered_sseq = 0
        self.ack_floor_cseq = 0
        self.ack_floor_sseq = 0
        self.pending: dict[int, Pending] = {}
        self.redeliver: deque[int] = deque()
        self.redelivered: dict[int, int] = {}  # sseq -> deliveries beyond the first
        # messages past max_deliver: no longer pending, never redelivered, still unacked
        self.stuck: dict[int, int] = {}  # sseq -> first consumer sequence
        self.waiting: deque[PullRequest] = deque()
        self._lps: deque[int] = deque()  # last-per-subject start set
        self._from_lps = False  # the message _next_msg handed out last came from _lps
        self.last_delivered_ns = 0
        self.last_ack_ns = 0
        self.closed = False
        self.paused_until = 0
        self._scheduled = False
        self._ack_sub: Subscription | None = None
        self._fc_sub: Subscription | None = None
        self._unwatch: Callable[[], None] | None = None  # stops watching for push interest
        self._timer: TimerHandle | None = None
        self._hb_timer: TimerHandle | None = None
        self._inactive_timer: TimerHandle | None = None
        self._fc_pending: str = ""  # outstanding flow-control reply subject
        self._fc_bytes = 0  # delivered bytes not yet released by a flow-control answer
        self._fc_size = 0  # what the outstanding request releases when answered
        self._fc_window = FC_MAX_PENDING // 16
        self._state_dirty = False
        self._saved_to: Path | None = None  # the state directory, once created
        self._req_timer: TimerHandle | None = None  # pull requests' next expiry / heartbeat
        self._rate_tokens = 0.0
        self._rate_at = 0.0  # loop time the bucket was last filled; 0 = full, never used
        self._replay_last_ts = 0
        self._replay_last_wall = 0.0
        self._replay_until: int | None = None  # replay original: the stream's last seq at start
        self._pending_cache: int | None = None
        self._sample_pct = self._sample_percent(config)  # parsed once, checked on every ack

    # -- lifecycle ----------------------------------------------------------------
    @property
    def ack_prefix(self) -> str:
        return f"$JS.ACK.{self.stream.name}.{self.name}"

    def start(self, state: ConsumerState | None = None) -> None:
        if state is not None:
            self._restore(state)
        else:
            self._init_position()
        if self.config.replay_policy == "original":
            self._replay_until = self.stream.store.state().last_seq
        self._apply_pause_until()
        if not self.ack_none:  # the reference has no ack listener for ack-none consumers
            self._ack_sub = self.core.claim_prefix(self.ack_prefix, self._on_ack)
        if self.config.flow_control:
            self._fc_sub = self.core.subscribe(
                f"$JS.FC.{self.stream.name}.{self.name}.>", self._on_flow_control
            )
        if self.config.idle_heartbeat and not self.is_pull:
            self._schedule_heartbeat()
        if not self.is_pull:
            self._unwatch = self.core.watch_interest(self.config.deliver_subject, self.kick)
        self._arm_inactivity()
        self._arm_redelivery()
        self.kick()

    def stop(self, deleted: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        for sub in (self._ack_sub, self._fc_sub):
            if sub is not None:
                self.core.unsubscribe(sub)
        for t in (self._timer, self._hb_timer, self._inactive_timer, self._req_timer):
            if t is not None:
                t.cancel()
        if deleted:
            for req in self.waiting:
                self._status(req.reply, STATUS_DELETED)
        self.waiting.clear()

    def _init_position(self) -> None:
        """Where delivery starts, by deliver policy."""
        cfg = self.config
        store = self.stream.store
        st = store.state()
        policy = cfg.deliver_policy
        if policy in ("all", "undefined"):
            self.sseq = st.first_seq or 1
        elif policy == "last":
            last = (
                store.load_last(self.filters[0] if len(self.filters) == 1 else ">") if self.filters else None
            )
            if not self.filters:
                self.sseq = st.last_seq if st.msgs else st.last_seq + 1
            elif last is not None:
                self.sseq = last.seq
            else:
                self.sseq = st.last_seq + 1
        elif policy == "new":
            self.sseq = st.last_seq + 1
        elif policy == "by_start_sequence":
            self.sseq = max(cfg.opt_start_seq, 1)
        elif policy == "by_start_time":
            start = parse_time(cfg.opt_start_time) if cfg.opt_start_time else 0
            self.sseq = st.last_seq + 1
            for seq in store.sequences(st.first_seq or 1, []):
                sm = store.load(seq)
                if sm is not None and sm.ts >= start:
                    self.sseq = seq
                    break
        elif policy == "last_per_subject":
            filters = self.filters or [">"]
            seqs: set[int] = set()
            for f in filters:
                for subj in store.subjects(f):
                    sm = store.load_last(subj)
                    if sm is not None:
                        seqs.add(sm.seq)
            self._lps = deque(sorted(seqs))
            self.sseq = st.last_seq + 1
        else:
            self.sseq = st.first_seq or 1
        # consumer sequences start after the stream position
        self.delivered_sseq = self.ack_floor_sseq = max(self.sseq - 1, 0) if not self._lps else 0
        if self._lps:
            self.delivered_sseq = self.ack_floor_sseq = max(self._lps[0] - 1, 0)

    # -- state persistence ------------------------------------------------------------
    def state(self) -> ConsumerState:
        return ConsumerState(
            delivered_cseq=self.dseq,
            delivered_sseq=self.delivered_sseq,
            ack_floor_cseq=self.ack_floor_cseq,
            ack_floor_sseq=self.ack_floor_sseq,
            pending=dict(self.pending),
            redelivered=dict(self.redelivered),
        )

    def _restore(self, st: ConsumerState) -> None:
        self.dseq = st.delivered_cseq
        self.delivered_sseq = st.delivered_sseq
        self.ack_floor_cseq = st.ack_floor_cseq
        self.ack_floor_sseq = st.ack_floor_sseq
        self.pending = dict(sorted(st.pending.items()))
        self.redelivered = dict(st.redelivered)
        self.sseq = st.delivered_sseq + 1
        # everything pending at shutdown is due for redelivery after ack_wait as usual

    def mark_dirty(self) -> None:
        """Durable state is written at the end of the turn (not for ``mem_storage`` consumers)."""
        if self.durable and not self.config.mem_storage and not self._state_dirty:
            self._state_dirty = True
            self.js.consumer_dirty(self)

    def update_config(self, cfg: S.ConsumerConfig) -> None:
        """An allowed update (checked by the API): new limits apply from now on."""
        self.config = cfg
        self.filters = _filters(cfg)
        self._pending_cache = None
        self._sample_pct = self._sample_percent(cfg)
        self._apply_pause_until()
        self.mark_dirty()
        self._arm_inactivity()
        self._arm_redelivery()
        self.kick()

    def pause(self, until_ns: int, until_text: str | None) -> None:
        """Pause delivery until ``until_ns`` (0 resumes); advised now and when it ends."""
        cfg = msgspec.structs.replace(self.config, pause_until=until_text if until_ns else None)
        # the required API level follows the config: 1 while paused, back down when resumed
        meta = dict(cfg.metadata or {})
        meta["_nats.req.level"] = str(required_api_level(cfg))
        self.config = msgspec.structs.replace(cfg, metadata=meta)
        self._apply_pause_until()
        self.mark_dirty()
        self._pause_advisory(self.paused_until > 0, until_text or ZERO_TIME)
        self.kick()

    def _apply_pause_until(self) -> None:
        """A config that carries a future ``pause_until`` (create, update, restart) pauses."""
        text = self.config.pause_until
        until = parse_time(text) if text else 0
        if until <= time.time_ns():
            until = 0
        if until != self.paused_until:
            self.paused_until = until
            if until:
                self.core.loop.call_later((until - time.time_ns()) / NANOS, self._pause_over, until)

    def _pause_over(self, until_ns: int) -> None:
        if self.closed or self.paused_until != until_ns:
            return
        self.paused_until = 0
        self._pause_advisory(False, self.config.pause_until or ZERO_TIME)
        self.config = msgspec.structs.replace(self.config, pause_until=None)
        self.mark_dirty()
        self.kick()

    def _pause_advisory(self, paused: bool, until: str) -> None:
        self.js.advisory(
            f"$JS.EVENT.ADVISORY.CONSUMER.PAUSE.{self.stream.name}.{self.name}",
            "io.nats.jetstream.advisory.v1.consumer_pause",
            {"stream": self.stream.name, "consumer": self.name, "paused": paused, "pause_until": until},
        )

    # -- delivery -------------------------------------------------------------------
    def kick(self) -> None:
        """Run delivery once at the end of this loop turn."""
        if not self._scheduled and not self.closed:
            self._scheduled = True
            self.core.loop.call_soon(self._run)

    def _has_push_interest(self) -> bool:
        """A subscription on exactly the deliver subject: the reference does not count a
        wildcard subscription that merely covers it."""
        return self.core.has_subscription_on(self.config.deliver_subject)

    @property
    def push_bound(self) -> bool:
        return not self.is_pull and self._has_push_interest()

    def _can_deliver_more(self) -> bool:
        mp = self.config.max_ack_pending
        return self.ack_none or mp <= 0 or len(self.pending) < mp

    def _run(self) -> None:
        self._scheduled = False
        self._pending_cache = None
        if self.closed:
            return
        now = self.core.loop.time()
        if self.paused_until and time.time_ns() < self.paused_until:
            if self.is_pull:
                self._expire_requests(now)
                for req in [r for r in self.waiting if r.no_wait and not r.expires_at]:
                    self.waiting.remove(req)
                    self._status(req.reply, STATUS_NO_MESSAGES)
                self._arm_request_timer()
            return
        if self.is_pull:
            self._expire_requests(now)
            while self.waiting and self._can_deliver_more():
                req = self.waiting[0]
                if not req.max_bytes and self._batchable():
                    got, _ = self._deliver_batch(req.reply, req.batch - req.delivered)
                    if got == 0:
                        break
                    if got > 0:
                        req.delivered += got
                        if req.delivered >= req.batch:
                            self.waiting.popleft()
                        continue
                sm, redelivery = self._next_msg()
                if sm is None:
                    break
                if self._replay_wait(sm, redelivery):
                    self._unread(sm.seq, redelivery)
                    break
                reply = self._ack_reply(sm, redelivery)
                size = len(sm.subject) + len(reply) + len(sm.hdr) + len(sm.data)
                if req.max_bytes and req.bytes + size > req.max_bytes:
                    self.waiting.popleft()
                    self._status(req.reply, STATUS_MAX_BYTES, req)
                    self._unread(sm.seq, redelivery)
                    continue
                self._send(sm, req.reply, redelivery, reply)
                req.delivered += 1
                req.bytes += size
                if req.delivered >= req.batch:
                    self.waiting.popleft()
                    if req.max_bytes:
                        self._status(req.reply, STATUS_BATCH_COMPLETED, req)
            # no_wait requests not filled now are answered now (with an expiry and nothing
            # delivered, the reference lets them run to the expiry instead)
            for req in [r for r in self.waiting if r.no_wait and not (r.expires_at and r.delivered == 0)]:
                self.waiting.remove(req)
                self._status(req.reply, STATUS_NO_MESSAGES)
            self._arm_request_timer()
        else:
            if self._fc_blocked() or not self._has_push_interest():
                return
            deliver = self.config.deliver_subject.encode()
            budget = PUSH_TURN_MSGS
            fc = self.config.flow_control
            while self._can_deliver_more() and not self._fc_blocked():
                if self._batchable():
                    if budget <= 0:
                        self.kick()  # a long backlog goes out over several turns, flushed between
                        break
                    got, _ = self._deliver_batch(deliver, min(budget, PUSH_BATCH), fc)
                    if got == 0:
                        break
                    if got > 0:
                        budget -= got
                        continue
                sm, redelivery = self._next_msg()
                if sm is None:
                    break
                if self._replay_wait(sm, redelivery):
                    self._unread(sm.seq, redelivery)
                    break
                reply = self._ack_reply(sm, redelivery)
                size = len(sm.subject) + len(reply) + len(sm.hdr) + len(sm.data)
                if self.config.rate_limit_bps and self._rate_wait(size):
                    self._unread(sm.seq, redelivery)
                    break
                self._send(sm, deliver, redelivery, reply)
                if fc and self._fc_count(size):
                    self._send_flow_control()
        self._arm_redelivery()

    def _batchable(self) -> bool:
        """Whether the next messages are new ones delivered as they are stored: then they
        go out as a batch (one store read, frames written straight to the receiver)."""
        return (
            not self.redeliver
            and not self._lps
            and not self.config.headers_only
            and not self.config.rate_limit_bps
            and self._replay_until is None
        )

    def _deliver_batch(self, to: bytes, limit: int, fc: bool = False) -> tuple[int, int]:
        """Deliver up to ``limit`` new messages to ``to`` in one pass: ``(count, bytes)``,
        count -1 when routing to ``to`` is not simple (the caller goes message by message).
        With flow control (``fc``) the batch ends where a flow-control request is due or
        the window is full, and the request follows the batch."""
        core = self.core
        sub = core.direct_receiver(to)
        if sub is None:
            return -1, 0
        mp = self.config.max_ack_pending
        if not self.ack_none and mp > 0:
            limit = min(limit, mp - len(self.pending))
        store = self.stream.store
        msgs = store.load_batch(self.filters, self.sseq, limit)
        if not msgs:
            self._caught_up()
            return 0, 0
        if self._pending_cache is None:
            self._pending_cache = self.num_pending()
        left = self._pending_cache
        now_ns = time.time_ns()
        cseq = self.dseq
        prefix = self.ack_prefix.encode()
        sid = sub.sid_b
        track = None if self.ack_none else self.pending
        frames: list[bytes] = []
        put = frames.append
        total = count = 0
        fc_due = False
        subject = ""
        head = hhead = b""
        for sm in msgs:
            cseq += 1
            if left > 0:
                left -= 1
            if sm.subject is not subject:  # runs of one subject share the frame's start
                subject = sm.subject
                head = b"MSG " + subject.encode() + b" " + sid + b" " + prefix + b".1."
                hhead = b"H" + head
            hdr, data = sm.hdr, sm.data
            if hdr:
                n = len(hdr) + len(data)
                line = b"%d.%d.%d.%d %d %d\r\n" % (sm.seq, cseq, sm.ts, left, len(hdr), n)
                put(hhead)
                put(line)
                put(hdr)
            else:
                n = len(data)
                line = b"%d.%d.%d.%d %d\r\n" % (sm.seq, cseq, sm.ts, left, n)
                put(head)
                put(line)
            put(data)
            put(b"\r\n")
            if track is not None:
                track[sm.seq] = Pending(cseq, now_ns, 1, cseq)
            total += n
            count += 1
            if fc:
                # the reply subject is the prefix, ".1." and the line up to its first space
                reply_len = len(prefix) + 3 + line.index(b" ")
                fc_due = self._fc_count(len(subject) + reply_len + n)
                if fc_due or self._fc_blocked():
                    break
        last = msgs[count - 1].seq
        core.write_frames(sub, b"".join(frames), count, total)
        if fc_due:
            self._send_flow_control()
        self._pending_cache = left
        self.dseq = cseq
        self.sseq = last + 1
        if last > self.delivered_sseq:
            self.delivered_sseq = last
        if self.ack_none:
            self.ack_floor_cseq, self.ack_floor_sseq = cseq, last
        self.last_delivered_ns = now_ns
        self.mark_dirty()
        if self.config.idle_heartbeat and not self.is_pull:
            self._schedule_heartbeat()
        self._touch()
        return count, total

    def _replay_wait(self, sm: StoredMsg, redelivery: bool) -> bool:
        """Replay original, as the reference does it: until delivery has caught up with the
        stream as it was when the consumer started, each message waits after the previous
        delivery as long as it was stored after the previous one (gaps of 1 ms or less are
        not waited for)."""
        if self.config.replay_policy != "original" or redelivery:
            return False
        if self._replay_until is not None and sm.seq > self._replay_until:
            self._replay_until = None  # caught up: from here on, as fast as they come
        if self._replay_until is None:
            return False
        loop = self.core.loop
        if self._replay_last_ts:
            gap = (sm.ts - self._replay_last_ts) / NANOS
            if gap > 0.001:
                due = self._replay_last_wall + gap
                if loop.time() < due:
                    loop.call_at(due, self.kick)
                    return True
        self._replay_last_ts = sm.ts
        self._replay_last_wall = loop.time()
        return False

    def _rate_wait(self, size: int) -> bool:
        """rate_limit_bps as a token bucket (the reference's): bytes flow at bps/8 per second
        with a burst of the stream's max_msg_size (else the server's max_payload); a delivery
        that does not fit waits until it does."""
        loop = self.core.loop
        now = loop.time()
        rate = self.config.rate_limit_bps / 8
        burst = self.stream.config.max_msg_size
        if burst <= 0:
            burst = self.core.opts.max_payload
        if self._rate_at == 0.0:
            self._rate_tokens = float(burst)
        else:
            self._rate_tokens = min(float(burst), self._rate_tokens + (now - self._rate_at) * rate)
        self._rate_at = now
        size = min(size, burst)
        if self._rate_tokens < size:
            loop.call_at(now + (size - self._rate_tokens) / rate, self.kick)
            return True
        self._rate_tokens -= size
        return False

    def _next_msg(self) -> tuple[StoredMsg | None, bool]:
        """The next message to deliver: due redeliveries first, then new ones."""
        store = self.stream.store
        self._from_lps = False
        while self.redeliver:
            seq = self.redeliver.popleft()
            if seq not in self.pending:
                continue
            sm = store.load(seq)
            if sm is None:
                self.pending.pop(seq, None)
                continue
            return sm, True
        while self._lps:
            seq = self._lps.popleft()
            sm = store.load(seq)
            if sm is not None:
                self._from_lps = True
                if self._pending_cache:
                    self._pending_cache -= 1  # the start set counts in num_pending
                return sm, False
        sm = store.load_next(self.filters, self.sseq)
        if sm is None:
            self._caught_up()
            return None, False
        self.sseq = sm.seq + 1
        if self._pending_cache:
            self._pending_cache -= 1  # the cache counts from the cursor, which just moved
        return sm, False

    def _caught_up(self) -> None:
        """Nothing new to deliver: an unfiltered cursor moves past the stream's end (so
        sequences skipped by a purge are not looked at again)."""
        if not self.filters:
            self.sseq = max(self.sseq, self.stream.store.state().last_seq + 1)

    def _unread(self, seq: int, redelivery: bool) -> None:
        """Put back a message taken by _next_msg but not delivered."""
        if redelivery:
            self.redeliver.appendleft(seq)
        elif self._from_lps:
            self._lps.appendleft(seq)
            if self._pending_cache is not None:
                self._pending_cache += 1
        else:
            if self._pending_cache is not None and seq < self.sseq:
                self._pending_cache += 1
            self.sseq = min(self.sseq, seq)

    def _ack_reply(self, sm: StoredMsg, redelivery: bool) -> bytes:
        """The ack subject the next delivery of ``sm`` will carry (sequences not yet taken)."""
        deliveries = self.pending[sm.seq].deliveries + 1 if redelivery else 1
        # num_pending is counted once per delivery pass, then kept up to date: counting the
        # store for every message would make a long backlog quadratic.
        if self._pending_cache is None:
            self._pending_cache = self.num_pending()
        pending = self._pending_cache
        return f"{self.ack_prefix}.{deliveries}.{sm.seq}.{self.dseq + 1}.{sm.ts}.{pending}".encode()

    def _send(self, sm: StoredMsg, to: bytes, redelivery: bool, reply: bytes | None = None) -> None:
        if reply is None:
            reply = self._ack_reply(sm, redelivery)
        now_ns = time.time_ns()
        self.dseq += 1
        cseq = self.dseq
        if redelivery:
            p = self.pending[sm.seq]
            p.deliveries += 1
            p.ts = now_ns
            p.cseq = cseq
            self.redelivered[sm.seq] = p.deliveries - 1
        else:
            if not self.ack_none:
                self.pending[sm.seq] = Pending(cseq, now_ns, 1, cseq)
            self.delivered_sseq = max(self.delivered_sseq, sm.seq)
            if self.ack_none:
                self.ack_floor_cseq, self.ack_floor_sseq = cseq, sm.seq
        self.last_delivered_ns = now_ns
        hdr, data = sm.hdr, sm.data
        if self.config.headers_only:
            extra = [("Nats-Msg-Size", str(len(data)))]
            _, entries = H.parse_headers(hdr)
            hdr, data = H.build_headers(entries + extra), b""
        self.core.publish(to, data, reply, hdr, frame_subject=sm.subject.encode())
        self.mark_dirty()
        if self.config.idle_heartbeat and not self.is_pull:
            self._schedule_heartbeat()
        self._touch()

    def _status(self, reply: bytes, status: str, req: PullRequest | None = None) -> None:
        entries: list[tuple[str, str]] = []
        if status == STATUS_HEARTBEAT:
            entries = [("Nats-Last-Consumer", str(self.dseq)), ("Nats-Last-Stream", str(self.delivered_sseq))]
        elif req is not None:
            entries = [
                ("Nats-Pending-Messages", str(max(req.batch - req.delivered, 0))),
                ("Nats-Pending-Bytes", str(max(req.max_bytes - req.bytes, 0) if req.max_bytes else 0)),
            ]
        self.js.respond(reply, b"", hdr=H.build_headers(entries, status))

    # -- pull requests --------------------------------------------------------------------
    def add_request(self, reply: bytes, data: bytes) -> None:
        """A CONSUMER.MSG.NEXT request: queue it (or answer at once) and try to fill it."""
        body = data.strip()
        if not body:
            req = S.PullRequestBody()
        elif body.isdigit():
            req = S.PullRequestBody(batch=int(body))
        else:
            try:
                req = codec.decode_request(body, S.PullRequestBody)
            except ApiError as err:
                text = err.description.removeprefix("invalid JSON: ")
                # the reference's text here has no "at offset N" suffix
                self._status(reply, "400 Bad Request - " + re.sub(r" at offset \d+$", "", text))
                return
        batch = max(req.batch, 1)
        cfg = self.config
        if req.idle_heartbeat and (not req.expires or req.idle_heartbeat * 2 > req.expires):
            self._status(reply, "400 Bad Request - heartbeat value too large")
            return
        if cfg.max_batch and batch > cfg.max_batch:
            self._status(reply, f"409 Exceeded MaxRequestBatch of {cfg.max_batch}")
            return
        if cfg.max_expires and req.expires > cfg.max_expires:
            self._status(reply, f"409 Exceeded MaxRequestExpires of {format_duration(cfg.max_expires)}")
            return
        if cfg.max_bytes and req.max_bytes > cfg.max_bytes:
            self._status(reply, f"409 Exceeded MaxRequestMaxBytes of {cfg.max_bytes}")
            return
        if cfg.max_waiting and len(self.waiting) >= cfg.max_waiting:
            self._status(reply, STATUS_MAX_WAITING)
            return
        now = self.core.loop.time()
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
        self.waiting.append(pr)
        self._touch()
        self._run()  # answer no_wait requests in order, within this turn

    def _expire_requests(self, now: float) -> None:
        kept: deque[PullRequest] = deque()
        for req in self.waiting:
            if req.expires_at and now >= req.expires_at:
                self._status(req.reply, STATUS_TIMEOUT, req)
                continue
            if req.heartbeat and now >= req.next_heartbeat:
                self._status(req.reply, STATUS_HEARTBEAT, req)
                req.next_heartbeat = now + req.heartbeat
            kept.append(req)
        self.waiting = kept

    def _arm_request_timer(self) -> None:
        """One timer for the soonest request expiry or heartbeat (re-armed only when that
        moves earlier, so a stream of requests does not pile up timers)."""
        times = [r.expires_at for r in self.waiting if r.expires_at]
        times += [r.next_heartbeat for r in self.waiting if r.heartbeat]
        if not times:
            return
        due = min(times) + 0.001
        t = self._req_timer
        if t is not None and not t.cancelled() and t.when() <= due:
            return  # an earlier (or the same) wake-up is already set
        if t is not None:
            t.cancel()
        self._req_timer = self.core.loop.call_at(due, self._request_timer_fired)

    def _request_timer_fired(self) -> None:
        self._req_timer = None
        self.kick()

    # -- acks -------------------------------------------------------------------------
    def _on_ack(
        self, sub: Subscription, pub: Client, subject: bytes, reply: bytes | None, hdr: int, msg: bytes
    ) -> None:
        tokens = subject.split(b".")
        if len(tokens) < 9:
            return
        try:
            sseq, cseq = int(tokens[5]), int(tokens[6])
        except ValueError:
            return
        if not reply and (not msg or msg == b"+ACK") and hdr < 0:  # the common case first
            self.ack(sseq, cseq)
            return
        body = msg[hdr:] if hdr > 0 else msg
        kind = body[:4]
        if kind in (b"+ACK", b"") or not body.strip():
            self.ack(sseq, cseq)
        elif kind == b"-NAK":
            self.nak(sseq, body[4:])
        elif kind == b"+WPI":
            p = self.pending.get(sseq)
            if p is not None:
                p.ts = time.time_ns()
                self._arm_redelivery()
        elif kind == b"+NXT":
            self.ack(sseq, cseq)
            if reply:
                self.add_request(reply, body[4:].strip())
        elif kind == b"+TER":
            self.term(sseq, body[5:].strip().decode("utf-8", "replace"))
        else:
            self.ack(sseq, cseq)
        if reply and kind != b"+NXT":
            # AckSync: answered once the state change is recorded.
            self.js.respond_after_consumer_state(self, reply)

    def ack(self, sseq: int, cseq: int) -> None:
        if self.ack_none:
            return
        if not self.ack_all and not self.stuck and not self._sample_pct:
            # the common case, kept short: one explicit ack of a pending message
            if self.pending.pop(sseq, None) is None:
                return
            if self.redelivered:
                self.redelivered.pop(sseq, None)
            # the floor sits under the first pending message: only acking that one moves it
            self._acked([sseq], sseq == self.ack_floor_sseq + 1 or not self.pending)
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
                if self._sample_pct:
                    self._sample_ack(sseq, p)
        if acked:
            self._acked(acked, True)

    def _acked(self, seqs: list[int], floor_moves: bool) -> None:
        """After acks: the floor, the durable state, retention and the next delivery pass."""
        self.last_ack_ns = time.time_ns()
        if floor_moves:
            self._update_ack_floor()
        if not self._state_dirty:
            self.mark_dirty()
        if self.stream.config.retention != "limits":
            self.stream.on_acked(self, seqs)
        if not self._scheduled:
            self.kick()

    @staticmethod
    def _sample_percent(cfg: S.ConsumerConfig) -> int:
        """``sample_freq`` ("30" or "30%"): the share of acks reported as metrics."""
        text = cfg.sample_freq.strip().rstrip("%")
        return int(text) if text.isdigit() else 0

    def _sample_ack(self, sseq: int, p: Pending) -> None:
        if secrets.randbelow(100) >= self._sample_pct:
            return
        self.js.advisory(
            f"$JS.EVENT.METRIC.CONSUMER.ACK.{self.stream.name}.{self.name}",
            "io.nats.jetstream.metric.v1.consumer_ack",
            {
                "stream": self.stream.name,
                "consumer": self.name,
                "consumer_seq": p.cseq,
                "stream_seq": sseq,
                "ack_time": time.time_ns() - p.ts,
                "deliveries": p.deliveries,
            },
        )

    def _update_ack_floor(self) -> None:
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
            self.ack_floor_sseq = self.delivered_sseq
            self.ack_floor_cseq = self.dseq
        else:
            self.ack_floor_sseq = oldest[0] - 1
            self.ack_floor_cseq = oldest[1] - 1

    def nak(self, sseq: int, arg: bytes) -> None:
        p = self.pending.get(sseq)
        if p is None:
            return
        self.js.advisory(
            f"$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.{self.stream.name}.{self.name}",
            "io.nats.jetstream.advisory.v1.nak",
            {
                "stream": self.stream.name,
                "consumer": self.name,
                "consumer_seq": p.cseq,
                "stream_seq": sseq,
                "deliveries": p.deliveries,
            },
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
            self._arm_redelivery()
        else:
            self._queue_redelivery(sseq)
            self.kick()

    def term(self, sseq: int, reason: str) -> None:
        p = self.pending.pop(sseq, None)
        if p is None:
            return
        self.redelivered.pop(sseq, None)
        self._update_ack_floor()
        self.mark_dirty()
        fields: dict[str, Any] = {
            "stream": self.stream.name,
            "consumer": self.name,
            "consumer_seq": p.cseq,
            "stream_seq": sseq,
            "deliveries": p.deliveries,
        }
        if reason:
            fields["reason"] = reason
        self.js.advisory(
            f"$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.{self.stream.name}.{self.name}",
            "io.nats.jetstream.advisory.v1.terminated",
            fields,
        )
        self.stream.on_acked(self, [sseq])
        self.kick()

    # -- redelivery -------------------------------------------------------------------
    def ack_wait_for(self, deliveries: int) -> int:
        backoff = self.config.backoff
        if backoff:
            return backoff[min(deliveries, len(backoff)) - 1]
        return self.config.ack_wait or DEFAULT_ACK_WAIT

    def _queue_redelivery(self, sseq: int) -> None:
        if sseq in self.redeliver:
            return
        p = self.pending.get(sseq)
        if p is None:
            return
        max_deliver = self.config.max_deliver
        if max_deliver > 0 and p.deliveries >= max_deliver:
            self._max_deliveries_reached(sseq, p)
            return
        # keep the queue in stream order
        if not self.redeliver or self.redeliver[-1] < sseq:
            self.redeliver.append(sseq)
        else:
            items = sorted([*self.redeliver, sseq])
            self.redeliver = deque(items)

    def _max_deliveries_reached(self, sseq: int, p: Pending) -> None:
        self.js.advisory(
            f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{self.stream.name}.{self.name}",
            "io.nats.jetstream.advisory.v1.max_deliver",
            {
                "stream": self.stream.name,
                "consumer": self.name,
                "stream_seq": sseq,
                "deliveries": p.deliveries,
            },
        )
        # no more redeliveries: it stays unacknowledged but no longer counts as pending
        del self.pending[sseq]
        self.stuck[sseq] = p.first_cseq or p.cseq
        self._update_ack_floor()
        self.mark_dirty()

    def _arm_redelivery(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.ack_none or not self.pending or self.closed:
            return
        now = time.time_ns()
        soonest = min(p.ts + self.ack_wait_for(p.deliveries) for p in self.pending.values())
        delay = max(0.0, (soonest - now) / NANOS)
        self._timer = self.core.loop.call_later(delay + 0.0005, self._redelivery_due)

    def _redelivery_due(self) -> None:
        self._timer = None
        now = time.time_ns()
        for sseq, p in list(self.pending.items()):
            if p.ts + self.ack_wait_for(p.deliveries) <= now and sseq not in self.redeliver:
                self._queue_redelivery(sseq)
        self._arm_redelivery()
        self.kick()

    # -- push extras ------------------------------------------------------------------
    # Flow control as the reference does it: bytes delivered count against a window that
    # starts at 1/16 of FC_MAX_PENDING; past half of it a FlowControl request goes out, and
    # delivery stops once the window is full. Each answered request doubles the window (up
    # to the maximum) and releases the bytes delivered before it was sent.
    def _fc_count(self, size: int) -> bool:
        """Account one delivery; True when a flow-control request is due now."""
        self._fc_bytes += size
        if not self._fc_pending:
            return self._fc_bytes > self._fc_window // 2
        if self._fc_bytes - self._fc_size >= self._fc_window:
            self._fc_size += size
        return False

    def _fc_blocked(self) -> bool:
        return self.config.flow_control and self._fc_bytes > self._fc_window

    def _send_flow_control(self) -> None:
        subject = f"$JS.FC.{self.stream.name}.{self.name}.{secrets.token_hex(2)}"
        self._fc_pending = subject
        self._fc_size = self._fc_bytes
        self.js.respond(
            self.config.deliver_subject.encode(),
            b"",
            hdr=H.build_headers([], STATUS_FLOW_CONTROL),
            reply_to=subject,
        )

    def _on_flow_control(
        self, sub: Subscription, pub: Client, subject: bytes, reply: bytes | None, hdr: int, msg: bytes
    ) -> None:
        if subject.decode() == self._fc_pending:
            self._fc_window = min(self._fc_window * 2, FC_MAX_PENDING)
            self._fc_bytes = max(0, self._fc_bytes - self._fc_size)
            self._fc_pending = ""
            self._fc_size = 0
            self.kick()

    def _schedule_heartbeat(self) -> None:
        if self._hb_timer is not None:
            self._hb_timer.cancel()
        self._hb_timer = self.core.loop.call_later(self.config.idle_heartbeat / NANOS, self._heartbeat)

    def _heartbeat(self) -> None:
        self._hb_timer = None
        if self.closed:
            return
        if self._has_push_interest():
            entries = [("Nats-Last-Consumer", str(self.dseq)), ("Nats-Last-Stream", str(self.delivered_sseq))]
            if self._fc_pending:
                entries.append(("Nats-Consumer-Stalled", self._fc_pending))
            self.js.respond(
                self.config.deliver_subject.encode(), b"", hdr=H.build_headers(entries, STATUS_HEARTBEAT)
            )
        self._schedule_heartbeat()

    # -- inactivity (ephemerals) -------------------------------------------------------
    def _touch(self) -> None:
        if self._inactive_timer is not None:
            self._arm_inactivity()

    def _arm_inactivity(self) -> None:
        if self._inactive_timer is not None:
            self._inactive_timer.cancel()
            self._inactive_timer = None
        threshold = self.config.inactive_threshold
        if threshold > 0:
            self._inactive_timer = self.core.loop.call_later(threshold / NANOS, self._inactive_check)

    def _inactive_check(self) -> None:
        self._inactive_timer = None
        if self.closed:
            return
        active = self.waiting or (not self.is_pull and self._has_push_interest())
        if active:
            self._arm_inactivity()
            return
        self.stream.delete_consumer(self)

    # -- info ---------------------------------------------------------------------------
    def num_pending(self) -> int:
        store = self.stream.store
        n = store.num_pending(self.sseq, self.filters) if self.sseq else 0
        return n + len(self._lps)

    def info(self, now_ns: int | None = None) -> S.ConsumerInfo:
        return S.ConsumerInfo(
            stream_name=self.stream.name,
            name=self.name,
            created=format_time(self.created),
            config=self.config,
            delivered=S.SequenceInfo(
                consumer_seq=self.dseq,
                stream_seq=self.delivered_sseq,
                last_active=format_time(self.last_delivered_ns) if self.last_delivered_ns else None,
            ),
            ack_floor=S.SequenceInfo(
                consumer_seq=self.ack_floor_cseq,
                stream_seq=self.ack_floor_sseq,
                last_active=format_time(self.last_ack_ns) if self.last_ack_ns else None,
            ),
            num_ack_pending=len(self.pending),
            num_redelivered=len(self.redelivered),
            num_waiting=len(self.waiting),
            num_pending=self.num_pending(),
            push_bound=self.push_bound,
            paused=bool(self.paused_until and time.time_ns() < self.paused_until),
            pause_remaining=max(0, self.paused_until - time.time_ns()) if self.paused_until else 0,
            ts=format_time(now_ns or time.time_ns()),
        )

    def wants(self, subject: str) -> bool:
        """Whether this consumer's filter covers ``subject`` (interest retention)."""
        return not self.filters or any(subject_matches(f, subject) for f in self.filters)

    def needs_ack(self, seq: int) -> bool:
        """Interest retention: is ``seq`` still owed an ack by this consumer?"""
        if self.ack_none:
            return seq >= self.sseq
        return seq in self.pending or seq >= self.sseq or seq in self._lps

    # -- persistence --------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write config and state; the write reaches the OS before acks are answered."""
        if self._saved_to != directory:
            directory.mkdir(parents=True, exist_ok=True)
            self._saved_to = directory
        meta = {
            "name": self.name,
            "created": self.created,
            "config": self.config,
            "state": {
                "delivered": [self.dseq, self.delivered_sseq],
                "ack_floor": [self.ack_floor_cseq, self.ack_floor_sseq],
                "pending": [[s, p.cseq, p.ts, p.deliveries] for s, p in self.pending.items()],
                "redelivered": [[s, n] for s, n in self.redelivered.items()],
            },
        }
        tmp = directory / "meta.json.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, msgspec.json.encode(meta))
            if self.core.opts.sync_always:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, directory / "meta.json")
        self._state_dirty = False


def load_consumer_meta(path: Path) -> tuple[str, int, S.ConsumerConfig, ConsumerState]:
    meta: dict[str, Any] = json.loads(path.read_bytes())
    cfg = msgspec.convert(meta["config"], S.ConsumerConfig)
    st = meta.get("state", {})
    state = ConsumerState(
        delivered_cseq=st.get("delivered", [0, 0])[0],
        delivered_sseq=st.get("delivered", [0, 0])[1],
        ack_floor_cseq=st.get("ack_floor", [0, 0])[0],
        ack_floor_sseq=st.get("ack_floor", [0, 0])[1],
        pending={s: Pending(c, ts, d, c) for s, c, ts, d in st.get("pending", [])},
        redelivered={s: n for s, n in st.get("redelivered", [])},
    )
    return meta["name"], int(meta["created"]), cfg, state


def _filters(cfg: S.ConsumerConfig) -> list[str]:
    """The subjects a consumer selects (none: all of the stream)."""
    return list(cfg.filter_subjects or ([cfg.filter_subject] if cfg.filter_subject else []))
