"""Message tracing into a stream: the ``js`` event of a traced publish (server/msgtrace.py).

A traced message a stream captures adds ``{"type":"js","stream":...}`` to its trace; once
the stream has checked it, the event gets the subject it is stored under and whether an
interest stream had nobody interested, or the error that refused it (the reference's
texts). A delivered message is stored with its ``Nats-Trace-Dest`` set to ``trace
disabled`` (so that redelivering it traces nothing); a trace-only message goes through
every check and is not stored, and no PubAck is sent (an error reply still is).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pynatsd.gocompat import go_quote
from pynatsd.jetstream import counters, schedules
from pynatsd.jetstream import headers as H
from pynatsd.jetstream.batch import BATCH_ID_LINE
from pynatsd.jetstream.errors import ApiError, JSErr, api_error
from pynatsd.jetstream.fast_batch import FI_SUFFIX

if TYPE_CHECKING:
    from pynatsd.jetstream.stream import Stream
    from pynatsd.server.internal import Client, MsgTrace, Subscription

_TRACE_DEST = b"Nats-Trace-Dest"
_DISABLED = b"trace disabled"
_DUPLICATE = "msgid is duplicate"
# Checks the reference reports with an error of its own rather than the API error's text.
_TEXTS = {
    JSErr.STREAM_NOT_MATCH: "expected stream does not match",
    JSErr.MESSAGE_TTL_DISABLED: "message TTL disabled",
}


def error_text(e: ApiError, hdr: bytes) -> str:
    """The reference's text for a refused message in the ``js`` event."""
    text = _TEXTS.get(e.error)
    if text is not None:
        return text
    if e.error is JSErr.STREAM_ROLLUP_FAILED:
        return e.description
    last = e.description.split(": ", 1)[-1]
    if e.error is JSErr.STREAM_WRONG_LAST_SEQUENCE:
        per_subject = H.get_header(hdr, H.EXPECTED_LAST_SUBJ_SEQ)
        if per_subject is not None:
            return f"last sequence by subject mismatch: {per_subject} vs {last}"
        return f"last sequence mismatch: {H.get_header(hdr, H.EXPECTED_LAST_SEQ)} vs {last}"
    if e.error is JSErr.STREAM_WRONG_LAST_MSG_ID:
        expected = H.get_header(hdr, H.EXPECTED_LAST_MSG_ID) or ""
        return f"last msgid mismatch: {go_quote(expected)} vs {go_quote(last)}"
    return f"{e.description} ({e.err_code})"


def on_msg(
    stream: Stream,
    t: MsgTrace,
    sub: Subscription,
    pub: Client,
    subject: bytes,
    reply: bytes | None,
    hdr_len: int,
    msg: bytes,
) -> None:
    """The stream's capture of a traced message (instead of its usual ``_on_msg``); what
    the stream publishes meanwhile (replies, republished messages) is not traced. A message
    of a batch goes the usual way (only its ``js`` event is recorded)."""
    t.jetstream(stream.name)
    hdr, data = msg[:hdr_len], msg[hdr_len:]
    with stream.core.without_msg_trace():
        if (reply and reply.endswith(FI_SUFFIX)) or BATCH_ID_LINE in hdr:
            stream._on_msg(sub, pub, subject, reply, hdr_len, msg)
            return
        _ingest(stream, t, subject, reply, hdr, data)


def _ingest(
    stream: Stream, t: MsgTrace, subject: bytes, reply: bytes | None, hdr: bytes, data: bytes
) -> None:
    subj = subject.decode("utf-8", "replace")
    if stream.config.subject_transform is not None:
        subj = stream.transform_input(subj)
    respond = bool(reply) and not stream.config.no_ack
    if not t.only:
        hdr = _disable(hdr)
    try:
        if t.only:
            seq = _check(stream, subj, hdr, data)
            duplicate = seq > 0
        else:
            seq, duplicate = stream.ingest(subj, hdr, data)
    except ApiError as e:
        t.jetstream_done(None, error=error_text(e, hdr))
        if reply and respond:
            stream.js.respond(reply, stream.js.puback_error(stream, e))
        return
    if duplicate:
        t.jetstream_done(None, error=_DUPLICATE)
        if reply and respond:
            stream.js.respond(reply, stream.js.puback(stream, seq, True))
        return
    cfg = stream.config
    no_interest = cfg.retention == "interest" and not any(c.wants(subj) for c in stream.consumers.values())
    t.jetstream_done(subj, no_interest)
    if reply and respond and not t.only:
        stream._ack_when_durable(reply, seq, False)


def _check(stream: Stream, subject: str, hdr: bytes, data: bytes) -> int:
    """:meth:`Stream.ingest`'s checks without storing; the original sequence of a duplicate."""
    cfg = stream.config
    if cfg.sealed:
        raise api_error(JSErr.STREAM_SEALED)
    if cfg.max_msg_size > 0 and len(hdr) + len(data) > cfg.max_msg_size and not cfg.allow_msg_counter:
        raise api_error(JSErr.STREAM_MESSAGE_EXCEEDS_MAXIMUM)
    if hdr:
        if b"Nats-Incr:" in hdr:
            counters.check_increment(hdr, data, cfg.allow_msg_counter, False)
        if b"Nats-Sched" in hdr:
            hdr = schedules.check_publish(stream, subject, hdr)
        if b"Nats-Stream-Source:" in hdr:
            raise api_error(JSErr.MESSAGE_SOURCE_HDR_NOT_ALLOWED)
        duplicate = stream._check_headers(subject, hdr)[3]
        if duplicate:
            return duplicate
    if cfg.discard == "new":
        stream._check_discard_new(subject, hdr, data)
    stream.js.check_resources(stream, stream.store.msg_size(subject, hdr, data))
    return 0


def _disable(head: bytes) -> bytes:
    """The header block with the first ``Nats-Trace-Dest`` value replaced in place (the
    reference's setHeader on a stored message)."""
    key = b"\r\n" + _TRACE_DEST + b":"
    at = head.find(key)
    if at < 0:
        return head
    start = at + len(key)
    if head[start : start + 1] == b" ":
        start += 1
    end = head.find(b"\r", start)
    if end < 0:
        return head
    return head[:start] + _DISABLED + head[end:]
