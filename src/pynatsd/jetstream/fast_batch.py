"""Batched publish (``allow_batched``, the reference's "fast batch" of 2.15): a publisher
streams many messages and gets flow-control acks every N messages instead of one PubAck
each; the batch ends with a commit that is answered with a PubAck (``batch``, ``count``).
Unlike an atomic batch every message is stored as soon as it passes its checks.

The batch is described by the reply subject, ``<inbox>.<id>.<flow>.<gap>.<seq>.<op>.$FI``:
``id`` at most 64 bytes; ``flow`` the most messages per ack the client allows (0 or less:
10); ``gap`` ``fail`` (a missing message ends the batch) or ``ok`` (gaps are reported and
passed over); ``seq`` 1, 2, 3...; ``op`` 0 start (seq 1), 1 append (seq > 1), 2 commit
(this message is the last), 3 commit by an end marker that is not stored, 4 ping (asks for
the flow state again). A reply subject with the suffix but not this shape gets "batch
publish pattern is invalid". Replies, all on the message's reply subject:
``{"type":"ack","seq":S,"msgs":N}`` (messages up to S stored; the next ack after N more),
``{"type":"gap","last_seq":E,"seq":S}`` (messages from E up to S were not received),
``{"type":"err","seq":S,"error":{...}}`` (message S was refused), and the PubAck at the
end. The first message is answered with an ack for sequence 0 giving the starting N
(min(500, flow), or 1 while other batched publishes run on the stream); N then doubles
up to 500 shared among them and the client's flow. A batch unheard of for the batch
timeout (10 s) is dropped without an advisory; at most 1000 run per stream and 50000 per
server (``jetstream.limits.batch`` overrides these as for atomic batches).

Every message is stored in the loop turn it arrives in, so "persisted" and "received"
coincide here: the reference's pending-write bookkeeping of clustered streams is not
needed and the acks carry the same numbers a single reference server sends.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pynatsd.gocompat import go_quote, marshal_json
from pynatsd.jetstream import headers as H
from pynatsd.jetstream.batch import (
    Duplicate,
    Staged,
    batches_of,
    check,
    limits,
    remove_header,
    uint,
)
from pynatsd.jetstream.errors import ApiError, JSErr, api_error
from pynatsd.jetstream.schemas import API_LEVEL, ApiErrorBody

if TYPE_CHECKING:
    from pynatsd.jetstream.batch import Batches
    from pynatsd.jetstream.manager import JetStream
    from pynatsd.jetstream.stream import Stream

FI_SUFFIX = b".$FI"
OP_START, OP_APPEND, OP_COMMIT, OP_EOB, OP_PING = range(5)
DEFAULT_FLOW = 10
MAX_FLOW = 0xFFFF
DEFAULT_MAX_INFLIGHT_PER_STREAM = 1000
DEFAULT_MAX_INFLIGHT_TOTAL = 50_000
MAX_ACK_MESSAGES = 500
_MAX_U64 = (1 << 64) - 1

# Batched publishes in flight per server (one JetStream per server).
_inflight: weakref.WeakKeyDictionary[JetStream, int] = weakref.WeakKeyDictionary()


@dataclass(slots=True)
class Request:
    """What a ``$FI`` reply subject says about its message."""

    id: str
    seq: int
    flow: int
    gap_ok: bool
    op: int


def _int64(token: str) -> int:
    """Go's parseInt64: -1 unless plain digits, which wrap as int64 arithmetic does."""
    if not (token.isascii() and token.isdigit()):
        return -1
    return (int(token) + (1 << 63)) % (1 << 64) - (1 << 63)


def parse_reply(reply: str) -> Request | None:
    """The batch a ``...$FI`` reply subject describes, or None when it is malformed."""
    parts = reply[: -len(FI_SUFFIX)].rsplit(".", 5)
    if len(parts) < 6:
        return None
    _, batch_id, flow_s, gap, seq_s, op_s = parts
    op = _int64(op_s)
    if not OP_START <= op <= OP_PING:
        return None
    seq = uint(seq_s)
    if seq is None or seq == 0 or seq == _MAX_U64:
        return None
    if (seq == 1 and op == OP_EOB) or (op == OP_START and seq != 1) or (op == OP_APPEND and seq <= 1):
        return None
    if gap not in ("fail", "ok"):
        return None
    flow = _int64(flow_s)
    flow = DEFAULT_FLOW if flow <= 0 else min(flow, MAX_FLOW)
    return Request(batch_id, seq, flow, gap == "ok", op)


