"""STREAM.SNAPSHOT and STREAM.RESTORE: the reference's chunked, flow-controlled transfer.

Snapshot: the reply carries the stream's config and state; then the archive (the
reference's format, ``snapshot_archive.py``) goes to the request's ``deliver_subject`` in chunks of
``chunk_size`` bytes, each with a reply subject ``$JS.SNAPSHOT.ACK.<stream>.<id>.<size>.<n>``
whose (empty) answer opens the window again; at most ``window_size`` bytes are unanswered.
The last, short chunk has no reply subject, and an empty message with a ``204`` status ends
the transfer (no status when the archive fit in that one short chunk; ``408 No Interest`` /
``408 No Flow Response`` / ``500 <error>`` end it early).

Restore: the reply names a subject ``$JS.SNAPSHOT.RESTORE.<stream>.<id>``; the client sends
the archive there in chunks, each a request answered with an empty message, then an empty
message whose answer is the STREAM.CREATE-style response of the new stream (or the error).
Chunks go to a temporary file; at the end a task builds the stream aside from it (every
frame's checksum, the archive's structure and its end entry checked, the loop given back
to other clients between batches) and only then puts it in place, so a damaged upload
leaves nothing behind. Five seconds without a chunk, or a chunk without a reply subject,
abandons a restore.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from pynatsd.gocompat import format_time, marshal_json
from pynatsd.jetstream import codec, limits
from pynatsd.jetstream import headers as H
from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.config import validate_create, with_dynamic_metadata
from pynatsd.jetstream.consumer_state import ConsumerState, Pending, encode_consumer_meta
from pynatsd.jetstream.errors import ApiError, JSErr, api_error
from pynatsd.jetstream.snapshot_archive import (
    Archive,
    ArchiveError,
    Record,
    encode_entry,
    read_archive,
    write_archive,
)
from pynatsd.jetstream.stream import parse_duration_header
from pynatsd.protocol.subjects import is_valid_literal_subject, subjects_collide
from pynatsd.store.base import MsgStore, StoreLimits
from pynatsd.store.file import FileStore
from pynatsd.store.memory import MemoryStore

if TYPE_CHECKING:
    from pynatsd.jetstream.manager import JetStream
    from pynatsd.jetstream.stream import Stream
    from pynatsd.server.internal import Client, Subscription

DEFAULT_CHUNK = 128 * 1024
DEFAULT_WINDOW = 8 * 1024 * 1024
ACK_TIMEOUT = 5.0  # seconds without a chunk answered: the receiver is gone
INTEREST_WAIT = 2.0  # seconds a snapshot waits for a subscriber on its deliver subject
RESTORE_IDLE = 5.0  # seconds without a chunk: the restore is abandoned
_BATCH = 512  # messages read from the store per step of a snapshot
_YIELD_EVERY = 2000  # messages restored between turns of the loop given to other clients


class StreamSnapshotRequest(S._Obj, kw_only=True):
    __go_name__ = "server.JSApiStreamSnapshotRequest"
    deliver_subject: str = ""
    no_consumers: bool = False
    chunk_size: S.Int = 0
    window_size: S.Int = 0
    jsck: bool = False


class StreamSnapshotResponse(
    S._Response, tag="io.nats.jetstream.api.v1.stream_snapshot_response", kw_only=True
):
    config: S.StreamConfig | None = None
    state: S.StreamState | None = None


class StreamRestoreRequest(S._Obj, kw_only=True):
    __go_name__ = "server.JSApiStreamRestoreRequest"
    config: S.StreamConfigRequest | None = None
    state: S.StreamState | None = None


class StreamRestoreResponse(
    S._Response, tag="io.nats.jetstream.api.v1.stream_restore_response", kw_only=True
):
    deliver_subject: str


def _nuid() -> str:
    return secrets.token_hex(11)


class Snapshots:
    """The snapshots being sent and the restores being received."""

    def __init__(self, js: JetStream) -> None:
        self.js = js
        self.core = js.core
        self._tasks: set[asyncio.Task[None]] = set()
        self._restores: set[_Restore] = set()

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for r in list(self._restores):
            r.abandon()

    # -- STREAM.SNAPSHOT ---------------------------------------------------------------
    def snapshot(self, args: list[str], data: bytes) -> bytes:
        if codec.is_empty_request(data):
            raise api_error(JSErr.BAD_REQUEST)
        stream = self.js.streams.get(args[0])
        if stream is None:
            raise api_error(JSErr.STREAM_NOT_FOUND)
        req = codec.decode_request(data, StreamSnapshotRequest)
        if not is_valid_literal_subject(req.deliver_subject):
            raise api_error(JSErr.SNAPSHOT_DELIVER_SUBJECT_INVALID)
        state = stream.state_struct()
        chunks = self._archive(stream, not req.no_consumers)
        task = self.core.loop.create_task(self._send(stream.name, req, chunks, state))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return marshal_json(StreamSnapshotResponse(config=stream.config, state=state))

    def _archive(self, stream: Stream, consumers: bool) -> Iterator[bytes]:
        """The archive as of now: the state, consumers and sequence range are taken at
        once; messages are read as the window opens (one removed meanwhile is left out)."""
        st = stream.store.state()
        metas = [
            (c.name, _consumer_entry(c.config, c.state()))
            for c in sorted(stream.consumers.values(), key=lambda c: c.name)
            if consumers and c.durable
        ]
        state = stream.state_struct()
        state.consumer_count = len(metas)
        now = time.time_ns()
        return write_archive(
            marshal_json(state), metas, _batches(stream.store, st.first_seq, st.last_seq), now
        )

    async def _send(
        self, stream: str, req: StreamSnapshotRequest, chunks: Iterator[bytes], state: S.StreamState
    ) -> None:
        """Stream the archive to the deliver subject (after the reply, which is sent first)."""
        core, deliver = self.core, req.deliver_subject
        start = time.time_ns()
        self.js.advisory(
            f"$JS.EVENT.ADVISORY.STREAM.SNAPSHOT_CREATE.{stream}",
            "io.nats.jetstream.advisory.v1.snapshot_create",
            {"stream": stream, "state": state},
        )
        chunk_size = min(max(1024, req.chunk_size or DEFAULT_CHUNK), 1024 * 1024)
        window = max(min(max(1024, req.window_size or DEFAULT_WINDOW), 32 * 1024 * 1024), chunk_size)
        slots = window // chunk_size
        opened = asyncio.Event()

        def on_ack(
            sub: Subscription, pub: Client, subject: bytes, reply: bytes | None, hdr: int, msg: bytes
        ) -> None:
            nonlocal slots
            slots += 1
            opened.set()

        if not core.has_subscription_on(deliver):
            # Clients subscribe to the deliver subject once the reply is in; a wildcard
            # (a request mux on _INBOX.x.*) covering it does not mean they are ready.
            subscribed = asyncio.Event()
            unwatch = core.watch_interest(deliver, subscribed.set)
            try:
                await asyncio.wait_for(subscribed.wait(), INTEREST_WAIT)
            except TimeoutError:
                pass
            finally:
                unwatch()
        ack_prefix = f"$JS.SNAPSHOT.ACK.{stream}.{_nuid()}"
        ack_sub = core.subscribe(ack_prefix + ".>", on_ack)
        status = "204"  # sent only once a full chunk went out (a short archive ends bare)
        buf = bytearray()
        index = 1
        try:
            while True:
                while slots <= 0:
                    opened.clear()
                    try:
                        await asyncio.wait_for(opened.wait(), ACK_TIMEOUT)
                    except TimeoutError:
                        status = "408 No Flow Response"
                        break
                if status != "204":
                    break
                if not core.has_interest(deliver):
                    status = "408 No Interest"
                    break
                try:
                    while len(buf) < chunk_size:
                        piece = next(chunks, None)
                        if piece is None:
                            break
                        buf += piece
                except Exception as e:  # the store failed: the transfer ends with the reason
                    core.log.error("Snapshot of stream '%s' failed: %s", stream, e)
                    status = f"500 {e}"
                    break
                if len(buf) < chunk_size:
                    if buf:
                        core.publish(deliver, bytes(buf))
                    break
                chunk = bytes(buf[:chunk_size])
                del buf[:chunk_size]
                core.publish(deliver, chunk, reply=f"{ack_prefix}.{len(chunk)}.{index}")
                index += 1
                slots -= 1
                await asyncio.sleep(0)  # let acks and other clients in between chunks
        finally:
            core.unsubscribe(ack_sub)
        bare = status == "204" and index == 1
        core.publish(deliver, b"", hdr=b"" if bare else f"NATS/1.0 {status}\r\n\r\n".encode())
        done: dict[str, object] = {
            "stream": stream,
            "start": format_time(start),
            "end": format_time(time.time_ns()),
        }
        if status != "204":
            done["error"] = status.split(" ", 1)[1].lower() if status.startswith("408") else status[4:]
        self.js.advisory(
            f"$JS.EVENT.ADVISORY.STREAM.SNAPSHOT_COMPLETE.{stream}",
            "io.nats.jetstream.advisory.v1.snapshot_complete",
            done,
        )

    # -- STREAM.RESTORE ----------------------------------------------------------------
    def restore(self, args: list[str], data: bytes) -> bytes:
        if codec.is_empty_request(data):
            raise api_error(JSErr.BAD_REQUEST)
        req = codec.decode_request(data, StreamRestoreRequest)
        name = args[0]
        creq = req.config if req.config is not None else codec.decode_request(b"{}", S.StreamConfigRequest)
        if not creq.name:
            creq = msgspec.structs.replace(creq, name=name)
        if creq.name != name:
            raise api_error(JSErr.STREAM_MISMATCH)
        if "/" in name or "\\" in name:
            raise api_error(JSErr.STREAM_NAME_CONTAINS_PATH_SEPARATORS)
        cfg = validate_create(creq, self.js)
        limits.check_create(self.js, cfg)  # on the checked config, unlike a create
        if name in self.js.streams:
            raise api_error(JSErr.STREAM_NAME_EXIST_RESTORE_FAILED)
        subject = f"$JS.SNAPSHOT.RESTORE.{name}.{_nuid()}"
        r = _Restore(self, cfg, subject)
        self._restores.add(r)
        return marshal_json(StreamRestoreResponse(deliver_subject=subject))


def _batches(store: MsgStore, first: int, last: int) -> Iterator[list[bytes]]:
    seq = max(first, 1)
    while seq <= last:
        msgs = store.load_batch([], seq, _BATCH)
        out = [encode_entry(m.subject, m.ts, m.seq, m.hdr, m.data) for m in msgs if m.seq <= last]
        if out:
            yield out
        if len(out) < len(msgs) or len(msgs) < _BATCH:
            return
        seq = msgs[-1].seq + 1


def _consumer_entry(config: S.ConsumerConfig, st: ConsumerState) -> bytes:
    """A consumer as the reference's archive carries it: config and state, the pending
    and redelivered maps keyed by stream sequence."""
    state: dict[str, object] = {
        "delivered": {"consumer_seq": st.delivered_cseq, "stream_seq": st.delivered_sseq},
        "ack_floor": {"consumer_seq": st.ack_floor_cseq, "stream_seq": st.ack_floor_sseq},
    }
    if st.pending:
        state["pending"] = {str(s): {"Sequence": p.cseq, "Timestamp": p.ts} for s, p in st.pending.items()}
    if st.redelivered:
        state["redelivered"] = {str(s): n for s, n in st.redelivered.items()}
    return marshal_json({"config": config, "state": state})


def _consumer_meta(name: str, meta: dict[str, Any], created: int) -> tuple[str, bytes] | None:
    """Our ``meta.json`` for a consumer of an archive; None for an ephemeral one."""
    try:
        config = codec.decode_request(json.dumps(meta["config"]).encode(), S.ConsumerConfig)
    except ApiError as e:
        raise ArchiveError(f"failed to add consumer {json.dumps(name)}: {e.description}") from None
    if not config.durable_name:
        return None
    st = meta["state"]
    try:
        delivered, floor = st.get("delivered") or {}, st.get("ack_floor") or {}
        redelivered = {int(s): int(n) for s, n in (st.get("redelivered") or {}).items()}
        pending = {}
        for s, p in (st.get("pending") or {}).items():
            ts = int(p.get("Timestamp", 0))
            ts = ts * 1_000_000_000 if 0 < ts < 10**12 else ts  # seconds in some versions
            cseq = int(p.get("Sequence", 0))
            pending[int(s)] = Pending(cseq, ts, 1 + redelivered.get(int(s), 0), cseq)
        state = ConsumerState(
            delivered_cseq=int(delivered.get("consumer_seq", 0)),
            delivered_sseq=int(delivered.get("stream_seq", 0)),
            ack_floor_cseq=int(floor.get("consumer_seq", 0)),
            ack_floor_sseq=int(floor.get("stream_seq", 0)),
            pending=pending,
            redelivered=redelivered,
        )
    except (AttributeError, TypeError, ValueError) as e:
        raise ArchiveError(f"failed to set consumer {json.dumps(name)} state: {e}") from None
    return config.durable_name, encode_consumer_meta(config.durable_name, created, config, state)


class _Restore:
    """One restore being received: chunks into a temporary file, then the stream."""

    def __init__(self, owner: Snapshots, cfg: S.StreamConfig, subject: str) -> None:
        self.owner = owner
        self.js = owner.js
        self.core = owner.core
        self.cfg = cfg
        self.start = time.time_ns()
        staging = self.js.staging_dir()
        staging.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="restore-", dir=staging))
        self.upload = open(self.dir / "upload.s2", "w+b")  # noqa: SIM115 (closed in _close)
        self.total = 0
        self.sub: Subscription | None = self.core.subscribe(subject, self._on_chunk)
        self.idle = self.core.loop.call_later(RESTORE_IDLE, self._stalled)
        self.core.log.notice("Starting restore for stream '$G > %s'", cfg.name)
        self.js.advisory(
            f"$JS.EVENT.ADVISORY.STREAM.RESTORE_CREATE.{cfg.name}",
            "io.nats.jetstream.advisory.v1.restore_create",
            {"stream": cfg.name},
        )

    def _on_chunk(
        self, sub: Subscription, pub: Client, subject: bytes, reply: bytes | None, hdr: int, msg: bytes
    ) -> None:
        if self.sub is None:
            return
        data = msg[hdr:] if hdr > 0 else msg
        if not reply:
            self.core.log.warn(
                "restore for stream '$G > %s' requires reply subject for each chunk", self.cfg.name
            )
            self.abandon()
            return
        if data:
            self.idle.cancel()
            self.idle = self.core.loop.call_later(RESTORE_IDLE, self._stalled)
            try:
                self.upload.write(data)
            except OSError as e:
                self._fail(reply, str(e))
                return
            self.total += len(data)
            self.js.respond(reply, b"")
            return
        self._finish(reply)

    def _stalled(self) -> None:
        self.core.log.warn("restore for stream '$G > %s' is stalled", self.cfg.name)
        self.abandon()

    def _close(self) -> None:
        if self.sub is not None:
            self.core.unsubscribe(self.sub)
            self.sub = None
        self.idle.cancel()
        self.upload.close()
        self.owner._restores.discard(self)

    def abandon(self) -> None:
        self._close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _fail(self, reply: bytes, reason: str) -> None:
        self.abandon()
        self.core.log.warn("Restore failed for stream '$G > %s': %s", self.cfg.name, reason)
        err = api_error(JSErr.STREAM_RESTORE, err=reason)
        self.js.respond(reply, marshal_json(codec.error_response(S.StreamCreateResponse, err)))
        self._advisory()

    def _finish(self, reply: bytes) -> None:
        """The upload is complete: the stream is built by a task that yields to other
        clients between batches of messages."""
        self._close()
        task = self.core.loop.create_task(self._complete(reply))
        self.owner._tasks.add(task)
        task.add_done_callback(self.owner._tasks.discard)

    async def _complete(self, reply: bytes) -> None:
        try:
            with open(self.dir / "upload.s2", "rb") as upload:
                stream = await self._build(upload)
        except asyncio.CancelledError:  # the server stops: nothing is kept
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        except ArchiveError as e:
            self._fail(reply, str(e))
            return
        except ApiError as e:
            self.abandon()
            self.js.respond(reply, marshal_json(codec.error_response(S.StreamCreateResponse, e)))
            self._advisory()
            return
        except Exception as e:  # a bug or the disk: refused, nothing kept
            self.core.log.exception("Restore of stream '%s' failed", self.cfg.name)
            self._fail(reply, str(e))
            return
        shutil.rmtree(self.dir, ignore_errors=True)
        self.js.stream_advisory(stream.name, "create")
        self._advisory()
        self.core.log.notice("Completed restore of %d bytes for stream '$G > %s'", self.total, self.cfg.name)
        info = S.StreamCreateResponse(
            config=with_dynamic_metadata(stream.config),
            created=format_time(stream.created),
            state=stream.state_struct(),
            ts=format_time(time.time_ns()),
        )
        self.js.respond(reply, marshal_json(info))

    def _check_place(self) -> None:
        """The name must still be free and the subjects not taken by another stream."""
        cfg = self.cfg
        if cfg.name in self.js.streams:
            raise api_error(JSErr.STREAM_NAME_EXIST_RESTORE_FAILED)
        for other in self.js.streams.values():
            if any(subjects_collide(a, b) for a in other.config.subjects or [] for b in cfg.subjects or []):
                err = api_error(JSErr.STREAM_SUBJECT_OVERLAP)
                # wrapped, as the reference reports a stream it could not add
                raise ArchiveError(f"error adding stream: {err.description} ({err.err_code})")

    def _advisory(self) -> None:
        name = self.cfg.name
        self.js.advisory(
            f"$JS.EVENT.ADVISORY.STREAM.RESTORE_COMPLETE.{name}",
            "io.nats.jetstream.advisory.v1.restore_complete",
            {
                "stream": name,
                "start": format_time(self.start),
                "end": format_time(time.time_ns()),
                "bytes": self.total,
            },
        )

    async def _build(self, upload: io.BufferedReader) -> Stream:
        """The stream from the upload, built in the staging directory and moved in only
        once the whole archive has been read without fault."""
        cfg = self.cfg
        archive, records = read_archive(upload)
        self._check_place()
        now = time.time_ns()
        staged = self.dir / "stream"
        staged.mkdir()
        store: MsgStore
        if cfg.storage == "memory":
            recs: list[Record] = []  # all of it is kept in memory anyway
            for n, rec in enumerate(records, 1):
                recs.append(rec)
                if n % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            kept_ts = (r.ts for r in recs if not _expired(r, now))
            clock = itertools.chain(kept_ts, iter(time.time_ns, None)).__next__
            store = MemoryStore(StoreLimits(), clock=clock)
            await _replay(store, archive, iter(recs), lambda ts: None, now)
            kept: MsgStore | None = store
        else:
            pinned = [0]
            store = FileStore(staged / "msgs", StoreLimits(), clock=lambda: pinned[0])

            def pin(ts: int) -> None:
                pinned[0] = ts

            try:
                await _replay(store, archive, records, pin, now)
            finally:
                store.close()
            kept = None
        obs = staged / "obs"
        for name, meta in archive.consumers.items():
            if not name or "/" in name or "\\" in name or name in (".", ".."):
                raise ArchiveError(f"failed to add consumer {json.dumps(name)}: invalid name")
            made = _consumer_meta(name, meta, now)
            if made is None:
                continue  # ephemeral consumers are not restored (the reference's are)
            durable, encoded = made
            if "/" in durable or "\\" in durable or durable in (".", "..") or (obs / durable).exists():
                raise ArchiveError(f"failed to add consumer {json.dumps(name)}: invalid name")
            (obs / durable).mkdir(parents=True)
            (obs / durable / "meta.json").write_bytes(encoded)
        self._check_place()  # again: other requests were served while this was built
        # A restored stream is created now, as the reference reports it (the archive keeps
        # the original creation time all the same).
        return self.js.restore_stream(cfg, time.time_ns(), staged, kept)


def _ttl_ns(rec: Record) -> int:
    ttl = H.get_header(rec.hdr, H.TTL) if rec.hdr else None
    if ttl is None:
        return 0
    try:
        return parse_duration_header(ttl)
    except ValueError:
        return 0


def _expired(rec: Record, now: int) -> bool:
    ttl = _ttl_ns(rec)
    return ttl > 0 and now > rec.ts + ttl


async def _replay(
    store: MsgStore, archive: Archive, records: Iterator[Record], pin: Callable[[int], None], now: int
) -> None:
    """Store the records at their own sequences and times; gaps, and messages whose TTL
    ran out meanwhile, become deleted sequences (as the reference restores them)."""
    if archive.first_seq > 1:
        store.skip(archive.first_seq)
    elif archive.first_seq == 0:
        store.purge()  # a stream never written to comes back with first_seq 1, as the reference's
    last = 0
    for n, rec in enumerate(records, 1):
        store.skip(rec.seq)
        last = rec.seq
        ttl_ns = _ttl_ns(rec)
        if ttl_ns > 0 and now > rec.ts + ttl_ns:
            store.skip(rec.seq + 1)
            continue
        pin(rec.ts)
        store.store(rec.subject, rec.hdr, rec.data, ttl_ns=ttl_ns)
        if n % _YIELD_EVERY == 0:
            await asyncio.sleep(0)
    # Deleted newest sequences: last_seq stays, last_ts is the newest message's (as the
    # reference restores it).
    if archive.last_seq > last and archive.last_seq >= max(archive.first_seq, 1):
        store.skip(archive.last_seq + 1)
