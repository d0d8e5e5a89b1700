"""A stream: captures its subjects through core routing and keeps them in a store.

Publishing into a stream is an ordinary publish on one of its subjects; an in-process
subscription hands the message to :meth:`Stream.ingest`, which applies the JetStream
headers and limits, stores it, and answers the reply subject with a PubAck.
"""

from __future__ import annotations

import shutil
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from pynatsd.gocompat import format_time, go_quote, parse_duration_ns
from pynatsd.jetstream import counters, schedules, tracing
from pynatsd.jetstream import headers as H
from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.batch import BATCH_ID_LINE, Batches, atomic_publish
from pynatsd.jetstream.consumer import Consumer
from pynatsd.jetstream.consumer_state import load_consumer_meta
from pynatsd.jetstream.errors import ApiError, JSErr, Reason, api_error
from pynatsd.jetstream.fast_batch import FI_SUFFIX, fast_publish
from pynatsd.jetstream.sourcing import Sourcing
from pynatsd.jetstream.transforms import ConfigTransform
from pynatsd.store.base import MsgStore, StoredMsg, StoreLimits

if TYPE_CHECKING:
    from pynatsd.jetstream.manager import JetStream
    from pynatsd.jetstream.schemas import StreamConfig
    from pynatsd.server.internal import Client, Subscription

NANOS = 1_000_000_000
_FI_LAST = FI_SUFFIX[-1]  # the last byte of a batched publish's reply subject


def parse_duration_header(value: str) -> int:
    """A Nats-TTL value in nanoseconds, as the reference reads it: "never" (any case) is -1
    (kept even past max_age); a Go duration ("1h", "90s") of at least a second counts in
    whole seconds; otherwise a plain number of seconds, where 0 ("00") means no TTL. Raises
    ValueError when invalid ("0", "500ms", "-1", "abc")."""
    v = value.strip()
    if v.lower() == "never":
        return -1
    try:
        ns = parse_duration_ns(v)
    except ValueError:
        if v.isascii() and v.isdigit():
            return int(v) * NANOS
        raise
    if ns < NANOS:
        raise ValueError(value)
    return ns // NANOS * NANOS


def is_marker(hdr: bytes) -> bool:
    """Whether a message is itself a tombstone (a server marker or a KV purge): its removal
    by age leaves no subject delete marker behind."""
    if not hdr:
        return False
    return H.get_header(hdr, H.MARKER_REASON) is not None or H.get_header(hdr, H.KV_OPERATION) == "PURGE"


