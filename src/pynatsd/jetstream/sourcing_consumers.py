"""The origin side of sourcing (2.14+, API level 4), as the reference does it.

* Ack policy ``flow_control``: a push consumer acknowledged ("all") by the answers to its
  flow-control requests, whose headers ``Nats-Last-Consumer`` / ``Nats-Last-Stream`` say
  what the receiver has stored. A request goes out when ``max_ack_pending`` is reached and
  at each idle heartbeat while anything is pending.
* A mirror's or source's consumer request (``direct`` + ``sourcing`` with a stable name
  ``JS_MIRROR_<id>`` / ``JS_SRC_<id>``) on an interest or work-queue origin becomes a
  durable consumer with ack ``flow_control`` (listed, counted, surviving restarts), so
  the origin lets go only of what was stored; on a limits origin it stays direct, under
  its name with a random suffix.
* ``$JS.API.CONSUMER.RESET.<stream>.<consumer>``: back to the ack floor (empty body) or
  to ``{"seq": n}``; a sourcing consumer taken up again starts over at its ack floor.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

import msgspec

from pynatsd.jetstream import headers as H
from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.errors import JSErr, api_error

if TYPE_CHECKING:
    from pynatsd.jetstream.consumer import Consumer
    from pynatsd.jetstream.consumer_config import CreateSubject
    from pynatsd.jetstream.stream import Stream

RESET_RESPONSE_TYPE = "io.nats.jetstream.api.v1.consumer_reset_response"
_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# -- ack flow_control --------------------------------------------------------------------
def fc_ack_due(c: Consumer) -> None:
    """After a delivery pass: ``max_ack_pending`` reached asks for an answer (an ack)."""
    fc = c.fc
    mp = c.config.max_ack_pending
    if fc is not None and not fc.pending and mp > 0 and len(c.acks.pending) >= mp:
        c._send_flow_control()


def fc_acked(c: Consumer, hdr: bytes) -> None:
    """A flow-control answer: acknowledge up to the stream sequence it reports stored."""
    last = H.get_header(hdr, "Nats-Last-Stream")
    if last is not None and last.isdigit() and int(last) > 0:
        c.acks.ack(int(last))


# -- consumer requests of mirrors and sources ----------------------------------------------
def upgrade_sourcing_request(
    req: S.ConsumerCreateRequest, subject: CreateSubject, stream: Stream | None
) -> tuple[S.ConsumerCreateRequest, CreateSubject]:
    """The reference's rewrite of a sourcing consumer request (and of the subject's
    consumer name: the request may come on the legacy ephemeral subject) before it is
    validated."""
    cfg = req.config
    if stream is None or not (cfg.direct and cfg.sourcing and cfg.name):
        return req, subject
    if stream.config.retention != "limits":
        if subject.name is None:
            subject = subject._replace(name=cfg.name)
        cfg = msgspec.structs.replace(
            cfg,
            direct=False,
            durable_name=cfg.name,
            ack_policy="flow_control",
            ack_wait=0,
            max_deliver=0,
            inactive_threshold=0,
        )
    else:
        suffix = "".join(_DIGITS[b % 62] for b in secrets.token_bytes(8))
        cfg = msgspec.structs.replace(cfg, name=f"{cfg.name}-{suffix}")
    existing = stream.consumers.get(cfg.name)
    if existing is not None and cfg.durable_name:  # taken up again: the start it was created with
        old = existing.config
        cfg = msgspec.structs.replace(
            cfg,
            deliver_policy=old.deliver_policy,
            opt_start_seq=old.opt_start_seq,
            opt_start_time=old.opt_start_time,
        )
    return msgspec.structs.replace(req, config=cfg), subject


def after_sourcing_create(c: Consumer) -> None:
    """A durable sourcing consumer created or taken up again starts over at its ack floor:
    whatever was delivered and not acknowledged may not have been stored."""
    if c.config.sourcing and c.durable:
        c.reset_position(c.acks.floor_sseq + 1)


# -- CONSUMER.RESET ------------------------------------------------------------------------
def reset_consumer(c: Consumer, data: bytes) -> int:
    """Reset ``c`` as the request ``data`` asks; the sequence it starts at."""
    seq = 0
    if data.strip():
        try:
            body = json.loads(data)
        except ValueError as e:
            raise api_error(JSErr.INVALID_JSON, err=str(e)) from None
        if isinstance(body, dict):
            value = body.get("seq", 0)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                seq = value
    cfg = c.config
    if seq == 0:
        seq = c.acks.floor_sseq + 1
    elif cfg.deliver_policy == "all":
        pass
    elif cfg.deliver_policy == "by_start_sequence":
        if seq < cfg.opt_start_seq:
            raise api_error(JSErr.CONSUMER_INVALID_RESET, err="below start seq")
    elif cfg.deliver_policy == "by_start_time":
        first = c.stream.store.state().first_seq
        start = _seq_from_time(c, cfg.opt_start_time or "")
        if seq < max(start, first if start == 0 else 0):
            raise api_error(JSErr.CONSUMER_INVALID_RESET, err="below start time")
    else:
        raise api_error(JSErr.CONSUMER_INVALID_RESET, err="not allowed")
    seq = max(seq, 1)
    c.reset_position(seq)
    return seq


def _seq_from_time(c: Consumer, start_time: str) -> int:
    from pynatsd.gocompat import parse_time

    start = parse_time(start_time) if start_time else 0
    store = c.stream.store
    st = store.state()
    for seq in store.sequences(st.first_seq or 1, []):
        sm = store.load(seq)
        if sm is not None and sm.ts >= start:
            return seq
    return st.last_seq + 1
