"""Message counters (``allow_msg_counter``): a subject's last message holds a running total.

A publish to a counter stream carries no payload, only ``Nats-Incr: <integer>``; the
stream stores it with the body ``{"val":"<new total>"}`` (arbitrary precision, decimal
text) and answers with a PubAck carrying ``"val"``. The previous total is the subject's
last stored message, so purging or rolling up a subject resets it.

A message that comes in through a source (it has a ``Nats-Stream-Source`` header) is not a
client increment: its body holds the origin's total. The stream records the last total
seen per origin stream and subject in ``Nats-Counter-Sources`` (``{"stream":{"subj":"N"}}``)
and adds the difference from the previously seen total, rewriting ``Nats-Incr`` to that
difference, so totals aggregate exactly across sources (the reference's rules).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import msgspec

from pynatsd.gocompat import marshal_json
from pynatsd.jetstream import headers as H
from pynatsd.jetstream.errors import JSErr, api_error

if TYPE_CHECKING:
    from pynatsd.jetstream.stream import Stream

INCR = "Nats-Incr"
COUNTER_SOURCES = "Nats-Counter-Sources"
STREAM_SOURCE = "Nats-Stream-Source"

# What Go's big.Int SetString(s, 10) accepts: an optional sign, then decimal digits.
_INTEGER = re.compile(rb"[+-]?[0-9]+")
# Headers an increment may not carry: it cannot be conditional, nor roll up.
_INCOMPATIBLE = (
    H.ROLLUP,
    H.EXPECTED_STREAM,
    H.EXPECTED_LAST_MSG_ID,
    H.EXPECTED_LAST_SUBJ_SEQ_SUBJ,
    H.EXPECTED_LAST_SEQ,
    H.EXPECTED_LAST_SUBJ_SEQ,
)


class _Value(msgspec.Struct):
    val: str = ""


_decode_value = msgspec.json.Decoder(_Value).decode
_decode_sources = msgspec.json.Decoder(dict[str, dict[str, str] | None] | None).decode


def raw_value(hdr: bytes, key: str) -> bytes:
    """A header's value as the reference slices it (leading spaces skipped), b"" if absent."""
    k = b"\r\n" + key.encode() + b":"
    i = hdr.find(k)
    if i < 0:
        return b""
    start = i + len(k)
    end = hdr.find(b"\r\n", start)
    return hdr[start : len(hdr) if end < 0 else end].lstrip(b" ")


def check_increment(hdr: bytes, data: bytes, allowed: bool, sourced: bool) -> int | None:
    """The increment of a client publish (None without ``Nats-Incr``), or the reference's
    error: not an integer (10171), counters off (10168), a payload (10170), or headers an
    increment may not carry (10171). A sourced message is only parsed: it is stored as the
    origin wrote it."""
    raw = raw_value(hdr, INCR)
    if not raw:
        return None
    if _INTEGER.fullmatch(raw) is None:
        raise api_error(JSErr.MESSAGE_INCR_INVALID)
    incr = int(raw)
    if sourced:
        return incr
    if not allowed:
        raise api_error(JSErr.MESSAGE_INCR_DISABLED)
    if data:
        raise api_error(JSErr.MESSAGE_INCR_PAYLOAD)
    if any(raw_value(hdr, key) for key in _INCOMPATIBLE):
        raise api_error(JSErr.MESSAGE_INCR_INVALID)
    return incr


def _go_int(text: str) -> int:
    """Go's ``big.Int.SetString(text, 10)`` as the reference uses it: 0 when invalid."""
    b = text.encode()
    return int(b) if _INTEGER.fullmatch(b) else 0


def apply(
    stream: Stream, subject: str, hdr: bytes, data: bytes, incr: int | None, sourced: bool
) -> tuple[bytes, bytes, str]:
    """The header block and body to store for a publish on a counter stream, and the new
    total; raises the reference's errors (increment missing, counter broken, too large)."""
    if incr is None:
        raise api_error(JSErr.MESSAGE_INCR_MISSING)
    total = 0
    sources: dict[str, dict[str, str] | None] | None = None
    last = stream.store.load_last(subject)
    if last is not None:
        try:
            total = _go_int(_decode_value(last.data).val)
            counter_sources = raw_value(last.hdr, COUNTER_SOURCES) if last.hdr else b""
            if counter_sources:
                sources = _decode_sources(counter_sources)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise api_error(JSErr.MESSAGE_COUNTER_BROKEN) from None
    origin = raw_value(hdr, STREAM_SOURCE) if sourced else b""
    if origin:
        fields = origin.decode("utf-8", "replace").split(" ")
        origin_stream = fields[0]
        origin_subject = fields[4] if len(fields) >= 5 else subject
        try:
            sourced_total = _go_int(_decode_value(data).val)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise api_error(JSErr.MESSAGE_COUNTER_BROKEN) from None
        if sources is None:
            sources = {}
        per_stream = sources.get(origin_stream)
        if per_stream is None:
            per_stream = sources[origin_stream] = {}
        previous = _go_int(per_stream.get(origin_subject, ""))
        per_stream[origin_subject] = str(sourced_total)
        incr = sourced_total - previous
        hdr = H.set_header(hdr, INCR, str(incr))
    value = str(total + incr)
    data = b'{"val":"' + value.encode() + b'"}'
    if sources:
        encoded = marshal_json(sources).decode()
        hdr = (
            H.set_header(hdr, COUNTER_SOURCES, encoded)
            if raw_value(hdr, COUNTER_SOURCES)
            else H.append_headers(hdr, [(COUNTER_SOURCES, encoded)])
        )
    max_payload = stream.core.opts.max_payload
    if len(hdr) > max_payload or len(data) > max_payload - len(hdr):
        raise api_error(JSErr.STREAM_MESSAGE_EXCEEDS_MAXIMUM)
    max_size = stream.config.max_msg_size
    if max_size >= 0 and (len(hdr) > max_size or len(data) > max_size - len(hdr)):
        raise api_error(JSErr.STREAM_MESSAGE_EXCEEDS_MAXIMUM)
    return hdr, data, value


def pub_ack(head: bytes, seq: int, value: str) -> bytes:
    """A counter stream's PubAck: the usual one with the new total, ``,"val":"N"}``."""
    return head + b'%d,"val":"%s"}' % (seq, value.encode())
