"""Mirrors and sources: a stream filled from other streams, as the reference does it.

Each mirror or source is a :class:`SourceLink`: an internal push consumer on the origin
stream, created through the JetStream API (``<api>.CONSUMER.CREATE.<origin>``, where
``<api>`` is ``$JS.API`` or the ``external.api`` prefix, so another domain or account is
reached the same way), delivering to an in-process subscription on ``$JS.M.<id>`` /
``$JS.S.<id>`` (or under ``external.deliver``). The consumer acknowledges nothing, is
flow-controlled, sends a heartbeat every second and goes away 10s after its link does.

A mirror and a source differ in a few rules, kept here side by side:

* a mirror stores each message at its origin's sequence (gaps the origin has are
  skipped), keeps its headers and subject; it restarts after ``last_seq``;
* a source appends, adds ``Nats-Stream-Source: <origin> <seq> <filter> <dest> <subject>``
  (dropping any such header and ``Nats-Expected-*`` ones), and on restart finds where
  it was from the newest of those headers in the stream.

Any surprise (a delivery out of order, a heartbeat reporting deliveries we did not see,
silence for 10s, an error storing) drops the consumer and asks for a new one from the
next sequence needed, after a back-off growing with consecutive failures. An origin that
does not exist yet gives the link an ``error`` (shown in STREAM.INFO) and is retried.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import time
from typing import TYPE_CHECKING, Any, Final

from pynatsd.gocompat import format_time
from pynatsd.jetstream import headers as H
from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.errors import ApiError, JSErr, api_error
from pynatsd.jetstream.sourcing_config import API_PREFIX, FWC, iname
from pynatsd.jetstream.sourcing_config import _hash as stable_hash
from pynatsd.mapping import parse_transform

if TYPE_CHECKING:
    from asyncio import TimerHandle
    from pathlib import Path

    from pynatsd.jetstream.stream import Stream
    from pynatsd.server.internal import Client, Subscription

NANOS: Final = 1_000_000_000
STREAM_SOURCE: Final = "Nats-Stream-Source"
STREAM_IDENTITY: Final = "Nats-Stream-Identity"  # on a consumer create reply: the origin's identity
HEARTBEAT_NS: Final = 1 * NANOS  # the origin consumer's idle heartbeat
HEALTH_CHECK_S: Final = 10.0  # silence that recreates a link; the consumer's inactive threshold
RETRY_THRESHOLD_S: Final = 2.0  # at most one consumer request per link this often
RETRY_BACKOFF_S: Final = 5.0  # times twice the consecutive failures...
RETRY_MAXIMUM_S: Final = 120.0  # ...up to this
RESPONSE_WAIT_S: Final = 30.0  # how long a consumer create request may go unanswered
_CONTROL: Final = b"NATS/1.0 100"
_API_LEVEL_4: Final = b"NATS/1.0\r\nNats-Required-Api-Level: 4\r\n\r\n"  # sourcing consumers
STATE_FILE: Final = "sources.json"  # in the stream's directory
PERSIST_EVERY_S: Final = 10.0  # the sources' positions are written this often when they change
DURABLE_RESPONSE_WAIT_S: Final = 5.0  # a durable consumer's reset request is answered sooner
DIRECT_CAUGHT_UP: Final = 10  # pending below which a mirror_direct mirror serves its origin's DIRECT.GET


class SourceLink:
    """One mirror or source of a stream: its origin consumer and what it has delivered."""

    def __init__(self, stream: Stream, src: S.StreamSource, mirror: bool) -> None:
        self.stream = stream
        self.core = stream.core
        self.src = src
        self.mirror = mirror
        self.iname = iname(src)
        parts = self.iname.split(" ")
        self._hdr_head = parts[0]
        self._hdr_mid = f"{parts[1]} {parts[2]}"
        self.sseq = 0  # last origin sequence stored
        self.ident = ""  # the origin's identity (sources): a new one means the origin was recreated
        self.dseq = 0  # last consumer delivery sequence seen from the current consumer
        self.lag = 0
        self.last_ns = 0  # last time anything came from the origin; 0 = never
        self.error: S.ApiErrorBody | None = None
        self.cname = ""  # the current origin consumer
        self.fails = 0
        self._lreq = 0.0  # loop time of the last consumer request
        self._msg_sub: Subscription | None = None
        self._reply_sub: Subscription | None = None
        self._timer: TimerHandle | None = None  # the scheduled setup, or the response wait
        self._health: TimerHandle | None = None
        self._closed = False
        self._warned = False  # a store error was logged (until the next message is stored)
        self._keep = False  # the current consumer outlives a retry (durable: upgraded, or configured)
        self.direct_ready = False  # a mirror has (nearly) caught up: it may answer DIRECT.GET for its origin
        # validated with the config: a transform that does not build never gets here
        self._transforms = [parse_transform(t.src, t.dest) for t in src.subject_transforms or []]

    # -- life ---------------------------------------------------------------------------
    def start(self, sseq: int, ident: str = "") -> None:
        """Begin after origin sequence ``sseq`` (0: by the configured start options) of the
        origin with identity ``ident``. The first request goes out at the end of this turn
        (after a restart, once the API is up)."""
        self.sseq = sseq
        self.ident = ident
        self._schedule(0.0)
        self._health = self.core.loop.call_later(HEALTH_CHECK_S, self._health_check)

    def _direct(self, ready: bool) -> None:
        """A ``mirror_direct`` mirror that has caught up shares DIRECT.GET for its local
        origin (``JetStream.direct_mirrors``); it stops when the link stops."""
        self.direct_ready = ready
        stream, origin = self.stream, self.src.name
        if not stream.config.mirror_direct or self.src.external is not None:
            return
        mirrors = stream.js.direct_mirrors
        if ready:
            mirrors.setdefault(origin, set()).add(stream)
        elif origin in mirrors:
            mirrors[origin].discard(stream)
            if not mirrors[origin]:
                del mirrors[origin]

    def stop(self, delete_consumer: bool = True) -> None:
        self._closed = True
        if self.direct_ready:
            self._direct(False)
        for t in (self._timer, self._health):
            if t is not None:
                t.cancel()
        self._timer = self._health = None
        if self._keep and not self.cname and self.src.consumer is None:  # between two requests
            self.cname = self._stable_name()
        self._cancel(delete_consumer)

    def _cancel(self, delete_consumer: bool = True) -> None:
        """Drop the current consumer: stop listening and (best effort, unless it is durable
        and this is only a retry) delete it. A configured ``consumer`` is never deleted."""
        for sub in (self._msg_sub, self._reply_sub):
            if sub is not None:
                self.core.unsubscribe(sub)
        self._msg_sub = self._reply_sub = None
        if self.cname and delete_consumer and self.src.consumer is None:
            # the API answers only requests with a reply: nobody reads it
            subject = f"{self._api()}.CONSUMER.DELETE.{self.src.name}.{self.cname}"
            self.core.publish(subject, b"", reply=f"$JSC.R.{secrets.token_hex(8)}")
        self.cname = ""
        self.dseq = 0

    def _api(self) -> str:
        ext = self.src.external
        if ext is not None and ext.api:
            return ext.api
        return API_PREFIX

    def retry(self) -> None:
        """Recreate the consumer from the next sequence needed."""
        if self._closed:
            return
        self._cancel(delete_consumer=not self._keep)
        self._schedule(self._delay())

    def _delay(self) -> float:
        since = self.core.loop.time() - self._lreq if self._lreq else RETRY_THRESHOLD_S
        delay = max(0.0, RETRY_THRESHOLD_S - since)
        if self.fails:
            delay += min(RETRY_BACKOFF_S * self.fails * 2, RETRY_MAXIMUM_S)
        return delay + 0.1 + random.random() * 0.1

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.core.loop.call_later(delay, self._setup)

    def _health_check(self) -> None:
        self._health = self.core.loop.call_later(HEALTH_CHECK_S, self._health_check)
        if self._closed or self._reply_sub is not None or self._msg_sub is None:
            return  # a request is pending, or a retry is scheduled
        if time.time_ns() - self.last_ns > HEALTH_CHECK_S * NANOS:
            self.fails = 0
            self.retry()

    # -- asking for a consumer ------------------------------------------------------------
    def _setup(self) -> None:
        self._timer = None
        if self._closed:
            return
        self._cancel(delete_consumer=not self._keep)
        self._lreq = self.core.loop.time()
        token = secrets.token_hex(8)
        reply = f"$JSC.R.{token}"
        self._reply_sub = self.core.subscribe(reply, self._on_response)
        durable = self.src.consumer
        if durable is not None:
            # a configured durable consumer: only repositioned (to its ack floor), listened
            # to on its own deliver subject once it answers
            subject = f"{self._api()}.CONSUMER.RESET.{self.src.name}.{durable.name}"
            self._timer = self.core.loop.call_later(DURABLE_RESPONSE_WAIT_S, self._no_response)
            if not self.core.publish(subject, b"", reply=reply):
                self._no_response()
            return
        ext = self.src.external
        kind = "M" if self.mirror else "S"
        if ext is not None and ext.deliver:
            deliver = f"{ext.deliver}.{kind}.{token}".replace("..", ".")
        else:
            deliver = f"$JS.{kind}.{token}"
        self._msg_sub = self.core.subscribe(deliver, self._on_msg)
        body = json.dumps({"stream_name": self.src.name, "config": self._consumer_config(deliver)})
        subject = f"{self._api()}.CONSUMER.CREATE.{self.src.name}"
        self._timer = self.core.loop.call_later(RESPONSE_WAIT_S, self._no_response)
        if not self.core.publish(subject, body.encode(), reply=reply, hdr=_API_LEVEL_4):
            self._no_response()

    def _no_response(self) -> None:
        self._timer = None
        if self._reply_sub is None or self._closed:
            return
        self.fails += 1
        self.retry()

    def _stable_name(self) -> str:
        """The reference's ``JS_MIRROR_<id>`` / ``JS_SRC_<id>``: a hash of this stream's
        name, account and domain (a source of an origin listed twice: and its index name)."""
        ident = f"{self.stream.name} {self.core.account_name}"
        if self.core.opts.jetstream_domain:
            ident += f" {self.core.opts.jetstream_domain}"
        ident = stable_hash(ident)
        if self.mirror:
            return f"JS_MIRROR_{ident}"
        if sum(1 for s in self.stream.config.sources or [] if s.name == self.src.name) > 1:
            ident += f" {self.iname}"
        return f"JS_SRC_{stable_hash(ident)}"

    def _consumer_config(self, deliver: str) -> dict[str, Any]:
        src = self.src
        stream = self.stream
        cfg: dict[str, Any] = {
            # a stable name: on an interest or work-queue origin the consumer becomes a
            # durable one acknowledged by flow control (sourcing_consumers.py)
            "name": self._stable_name(),
            "deliver_subject": deliver,
            "ack_policy": "none",
            "ack_wait": 22 * 3600 * NANOS,
            "max_deliver": 1,
            "idle_heartbeat": HEARTBEAT_NS,
            "flow_control": True,
            "direct": True,
            "sourcing": True,
            "inactive_threshold": int(HEALTH_CHECK_S * NANOS),
        }
        kind = "_nats.mirror." if self.mirror else "_nats.src."
        meta = {kind + "stream": stream.name, kind + "acc": self.core.account_name}
        if self.core.opts.jetstream_domain:
            meta[kind + "domain"] = self.core.opts.jetstream_domain
        cfg["metadata"] = meta
        policy, start_seq, start_time = "all", 0, ""
        st = stream.store.state()
        if self.mirror:
            if st.msgs == 0 and st.first_seq == 0:  # never written: the configured start
                if src.opt_start_seq > 0:
                    policy, start_seq = "by_start_sequence", src.opt_start_seq
                elif src.opt_start_time is not None:
                    policy, start_time = "by_start_time", src.opt_start_time
            else:
                policy, start_seq = "by_start_sequence", max(self.sseq, st.last_seq) + 1
        elif self.sseq > 0:
            policy, start_seq = "by_start_sequence", self.sseq + 1
        elif src.opt_start_seq > 0:
            policy, start_seq = "by_start_sequence", src.opt_start_seq
        elif src.opt_start_time is not None:
            policy, start_time = "by_start_time", src.opt_start_time
            if st.last_ts and _parse_time(start_time) < st.last_ts:
                start_time = format_time(st.last_ts)
        cfg["deliver_policy"] = policy
        if start_seq:
            cfg["opt_start_seq"] = start_seq
        if start_time:
            cfg["opt_start_time"] = start_time
        if src.filter_subject:
            cfg["filter_subject"] = src.filter_subject
        elif src.subject_transforms:
            filters = [t.src or FWC for t in src.subject_transforms]
            if len(filters) == 1:
                cfg["filter_subject"] = filters[0]
            else:
                cfg["filter_subjects"] = filters
        return cfg

    def _on_response(
        self, sub: Subscription, pub: Client, subject: bytes, reply: bytes | None, hdr: int, msg: bytes
    ) -> None:
        if sub is not self._reply_sub:
            return
        self.core.unsubscribe(sub)
        self._reply_sub = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            resp = json.loads(msg[hdr:] if hdr > 0 else msg)
        except ValueError:
            resp = {}
        err = resp.get("error") if isinstance(resp, dict) else None
        name = resp.get("name") if isinstance(resp, dict) else None
        if err is not None or not isinstance(name, str):
            if isinstance(err, dict):
                self.error = S.ApiErrorBody(
                    code=int(err.get("code", 500)),
                    err_code=int(err.get("err_code", 0)),
                    description=str(err.get("description", "")),
                )
            self.core.log.warn(
                "JetStream error response for create %s consumer of '%s': %s",
                "mirror" if self.mirror else "source",
                self.stream.name,
                err,
            )
            self.fails += 1
            self.retry()
            return
        ident = H.get_header(msg[:hdr], STREAM_IDENTITY) if hdr > 0 else None
        if not self.mirror and ident and self.ident and ident != self.ident and self.sseq:
            # the origin was deleted and created again: read the new one from its start
            self.core.log.warn(
                "JetStream source stream '%s' for stream '%s' was recreated, resetting source state",
                self.src.name,
                self.stream.name,
            )
            self.ident = ident
            self.sseq = 0
            self.cname = name
            self.retry()
            return
        if ident:
            self.ident = ident
        config = resp.get("config")
        ack_policy = config.get("ack_policy") if isinstance(config, dict) else None
        durable = self.src.consumer
        if durable is not None and ack_policy != "flow_control":
            err_kind = (
                JSErr.MIRROR_CONSUMER_REQUIRES_ACK_FC
                if self.mirror
                else JSErr.SOURCE_CONSUMER_REQUIRES_ACK_FC
            )
            self.error = S.ApiErrorBody.of(api_error(err_kind))
            self.fails += 1
            self.retry()
            return
        self._keep = durable is not None or ack_policy == "flow_control"
        self.error = None
        self.fails = 0
        self.cname = name
        self.dseq = 0
        self.last_ns = time.time_ns()
        if durable is not None:
            self._msg_sub = self.core.subscribe(durable.deliver_subject, self._on_msg)

    # -- deliveries -------------------------------------------------------------------------
    def _on_msg(
        self, sub: Subscription, pub: Client, subject: bytes, reply: bytes | None, hdr: int, msg: bytes
    ) -> None:
        if sub is not self._msg_sub or self._closed:
            return
        h, data = (msg[:hdr], msg[hdr:]) if hdr > 0 else (b"", msg)
        if h.startswith(_CONTROL):
            self.last_ns = time.time_ns()
            self._on_control(h, reply)
            return
        if not reply:
            return
        tokens = reply.split(b".")
        n = len(tokens)
        if n == 9:
            off = 0
        elif n >= 11:
            off = 2
        else:
            return
        if tokens[0] != b"$JS" or tokens[1] != b"ACK":
            return
        cname = tokens[3 + off].decode()
        if cname != self.cname:
            if self.cname:
                return  # from an older consumer
            self.cname = cname
        self.last_ns = time.time_ns()
        try:
            dc, sseq, dseq = int(tokens[4 + off]), int(tokens[5 + off]), int(tokens[6 + off])
            ts, pending = int(tokens[7 + off]), int(tokens[8 + off])
        except ValueError:
            return
        if dc > 1:
            return
        if sseq <= self.sseq:  # already have it
            if dseq == self.dseq + 1:
                self.dseq = dseq
            return
        if dseq != self.dseq + 1:
            self.retry()  # deliveries we did not see
            return
        subj = subject.decode("utf-8", "replace")
        if self._transforms:
            for tr in self._transforms:
                mapped = tr.map(subj)
                if mapped is not None:
                    subj = mapped
                    break
        old = self.sseq, self.dseq
        self.sseq, self.dseq = sseq, dseq
        self.lag = pending - 1 if pending else 0
        if pending < DIRECT_CAUGHT_UP and self.mirror and not self.direct_ready:
            self._direct(True)
        try:
            if self.mirror:
                store_mirrored(self.stream, subj, h, data, sseq, sseq != old[0] + 1, ts)
            else:
                self._store_sourced(subj, subject, h, data, sseq)
        except ApiError as e:
            # limits (discard new), a sealed stream: retried until it fits, warned about once
            log = self.core.log.debug if self._warned else self.core.log.warn
            self._warned = True
            log(
                "Error processing inbound %s message for '%s': %s",
                "mirror" if self.mirror else "source",
                self.stream.name,
                e,
            )
            self.sseq, self.dseq = old
            self.retry()
            return
        self._warned = False

    def _on_control(self, h: bytes, reply: bytes | None) -> None:
        if reply:  # flow control: answered at once with what is stored (an ack for ack flow_control)
            hdr = f"NATS/1.0\r\nNats-Last-Consumer: {self.dseq}\r\nNats-Last-Stream: {self.sseq}\r\n\r\n"
            self.core.publish(reply, b"", hdr=hdr.encode())
            return
        last = H.get_header(h, "Nats-Last-Consumer")
        if last is not None and last.isdigit() and int(last) > 0 and int(last) != self.dseq:
            self.retry()
            return
        stalled = H.get_header(h, "Nats-Consumer-Stalled")
        if stalled:
            self.core.publish(stalled, b"")

    def _store_sourced(self, subj: str, orig: bytes, hdr: bytes, data: bytes, sseq: int) -> None:
        if hdr:
            hdr = strip_headers(hdr)
        value = f"{self._hdr_head} {sseq} {self._hdr_mid} {orig.decode('utf-8', 'replace')}"
        if self.ident:
            value += " " + self.ident
        hdr = H.append_headers(hdr, [(STREAM_SOURCE, value)])
        # The stream's own subject_transform applies to sourced messages too (as the reference).
        self.stream.ingest(self.stream.transform_input(subj), hdr, data, sourced=True)

    # -- STREAM.INFO ------------------------------------------------------------------------
    def info(self) -> S.StreamSourceInfo:
        src = self.src
        transforms = None
        if src.subject_transforms:
            transforms = [S.SubjectTransformConfig(src=t.src, dest=t.dest) for t in src.subject_transforms]
        return S.StreamSourceInfo(
            name=src.name,
            external=src.external,
            lag=self.lag,
            seq=0 if self.mirror else self.sseq,
            active=-1 if not self.last_ns else max(0, time.time_ns() - self.last_ns),
            error=self.error,
            filter_subject=src.filter_subject,
            subject_transforms=transforms,
        )


def strip_headers(hdr: bytes) -> bytes:
    """A sourced message's headers without ``Nats-Stream-Source`` (a daisy chain keeps
    only the last hop) and without ``Nats-Expected-*`` / ``Nats-Batch-*`` (not checked again)."""
    if b"Nats-Stream-Source" not in hdr and b"Nats-Expected-" not in hdr and b"Nats-Batch-" not in hdr:
        return hdr
    lines = hdr.split(b"\r\n")
    kept = [
        line
        for line in lines[1:]
        if line
        and not line.startswith(b"Nats-Stream-Source:")
        and not line.startswith(b"Nats-Expected-")
        and not line.startswith(b"Nats-Batch-")
    ]
    if not kept and lines[0] == b"NATS/1.0":
        return b""
    return b"\r\n".join([lines[0], *kept]) + b"\r\n\r\n"


def store_mirrored(
    stream: Stream, subject: str, hdr: bytes, data: bytes, seq: int, gap: bool, ts: int = 0
) -> None:
    """Store a mirrored message at its origin sequence ``seq`` and time ``ts`` (the
    reference keeps the origin's); with ``gap`` (the origin no longer has what came
    before it, or the mirror starts there) skip to it first."""
    store = stream.store
    if stream.config.sealed:
        raise api_error(JSErr.STREAM_SEALED)
    if stream.config.discard == "new":
        stream._check_discard_new(subject, hdr, data)
    stream.js.check_resources(stream, store.msg_size(subject, hdr, data))
    if gap:
        st = store.state()
        if seq > st.last_seq + 1 or (st.first_seq == 0 and st.msgs == 0 and seq > 1):
            store.skip(seq)
    store.store(subject, hdr, data, ts_ns=ts)
    stream.after_store(subject)


def _parse_time(value: str) -> int:
    from pynatsd.gocompat import parse_time

    try:
        return parse_time(value)
    except ValueError:
        return 0


class Sourcing:
    """The mirror or sources of one stream."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.mirror: SourceLink | None = None
        self.sources: dict[str, SourceLink] = {}
        self._saved: dict[str, list[Any]] = {}  # the positions last written to STATE_FILE
        self._persist_timer: TimerHandle | None = None

    def start(self) -> None:
        cfg = self.stream.config
        if cfg.mirror is not None:
            self.mirror = SourceLink(self.stream, cfg.mirror, mirror=True)
            self.mirror.start(self.stream.store.state().last_seq)
        self.reconfigure()
        self._persist_timer = self.stream.core.loop.call_later(PERSIST_EVERY_S, self._persist_tick)

    # -- the sources' positions, persisted (they survive a full purge, and a restart
    # reads headers only for what was stored after the last write) --------------------------
    def _state_path(self) -> Path:
        return self.stream.js.stream_dir(self.stream.name) / STATE_FILE

    def _persist_tick(self) -> None:
        self._persist_timer = self.stream.core.loop.call_later(PERSIST_EVERY_S, self._persist_tick)
        self.persist()

    def persist(self, force: bool = False) -> None:
        """Write each source's last origin sequence and identity (when they changed) with
        the stream's last sequence then; ``force``: also when unchanged (after a purge)."""
        if not self.sources or self.stream.config.storage == "memory":
            return
        positions = {key: [link.sseq, link.ident] for key, link in self.sources.items()}
        if positions == self._saved and not force:
            return
        body = {"last_seq": self.stream.store.state().last_seq, "sources": positions}
        path = self._state_path()
        tmp = path.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(json.dumps(body).encode())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:  # the header scan stays as fallback
            self.stream.core.log.warn("Could not save the source positions of '%s': %s", self.stream.name, e)
            return
        self._saved = positions

    def _recover_positions(self, wanted: set[str]) -> dict[str, tuple[int, str]]:
        """Where each wanted source was: the persisted positions, overridden by the
        ``Nats-Stream-Source`` headers of messages stored after they were written (all
        the stream's when nothing was written)."""
        saved: dict[str, tuple[int, str]] = {}
        floor = 0
        if self.stream.config.storage != "memory":
            try:
                body = json.loads(self._state_path().read_bytes())
                floor = int(body["last_seq"])
                for key, (sseq, ident) in body["sources"].items():
                    saved[key] = (int(sseq), str(ident))
            except (OSError, ValueError, KeyError, TypeError):
                saved, floor = {}, 0
        found = last_source_sequences(self.stream, wanted, floor)
        for key in wanted - found.keys():
            if key in saved:
                found[key] = saved[key]
        return found

    def reconfigure(self) -> None:
        """Sources after an update: removed ones stop, new ones start where the stream
        says they were (or by their start options), unchanged ones go on."""
        cfg = self.stream.config
        if cfg.mirror is None and self.mirror is not None:
            self.mirror.stop()
            self.mirror = None
        wanted = {iname(src): src for src in cfg.sources or []}
        for key in list(self.sources):
            if key not in wanted:
                self.sources.pop(key).stop()
        for key, link in self.sources.items():
            link.src = wanted[key]  # same index name: options such as the deliver prefix may differ
        new = [key for key in wanted if key not in self.sources]
        if not new:
            return
        found = self._recover_positions(set(new))
        for key in new:
            link = SourceLink(self.stream, wanted[key], mirror=False)
            self.sources[key] = link
            link.start(*found.get(key, (0, "")))

    def stop(self) -> None:
        if self._persist_timer is not None:
            self._persist_timer.cancel()
            self._persist_timer = None
            self.persist()
        if self.mirror is not None:
            self.mirror.stop()
        for link in self.sources.values():
            link.stop()
        self.mirror = None
        self.sources.clear()

    def mirror_info(self) -> S.StreamSourceInfo | None:
        return self.mirror.info() if self.mirror is not None else None

    def sources_info(self) -> list[S.StreamSourceInfo] | None:
        return [link.info() for link in self.sources.values()] or None


def last_source_sequences(stream: Stream, wanted: set[str], floor: int = 0) -> dict[str, tuple[int, str]]:
    """Per source index name, the origin sequence of the newest message it stored and the
    origin's identity then, from the ``Nats-Stream-Source`` headers (``<origin> <seq>
    <filters> <destinations> <subject> [<identity>]``), newest first, until every wanted
    source is found or the sequence ``floor`` is reached."""
    found: dict[str, tuple[int, str]] = {}
    store = stream.store
    st = store.state()
    seq = st.last_seq
    remaining = set(wanted)
    while remaining and st.msgs and seq >= st.first_seq and seq > floor:
        sm = store.load_prev(">", seq)
        if sm is None:
            break
        seq = sm.seq - 1
        value = H.get_header(sm.hdr, STREAM_SOURCE) if sm.hdr else None
        if not value:
            continue
        fields = value.split(" ")
        if len(fields) < 4:
            continue
        key = f"{fields[0]} {fields[2]} {fields[3]}"
        if key in remaining:
            try:
                found[key] = int(fields[1]), fields[5] if len(fields) > 5 else ""
            except ValueError:
                continue
            remaining.discard(key)
    return found
