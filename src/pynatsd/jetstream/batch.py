"""Atomic batch publish (``allow_atomic``): messages carrying ``Nats-Batch-Id`` are staged
per batch and stored all together, or not at all, when the commit arrives.

The protocol, as the reference's (2.15): every message of a batch has ``Nats-Batch-Id``
(at most 64 bytes) and ``Nats-Batch-Sequence`` (1, 2, 3... without gaps); the last one has
``Nats-Batch-Commit: 1`` (stored with the batch) or ``Nats-Batch-Commit: eob`` (an end
marker that is not stored; the message before it is stored with ``Nats-Batch-Commit: 1``).
Staged messages are answered with an empty reply; the commit with a PubAck carrying
``batch`` and ``count`` (the sequence is the batch's last), or with the error that
abandoned the batch. A batch is keyed only by its id, so its messages may come from
several connections. Limits: 1000 messages a batch, 50 batches in flight per stream,
1000 per server, and 10 s between two messages of a batch (``jetstream { limits { batch
{ max_msgs, max_inflight_per_stream, max_inflight_total, timeout } } }``); a batch that
breaks one is abandoned with a ``$JS.EVENT.ADVISORY.STREAM.BATCH_ABANDONED`` advisory.

At the commit every staged message goes through the batch's consistency checks (the
reference's: expected-last-sequence only on the first message, expected subject sequences
and roll-ups only before the batch touches that subject, message ids unique and not
duplicates, discard-new limits counted over the whole batch); only when all pass are the
messages stored, in one loop turn, so nothing else interleaves and the file store hands
them to the OS in one write (plus one fsync with ``sync_interval: always``) before the
PubAck leaves. Roll-up purges of the batch are applied after its last message is stored.

Crash safety (file streams): a batch's messages are stored with their ``Nats-Batch-*``
headers, the last one with ``Nats-Batch-Commit``. If the process dies part-way through
writing a committed batch, the stream's last sequence holds a batch message without the
commit header;
:func:`recover` (run when the stream is recovered) removes those messages, so a batch
whose PubAck was never sent is never half-stored; and it re-applies the roll-ups of a
batch that did reach its commit message (the purges come after it in the log). The
reference instead keeps each batch in a staging store on disk and finishes the torn
write on restart; both end all-or-nothing. Staged (uncommitted) batches are kept in
memory here and, as in the reference, are gone after a restart.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pynatsd.gocompat import go_quote
from pynatsd.jetstream import headers as H
from pynatsd.jetstream.errors import ApiError, JSErr, Reason, api_error
from pynatsd.jetstream.schemas import API_LEVEL

if TYPE_CHECKING:
    from pynatsd.jetstream.manager import JetStream
    from pynatsd.jetstream.stream import Stream

BATCH_ID = "Nats-Batch-Id"
BATCH_SEQ = "Nats-Batch-Sequence"
BATCH_COMMIT = "Nats-Batch-Commit"
BATCH_ID_LINE = b"\r\n" + BATCH_ID.encode() + b":"  # the stream's cheap test before any parsing

DEFAULT_TIMEOUT = 10.0  # seconds
DEFAULT_MAX_MSGS = 1000
DEFAULT_MAX_INFLIGHT_PER_STREAM = 50
DEFAULT_MAX_INFLIGHT_TOTAL = 1000
MAX_ID_LEN = 64

ADVISORY_PREFIX = "$JS.EVENT.ADVISORY.STREAM.BATCH_ABANDONED"
ADVISORY_TYPE = "io.nats.jetstream.advisory.v1.stream_batch_abandoned"

# Batches in flight per server (one JetStream per server).
_inflight: weakref.WeakKeyDictionary[JetStream, int] = weakref.WeakKeyDictionary()


@dataclass(slots=True)
class Staged:
    subject: str
    hdr: bytes
    data: bytes


@dataclass(slots=True)
class _Batch:
    id: str
    msgs: list[Staged] = field(default_factory=list)
    timer: Any = None  # asyncio.TimerHandle of the inactivity timeout


class Batches:
    """The batches in flight on one stream (``Stream.batches``, made on first use): atomic
    ones here, batched-publish ones (``fast_batch.py``) in ``fast``."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.inflight: dict[str, _Batch] = {}
        self.fast: dict[str, Any] = {}  # id -> fast_batch.FastBatch

    def clear(self, atomic: bool = True, fast: bool = True) -> None:
        """Drop batches in flight without an advisory (stream deleted, or atomic or batched
        publish turned off, as the reference)."""
        if atomic:
            for b in list(self.inflight.values()):
                self._drop(b)
        if fast:
            for f in list(self.fast.values()):
                f.drop()

    def _drop(self, b: _Batch) -> None:
        if self.inflight.pop(b.id, None) is None:
            return
        if b.timer is not None:
            b.timer.cancel()
            b.timer = None
        js = self.stream.js
        _inflight[js] = _inflight.get(js, 1) - 1

    def _abandon(self, b: _Batch, reason: str) -> None:
        self._drop(b)
        advisory(self.stream, b.id, reason)

    def _arm(self, b: _Batch) -> None:
        if b.timer is not None:
            b.timer.cancel()
        b.timer = self.stream.core.loop.call_later(limits(self.stream)[0], self._abandon, b, "timeout")


