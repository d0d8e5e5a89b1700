"""The JetStream API: request-reply handlers on ``$JS.API.>``.

One in-process subscription receives every API request; the subject's tokens select a
handler, the body is decoded into a typed request (the reference's JSON rules), and the
handler's Struct is encoded back with the reference's JSON conventions. Subjects the
reference does not serve get no reply at all, as there.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from pynatsd.gocompat import ZERO_TIME, format_time, go_json_escape, marshal_json, parse_time
from pynatsd.jetstream import codec, limits
from pynatsd.jetstream import headers as H
from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.config import (
    check_consumer_limits,
    check_update,
    validate_create,
    validate_name,
    with_dynamic_metadata,
)
from pynatsd.jetstream.consumer import Consumer
from pynatsd.jetstream.consumer_config import (
    is_durable,
    parse_create_subject,
    response_config,
    validate_consumer,
)
from pynatsd.jetstream.errors import ApiError, JSErr, Reason, api_error, wrap_error
from pynatsd.jetstream.priority import valid_group_name
from pynatsd.jetstream.pull import STATUS_API_LEVEL, api_level_too_high
from pynatsd.jetstream.snapshot import Snapshots, StreamRestoreResponse, StreamSnapshotResponse
from pynatsd.jetstream.sourcing import STREAM_IDENTITY
from pynatsd.jetstream.sourcing_config import stream_identity
from pynatsd.jetstream.sourcing_consumers import (
    RESET_RESPONSE_TYPE,
    after_sourcing_create,
    reset_consumer,
    upgrade_sourcing_request,
)
from pynatsd.protocol.subjects import subjects_collide
from pynatsd.store.base import StoredMsg

if TYPE_CHECKING:
    from pynatsd.jetstream.manager import JetStream
    from pynatsd.jetstream.stream import Stream
    from pynatsd.options import JsAccountLimits
    from pynatsd.server.internal import Client, Subscription

Handler = Callable[[list[str], bytes], Any]

MULTI_LAST_MAX = 1024  # subjects one DIRECT.GET multi_last request may match


class _NoReply(Exception):
    """A request the reference does not answer at all."""


class ApiRouter:
    """Dispatches ``$JS.API`` requests to handlers and encodes their replies."""

    def __init__(self, js: JetStream) -> None:
        self.js = js
        self.core = js.core
        # (tokens after $JS.API, number of trailing name tokens) -> (handler, response type)
        # tokens after $JS.API -> (handler, response type, min args, max args; -1 = any)
        self.routes: dict[tuple[str, ...], tuple[Handler, type[Any], int, int]] = {
            ("INFO",): (self.account_info, S.AccountInfoResponse, 0, 0),
            ("STREAM", "CREATE"): (self.stream_create, S.StreamCreateResponse, 1, 1),
            ("STREAM", "UPDATE"): (self.stream_update, S.StreamUpdateResponse, 1, 1),
            ("STREAM", "INFO"): (self.stream_info, S.StreamInfoResponse, 1, 1),
            ("STREAM", "DELETE"): (self.stream_delete, S.StreamDeleteResponse, 1, 1),
            ("STREAM", "PURGE"): (self.stream_purge, S.StreamPurgeResponse, 1, 1),
            ("STREAM", "NAMES"): (self.stream_names, S.StreamNamesResponse, 0, 0),
            ("STREAM", "LIST"): (self.stream_list, S.StreamListResponse, 0, 0),
            ("STREAM", "MSG", "GET"): (self.msg_get, S.StreamMsgGetResponse, 1, 1),
            ("STREAM", "MSG", "DELETE"): (self.msg_delete, S.StreamMsgDeleteResponse, 1, 1),
            ("CONSUMER", "CREATE"): (self.consumer_create, S.ConsumerCreateResponse, 1, -1),
            ("CONSUMER", "DURABLE", "CREATE"): (self.consumer_durable_create, S.ConsumerCreateResponse, 2, 2),
            ("CONSUMER", "INFO"): (self.consumer_info, S.ConsumerInfoResponse, 2, 2),
            ("CONSUMER", "DELETE"): (self.consumer_delete, S.ConsumerDeleteResponse, 2, 2),
            ("CONSUMER", "NAMES"): (self.consumer_names, S.ConsumerNamesResponse, 1, 1),
            ("CONSUMER", "LIST"): (self.consumer_list, S.ConsumerListResponse, 1, 1),
            ("CONSUMER", "PAUSE"): (self.consumer_pause, S.ConsumerPauseResponse, 2, 2),
            ("CONSUMER", "UNPIN"): (self.consumer_unpin, S.ConsumerUnpinResponse, 2, 2),
            ("CONSUMER", "RESET"): (self.consumer_reset, S.ConsumerResetResponse, 2, 2),
        }
        # snapshots and restores (jetstream/snapshot.py)
        self.snapshots = Snapshots(js)
        self.routes[("STREAM", "SNAPSHOT")] = (self.snapshots.snapshot, StreamSnapshotResponse, 1, 1)
        self.routes[("STREAM", "RESTORE")] = (self.snapshots.restore, StreamRestoreResponse, 1, 1)
        self._sub: Subscription | None = None
        self._domain_sub: Subscription | None = None
        self._reply_hdr = b""  # headers for the reply a handler is building (Nats-Stream-Identity)

    def start(self) -> None:
        # the reference serves it as a service import from the system account (message tracing)
        self._sub = self.core.subscribe("$JS.API.>", self._on_request, system_service=True)
        domain = self.core.opts.jetstream_domain
        # With a domain, $JS.<domain>.API.> reaches the same API (as the reference serves it).
        self._domain_sub = (
            self.core.subscribe(f"$JS.{domain}.API.>", self._on_domain_request) if domain else None
        )

    def _on_domain_request(
        self, sub: Subscription, pub: Client, subject: bytes, reply: bytes | None, hdr: int, msg: bytes
    ) -> None:
        prefix = b"$JS." + self.core.opts.jetstream_domain.encode() + b".API."
        self._on_request(sub, pub, b"$JS.API." + subject[len(prefix) :], reply, hdr, msg)

    def stop(self) -> None:
        self.snapshots.stop()
        for sub in (self._sub, self._domain_sub):
            if sub is not None:
                self.core.unsubscribe(sub)
        self._sub = self._domain_sub = None

    # -- dispatch -------------------------------------------------------------------
    def _on_request(
        self, sub: Subscription, pub: Client, subject: bytes, reply: bytes | None, hdr: int, msg: bytes
    ) -> None:
        tokens = subject.decode("utf-8", "replace").split(".")[2:]
        data = msg[hdr:] if hdr > 0 else msg
        if tokens[:2] == ["DIRECT", "GET"]:
            self.direct_get(pub, subject, tokens[2:], reply, data)
            return
        if tokens[:3] == ["CONSUMER", "MSG", "NEXT"]:
            self.msg_next(pub, subject, tokens[3:], reply, data, msg[:hdr] if hdr > 0 else b"")
            return
        route, args = self._route(tokens)
        if route is None or not reply:
            return
        handler, response_type = route
        # The reference leaves message deletes out of its API statistics.
        counted = handler != self.msg_delete
        try:
            if hdr > 0 and H.api_level_unmet(H.get_header(msg[:hdr], H.REQUIRED_API_LEVEL), S.API_LEVEL):
                raise api_error(JSErr.REQUIRED_API_LEVEL)  # before anything else, as the reference
            body = handler(args, data)
        except _NoReply:
            return
        except ApiError as err:
            self.js.api_errors += counted
            body = marshal_json(codec.error_response(response_type, err))
        except Exception as exc:  # a bug: this request fails, the connection and server go on
            self.core.log.exception("JetStream API request on %s failed", subject.decode("utf-8", "replace"))
            self.js.api_errors += counted
            body = marshal_json(codec.error_response(response_type, wrap_error(JSErr.STREAM_GENERAL, exc)))
        # Counted once answered: $JS.API.INFO reports the requests before itself.
        self.js.api_total += counted
        reply_hdr, self._reply_hdr = self._reply_hdr, b""
        self.js.respond(reply, body, hdr=reply_hdr)

    def _route(self, tokens: list[str]) -> tuple[tuple[Handler, type[Any]] | None, list[str]]:
        for n in (3, 2, 1):
            route = self.routes.get(tuple(tokens[:n]))
            if route is None:
                continue
            handler, response_type, least, most = route
            args = tokens[n:]
            if len(args) < least or (most >= 0 and len(args) > most):
                return None, []
            return (handler, response_type), args
        return None, []

    def _stream(self, name: str) -> Stream:
        stream = self.js.streams.get(name)
        if stream is None:
            raise api_error(JSErr.STREAM_NOT_FOUND)
        return stream

    # -- account ----------------------------------------------------------------------
    def account_info(self, args: list[str], data: bytes) -> bytes:
        js = self.js
        mem, disk = js.usage()
        reserved_mem, reserved_disk = js.reserved()
        lim = js.limits
        n_streams = len(js.streams)
        n_consumers = sum(len(s.consumers) for s in js.streams.values())
        tiers: dict[str, S.Tier] | None = None
        if lim.tiers:  # tiered limits (account JWTs): the account's limits are per tier
            tiers = {}
            for name, tier_lim in lim.tiers:
                used = name == lim.tier  # a single server's streams are all in tier R1
                tiers[name] = S.Tier(
                    memory=mem if used else 0,
                    storage=disk if used else 0,
                    reserved_memory=reserved_mem if used else 0,
                    reserved_storage=reserved_disk if used else 0,
                    streams=n_streams if used else 0,
                    consumers=n_consumers if used else 0,
                    limits=_account_limits(tier_lim),
                )
        resp = S.AccountInfoResponse(
            memory=mem,
            storage=disk,
            reserved_memory=reserved_mem,
            reserved_storage=reserved_disk,
            streams=n_streams,
            consumers=n_consumers,
            limits=_account_limits(lim) if not lim.tiers else _ZERO_LIMITS,
            domain=self.core.opts.jetstream_domain,
            api=S.ApiStats(level=S.API_LEVEL, total=js.api_total, errors=js.api_errors),
            tiers=tiers,
        )
        return marshal_json(resp)

    # -- streams ----------------------------------------------------------------------
    def stream_info_struct(self, stream: Stream, *, listing: bool = False) -> S.StreamInfo:
        cfg = stream.config if listing else with_dynamic_metadata(stream.config)
        return S.StreamInfo(
            config=cfg,
            created=format_time(stream.created),
            state=stream.state_struct(),
            domain=self.core.opts.jetstream_domain,
            mirror=stream.sourcing.mirror_info() if stream.sourcing is not None else None,
            sources=stream.sourcing.sources_info() if stream.sourcing is not None else None,
            ts=format_time(time.time_ns()),
        )

    def stream_create(self, args: list[str], data: bytes) -> bytes:
        name = args[0]
        req = codec.decode_request(data, S.StreamConfigRequest)
        if req.name != name:
            raise api_error(JSErr.STREAM_MISMATCH)
        limits.check_create(self.js, req)
        cfg = validate_create(req, self.js)
        limits.check_reservation(self.js, cfg, cfg.max_bytes)
        existing = self.js.streams.get(name)
        if existing is not None:
            if _same_config(existing.config, cfg):
                return self._info_response(S.StreamCreateResponse, existing, did_create=True)
            raise api_error(JSErr.STREAM_NAME_EXIST)
        for other in self.js.streams.values():
            if _subjects_overlap(other.config.subjects or [], cfg.subjects or []):
                raise api_error(JSErr.STREAM_SUBJECT_OVERLAP)
        stream = self.js.add_stream(cfg)
        self.js.stream_advisory(stream.name, "create")
        return self._info_response(S.StreamCreateResponse, stream, did_create=True)

    def _info_response(self, cls: type[Any], stream: Stream, **extra: Any) -> bytes:
        info = self.stream_info_struct(stream)
        fields = msgspec.structs.asdict(info)
        if cls is not S.StreamInfoResponse:
            fields.pop("cluster", None)
        return marshal_json(cls(**fields, **extra))

    def stream_update(self, args: list[str], data: bytes) -> bytes:
        name = args[0]
        req = codec.decode_request(data, S.StreamConfigRequest)
        if not req.name:
            validate_name(req.name)
        if req.name != name:
            raise api_error(JSErr.STREAM_MISMATCH)
        stream = self._stream(name)
        cfg = validate_create(req, self.js, updating=True)
        cfg = check_update(stream.config, cfg)
        limits.check_update(self.js, stream.config, cfg)
        check_consumer_limits(stream.config, cfg, {n: c.config for n, c in stream.consumers.items()})
        for other in self.js.streams.values():
            if other is not stream and _subjects_overlap(other.config.subjects or [], cfg.subjects or []):
                raise api_error(JSErr.STREAM_SUBJECT_OVERLAP)
        self.js.update_stream(stream, cfg)
        self.js.stream_advisory(stream.name, "modify")
        return self._info_response(S.StreamUpdateResponse, stream)

    def stream_info(self, args: list[str], data: bytes) -> bytes:
        req = S.StreamInfoRequest()
        if codec.looks_like_object_or_array(data):
            req = codec.decode_request(data, S.StreamInfoRequest)
        stream = self._stream(args[0])
        info = self.stream_info_struct(stream)
        state = stream.state_struct(deleted=req.deleted_details)
        total = offset = limit = 0
        if req.subjects_filter:
            counts = stream.store.subjects(req.subjects_filter)
            if counts:
                total, offset, limit = len(counts), req.offset, S.SUBJECTS_PAGE_SIZE
                items = sorted(counts.items())[req.offset : req.offset + S.SUBJECTS_PAGE_SIZE]
                state.subjects = dict(items) or None
        info.state = state
        fields = msgspec.structs.asdict(info)
        fields["cluster"] = S.ClusterInfo(leader=self.core.server_name)
        return marshal_json(S.StreamInfoResponse(total=total, offset=offset, limit=limit, **fields))

    def stream_delete(self, args: list[str], data: bytes) -> bytes:
        if not codec.is_empty_request(data):
            raise api_error(JSErr.NOT_EMPTY_REQUEST)
        stream = self._stream(args[0])
        self.js.delete_stream(stream)
        self.js.stream_advisory(stream.name, "delete")
        return marshal_json(S.StreamDeleteResponse(success=True))

    def stream_purge(self, args: list[str], data: bytes) -> bytes:
        req = S.StreamPurgeRequest()
        if codec.looks_like_object_or_array(data):
            req = codec.decode_request(data, S.StreamPurgeRequest)
        stream = self._stream(args[0])
        cfg = stream.config
        if cfg.sealed:
            raise api_error(JSErr.STREAM_SEALED)
        if cfg.deny_purge:
            raise api_error(JSErr.STREAM_PURGE_FAILED, err=Reason.PURGE_NOT_PERMITTED)
        if req.seq and req.keep:
            raise api_error(JSErr.BAD_REQUEST)
        purged = stream.purge(subject=req.filter, seq=req.seq, keep=req.keep)
        return marshal_json(S.StreamPurgeResponse(success=True, purged=purged))

    def _filtered(self, subject: str) -> list[Stream]:
        streams = sorted(self.js.streams.values(), key=lambda s: s.name)
        if subject:
            streams = [s for s in streams if _subjects_overlap(s.config.subjects or [], [subject])]
        return streams

    def stream_names(self, args: list[str], data: bytes) -> bytes:
        req = S.StreamNamesRequest()
        if codec.looks_like_object_or_array(data):
            req = codec.decode_request(data, S.StreamNamesRequest)
        streams = self._filtered(req.subject)
        offset = min(max(req.offset, 0), len(streams))
        page = [s.name for s in streams[offset : offset + S.NAMES_PAGE_SIZE]]
        return marshal_json(
            S.StreamNamesResponse(
                total=len(streams), offset=offset, limit=S.NAMES_PAGE_SIZE, streams=page or None
            )
        )

    def stream_list(self, args: list[str], data: bytes) -> bytes:
        req = S.StreamListRequest()
        if codec.looks_like_object_or_array(data):
            req = codec.decode_request(data, S.StreamListRequest)
        streams = self._filtered(req.subject)
        offset = min(max(req.offset, 0), len(streams))
        page = [self.stream_info_struct(s, listing=True) for s in streams[offset : offset + S.LIST_PAGE_SIZE]]
        return marshal_json(
            S.StreamListResponse(total=len(streams), offset=offset, limit=S.LIST_PAGE_SIZE, streams=page)
        )

    # -- messages ---------------------------------------------------------------------
    def msg_get(self, args: list[str], data: bytes) -> bytes:
        req = codec.decode_request(data, S.MsgGetRequest)
        stream = self._stream(args[0])
        if (
            req.batch
            or req.max_bytes
            or req.multi_last
            or req.up_to_seq
            or req.up_to_time
            or req.no_hdr
            or (req.seq and req.last_by_subj)
            or not (req.seq or req.last_by_subj or req.next_by_subj or req.start_time)
        ):
            raise api_error(JSErr.BAD_REQUEST)
        sm = self._lookup(stream, req)
        if sm is None:
            raise api_error(JSErr.NO_MESSAGE_FOUND)
        msg = S.ApiStoredMsg(
            subject=sm.subject, seq=sm.seq, hdrs=sm.hdr, data=sm.data, time=format_time(sm.ts)
        )
        return marshal_json(S.StreamMsgGetResponse(message=msg))

    @staticmethod
    def _lookup(stream: Stream, req: S.MsgGetRequest) -> StoredMsg | None:
        if req.start_time:
            start_ns = parse_time(req.start_time)
            for seq in stream.store.sequences(1, [req.next_by_subj] if req.next_by_subj else []):
                sm = stream.store.load(seq)
                if sm is not None and sm.ts >= start_ns:
                    return sm
            return None
        if req.last_by_subj:
            return stream.store.load_last(req.last_by_subj)
        if req.next_by_subj:
            return stream.store.load_next([req.next_by_subj], max(req.seq, 1))
        return stream.store.load(req.seq)

    def msg_delete(self, args: list[str], data: bytes) -> bytes:
        if not data.strip():
            raise api_error(JSErr.BAD_REQUEST)
        req = codec.decode_request(data, S.MsgDeleteRequest)
        stream = self._stream(args[0])
        cfg = stream.config
        if cfg.sealed:
            raise api_error(JSErr.STREAM_SEALED)
        if cfg.deny_delete:
            raise api_error(JSErr.STREAM_MSG_DELETE_FAILED, err=Reason.DELETE_NOT_PERMITTED)
        st = stream.store.state()
        if req.seq == 0 or req.seq < st.first_seq:
            raise api_error(JSErr.STREAM_MSG_DELETE_FAILED, err=Reason.MSG_NOT_FOUND)
        if req.seq > st.last_seq:
            raise api_error(JSErr.STREAM_MSG_DELETE_FAILED, err=Reason.STORE_EOF)
        if not stream.remove(req.seq, erase=not req.no_erase):
            raise api_error(JSErr.SEQUENCE_NOT_FOUND, seq=req.seq)
        return marshal_json(S.StreamMsgDeleteResponse(success=True))

    def direct_get(
        self, pub: Client, subject: bytes, args: list[str], reply: bytes | None, data: bytes
    ) -> None:
        """Messages straight from the store, as messages with headers (no JSON envelope):
        one, a batch (``batch``/``max_bytes``) or the last of several subjects
        (``multi_last``); batches end with a ``204 EOB`` status message."""
        if not args:
            return
        stream = self.js.streams.get(args[0])
        if stream is not None and not stream.config.allow_direct:
            stream = None
        mirrors = self.js.direct_mirrors.get(args[0])
        if mirrors:  # the origin and its caught-up mirror_direct mirrors answer in turn, at random
            stream = random.choice([*mirrors, stream] if stream is not None else list(mirrors))
        if stream is None:
            if reply:  # served per stream by the reference: nobody here
                self.core.no_responders(pub, subject, reply)
            return
        if not reply:
            return
        self.js.api_total += 1
        last_subject = ".".join(args[1:])
        if last_subject:
            if data:
                self._direct_status(reply, "408 Bad Request")
                return
            self._direct_one(stream, reply, stream.store.load_last(last_subject), False)
            return
        if not data:
            self._direct_status(reply, "408 Empty Request")
            return
        try:
            req = msgspec.json.decode(data, type=S.MsgGetRequest)
        except (msgspec.ValidationError, msgspec.DecodeError):
            self._direct_status(reply, "408 Malformed Request")
            return
        if not (req.seq or req.last_by_subj or req.next_by_subj or req.multi_last or req.start_time):
            self._direct_status(reply, "408 Empty Request")
            return
        if (
            (req.seq and (req.last_by_subj or req.start_time))
            or (req.start_time and req.last_by_subj)
            or (req.last_by_subj and (req.next_by_subj or req.batch > 0 or req.multi_last))
            or (req.next_by_subj and req.multi_last)
            or (req.up_to_seq and req.up_to_time)
        ):
            self._direct_status(reply, "408 Bad Request")
            return
        if req.multi_last:
            self._direct_multi(stream, req, reply)
        elif req.batch:
            self._direct_batch(stream, req, reply)
        else:
            self._direct_one(stream, reply, self._lookup(stream, req), req.no_hdr)

    def _direct_one(self, stream: Stream, reply: bytes, sm: StoredMsg | None, no_hdr: bool) -> None:
        if sm is None:
            self._direct_status(reply, "404 Message Not Found")
            return
        if no_hdr:
            self.js.respond(reply, sm.data)
            return
        self._direct_reply(stream, reply, sm, [])

    def _direct_batch_msg(self, stream: Stream, reply: bytes, sm: StoredMsg, pending: int, last: int) -> None:
        self._direct_reply(stream, reply, sm, [(H.NUM_PENDING, str(pending)), (H.LAST_SEQUENCE, str(last))])

    def _direct_reply(
        self, stream: Stream, reply: bytes, sm: StoredMsg, extra: list[tuple[str, str]]
    ) -> None:
        """The message with its own headers first, then where it is stored (and ``extra``)."""
        where = [
            (H.STREAM, stream.name),
            (H.SUBJECT, sm.subject),
            (H.SEQUENCE, str(sm.seq)),
            (H.TIME_STAMP, format_time(sm.ts)),
        ]
        self.js.respond(reply, sm.data, hdr=H.append_headers(sm.hdr, where + extra))

    def _max_bytes(self, req: S.MsgGetRequest) -> int:
        return req.max_bytes or self.core.opts.max_pending

    def _direct_batch(self, stream: Stream, req: S.MsgGetRequest, reply: bytes) -> None:
        """``batch`` messages from ``seq`` (or ``start_time``), optionally only those on
        ``next_by_subj``; each carries how many matching messages follow it and the
        sequence of the one before; an ``EOB`` status closes the batch. ``max_bytes``
        (subject, headers and payload as stored) stops it after the message reaching it."""
        store = stream.store
        filters = [req.next_by_subj] if req.next_by_subj else []
        start = self._start_seq(stream, req)
        pending = store.num_pending(start, filters)
        limit = self._max_bytes(req)
        last = sent = size = 0
        seq = start
        while sent < req.batch:
            sm = store.load_next(filters, seq)
            if sm is None:
                if sent == 0:
                    self._direct_status(reply, "404 Message Not Found")
                    return
                break
            seq = sm.seq + 1
            if req.no_hdr:
                # the reference counts nothing down when it leaves the headers out
                self.js.respond(reply, sm.data)
            else:
                pending -= 1
                self._direct_batch_msg(stream, reply, sm, pending, last)
            last = sm.seq
            sent += 1
            size += len(sm.subject) + len(sm.hdr) + len(sm.data)
            if size >= limit:
                break
        self._direct_eob(reply, [(H.NUM_PENDING, str(pending)), (H.LAST_SEQUENCE, str(last))])

    @staticmethod
    def _start_seq(stream: Stream, req: S.MsgGetRequest) -> int:
        """Where a batch starts: ``seq``, or the first message at or after ``start_time``
        (past the end when there is none)."""
        if not req.start_time:
            return req.seq
        start_ns = parse_time(req.start_time)
        store = stream.store
        for seq in store.sequences(1, []):
            sm = store.load(seq)
            if sm is not None and sm.ts >= start_ns:
                return seq
        return store.state().last_seq + 1

    def _direct_multi(self, stream: Stream, req: S.MsgGetRequest, reply: bytes) -> None:
        """The last message of every subject matching ``multi_last`` (at most 1024
        subjects), as the stream was at ``up_to_seq``/``up_to_time``, in sequence order;
        ``seq`` skips those below it. The ``EOB`` status adds the ``Nats-UpTo-Sequence``
        to ask the next batch with."""
        store = stream.store
        st = store.state()
        up_to = req.up_to_seq
        if req.up_to_time:
            at = parse_time(req.up_to_time)
            first_at = st.last_seq + 1
            for seq in store.sequences(1, []):
                sm = store.load(seq)
                if sm is not None and sm.ts >= at:
                    first_at = seq
                    break
            if first_at <= st.first_seq:
                self._direct_status(reply, "404 No Results")
                return
            up_to = first_at - 1
        if not up_to:
            up_to = st.last_seq
        if up_to > st.last_seq:
            self._direct_status(reply, "404 No Results")
            return
        seqs: set[int] = set()
        for f in req.multi_last or []:
            if not f:
                continue
            for subj in store.subjects(f):
                sm = store.load_prev(subj, up_to)
                if sm is not None:
                    seqs.add(sm.seq)
                    if len(seqs) > MULTI_LAST_MAX:
                        self._direct_status(reply, "413 Too Many Results")
                        return
        if not seqs:
            self._direct_status(reply, "404 No Results")
            return
        ordered = sorted(s for s in seqs if s >= req.seq)
        pending = len(ordered)
        limit = self._max_bytes(req)
        last = size = 0
        for sent, seq in enumerate(ordered, 1):
            sm = store.load(seq)
            if sm is None:
                self._direct_status(reply, "404 Message Not Found")
                return
            pending -= 1
            self._direct_batch_msg(stream, reply, sm, pending, last)
            last = sm.seq
            size += len(sm.subject) + len(sm.hdr) + len(sm.data)
            if size >= limit or (req.batch > 0 and sent >= req.batch):
                break
        self._direct_eob(
            reply,
            [(H.NUM_PENDING, str(pending)), (H.LAST_SEQUENCE, str(last)), (H.UP_TO_SEQUENCE, str(up_to))],
        )

    def _direct_eob(self, reply: bytes, entries: list[tuple[str, str]]) -> None:
        self.js.respond(reply, b"", hdr=H.build_headers(entries, "204 EOB"))

    def _direct_status(self, reply: bytes, status: str) -> None:
        self.js.respond(reply, b"", hdr=H.build_headers([], status))

    # -- consumers ---------------------------------------------------------------------
    def _consumer(self, stream: Stream, name: str) -> Consumer:
        c = stream.consumers.get(name)
        if c is None:
            raise api_error(JSErr.CONSUMER_NOT_FOUND)
        return c

    def _consumer_response(self, cls: type[Any], c: Consumer) -> bytes:
        info = c.info()
        info.config = response_config(c.config)
        return marshal_json(cls(**msgspec.structs.asdict(info)))

    def consumer_create(self, args: list[str], data: bytes) -> bytes:
        return self._create_consumer(["CONSUMER", "CREATE", *args], data)

    def consumer_durable_create(self, args: list[str], data: bytes) -> bytes:
        return self._create_consumer(["CONSUMER", "DURABLE", "CREATE", *args], data)

    def _create_consumer(self, tokens: list[str], data: bytes) -> bytes:
        subject = parse_create_subject(tokens)
        if subject is None:
            raise _NoReply
        req = codec.decode_request(data, S.ConsumerCreateRequest)
        stream = self.js.streams.get(subject.stream)
        # a mirror's or source's (sourcing_consumers.py)
        req, subject = upgrade_sourcing_request(req, subject, stream)
        result = validate_consumer(
            req,
            stream.config if stream is not None else None,
            subject,
            consumers={name: c.config for name, c in stream.consumers.items()} if stream is not None else {},
            limits=self.js.consumer_limits(),
            deliver_interest=self.core.has_interest,
        )
        assert stream is not None  # validate_consumer raised STREAM_NOT_FOUND otherwise
        if result.previous is not None:
            existing = stream.consumers[result.name]
            if result.config != existing.config:
                existing.update_config(result.config)
            if existing.config.sourcing:
                after_sourcing_create(existing)
                self._reply_hdr = H.build_headers([(STREAM_IDENTITY, stream_identity(stream.created))])
            return self._consumer_response(S.ConsumerCreateResponse, existing)
        c = Consumer(stream, result.name, result.config, time.time_ns(), durable=is_durable(result.config))
        stream.add_consumer(c)
        self.js.consumer_advisory(stream.name, c.name, "create")
        if c.config.sourcing:
            after_sourcing_create(c)
        if c.config.direct or c.config.sourcing:  # a mirror's or source's: who the origin is
            self._reply_hdr = H.build_headers([(STREAM_IDENTITY, stream_identity(stream.created))])
        return self._consumer_response(S.ConsumerCreateResponse, c)

    def consumer_reset(self, args: list[str], data: bytes) -> bytes:
        """CONSUMER.RESET (sourcing_consumers.py); the reference's consumer answers it
        itself, so a missing one answers nothing."""
        stream = self.js.streams.get(args[0])
        c = stream.consumers.get(args[1]) if stream is not None else None
        if c is None:
            raise _NoReply
        seq = reset_consumer(c, data)
        info = json.loads(self._consumer_response(S.ConsumerCreateResponse, c))
        info["type"] = RESET_RESPONSE_TYPE
        info["reset_seq"] = seq
        # the consumer's info in its own field order, then reset_seq; escaped as Go writes
        return go_json_escape(json.dumps(info, separators=(",", ":"), ensure_ascii=False).encode())

    def consumer_info(self, args: list[str], data: bytes) -> bytes:
        if not codec.is_empty_request(data):
            raise api_error(JSErr.NOT_EMPTY_REQUEST)
        stream = self._stream(args[0])
        return self._consumer_response(S.ConsumerInfoResponse, self._consumer(stream, args[1]))

    def consumer_delete(self, args: list[str], data: bytes) -> bytes:
        if not codec.is_empty_request(data):
            raise api_error(JSErr.NOT_EMPTY_REQUEST)
        stream = self._stream(args[0])
        c = self._consumer(stream, args[1])
        stream.delete_consumer(c)
        return marshal_json(S.ConsumerDeleteResponse(success=True))

    def _consumers_page(self, args: list[str], data: bytes, limit: int) -> tuple[int, int, list[Consumer]]:
        req = S.ConsumersRequest()
        if codec.looks_like_object_or_array(data):
            req = codec.decode_request(data, S.ConsumersRequest)
        stream = self._stream(args[0])
        # direct consumers (those of mirrors and sources) are internal: not listed
        consumers = sorted(
            (c for c in stream.consumers.values() if not c.config.direct), key=lambda c: c.name
        )
        offset = min(max(req.offset, 0), len(consumers))
        return len(consumers), offset, consumers[offset : offset + limit]

    def consumer_names(self, args: list[str], data: bytes) -> bytes:
        total, offset, page = self._consumers_page(args, data, S.NAMES_PAGE_SIZE)
        return marshal_json(
            S.ConsumerNamesResponse(
                total=total, offset=offset, limit=S.NAMES_PAGE_SIZE, consumers=[c.name for c in page]
            )
        )

    def consumer_list(self, args: list[str], data: bytes) -> bytes:
        total, offset, page = self._consumers_page(args, data, S.LIST_PAGE_SIZE)
        return marshal_json(
            S.ConsumerListResponse(
                total=total, offset=offset, limit=S.LIST_PAGE_SIZE, consumers=[c.info() for c in page]
            )
        )

    def consumer_pause(self, args: list[str], data: bytes) -> bytes:
        req = S.ConsumerPauseRequest()
        # Only a body that opens a JSON object or array is parsed (and refused when bad);
        # anything else ("", "null", "junk", 123) asks to resume, as with the reference.
        if data.lstrip()[:1] in (b"{", b"["):
            req = codec.decode_request(data, S.ConsumerPauseRequest)
        stream = self._stream(args[0])
        c = self._consumer(stream, args[1])
        until = parse_time(req.pause_until) if req.pause_until else 0
        text = format_time(until) if until else None
        c.pause(until, text)
        now = time.time_ns()
        paused = until > now
        return marshal_json(
            S.ConsumerPauseResponse(
                paused=paused,
                pause_until=text or ZERO_TIME,
                pause_remaining=until - now if paused else 0,
            )
        )

    def consumer_unpin(self, args: list[str], data: bytes) -> bytes:
        """Drop a pinned_client pin (advisory reason "admin"); the next message pins anew."""
        if not data.strip():
            raise api_error(JSErr.INVALID_JSON, err="unexpected end of JSON input")
        req = codec.decode_request(data, S.ConsumerUnpinRequest)
        if not req.group:
            raise api_error(JSErr.INVALID_JSON, err="consumer group not specified")
        if not valid_group_name(req.group):
            raise api_error(JSErr.CONSUMER_INVALID_GROUP_NAME)
        c = self._consumer(self._stream(args[0]), args[1])
        if req.group not in (c.config.priority_groups or ()):
            raise api_error(JSErr.CONSUMER_INVALID_PRIORITY_GROUP)
        if c.priority is not None:
            c.priority.unpin()
            c.priority.unpinned(req.group, "admin")
        return marshal_json(S.ConsumerUnpinResponse())

    def msg_next(
        self, pub: Client, subject: bytes, args: list[str], reply: bytes | None, data: bytes, hdr: bytes = b""
    ) -> None:
        """A pull request: messages (or a status) go to the request's reply subject."""
        if len(args) != 2 or not reply:
            return
        stream = self.js.streams.get(args[0])
        c = stream.consumers.get(args[1]) if stream is not None else None
        if c is None:
            # the reference subscribes per consumer: no consumer, no responder
            self.core.no_responders(pub, subject, reply)
            return
        if not c.is_pull:
            self.js.respond(reply, b"", hdr=H.build_headers([], "409 Consumer is push based"))
            return
        if hdr and api_level_too_high(hdr):
            self.js.respond(reply, b"", hdr=H.build_headers([], STATUS_API_LEVEL))
            return
        c.pull.add(reply, data)


def _subjects_overlap(a: list[str], b: list[str]) -> bool:
    """True when some subject could be captured by a pattern of ``a`` and one of ``b``."""
    return any(subjects_collide(x, y) for x in a for y in b)


def _same_config(a: S.StreamConfig, b: S.StreamConfig) -> bool:
    return msgspec.structs.asdict(a) == msgspec.structs.asdict(b)


def _account_limits(lim: JsAccountLimits) -> S.AccountLimits:
    return S.AccountLimits(
        max_memory=lim.max_memory,
        max_storage=lim.max_store,
        max_streams=lim.max_streams,
        max_consumers=lim.max_consumers,
        max_ack_pending=lim.max_ack_pending,
        memory_max_stream_bytes=lim.memory_max_stream_bytes,
        storage_max_stream_bytes=lim.store_max_stream_bytes,
        max_bytes_required=lim.max_bytes_required,
    )


# a tiered account's flat limits, as the reference leaves them: all zero
_ZERO_LIMITS = S.AccountLimits(
    max_memory=0,
    max_storage=0,
    max_streams=0,
    max_consumers=0,
    max_ack_pending=0,
    memory_max_stream_bytes=0,
    storage_max_stream_bytes=0,
    max_bytes_required=False,
)