class Stream:
    """One stream of the account: configuration, store, subject capture, publish rules."""

    def __init__(self, js: JetStream, config: StreamConfig, store: MsgStore, created: int) -> None:
        self.js = js
        self.core = js.core
        self.config = config
        self.store = store
        self.created = created  # ns
        self.name = config.name
        self.subs: list[Subscription] = []
        # de-duplication: msg id -> (seq, ts_ns), oldest first
        self.dedupe: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self.last_msg_id = ""
        self.consumers: dict[str, Consumer] = {}
        self._expiry_handle: Any = None
        self._expiry_at = 0  # ns deadline the expiry timer is set for
        self._rp_transform = ConfigTransform()  # republish destinations
        self._in_transform = ConfigTransform()  # the input subject_transform
        self._subjects: dict[bytes, str] = {}  # decoded subjects of recent publishes
        # PubAcks wait for fsync only for file streams with sync_interval: always, unless the
        # stream's persist mode is async (the reference then acks before persisting).
        self.sync_acks = (
            config.storage == "file" and js.core.opts.sync_always and config.persist_mode != "async"
        )
        self._ack_head = js.puback(self, 0, False)[: -len(b"0}")]
        self._dirty = False
        self.counter_value = ""  # counter streams: the total the last publish made
        self.scheduler: schedules.Scheduler | None = None  # streams with schedules on
        self.sourcing: Sourcing | None = None  # mirror / sources (sourcing.py), when configured
        self.batches: Batches | None = None  # batches in flight (jetstream/batch.py)
        self.counted_bytes = 0  # what the account's usage counts for this stream (engine.py)

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        """Begin capturing the configured subjects and expiring by age."""
        for subject in self.config.subjects or []:
            self.subs.append(self.core.subscribe(subject, self._on_msg))
        self.schedule_expiry()
        if self.config.allow_msg_schedules:
            self.start_scheduler()
        if self.config.mirror is not None or self.config.sources:
            self.sourcing = Sourcing(self)
            self.sourcing.start()

    def start_scheduler(self) -> None:
        """Message schedules: rebuild them from the store and arm the timer."""
        self.scheduler = schedules.Scheduler(self)
        self.scheduler.recover()

    def rebuild_dedupe(self) -> None:
        """After recovery: message ids still inside the duplicate window, from the store."""
        st = self.store.state()
        if not st.msgs:
            return
        horizon = time.time_ns() - self.config.duplicate_window
        found: list[tuple[str, int, int]] = []
        seq = st.last_seq
        while seq >= st.first_seq:
            sm = self.store.load_prev(">", seq)
            if sm is None or sm.ts < horizon:
                break
            msg_id = H.get_header(sm.hdr, H.MSG_ID)
            if sm.seq == st.last_seq:
                self.last_msg_id = msg_id or ""
            if msg_id:
                found.append((msg_id, sm.seq, sm.ts))
            seq = sm.seq - 1
        for msg_id, mseq, ts in reversed(found):
            self.dedupe[msg_id] = (mseq, ts)

    def stop(self) -> None:
        for c in self.consumers.values():
            c.stop()
        for sub in self.subs:
            self.core.unsubscribe(sub)
        self.subs.clear()
        if self.sourcing is not None:
            self.sourcing.stop()
            self.sourcing = None
        if self.batches is not None:
            self.batches.clear()
        if self._expiry_handle is not None:
            self._expiry_handle.cancel()
            self._expiry_handle = None
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None

    def resubscribe(self) -> None:
        """After an update changed the subjects: capture the new ones. Consumers, expiry and
        sourcing go on (stopping the stream here used to close its consumers for good)."""
        for sub in self.subs:
            self.core.unsubscribe(sub)
        self.subs = [self.core.subscribe(subject, self._on_msg) for subject in self.config.subjects or []]

    def limits(self) -> StoreLimits:
        c = self.config
        return StoreLimits(
            max_msgs=c.max_msgs,
            max_bytes=c.max_bytes,
            max_age_ns=c.max_age,
            max_msgs_per_subject=c.max_msgs_per_subject,
        )

    # -- expiry ---------------------------------------------------------------------
    def schedule_expiry(self) -> None:
        if self._expiry_handle is not None:
            self._expiry_handle.cancel()
            self._expiry_handle = None
        nxt = self.store.next_expiry()
        if not nxt:
            return
        delay = max(0.0, (nxt - time.time_ns()) / NANOS) + 0.001
        self._expiry_at = nxt
        self._expiry_handle = self.core.loop.call_later(delay, self._expire)

    def _expire(self) -> None:
        self._expiry_handle = None
        now = time.time_ns()
        if self.config.subject_delete_marker_ttl > 0:
            self._expire_with_markers(now)
        elif self.store.expire(now):
            self.js.on_stream_changed(self)
        self.schedule_expiry()

    def _expire_with_markers(self, now: int) -> None:
        """Expire by age, then leave a subject delete marker on every subject whose last
        message went (unless that message was a tombstone itself): a message on the
        subject with ``Nats-Marker-Reason: MaxAge``, ``Nats-TTL`` set to the stream's
        subject_delete_marker_ttl and ``Nats-Rollup: sub``, stored as if published."""
        emptied: list[tuple[int, str]] = []
        store = self.store

        def removed(sm: StoredMsg) -> None:
            if not is_marker(sm.hdr) and store.load_last(sm.subject) is None:
                emptied.append((sm.seq, sm.subject))

        if not store.expire(now, removed):
            return
        self.js.on_stream_changed(self)
        if not emptied:
            return
        ttl = H.go_seconds(self.config.subject_delete_marker_ttl // NANOS)
        hdr = H.build_headers([(H.MARKER_REASON, "MaxAge"), (H.TTL, ttl), (H.ROLLUP, "sub")])
        for _, subject in sorted(emptied):
            if store.load_last(subject) is not None:
                continue
            try:
                self.ingest(subject, hdr, b"")
            except ApiError as e:
                self.core.log.debug(
                    "Subject delete marker on %r of stream %r not stored: %s", subject, self.name, e
                )

    # -- ingest -----------------------------------------------------------------------
    def _on_msg(
        self, sub: Subscription, pub: Client, subject: bytes, reply: bytes | None, hdr: int, msg: bytes
    ) -> None:
        if hdr > 0:
            mt = self.core.msg_trace
            if mt is not None:  # a traced message: the js event (jetstream/tracing.py)
                tracing.on_msg(self, mt, sub, pub, subject, reply, hdr, msg)
                return
            h, data = msg[:hdr], msg[hdr:]
        else:
            h, data = b"", msg
        subj = self._subjects.get(subject)
        if subj is None:
            if len(self._subjects) > 4096:
                self._subjects.clear()
            subj = self._subjects[subject] = subject.decode("utf-8", "replace")
        if self.config.subject_transform is not None:
            subj = self.transform_input(subj)
        # One index test first: bytes.endswith builds an argument tuple on every call, a cost
        # every publish with a reply paid (~70 ns of the stream layer's ~1.5 µs; docs/PERFORMANCE.md)
        if reply and reply[-1] == _FI_LAST and reply.endswith(FI_SUFFIX):
            fast_publish(self, subj, reply, h, data)  # batched publish (jetstream/fast_batch.py)
            return
        if hdr > 0 and BATCH_ID_LINE in h and atomic_publish(self, subj, reply, h, data):
            return  # a message of an atomic batch (jetstream/batch.py)
        try:
            seq, duplicate = self.ingest(subj, h, data)
        except ApiError as e:
            if reply and not self.config.no_ack:
                self.js.respond(reply, self.js.puback_error(self, e))
            return
        if reply and not self.config.no_ack:
            self._ack_when_durable(reply, seq, duplicate)

    def _ack_when_durable(self, reply: bytes, seq: int, duplicate: bool) -> None:
        if duplicate:
            self.js.respond(reply, self.js.puback(self, seq, duplicate))
            return
        # The common PubAck, built from a prefix made once: {"stream":"S"[,"domain":"D"],"seq":N}
        if self.config.allow_msg_counter:
            ack = counters.pub_ack(self._ack_head, seq, self.counter_value)
        else:
            ack = self._ack_head + b"%d}" % seq
        if not self.sync_acks:
            self.core.route(reply, None, -1, b"%d" % len(ack), ack)
            return
        self.store.when_durable(lambda: self.js.respond(reply, ack))

    def ingest(self, subject: str, hdr: bytes, data: bytes, *, sourced: bool = False) -> tuple[int, bool]:
        """Store one published message; return ``(seq, duplicate)`` or raise ApiError.

        ``sourced``: the message comes from a source or a schedule, not a client; it may
        carry ``Nats-Stream-Source`` and scheduler headers, and is not checked as a counter
        increment or a schedule (the reference's rules)."""
        cfg = self.config
        if cfg.sealed:
            raise api_error(JSErr.STREAM_SEALED)
        if cfg.max_msg_size > 0 and len(hdr) + len(data) > cfg.max_msg_size and not cfg.allow_msg_counter:
            raise api_error(JSErr.STREAM_MESSAGE_EXCEEDS_MAXIMUM)
        msg_id = ""
        ttl_ns = 0
        rollup = ""
        incr = None
        if hdr:
            if b"Nats-Incr:" in hdr:
                incr = counters.check_increment(hdr, data, cfg.allow_msg_counter, sourced)
            if not sourced:
                if b"Nats-Sched" in hdr:
                    hdr = schedules.check_publish(self, subject, hdr)
                if b"Nats-Stream-Source:" in hdr:
                    raise api_error(JSErr.MESSAGE_SOURCE_HDR_NOT_ALLOWED)
            msg_id, ttl_ns, rollup, duplicate = self._check_headers(subject, hdr, sourced)
            if duplicate:
                return duplicate, True
            if ttl_ns > 0 and cfg.subject_delete_marker_ttl > 0:
                hdr, ttl_ns = self.ttl_floor(hdr, ttl_ns)
        if cfg.allow_msg_counter:
            hdr, data, self.counter_value = counters.apply(self, subject, hdr, data, incr, sourced)
        if cfg.discard == "new":
            self._check_discard_new(subject, hdr, data)
        self.js.check_resources(self, self.store.msg_size(subject, hdr, data))
        return self.store_checked(subject, hdr, data, ttl_ns, msg_id, rollup), False

    def store_checked(
        self, subject: str, hdr: bytes, data: bytes, ttl_ns: int, msg_id: str, rollup: str
    ) -> int:
        """Store a message that passed every check (of :meth:`ingest`, or of a batch in
        jetstream/batch.py and fast_batch.py) and do what follows a store: de-duplication
        record, interest retention, roll-up, schedules, republish, expiry, consumers."""
        cfg = self.config
        republish_to = self._republish_subject(subject) if cfg.republish is not None else None
        if republish_to is not None:
            prev = self.store.load_last(subject)  # for Nats-Last-Sequence
        seq, ts = self.store.store(subject, hdr, data, ttl_ns=ttl_ns)
        self.last_msg_id = msg_id
        if msg_id:
            self.dedupe[msg_id] = (seq, ts)
            self._trim_dedupe(ts)
        if cfg.retention == "interest" and not any(c.wants(subject) for c in self.consumers.values()):
            # Nobody is interested: acknowledged, counted, not kept (as the reference).
            self.store.remove(seq)
        if rollup == "sub":
            self.store.purge(subject=subject, keep=1)
        elif rollup == "all":
            self.store.purge(keep=1)
        if self.scheduler is not None:
            self.scheduler.stored(seq, subject, hdr, ts)
        if republish_to is not None:
            self._republish(republish_to, subject, hdr, data, seq, ts, prev.seq if prev is not None else 0)
        if (ttl_ns or cfg.max_age) and (
            self._expiry_handle is None or (ttl_ns > 0 and ts + ttl_ns < self._expiry_at)
        ):
            self.schedule_expiry()
        self.js.on_stream_changed(self)
        for c in self.consumers.values():
            c.kick()
        return seq

    def transform_input(self, subject: str) -> str:
        """The subject a message published (or sourced) on ``subject`` is stored under: the
        stream's ``subject_transform`` when its source matches, else ``subject`` unchanged."""
        st = self.config.subject_transform
        if st is None:
            return subject
        return self._in_transform.map(st, subject) or subject

    def after_store(self, subject: str) -> None:
        """Sourcing hook: a message stored by a mirror (``sourcing.store_mirrored``) gets
        what :meth:`ingest` gives a published one after storing: retention, expiry, consumers."""
        cfg = self.config
        if cfg.retention == "interest" and not any(c.wants(subject) for c in self.consumers.values()):
            self.store.remove(self.store.state().last_seq)
        if cfg.max_age and self._expiry_handle is None:
            self.schedule_expiry()
        self.js.on_stream_changed(self)
        for c in self.consumers.values():
            c.kick()

    def reconfigure_sourcing(self) -> None:
        """Sourcing hook, after an update: sources added or removed, a mirror removed."""
        if self.sourcing is not None:
            self.sourcing.reconfigure()
            if self.config.mirror is None and not self.config.sources:
                self.sourcing.stop()
                self.sourcing = None
        elif self.config.sources:
            self.sourcing = Sourcing(self)
            self.sourcing.start()

    def ttl_floor(self, hdr: bytes, ttl_ns: int) -> tuple[bytes, int]:
        """A message may not outlive its subject's delete marker by less than the marker's
        TTL: shorter TTLs are raised to it, and the header says so."""
        cfg = self.config
        if ttl_ns > 0 and cfg.subject_delete_marker_ttl > 0 and cfg.max_msgs_per_subject != 1:
            floor = cfg.subject_delete_marker_ttl // NANOS * NANOS
            if ttl_ns < floor:
                return H.set_header(hdr, H.TTL, str(floor // NANOS)), floor
        return hdr, ttl_ns

    def _republish_subject(self, subject: str) -> str | None:
        """Where a message on ``subject`` is republished, or None."""
        rp = self.config.republish
        if rp is None:
            return None
        return self._rp_transform.map(rp, subject)

    def _republish(
        self, to: str, subject: str, hdr: bytes, data: bytes, seq: int, ts: int, last: int
    ) -> None:
        """Once stored, the message goes on to ``to`` with where it is stored in its headers
        (and only its size instead of the payload with ``headers_only``)."""
        entries = [
            (H.STREAM, self.name),
            (H.SUBJECT, subject),
            (H.SEQUENCE, str(seq)),
            (H.TIME_STAMP, format_time(ts)),
            (H.LAST_SEQUENCE, str(last)),
        ]
        rp = self.config.republish
        if rp is not None and rp.headers_only:
            entries.append((H.MSG_SIZE, str(len(data))))
            data = b""
        self.core.publish(to, data, hdr=H.append_headers(hdr, entries))

    def _trim_dedupe(self, now: int) -> None:
        window = self.config.duplicate_window
        d = self.dedupe
        while d:
            first = next(iter(d.values()))
            if now - first[1] < window:
                break
            d.popitem(last=False)

    def _check_headers(self, subject: str, hdr: bytes, sourced: bool = False) -> tuple[str, int, str, int]:
        """Apply the Nats-Expected-* rules and de-duplication, in the reference's order;
        return the msg id, the TTL, the rollup kind and the original sequence when the
        message is a duplicate (else 0). A ``sourced`` message keeps a TTL or a rollup the
        stream would refuse from a client (as the reference)."""
        cfg = self.config
        expected_stream = H.get_header(hdr, H.EXPECTED_STREAM)
        if expected_stream is not None and expected_stream != self.name:
            raise api_error(JSErr.STREAM_NOT_MATCH)
        ttl = H.get_header(hdr, H.TTL)
        ttl_ns = 0
        ttl_invalid = False
        if ttl is not None:
            try:
                ttl_ns = parse_duration_header(ttl)
            except ValueError:
                ttl_invalid = True  # reported last, after every other check
            if ttl_ns and not cfg.allow_msg_ttl and not sourced:
                raise api_error(JSErr.MESSAGE_TTL_DISABLED)
        expected_subj_seq = H.get_header(hdr, H.EXPECTED_LAST_SUBJ_SEQ)
        subj_seq_subject = H.get_header(hdr, H.EXPECTED_LAST_SUBJ_SEQ_SUBJ)
        if subj_seq_subject and expected_subj_seq is None:
            raise api_error(JSErr.STREAM_EXPECTED_LAST_SEQ_PER_SUBJECT_INVALID)
        if expected_subj_seq is not None:
            last_msg = self.store.load_last(subj_seq_subject or subject)
            last = last_msg.seq if last_msg is not None else 0
            if _int(expected_subj_seq) != last:
                raise api_error(JSErr.STREAM_WRONG_LAST_SEQUENCE, seq=last)
        expected_last_seq = H.get_header(hdr, H.EXPECTED_LAST_SEQ)
        if expected_last_seq is not None:
            last = self.store.state().last_seq
            if _int(expected_last_seq) != last:
                raise api_error(JSErr.STREAM_WRONG_LAST_SEQUENCE, seq=last)
        msg_id = H.get_header(hdr, H.MSG_ID) or ""
        if msg_id:
            seen = self.dedupe.get(msg_id)
            if seen is not None and time.time_ns() - seen[1] < cfg.duplicate_window:
                return msg_id, 0, "", seen[0]
        expected_last_id = H.get_header(hdr, H.EXPECTED_LAST_MSG_ID)
        if expected_last_id is not None and expected_last_id != self.last_msg_id:
            raise api_error(JSErr.STREAM_WRONG_LAST_MSG_ID, id=self.last_msg_id)
        rollup = ""
        value = H.get_header(hdr, H.ROLLUP)
        if value is not None:
            if not cfg.allow_rollup_hdrs and not sourced:
                raise api_error(JSErr.STREAM_ROLLUP_FAILED, err=Reason.ROLLUP_NOT_PERMITTED)
            if value not in ("sub", "all"):
                raise api_error(JSErr.STREAM_ROLLUP_FAILED, err=Reason.ROLLUP_INVALID % go_quote(value))
            rollup = value
        if ttl_invalid:
            raise api_error(JSErr.MESSAGE_TTL_INVALID)
        return msg_id, ttl_ns, rollup, 0

    def _check_discard_new(self, subject: str, hdr: bytes, data: bytes) -> None:
        cfg = self.config
        if cfg.discard != "new":
            return
        st = self.store.state()
        if cfg.max_msgs > 0 and st.msgs >= cfg.max_msgs:
            raise api_error(JSErr.STREAM_STORE_FAILED, err=Reason.MAX_MSGS)
        if cfg.max_bytes > 0 and st.bytes + self.store.msg_size(subject, hdr, data) > cfg.max_bytes:
            raise api_error(JSErr.STREAM_STORE_FAILED, err=Reason.MAX_BYTES)
        if (
            cfg.discard_new_per_subject
            and cfg.max_msgs_per_subject > 0
            and self.store.subjects(subject).get(subject, 0) >= cfg.max_msgs_per_subject
        ):
            raise api_error(JSErr.STREAM_STORE_FAILED, err=Reason.MAX_MSGS_PER_SUBJECT)

    # -- consumers -----------------------------------------------------------------------
    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers[consumer.name] = consumer
        consumer.start()
        if consumer.durable:
            consumer.mark_dirty()

    def delete_consumer(self, consumer: Consumer) -> None:
        consumer.stop(deleted=True)
        self.consumers.pop(consumer.name, None)
        self.js.consumer_advisory(self.name, consumer.name, "delete")
        shutil.rmtree(self.js.consumer_dir(self.name, consumer.name), ignore_errors=True)
        if self.config.retention == "interest":
            self._drop_unwanted()

    def recover_consumers(self, obs: Path) -> None:
        if not obs.is_dir():
            return
        for d in sorted(obs.iterdir()):
            meta = d / "meta.json"
            if not meta.is_file():
                continue
            try:
                name, created, cfg, state = load_consumer_meta(meta)
            except (ValueError, KeyError, msgspec.ValidationError) as e:
                self.core.log.error("Error recovering consumer %r of stream %r: %s", d.name, self.name, e)
                continue
            c = Consumer(self, name, cfg, created, durable=True)
            self.consumers[name] = c
            c.start(state)

    def on_acked(self, consumer: Consumer, seqs: list[int]) -> None:
        """Retention: a work queue forgets a message once acked; an interest stream once
        every consumer that wants it has acked it."""
        retention = self.config.retention
        if retention == "limits":
            return
        removed = False
        for seq in seqs:
            if retention == "workqueue":
                removed |= self.store.remove(seq)
                continue
            sm = self.store.load(seq)
            if sm is None:
                continue
            if not any(
                c.wants(sm.subject) and c.needs_ack(seq) for c in self.consumers.values() if c is not consumer
            ):
                removed |= self.store.remove(seq)
        if removed:
            self.js.on_stream_changed(self)

    def _drop_unwanted(self) -> None:
        """Interest retention after a consumer left: drop what nobody still wants."""
        st = self.store.state()
        removed = False
        for seq in list(self.store.sequences(st.first_seq or 1, [])):
            sm = self.store.load(seq)
            if sm is None:
                continue
            if not any(c.wants(sm.subject) and c.needs_ack(seq) for c in self.consumers.values()):
                removed |= self.store.remove(seq)
        if removed:
            self.js.on_stream_changed(self)

    # -- changes made through the API ----------------------------------------------------
    def purge(self, subject: str = "", seq: int = 0, keep: int = 0) -> int:
        n = self.store.purge(subject=subject, seq=seq, keep=keep)
        if self.sourcing is not None:  # the sources' positions outlive their headers (sourcing.py)
            self.sourcing.persist(force=True)
        self.js.on_stream_changed(self)
        return n

    def remove(self, seq: int, erase: bool = True) -> bool:
        ok = self.store.remove(seq, erase=erase)
        if ok:
            self.js.on_stream_changed(self)
        return ok

    def state_struct(self, deleted: bool = False) -> S.StreamState:
        st = self.store.state(with_deleted=deleted)
        return S.StreamState(
            messages=st.msgs,
            bytes=st.bytes,
            first_seq=st.first_seq,
            first_ts=format_time(st.first_ts),
            last_seq=st.last_seq,
            last_ts=format_time(st.last_ts),
            num_subjects=st.num_subjects,
            num_deleted=st.num_deleted,
            deleted=st.deleted or None if deleted else None,
            consumer_count=sum(1 for c in self.consumers.values() if not c.config.direct),
        )


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return -1