def batches_of(stream: Stream) -> Batches:
    """The stream's batches, made on first use."""
    batches = stream.batches
    if batches is None:
        batches = stream.batches = Batches(stream)
    return batches


def advisory(stream: Stream, batch_id: str, reason: str) -> None:
    """``$JS.EVENT.ADVISORY.STREAM.BATCH_ABANDONED.<stream>``: reason ``timeout``, ``large``,
    ``incomplete`` or ``unsupported``."""
    fields: dict[str, Any] = {"stream": stream.name}
    domain = stream.core.opts.jetstream_domain
    if domain:
        fields["domain"] = domain
    fields["batch"] = batch_id
    fields["reason"] = reason
    stream.js.advisory(f"{ADVISORY_PREFIX}.{stream.name}", ADVISORY_TYPE, fields)


def limits(stream: Stream) -> tuple[float, int, int, int]:
    """(timeout s, max messages, max in flight per stream, max in flight per server)."""
    o = stream.core.opts
    return (
        o.jetstream_batch_timeout or DEFAULT_TIMEOUT,
        o.jetstream_batch_max_msgs or DEFAULT_MAX_MSGS,
        o.jetstream_batch_max_inflight_per_stream or DEFAULT_MAX_INFLIGHT_PER_STREAM,
        o.jetstream_batch_max_inflight_total or DEFAULT_MAX_INFLIGHT_TOTAL,
    )


def uint(value: str | None) -> int | None:
    """Go's parseUint64 of a header value: digits only, else None."""
    if not value or not value.isascii() or not value.isdigit():
        return None
    n = int(value)
    return n if n < 1 << 64 else None


def atomic_publish(stream: Stream, subject: str, reply: bytes | None, hdr: bytes, data: bytes) -> bool:
    """Handle a message with a ``Nats-Batch-Id`` header; False when the id is empty (then
    it is an ordinary message)."""
    batch_id = H.get_header(hdr, BATCH_ID)
    if not batch_id:
        return False
    can_respond = bool(reply) and not stream.config.no_ack
    try:
        done = _on_msg(stream, batch_id, subject, hdr, data)
    except ApiError as e:
        if can_respond:
            assert reply is not None
            stream.js.respond(reply, stream.js.puback_error(stream, e))
        return True
    if can_respond:
        assert reply is not None
        if done is None:
            stream.js.respond(reply, b"")  # staged
        else:
            _ack(stream, reply, batch_id, *done)
    return True


def _ack(stream: Stream, reply: bytes, batch_id: str, seq: int, count: int) -> None:
    ack = stream._ack_head + b'%d,"batch":%s,"count":%d}' % (seq, go_quote(batch_id).encode(), count)
    if stream.sync_acks:
        stream.store.when_durable(lambda: stream.js.respond(reply, ack))
    else:
        stream.js.respond(reply, ack)