class FastBatch:
    """One batched publish in flight: the highest batch sequence received (``lseq``) and
    stored (``pseq``), the last stream sequence stored, and the flow-control state."""

    __slots__ = (
        "ack_messages",
        "batches",
        "commit",
        "fseq",
        "gap_ok",
        "id",
        "lseq",
        "max_ack",
        "pseq",
        "sseq",
        "timer",
    )

    def __init__(self, batches: Batches, batch_id: str, gap_ok: bool, max_ack: int) -> None:
        self.batches = batches
        self.id = batch_id
        self.gap_ok = gap_ok
        self.max_ack = max_ack
        self.lseq = self.pseq = self.sseq = self.fseq = 0
        self.ack_messages = 1
        self.commit = False
        self.timer: Any = None

    def arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        stream = self.batches.stream
        self.timer = stream.core.loop.call_later(limits(stream)[0], self.drop)

    def drop(self) -> None:
        if self.batches.fast.pop(self.id, None) is None:
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        js = self.batches.stream.js
        _inflight[js] = _inflight.get(js, 1) - 1


def fast_publish(stream: Stream, subject: str, reply: bytes, hdr: bytes, data: bytes) -> None:
    """Handle a message whose reply subject ends in ``.$FI``."""
    reply_s = reply.decode("utf-8", "replace")
    req = parse_reply(reply_s)
    try:
        _on_msg(stream, req, reply, subject, hdr, data)
    except ApiError as e:
        if not stream.config.no_ack:
            _send(stream, reply, stream.js.puback_error(stream, e))


def _send(stream: Stream, reply: bytes, payload: bytes) -> None:
    """Every reply of a batched publish, in order, after what was stored before it is
    durable (``sync_interval: always``)."""
    if stream.sync_acks:
        stream.store.when_durable(lambda: stream.js.respond(reply, payload))
    else:
        stream.js.respond(reply, payload)


def _flow_ack(stream: Stream, reply: bytes, seq: int, msgs: int) -> None:
    _send(stream, reply, b'{"type":"ack","seq":%d,"msgs":%d}' % (seq, msgs))


def _gap(stream: Stream, reply: bytes, last_seq: int, seq: int) -> None:
    _send(stream, reply, b'{"type":"gap","last_seq":%d,"seq":%d}' % (last_seq, seq))


def _pub_ack(stream: Stream, b: FastBatch, reply: bytes) -> None:
    """The end of the batch: its PubAck (the last stream sequence stored, and how many
    batch sequences it took)."""
    b.drop()
    _send(
        stream,
        reply,
        stream._ack_head + b'%d,"batch":%s,"count":%d}' % (b.sseq, go_quote(b.id).encode(), b.lseq),
    )


