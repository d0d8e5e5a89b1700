"""Consumers: a cursor over a stream, and the delivery pass that moves it.

A consumer delivers through core routing: pull consumers to the reply subject of each
``CONSUMER.MSG.NEXT`` request, push consumers to their ``deliver_subject``. Each delivery
carries the reply subject ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``
on which the client acknowledges. Delivery runs at most once per loop turn (:meth:`Consumer.kick`),
so a burst of new messages or acks costs one pass.

The consumer is made of parts, each in its own module: the pull request queue
(``pull.py``), ack tracking and redelivery (``acks.py``), push flow control
(``flow_control.py``), priority groups (``priority.py``) and the durable state file
(``consumer_state.py``). This module holds the cursor, the delivery pass with its one
per-message step shared by pull and push (:meth:`Consumer._take` then :meth:`Consumer._send`),
the batched path for new messages, and the consumer's life: start, stop, config updates,
pause, idle heartbeats, inactivity and its info.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from pynatsd.gocompat import ZERO_TIME, format_time, parse_time
from pynatsd.jetstream import headers as H
from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.acks import AckTracker
from pynatsd.jetstream.consumer_config import required_api_level
from pynatsd.jetstream.consumer_state import ConsumerState, Pending, write_consumer_meta
from pynatsd.jetstream.flow_control import FlowControl
from pynatsd.jetstream.priority import PriorityGroups
from pynatsd.jetstream.pull import STATUS_HEARTBEAT, PullQueue
from pynatsd.jetstream.sourcing_consumers import fc_ack_due, fc_acked
from pynatsd.protocol.frames import msg_head
from pynatsd.protocol.subjects import subject_matches
from pynatsd.store.base import StoredMsg

if TYPE_CHECKING:
    from asyncio import TimerHandle

    from pynatsd.jetstream.stream import Stream
    from pynatsd.server.internal import Client, Subscription

NANOS = 1_000_000_000
STATUS_FLOW_CONTROL = "100 FlowControl Request"
PUSH_BATCH = 256  # push deliveries written per batch
PUSH_TURN_MSGS = 4096  # push deliveries per loop turn before the rest waits for the next one


class Consumer:
    """One consumer of a stream."""

    def __init__(
        self, stream: Stream, name: str, config: S.ConsumerConfig, created: int, durable: bool
    ) -> None:
        self.stream = stream
        self.js = stream.js
        self.core = stream.core
        self.name = name
        self.config: S.ConsumerConfig = config
        self.created = created
        self.durable = durable
        self.filters = _filters(config)
        self.is_pull = not config.deliver_subject
        self.ack_none = config.ack_policy == "none"
        # ack "flow_control" (2.14+): acks ride on flow-control answers (sourcing_consumers.py)
        self.ack_fc = config.ack_policy == "flow_control"
        # the parts
        self.acks = AckTracker(self)
        self.pull = PullQueue(self)
        self.priority = PriorityGroups(self) if config.priority_policy != "none" else None
        self.fc = FlowControl(f"$JS.FC.{stream.name}.{name}") if config.flow_control else None
        # the cursor: the next stream sequence to look at, and what was handed out
        self.sseq = 0
        self.dseq = 0  # last consumer sequence handed out
        self.delivered_sseq = 0
        self.last_delivered_ns = 0
        self._lps: deque[int] = deque()  # last-per-subject start set
        self._from_lps = False  # the message _next_msg handed out last came from _lps
        self._pending_cache: int | None = None  # num_pending, counted once per pass
        self.closed = False
        self.paused_until = 0
        self.state_dirty = False
        self.scheduled = False  # a delivery pass is due at the end of this turn
        self._ack_sub: Subscription | None = None
        self._fc_sub: Subscription | None = None
        self._unwatch: Callable[[], None] | None = None  # stops watching for push interest
        self._hb_timer: TimerHandle | None = None
        self._inactive_timer: TimerHandle | None = None
        self._hb_armed = self._inactive_armed = 0.0  # loop time each timer was last armed
        self._saved_to: Path | None = None  # the state directory, once created
        self._rate_tokens = 0.0
        self._rate_at = 0.0  # loop time the bucket was last filled; 0 = full, never used
        self._replay_last_ts = 0
        self._replay_last_wall = 0.0
        self._replay_until: int | None = None  # replay original: the stream's last seq at start
        self._paced = False  # this pass stopped to wait for replay original's spacing

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
        if not self.ack_none and not self.ack_fc:  # the reference has no ack listener for these
            self._ack_sub = self.core.claim_prefix(self.ack_prefix, self.acks.on_ack)
        if self.fc is not None:
            self._fc_sub = self.core.subscribe(self.fc.prefix + ".>", self._on_flow_control)
        if self.config.idle_heartbeat and not self.is_pull:
            self._schedule_heartbeat()
        if not self.is_pull:
            self._unwatch = self.core.watch_interest(self.config.deliver_subject, self.kick)
        self._arm_inactivity()
        self.acks.arm()
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
        for t in (self._hb_timer, self._inactive_timer):
            if t is not None:
                t.cancel()
        self.acks.cancel()
        self.pull.close(deleted)
        if self.priority is not None:
            self.priority.close()

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
        self.delivered_sseq = self.acks.floor_sseq = max(self.sseq - 1, 0) if not self._lps else 0
        if self._lps:
            self.delivered_sseq = self.acks.floor_sseq = max(self._lps[0] - 1, 0)

    def reset_position(self, seq: int) -> None:
        """Start over at stream sequence ``seq`` (CONSUMER.RESET, a sourcing consumer
        taken up again): nothing pending, consumer sequences from 1, the floor under ``seq``."""
        acks = self.acks
        acks.pending.clear()
        acks.redeliver.clear()
        acks.redelivered.clear()
        acks.stuck.clear()
        self._lps.clear()
        self.sseq = seq
        self.dseq = 0
        self.delivered_sseq = seq - 1
        acks.floor_cseq, acks.floor_sseq = 0, seq - 1
        self._pending_cache = None
        self.mark_dirty()
        self.kick()

    # -- state persistence ------------------------------------------------------------
    def state(self) -> ConsumerState:
        """The durable state, sharing the tracker's dicts (read it before the next change)."""
        acks = self.acks
        return ConsumerState(
            delivered_cseq=self.dseq,
            delivered_sseq=self.delivered_sseq,
            ack_floor_cseq=acks.floor_cseq,
            ack_floor_sseq=acks.floor_sseq,
            pending=acks.pending,
            redelivered=acks.redelivered,
        )

    def _restore(self, st: ConsumerState) -> None:
        self.dseq = st.delivered_cseq
        self.delivered_sseq = st.delivered_sseq
        self.acks.restore(st.ack_floor_cseq, st.ack_floor_sseq, st.pending, st.redelivered)
        self.sseq = st.delivered_sseq + 1

    def mark_dirty(self) -> None:
        """Durable state is written at the end of the turn (not for ``mem_storage`` consumers)."""
        if self.durable and not self.config.mem_storage and not self.state_dirty:
            self.state_dirty = True
            self.js.consumer_dirty(self)

    def save(self, directory: Path) -> None:
        """Write config and state; the write reaches the OS before acks are answered."""
        if self._saved_to != directory:
            directory.mkdir(parents=True, exist_ok=True)
            self._saved_to = directory
        write_consumer_meta(
            directory, self.name, self.created, self.config, self.state(), self.core.opts.sync_always
        )
        self.state_dirty = False

    # -- config, pause ------------------------------------------------------------------
    def update_config(self, cfg: S.ConsumerConfig) -> None:
        """An allowed update (checked by the API): new limits apply from now on."""
        self.config = cfg
        self.filters = _filters(cfg)
        self._pending_cache = None
        self.acks.config_changed(cfg)
        self._priority_config(cfg)
        self._apply_pause_until()
        self.mark_dirty()
        self._inactive_armed = float("-inf")  # the threshold may have changed: re-arm now
        self._arm_inactivity()
        self.acks.arm()
        self.kick()

    def _priority_config(self, cfg: S.ConsumerConfig) -> None:
        """An update may change the priority policy. As in the reference a pin outlives it:
        until it times out, requests without its id wait (even under policy "none")."""
        prio = self.priority
        if prio is None:
            if cfg.priority_policy != "none":
                self.priority = PriorityGroups(self)
            return
        prio.policy = cfg.priority_policy
        if prio.policy == "none" and not prio.pin_id:
            self.priority_done()

    def priority_done(self) -> None:
        """Policy "none" and no pin left: back to plain delivery."""
        if self.priority is not None:
            self.priority.close()
            self.priority = None

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

    # -- the delivery pass ----------------------------------------------------------------
    def kick(self) -> None:
        """Run delivery once at the end of this loop turn."""
        if not self.scheduled and not self.closed:
            self.scheduled = True
            self.core.loop.call_soon(self.run)

    def _has_push_interest(self) -> bool:
        """A subscription on exactly the deliver subject: the reference does not count a
        wildcard subscription that merely covers it."""
        return self.core.has_subscription_on(self.config.deliver_subject)

    @property
    def push_bound(self) -> bool:
        return not self.is_pull and self._has_push_interest()

    def run(self) -> None:
        """One delivery pass: fill pull requests, or push to the deliver subject."""
        self.scheduled = False  # a delivery pass is due at the end of this turn
        self._pending_cache = None
        if self.closed:
            return
        paused = bool(self.paused_until) and time.time_ns() < self.paused_until
        if self.is_pull:
            self._run_pull(paused)
        elif not paused:
            self._run_push()
        if not paused:
            self.acks.arm()

    def _run_pull(self, paused: bool) -> None:
        pull = self.pull
        pull.expire(self.core.loop.time())
        if paused:
            pull.timer_fired = False
            pull.answer_no_wait(paused=True)
            pull.arm()
            return
        waiting = pull.waiting
        acks = self.acks
        self._paced = False
        if self.priority is not None:
            self.priority.deliver()
        else:
            has_interest = self.core.has_interest
            # redeliveries go out even at max_ack_pending (they add nothing to the pending set)
            while waiting and (acks.redeliver or acks.can_take_more()):
                req = waiting[0]
                if not has_interest(req.reply):
                    waiting.popleft()  # the requester is gone: its request ends unanswered
                    continue
                if req.max_bytes <= 0 and self._batchable():
                    # one request waiting: all it wants in one batch; several: one message
                    # each in turn, as the reference hands them out
                    one = len(waiting) > 1
                    got = self._deliver_batch(req.reply, 1 if one else req.batch - req.delivered)
                    if got == 0:
                        break
                    if got > 0:
                        if pull.served(req, got, 0) and one:
                            waiting.rotate(-1)
                        continue
                took = self._take()
                if took is None:
                    break
                sm, redelivery, reply, size = took
                if req.max_bytes > 0 and req.bytes + size > req.max_bytes:
                    pull.too_big(req)
                    self._unread(sm.seq, redelivery)
                    continue
                self._send(sm, req.reply, redelivery, reply)
                if pull.served(req, 1, size) and len(waiting) > 1:
                    waiting.rotate(-1)
        # no_wait requests end (404) when delivery stops, except when it only waits for
        # replay original's spacing, or max_ack_pending stalls it: then they wait for acks,
        # or for the next expiry or heartbeat timer
        stalled = bool(waiting) and not acks.redeliver and not acks.can_take_more()
        if not self._paced and (not stalled or pull.timer_fired):
            pull.answer_no_wait()
        pull.timer_fired = False
        pull.arm()

    def _run_push(self) -> None:
        fc = self.fc
        if (fc is not None and fc.blocked) or not self._has_push_interest():
            return
        deliver = self.config.deliver_subject.encode()
        budget = PUSH_TURN_MSGS
        acks = self.acks
        while (acks.redeliver or acks.can_take_more()) and not (fc is not None and fc.blocked):
            if self._batchable():
                if budget <= 0:
                    self.kick()  # a long backlog goes out over several turns, flushed between
                    break
                got = self._deliver_batch(deliver, min(budget, PUSH_BATCH))
                if got == 0:
                    break
                if got > 0:
                    budget -= got
                    continue
            took = self._take()
            if took is None:
                break
            sm, redelivery, reply, size = took
            if self.config.rate_limit_bps and self._rate_wait(size):
                self._unread(sm.seq, redelivery)
                break
            self._send(sm, deliver, redelivery, reply)
            if fc is not None and fc.count(size):
                self._send_flow_control()
            budget -= 1  # also one by one (in-process receivers): a backlog never holds the loop
            if budget <= 0:
                self.kick()
                break
        if self.ack_fc:
            fc_ack_due(self)

    # -- the per-message step -------------------------------------------------------------
    def _take(self) -> tuple[StoredMsg, bool, bytes, int] | None:
        """The next message to deliver, with whether it is a redelivery, the ack subject it
        will carry and its size as max_bytes and rate limits count it; None when there is
        nothing to deliver or replay original makes it wait. Pull and push both take with
        this and deliver with :meth:`_send`, or put it back with :meth:`_unread`."""
        sm, redelivery = self._next_msg()
        if sm is None:
            return None
        if self._replay_wait(sm, redelivery):
            self._unread(sm.seq, redelivery)
            self._paced = True
            return None
        reply = self._ack_reply(sm, redelivery)
        return sm, redelivery, reply, len(sm.subject) + len(reply) + len(sm.hdr) + len(sm.data)

    def _next_msg(self) -> tuple[StoredMsg | None, bool]:
        """The next message to deliver: due redeliveries first, then new ones."""
        store = self.stream.store
        self._from_lps = False
        acks = self.acks
        while (seq := acks.take_redelivery()) is not None:
            sm = store.load(seq)
            if sm is None:
                acks.forget(seq)
                continue
            return sm, True
        if not acks.can_take_more():  # max_ack_pending holds back new messages only
            return None, False
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
            self.acks.redeliver.appendleft(seq)
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
        deliveries = self.acks.deliveries_of(sm.seq) + 1 if redelivery else 1
        # num_pending is counted once per delivery pass, then kept up to date: counting the
        # store for every message would make a long backlog quadratic.
        if self._pending_cache is None:
            self._pending_cache = self.num_pending()
        pending = self._pending_cache
        return f"{self.ack_prefix}.{deliveries}.{sm.seq}.{self.dseq + 1}.{sm.ts}.{pending}".encode()

    def _send(self, sm: StoredMsg, to: bytes, redelivery: bool, reply: bytes) -> None:
        now_ns = time.time_ns()
        self.dseq += 1
        cseq = self.dseq
        if redelivery:
            self.acks.redelivered_now(sm.seq, cseq, now_ns)
        else:
            self.acks.delivered(sm.seq, cseq, now_ns)
            self.delivered_sseq = max(self.delivered_sseq, sm.seq)
        self.last_delivered_ns = now_ns
        hdr, data = sm.hdr, sm.data
        if self.config.headers_only:
            extra = [("Nats-Msg-Size", str(len(data)))]
            _, entries = H.parse_headers(hdr)
            hdr, data = H.build_headers(entries + extra), b""
        self.core.publish(to, data, reply, hdr, frame_subject=sm.subject.encode())
        if self.ack_none and self.stream.config.retention != "limits":
            self.stream.on_acked(self, [sm.seq])  # delivered is acknowledged (interest)
        self._delivered()

    def _delivered(self) -> None:
        """After a delivery: durable state, the idle heartbeat and inactivity restart."""
        self.mark_dirty()
        if self.config.idle_heartbeat and not self.is_pull:
            self._schedule_heartbeat()
        self.touch()

    # -- the batched path for new messages --------------------------------------------------
    def _batchable(self) -> bool:
        """Whether the next messages are new ones delivered as they are stored: then they
        go out as a batch (one store read, frames written straight to the receiver)."""
        return (
            not self.acks.redeliver
            and not self._lps
            and not self.config.headers_only
            and not self.config.rate_limit_bps
            and self._replay_until is None
        )

    def _deliver_batch(self, to: bytes, limit: int) -> int:
        """Deliver up to ``limit`` new messages to ``to`` in one pass; how many, -1 when
        routing to ``to`` is not simple (the caller goes message by message). With flow
        control the batch ends where a flow-control request is due or the window is full,
        and the request follows the batch."""
        core = self.core
        sub = core.direct_receiver(to)
        if sub is None:
            return -1
        acks = self.acks
        mp = self.config.max_ack_pending
        if not self.ack_none and mp > 0:
            limit = min(limit, mp - len(acks.pending))
        store = self.stream.store
        msgs = store.load_batch(self.filters, self.sseq, limit)
        if not msgs:
            self._caught_up()
            return 0
        if self._pending_cache is None:
            self._pending_cache = self.num_pending()
        left = self._pending_cache
        now_ns = time.time_ns()
        cseq = self.dseq
        prefix = self.ack_prefix.encode()
        sid = sub.sid_b
        track = None if self.ack_none else acks.pending
        fc = self.fc
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
                head = msg_head(subject.encode(), sid) + b" " + prefix + b".1."
                hhead = b"H" + head
            hdr, data = sm.hdr, sm.data
            # the rest of the ack subject, then [hdr] size, as frames.msg_tails writes them
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
            if fc is not None:
                # the reply subject is the prefix, ".1." and the line up to its first space
                reply_len = len(prefix) + 3 + line.index(b" ")
                fc_due = fc.count(len(subject) + reply_len + n)
                if fc_due or fc.blocked:
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
            acks.floor_cseq, acks.floor_sseq = cseq, last
            if self.stream.config.retention != "limits":
                self.stream.on_acked(self, [m.seq for m in msgs[:count]])  # delivered is acknowledged
        self.last_delivered_ns = now_ns
        self._delivered()
        return count

    # -- pacing: replay original and rate limit -----------------------------------------------
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

    # -- push extras: flow control and idle heartbeats --------------------------------------
    def _send_flow_control(self) -> None:
        assert self.fc is not None
        self.js.respond(
            self.config.deliver_subject.encode(),
            b"",
            hdr=H.build_headers([], STATUS_FLOW_CONTROL),
            reply_to=self.fc.request(),
        )

    def _on_flow_control(
        self, sub: Subscription, pub: Client, subject: bytes, reply: bytes | None, hdr: int, msg: bytes
    ) -> None:
        if self.fc is not None and self.fc.answered(subject):
            if self.ack_fc and hdr > 0:
                fc_acked(self, msg[:hdr])
            self.kick()

    def _schedule_heartbeat(self) -> None:
        interval = self.config.idle_heartbeat / NANOS
        now = self.core.loop.time()
        if self._hb_timer is not None:
            if now - self._hb_armed < interval / 32:
                return  # armed a moment ago: deliveries one by one do not re-arm it each time
            self._hb_timer.cancel()
        self._hb_armed = now
        self._hb_timer = self.core.loop.call_later(interval, self._heartbeat)

    def _heartbeat(self) -> None:
        self._hb_timer = None
        if self.closed:
            return
        if self._has_push_interest():
            entries = [("Nats-Last-Consumer", str(self.dseq)), ("Nats-Last-Stream", str(self.delivered_sseq))]
            if self.fc is not None and self.fc.pending:
                entries.append(("Nats-Consumer-Stalled", self.fc.pending))
            self.js.respond(
                self.config.deliver_subject.encode(), b"", hdr=H.build_headers(entries, STATUS_HEARTBEAT)
            )
            if self.ack_fc and self.acks.pending and self.fc is not None and not self.fc.pending:
                self._send_flow_control()  # at a pause, the answer acknowledges what was delivered
        self._schedule_heartbeat()

    # -- inactivity (ephemerals) -------------------------------------------------------
    def touch(self) -> None:
        """Activity: an inactive_threshold starts over."""
        if self._inactive_timer is not None:
            self._arm_inactivity()

    def _arm_inactivity(self) -> None:
        threshold = self.config.inactive_threshold / NANOS
        now = self.core.loop.time()
        if self._inactive_timer is not None:
            if now - self._inactive_armed < threshold / 32:
                return  # armed a moment ago (see _schedule_heartbeat)
            self._inactive_timer.cancel()
            self._inactive_timer = None
        if threshold > 0:
            self._inactive_armed = now
            self._inactive_timer = self.core.loop.call_later(threshold, self._inactive_check)

    def _inactive_check(self) -> None:
        self._inactive_timer = None
        if self.closed:
            return
        if self.is_pull:
            self.pull.expire(self.core.loop.time())
        active = self.pull.waiting or (not self.is_pull and self._has_push_interest())
        if active:
            self._arm_inactivity()
            return
        self.stream.delete_consumer(self)

    # -- info ---------------------------------------------------------------------------
    def num_pending(self) -> int:
        store = self.stream.store
        n = store.num_pending(self.sseq, self.filters) if self.sseq else 0
        return n + len(self._lps)

    def pending_count(self) -> int:
        """num_pending as the delivery pass keeps it (counted at most once per pass)."""
        if self._pending_cache is None:
            self._pending_cache = self.num_pending()
        return self._pending_cache

    def info(self, now_ns: int | None = None) -> S.ConsumerInfo:
        acks = self.acks
        if self.is_pull:
            self.pull.expire(self.core.loop.time())  # num_waiting counts live requests only
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
                consumer_seq=acks.floor_cseq,
                stream_seq=acks.floor_sseq,
                last_active=format_time(acks.last_ack_ns) if acks.last_ack_ns else None,
            ),
            num_ack_pending=len(acks.pending),
            num_redelivered=len(acks.redelivered),
            num_waiting=len(self.pull.waiting),
            num_pending=self.num_pending(),
            push_bound=self.push_bound,
            paused=bool(self.paused_until and time.time_ns() < self.paused_until),
            pause_remaining=max(0, self.paused_until - time.time_ns()) if self.paused_until else 0,
            ts=format_time(now_ns or time.time_ns()),
            priority_groups=self.priority.info() if self.priority is not None else None,
        )

    def wants(self, subject: str) -> bool:
        """Whether this consumer's filter covers ``subject`` (interest retention)."""
        return not self.filters or any(subject_matches(f, subject) for f in self.filters)

    def needs_ack(self, seq: int) -> bool:
        """Interest retention: is ``seq`` still owed an ack by this consumer?"""
        if self.ack_none:
            return seq >= self.sseq
        return self.acks.owes(seq) or seq >= self.sseq or seq in self._lps


def _filters(cfg: S.ConsumerConfig) -> list[str]:
    """The subjects a consumer selects (none: all of the stream)."""
    return list(cfg.filter_subjects or ([cfg.filter_subject] if cfg.filter_subject else []))