def _on_msg(stream: Stream, batch_id: str, subject: str, hdr: bytes, data: bytes) -> tuple[int, int] | None:
    """Stage one message; at the commit store the batch. Returns None when staged, else
    ``(last sequence, count)``; raises ApiError (for the reply) when refused."""
    cfg = stream.config
    if cfg.sealed:
        raise api_error(JSErr.STREAM_SEALED)
    if cfg.max_msg_size >= 0 and len(hdr) + len(data) > cfg.max_msg_size:
        raise api_error(JSErr.STREAM_MESSAGE_EXCEEDS_MAXIMUM)
    if not cfg.allow_atomic:
        raise api_error(JSErr.ATOMIC_PUBLISH_DISABLED)
    if len(batch_id.encode()) > MAX_ID_LEN:
        raise api_error(JSErr.ATOMIC_PUBLISH_INVALID_BATCH_ID)
    seq = uint(H.get_header(hdr, BATCH_SEQ))
    if seq is None:
        raise api_error(JSErr.ATOMIC_PUBLISH_MISSING_SEQ)
    commit_value = H.get_header(hdr, BATCH_COMMIT)
    eob = commit_value == "eob"
    commit = commit_value is not None
    _, max_msgs, per_stream, total = limits(stream)
    size = (seq - 1) % (1 << 64) if eob else seq  # the end marker does not count (uint64: 0 wraps)
    batches = batches_of(stream)
    b = batches.inflight.get(batch_id)
    if b is None:
        if seq != 1:
            if size > max_msgs:
                raise api_error(JSErr.ATOMIC_PUBLISH_TOO_LARGE_BATCH, size=max_msgs)
            raise api_error(JSErr.ATOMIC_PUBLISH_INCOMPLETE_BATCH)
        js = stream.js
        if len(batches.inflight) >= per_stream or _inflight.get(js, 0) >= total:
            raise api_error(JSErr.ATOMIC_PUBLISH_TOO_MANY_INFLIGHT)
        _inflight[js] = _inflight.get(js, 0) + 1
        b = batches.inflight[batch_id] = _Batch(batch_id)
        batches._arm(b)
    if commit and not eob and commit_value != "1":
        batches._drop(b)
        raise api_error(JSErr.ATOMIC_PUBLISH_INVALID_BATCH_COMMIT)
    level = H.get_header(hdr, H.REQUIRED_API_LEVEL)
    if level is not None:
        if H.api_level_unmet(level, API_LEVEL):
            batches._abandon(b, "unsupported")
            raise api_error(JSErr.REQUIRED_API_LEVEL)
        hdr = remove_header(hdr, H.REQUIRED_API_LEVEL)
    if len(b.msgs) + 1 != seq or (seq == 1 and eob):
        batches._abandon(b, "incomplete")
        raise api_error(JSErr.ATOMIC_PUBLISH_INCOMPLETE_BATCH)
    if size > max_msgs:
        batches._abandon(b, "large")
        raise api_error(JSErr.ATOMIC_PUBLISH_TOO_LARGE_BATCH, size=max_msgs)
    if not commit:
        b.msgs.append(Staged(subject, hdr, data))
        batches._arm(b)
        return None
    batches._drop(b)
    msgs = b.msgs
    if eob:
        last = msgs[-1]
        last.hdr = H.append_headers(last.hdr, [(BATCH_COMMIT, "1")])
    else:
        msgs.append(Staged(subject, hdr, data))
    return _commit(stream, msgs), len(msgs)


def _int(value: str) -> int:
    """``uint64(parseInt64(value))`` as the reference reads expected sequences: digits
    (wrapping as Go's arithmetic does), anything else the largest uint64."""
    return int(value) % (1 << 64) if value.isascii() and value.isdigit() else (1 << 64) - 1


def remove_header(hdr: bytes, key: str) -> bytes:
    """``hdr`` without its ``key`` lines."""
    k = key.encode() + b":"
    lines = hdr.split(b"\r\n")
    return b"\r\n".join(line for i, line in enumerate(lines) if i == 0 or not line.startswith(k))


class Duplicate(ApiError):
    """A message id already stored (or twice in the batch); ``seq`` is where it is stored."""

    __slots__ = ("seq",)

    def __init__(self, seq: int) -> None:
        e = api_error(JSErr.ATOMIC_PUBLISH_CONTAINS_DUPLICATE_MESSAGE)
        super().__init__(e.error, e.description)
        self.seq = seq


@dataclass(slots=True)
class Checked:
    subject: str
    hdr: bytes
    data: bytes
    ttl_ns: int
    msg_id: str
    rollup: str