def _check_flow(stream: Stream, b: FastBatch, reply: bytes) -> bool:
    """Send a flow ack when ``ack_messages`` more messages were stored since the last one,
    adjusting the pace to the batches sharing the stream; True when sent."""
    am = b.ack_messages
    if b.pseq < b.fseq + am:
        return False
    b.fseq += (b.pseq - b.fseq) // am * am
    most = min(max(1, MAX_ACK_MESSAGES // max(1, len(b.batches.fast))), b.max_ack)
    if b.ack_messages < most:
        b.ack_messages = min(b.ack_messages * 2, most)
    elif b.ack_messages > most:
        b.ack_messages = max(b.ack_messages // 2, most)
    _flow_ack(stream, reply, b.fseq, b.ack_messages)
    return True


def _on_msg(stream: Stream, req: Request | None, reply: bytes, subject: str, hdr: bytes, data: bytes) -> None:
    cfg = stream.config
    if cfg.sealed:
        raise api_error(JSErr.STREAM_SEALED)
    if cfg.max_msg_size >= 0 and len(hdr) + len(data) > cfg.max_msg_size:
        raise api_error(JSErr.STREAM_MESSAGE_EXCEEDS_MAXIMUM)
    if not cfg.allow_batched:
        raise api_error(JSErr.BATCH_PUBLISH_DISABLED)
    if req is None:
        raise api_error(JSErr.BATCH_PUBLISH_INVALID_PATTERN)
    if len(req.id.encode()) > 64:
        raise api_error(JSErr.BATCH_PUBLISH_INVALID_BATCH_ID)
    batches = batches_of(stream)
    b = batches.fast.get(req.id)
    if b is None:
        if req.seq != 1:
            raise api_error(JSErr.BATCH_PUBLISH_UNKNOWN_BATCH_ID)
        o = stream.core.opts
        per_stream = o.jetstream_batch_max_inflight_per_stream or DEFAULT_MAX_INFLIGHT_PER_STREAM
        total = o.jetstream_batch_max_inflight_total or DEFAULT_MAX_INFLIGHT_TOTAL
        js = stream.js
        if len(batches.fast) >= per_stream or _inflight.get(js, 0) >= total:
            raise api_error(JSErr.BATCH_PUBLISH_TOO_MANY_INFLIGHT)
        _inflight[js] = _inflight.get(js, 0) + 1
        b = batches.fast[req.id] = FastBatch(batches, req.id, req.gap_ok, req.flow)
        b.ack_messages = 1 if len(batches.fast) > 1 else min(MAX_ACK_MESSAGES, req.flow)
    level = H.get_header(hdr, H.REQUIRED_API_LEVEL)
    if level is not None:
        if H.api_level_unmet(level, API_LEVEL):
            b.drop()
            raise api_error(JSErr.REQUIRED_API_LEVEL)
        hdr = remove_header(hdr, H.REQUIRED_API_LEVEL)
    b.arm()
    seq = req.seq
    if req.op == OP_PING:
        send_flow = True
        if seq > b.lseq:
            _gap(stream, reply, b.lseq + 1, seq + 1)
            if b.gap_ok:
                b.lseq = b.pseq = seq
                send_flow = not _check_flow(stream, b, reply)
            else:
                _pub_ack(stream, b, reply)
                send_flow = False
        if send_flow:
            _flow_ack(stream, reply, b.fseq, b.ack_messages)
        return
    b.lseq += 1
    if b.lseq != seq:
        _gap(stream, reply, b.lseq, seq)  # forward or backward (2.15.1 reports both)
        if b.gap_ok and seq > b.lseq:
            b.lseq = seq
        else:  # a backward gap, or a gap that ends the batch: commit what was stored
            b.lseq -= 1
            _pub_ack(stream, b, reply)
            return
    commit = req.op in (OP_COMMIT, OP_EOB)
    if commit:
        if req.op == OP_EOB:
            b.lseq -= 1
            b.pseq = b.lseq
            _pub_ack(stream, b, reply)
            return
        b.commit = True
    can_respond = not cfg.no_ack
    if seq == 1 and can_respond and not commit:
        _flow_ack(stream, reply, 0, b.ack_messages)
    try:
        c = check(stream, [Staged(subject, hdr, data)], atomic=False)[0]
        last_id = H.get_header(c.hdr, H.EXPECTED_LAST_MSG_ID)
        if last_id is not None and last_id != stream.last_msg_id:
            raise api_error(JSErr.STREAM_WRONG_LAST_MSG_ID, id=stream.last_msg_id)
        stream.js.check_resources(stream, stream.store.msg_size(c.subject, c.hdr, c.data))
    except ApiError as e:
        _refused(stream, b, req, reply, e)
        return
    b.sseq = stream.store_checked(c.subject, c.hdr, c.data, c.ttl_ns, c.msg_id, c.rollup)
    b.pseq = b.lseq
    if b.commit:
        _pub_ack(stream, b, reply)
    else:
        _check_flow(stream, b, reply)


def _refused(stream: Stream, b: FastBatch, req: Request, reply: bytes, e: ApiError) -> None:
    """A message of the batch failed its checks (as the reference: a duplicate is passed
    over; another error is reported and ends the batch unless gaps are allowed)."""
    dup = isinstance(e, Duplicate)
    commit = req.op == OP_COMMIT
    if dup:
        b.pseq = req.seq
        _check_flow(stream, b, reply)
        if not commit:
            return
    if not b.gap_ok and b.lseq == 1:
        if isinstance(e, Duplicate) and e.seq > 0:
            resp = stream._ack_head + b'%d,"duplicate": true,"batch":%s,"count":%d}' % (
                e.seq,
                go_quote(b.id).encode(),
                req.seq,
            )
        else:
            resp = stream.js.puback_error(stream, e)
        b.drop()
        _send(stream, reply, resp)
        return
    if not dup:
        _send(
            stream, reply, b'{"type":"err","seq":%d,"error":%s}' % (req.seq, marshal_json(ApiErrorBody.of(e)))
        )
    if b.gap_ok and not commit:
        return
    if not dup:
        b.lseq -= 1
        b.pseq = b.lseq
    _pub_ack(stream, b, reply)