def _commit(stream: Stream, msgs: list[Staged]) -> int:
    """Check the whole batch, then store it; return the last sequence."""
    checked = check(stream, msgs)
    st = stream.store
    stream.js.check_resources(stream, sum(st.msg_size(c.subject, c.hdr, c.data) for c in checked))
    first = st.state().last_seq + 1
    seq = 0
    for c in checked:
        seq = stream.store_checked(c.subject, c.hdr, c.data, c.ttl_ns, c.msg_id, "")
    _apply_rollups(stream, [(first + i, c.subject, c.rollup) for i, c in enumerate(checked) if c.rollup])
    return seq


def _apply_rollups(stream: Stream, rollups: list[tuple[int, str, str]]) -> None:
    """Roll-ups of a stored batch: ``sub`` keeps the subject from its message on, ``all``
    (only on the first message) the stream from it on. Applying one again is a no-op."""
    for seq, subject, kind in rollups:
        if kind == "all":
            stream.store.purge(seq=seq)
        else:
            stream.store.purge(subject=subject, seq=seq)
    if rollups:
        stream.js.on_stream_changed(stream)


def check(stream: Stream, msgs: list[Staged], atomic: bool = True) -> list[Checked]:
    """The reference's consistency checks of a batch at its commit, message by message,
    each seeing the batch's earlier messages as if stored (one message at a time for
    batched publish, ``atomic`` False)."""
    cfg = stream.config
    store = stream.store
    st = store.state()
    ids: set[str] = set()
    counts: dict[str, int] = {}  # messages of the batch per subject
    expected: dict[str, int] = {}  # subject -> the last sequence an earlier check found
    total_msgs, total_bytes = st.msgs, st.bytes
    out: list[Checked] = []
    now = time.time_ns()
    for m in msgs:
        subject, hdr, data = m.subject, m.hdr, m.data
        ttl_ns = 0
        msg_id = ""
        rollup = ""
        if hdr:
            if atomic and H.get_header(hdr, H.EXPECTED_LAST_MSG_ID):
                raise api_error(JSErr.ATOMIC_PUBLISH_UNSUPPORTED_HEADER_BATCH, header=H.EXPECTED_LAST_MSG_ID)
            if len(hdr) > 0xFFFF:
                raise api_error(JSErr.STREAM_HEADER_EXCEEDS_MAXIMUM)
            name = H.get_header(hdr, H.EXPECTED_STREAM)
            if name and name != stream.name:
                raise api_error(JSErr.STREAM_NOT_MATCH)
            ttl = H.get_header(hdr, H.TTL)
            if ttl is not None:
                ttl_ns, ttl_ok = _ttl(ttl)
                if ttl_ns or not ttl_ok:
                    if not cfg.allow_msg_ttl:
                        raise api_error(JSErr.MESSAGE_TTL_DISABLED)
                    if not ttl_ok:
                        raise api_error(JSErr.MESSAGE_TTL_INVALID)
            msg_id = H.get_header(hdr, H.MSG_ID) or ""
            if msg_id:
                seen = stream.dedupe.get(msg_id)
                if msg_id in ids:
                    raise Duplicate(0)
                if seen is not None and now - seen[1] < cfg.duplicate_window:
                    raise Duplicate(seen[0])
                ids.add(msg_id)
            value = H.get_header(hdr, H.EXPECTED_LAST_SEQ)
            if value:
                # as if the batch's earlier messages were stored; only the first may ask
                last_seq = st.last_seq + len(out)
                if _int(value) != last_seq:
                    raise api_error(JSErr.STREAM_WRONG_LAST_SEQUENCE, seq=last_seq)
                if counts:
                    raise api_error(JSErr.STREAM_WRONG_LAST_SEQUENCE_CONSTANT)
            value = H.get_header(hdr, H.EXPECTED_LAST_SUBJ_SEQ)
            other = H.get_header(hdr, H.EXPECTED_LAST_SUBJ_SEQ_SUBJ)
            if value:
                n = _int(value)
                on = other or subject
                if on in counts:
                    raise api_error(JSErr.STREAM_WRONG_LAST_SEQUENCE_CONSTANT)
                if on in expected:
                    found = expected[on]
                else:
                    last = store.load_last(on)
                    found = last.seq if last is not None else 0
                if n != found:
                    raise api_error(JSErr.STREAM_WRONG_LAST_SEQUENCE, seq=found)
                expected[on] = found
            elif other:
                raise api_error(JSErr.STREAM_EXPECTED_LAST_SEQ_PER_SUBJECT_INVALID)
            value = H.get_header(hdr, H.ROLLUP)
            if value is not None:
                if not cfg.allow_rollup_hdrs or cfg.deny_purge:
                    raise api_error(JSErr.STREAM_ROLLUP_FAILED, err=Reason.ROLLUP_NOT_PERMITTED)
                if value == "sub":
                    if subject in counts:
                        raise api_error(JSErr.STREAM_ROLLUP_FAILED, err="batch rollup sub invalid")
                elif value == "all":
                    if counts:
                        raise api_error(JSErr.STREAM_ROLLUP_FAILED, err="batch rollup all invalid")
                else:
                    raise api_error(JSErr.STREAM_ROLLUP_FAILED, err=Reason.ROLLUP_INVALID % go_quote(value))
                rollup = value
            hdr, ttl_ns = stream.ttl_floor(hdr, ttl_ns)
        counts[subject] = counts.get(subject, 0) + 1
        total_msgs += 1
        total_bytes += store.msg_size(subject, hdr, data)
        if cfg.discard == "new":
            if cfg.max_msgs > 0 and total_msgs > cfg.max_msgs:
                raise api_error(JSErr.STREAM_STORE_FAILED, err=Reason.MAX_MSGS)
            if cfg.max_bytes > 0 and total_bytes > cfg.max_bytes:
                raise api_error(JSErr.STREAM_STORE_FAILED, err=Reason.MAX_BYTES)
            if (
                cfg.discard_new_per_subject
                and cfg.max_msgs_per_subject > 0
                and not rollup
                and store.subjects(subject).get(subject, 0) + counts[subject] > cfg.max_msgs_per_subject
            ):
                raise api_error(JSErr.STREAM_STORE_FAILED, err=Reason.MAX_MSGS_PER_SUBJECT)
        out.append(Checked(subject, hdr, data, ttl_ns, msg_id, rollup))
    return out


def _ttl(value: str) -> tuple[int, bool]:
    """A Nats-TTL value: (ns, valid)."""
    from pynatsd.jetstream.stream import parse_duration_header

    try:
        return parse_duration_header(value), True
    except ValueError:
        return 0, False


# -- recovery -------------------------------------------------------------------------------


def recover(stream: Stream) -> None:
    """After a restart: remove the messages of a batch whose write was cut before its
    commit message (never acknowledged), and re-apply the roll-ups of a last batch that
    was written whole (their purges follow its messages in the log)."""
    store = stream.store
    if not stream.config.allow_atomic or not store.unclean_start:
        return  # only a crash leaves a batch half-written
    last = store.load_last(">")
    if last is None or not last.hdr or last.seq != store.state().last_seq:
        # A torn write ends the log: a batch message followed by sequences that are gone
        # (its commit message not kept for lack of interest, deleted, expired) was committed.
        return
    batch_id = H.get_header(last.hdr, BATCH_ID)
    n = uint(H.get_header(last.hdr, BATCH_SEQ))
    if not batch_id or not n:
        return
    first = last.seq - n + 1
    mine = [
        sm
        for seq in range(max(first, 1), last.seq + 1)
        if (sm := store.load(seq)) is not None and H.get_header(sm.hdr, BATCH_ID) == batch_id
    ]
    if H.get_header(last.hdr, BATCH_COMMIT) is None:
        for sm in mine:
            store.remove(sm.seq)
        store.flush()
        stream.core.log.warn(
            "Removed %d messages of stream %r from a batch whose write was torn (batch %r)",
            len(mine),
            stream.name,
            batch_id,
        )
        return
    rollups = []
    for sm in mine:
        kind = H.get_header(sm.hdr, H.ROLLUP)
        if kind in ("sub", "all"):
            rollups.append((sm.seq, sm.subject, kind))
    if rollups:
        _apply_rollups(stream, rollups)
        store.flush()
