"""JetStream in one account: its streams, their storage, its limits and its API.

JetStream is a layer over core NATS: the API is request-reply on ``$JS.API.*`` subjects
served by in-process subscriptions, and streams capture their subjects through the same
routing as any subscriber. This module owns the streams and their files; ``api.py``
turns requests into calls here.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from pynatsd.gocompat import format_time, marshal_json
from pynatsd.jetstream import batch, codec
from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.api import ApiRouter
from pynatsd.jetstream.consumer import Consumer
from pynatsd.jetstream.consumer_config import ConsumerLimits
from pynatsd.jetstream.errors import ApiError
from pynatsd.jetstream.stream import Stream
from pynatsd.store.base import MsgStore
from pynatsd.store.file import FileStore
from pynatsd.store.memory import MemoryStore

if TYPE_CHECKING:
    from pynatsd.jetstream.engine import JetStreamEngine
    from pynatsd.options import JsAccountLimits
    from pynatsd.server.internal import Internal


class JetStream:
    """One account's streams, their files, its limits and its API (jetstream/engine.py
    decides which accounts have one)."""

    def __init__(self, core: Internal, engine: JetStreamEngine, limits: JsAccountLimits) -> None:
        self.core = core
        self.engine = engine
        self.limits = limits
        self.unlimited = limits.max_memory < 0 and limits.max_store < 0  # no byte limits of its own
        self.account_dir = engine.root / core.account_name / "streams"
        self.streams: dict[str, Stream] = {}
        # origin name -> its caught-up mirror_direct mirrors, which share its DIRECT.GETs
        self.direct_mirrors: dict[str, set[Stream]] = {}
        self.api_total = 0
        self.api_errors = 0
        # bytes this account's streams use in memory and on disk (engine.check_resources)
        self.used_mem = self.used_disk = 0
        # refuses a message past the server's or the account's memory or disk limit
        self.check_resources = functools.partial(engine.check_resources, self)
        self._dirty: set[Stream] = set()
        self._dirty_consumers: set[Consumer] = set()
        self._after_save: list[bytes] = []

    # -- lifecycle (driven by the engine) -------------------------------------------------
    def open(self) -> None:
        """Recover the account's streams and start serving its API."""
        core = self.core
        core.log.debug("Enabled JetStream for account %r", core.account_name)
        self.account_dir.mkdir(parents=True, exist_ok=True)
        # Restores a crash interrupted: never streams, nothing to recover.
        shutil.rmtree(self.staging_dir(), ignore_errors=True)
        self._recover()
        core.add_pre_flush(self.flush)
        self.api = ApiRouter(self)
        self.api.start()

    def close(self) -> None:
        """Stop the API and every stream; stored data stays."""
        self.flush()
        self.core.remove_pre_flush(self.flush)
        self.api.stop()
        for stream in self.streams.values():
            stream.stop()
            stream.store.close()
            self.engine.forget(self, stream)
        self.streams.clear()

    def flush(self) -> None:
        """Hand stored messages and consumer state to the OS before any PubAck or AckSync
        reply of this turn is written."""
        if self._dirty:
            dirty, self._dirty = self._dirty, set()
            for stream in dirty:
                stream.store.flush()
        if self._dirty_consumers:
            consumers, self._dirty_consumers = self._dirty_consumers, set()
            for c in consumers:
                if not c.closed:
                    c.save(self.consumer_dir(c.stream.name, c.name))
        if self._after_save:
            replies, self._after_save = self._after_save, []
            for reply in replies:
                self.respond(reply, b"")

    def on_stream_changed(self, stream: Stream) -> None:
        if stream not in self._dirty:
            self._dirty.add(stream)
            self.core.schedule_flush()

    # -- replies ----------------------------------------------------------------------
    def respond(
        self, reply: bytes | str, payload: bytes, hdr: bytes = b"", reply_to: str | None = None
    ) -> None:
        self.core.publish(reply, payload, reply=reply_to, hdr=hdr)

    def advisory(self, subject: str, kind: str, fields: dict[str, Any]) -> None:
        """Publish a JetStream advisory (``$JS.EVENT.ADVISORY...``) if anyone listens."""
        if not self.core.has_interest(subject):
            return
        body = {
            "type": kind,
            "id": secrets.token_hex(11),
            "timestamp": format_time(time.time_ns()),
            **fields,
        }
        if self.core.opts.jetstream_domain:
            body["domain"] = self.core.opts.jetstream_domain
        self.core.publish(subject, marshal_json(body))

    _ACTION_SUBJECT = {"create": "CREATED", "delete": "DELETED", "modify": "UPDATED"}

    def stream_advisory(self, stream: str, action: str) -> None:
        self.advisory(
            f"$JS.EVENT.ADVISORY.STREAM.{self._ACTION_SUBJECT[action]}.{stream}",
            "io.nats.jetstream.advisory.v1.stream_action",
            {"stream": stream, "action": action},
        )

    def consumer_advisory(self, stream: str, consumer: str, action: str) -> None:
        self.advisory(
            f"$JS.EVENT.ADVISORY.CONSUMER.{self._ACTION_SUBJECT[action]}.{stream}.{consumer}",
            "io.nats.jetstream.advisory.v1.consumer_action",
            {"stream": stream, "consumer": consumer, "action": action},
        )

    def consumer_dirty(self, consumer: Consumer) -> None:
        self._dirty_consumers.add(consumer)
        self.core.schedule_flush()

    def respond_after_consumer_state(self, consumer: Consumer, reply: bytes) -> None:
        """AckSync: the empty reply goes out once the consumer's new state is written."""
        if consumer.durable and consumer in self._dirty_consumers:
            self._after_save.append(reply)
            self.core.schedule_flush()
        else:
            self.respond(reply, b"")

    def puback(self, stream: Stream, seq: int, duplicate: bool) -> bytes:
        return codec.encode_pub_ack(stream.name, seq, self.core.opts.jetstream_domain, duplicate)

    def puback_error(self, stream: Stream, err: ApiError) -> bytes:
        return codec.encode_pub_ack_error(stream.name, err)

    # -- resources ----------------------------------------------------------------------
    def usage(self) -> tuple[int, int]:
        """Bytes used in memory and on disk by the account's streams."""
        mem = disk = 0
        for s in self.streams.values():
            b = s.store.state().bytes
            if s.config.storage == "memory":
                mem += b
            else:
                disk += b
        return mem, disk

    def reserved(self) -> tuple[int, int]:
        """Bytes the account's streams reserve (their ``max_bytes``), in memory and on disk."""
        mem = disk = 0
        for s in self.streams.values():
            if s.config.max_bytes > 0:
                if s.config.storage == "memory":
                    mem += s.config.max_bytes
                else:
                    disk += s.config.max_bytes
        return mem, disk

    def set_limits(self, limits: JsAccountLimits) -> None:
        """New limits (a reload)."""
        self.limits = limits
        self.unlimited = limits.max_memory < 0 and limits.max_store < 0

    def consumer_limits(self) -> ConsumerLimits:
        """The server's and the account's limits a new consumer is held to (0 = none)."""
        lim = self.limits
        opts = self.core.opts
        return ConsumerLimits(
            max_ack_pending=max(opts.jetstream_max_ack_pending, 0),
            max_request_batch=max(opts.jetstream_max_request_batch, 0),
            account_max_ack_pending=max(lim.max_ack_pending, 0),
            account_max_consumers=max(lim.max_consumers, 0),
            default_max_consumers=max(opts.jetstream_default_max_consumers, 0),
        )

    # -- streams ----------------------------------------------------------------------
    def stream_dir(self, name: str) -> Path:
        return self.account_dir / name

    def consumer_dir(self, stream: str, consumer: str) -> Path:
        return self.account_dir / stream / "obs" / consumer

    def _open_store(self, cfg: S.StreamConfig, limits: Any) -> MsgStore:
        first = cfg.first_seq or 1
        if cfg.storage == "memory":
            return MemoryStore(limits, first_seq=first)
        opts = self.core.opts
        return FileStore(
            self.stream_dir(cfg.name) / "msgs",
            limits,
            first_seq=first,
            # async persist mode opts the stream out of sync_interval: always
            sync_always=opts.sync_always and cfg.persist_mode != "async",
            sync_interval=opts.sync_interval,
            compression=cfg.compression == "s2",
        )

    def add_stream(self, cfg: S.StreamConfig, created: int | None = None) -> Stream:
        created = created or time.time_ns()
        stream_dir = self.stream_dir(cfg.name)
        stream_dir.mkdir(parents=True, exist_ok=True)
        stream = Stream(self, cfg, None, created)  # type: ignore[arg-type]
        stream.store = self._open_store(cfg, stream.limits())
        self._write_meta(stream)
        self.streams[cfg.name] = stream
        stream.start()
        return stream

    # -- snapshot restore (jetstream/snapshot.py builds the parts aside) -------------------
    def staging_dir(self) -> Path:
        """Where restores are built before they become streams: on the streams' filesystem
        (moved in with one rename), outside the directory recovery scans."""
        return self.account_dir.parent / "snapshots"

    def restore_stream(
        self, cfg: S.StreamConfig, created: int, staged: Path, store: MsgStore | None
    ) -> Stream:
        """Adopt a restored stream: ``staged`` (its ``msgs`` for file storage, ``obs`` with
        consumer state) becomes the stream's directory; a memory stream brings its ``store``."""
        stream_dir = self.stream_dir(cfg.name)
        shutil.rmtree(stream_dir, ignore_errors=True)
        os.rename(staged, stream_dir)
        stream = Stream(self, cfg, None, created)  # type: ignore[arg-type]
        try:
            stream.store = store if store is not None else self._open_store(cfg, stream.limits())
            stream.store.update_limits(stream.limits())
            self._write_meta(stream)
            stream.rebuild_dedupe()
            self.streams[cfg.name] = stream
            stream.start()
            stream.recover_consumers(stream_dir / "obs")
        except Exception:  # all or nothing: no half-restored stream stays behind
            stream.stop()
            if stream.store is not None:
                stream.store.delete()
            self.streams.pop(cfg.name, None)
            shutil.rmtree(stream_dir, ignore_errors=True)
            raise
        return stream

    def _write_meta(self, stream: Stream) -> None:
        meta = {"config": msgspec.to_builtins(stream.config), "created": stream.created}
        path = self.stream_dir(stream.name) / "meta.json"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(json.dumps(meta).encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def update_stream(self, stream: Stream, cfg: S.StreamConfig) -> None:
        old_subjects = stream.config.subjects
        stream.config = cfg
        if stream.batches is not None:  # batches in flight go when their kind is turned off
            stream.batches.clear(atomic=not cfg.allow_atomic, fast=not cfg.allow_batched)
        stream.store.update_limits(stream.limits())
        if isinstance(stream.store, FileStore):
            stream.store.set_compression(cfg.compression == "s2")
        self._write_meta(stream)
        if cfg.subjects != old_subjects:
            stream.resubscribe()
        stream.reconfigure_sourcing()
        stream.schedule_expiry()
        if cfg.allow_msg_schedules and stream.scheduler is None:
            stream.start_scheduler()

    def delete_stream(self, stream: Stream) -> None:
        for c in list(stream.consumers.values()):
            c.stop(deleted=True)  # waiting pull requests hear 409 Consumer Deleted, as from the reference
        stream.stop()
        stream.store.delete()
        self.streams.pop(stream.name, None)
        self.engine.forget(self, stream)
        self._dirty.discard(stream)
        shutil.rmtree(self.stream_dir(stream.name), ignore_errors=True)

    def _recover(self) -> None:
        if not self.account_dir.is_dir():
            return
        for d in sorted(self.account_dir.iterdir()):
            meta_path = d / "meta.json"
            if not meta_path.is_file():
                continue
            try:
                meta = json.loads(meta_path.read_bytes())
                cfg = msgspec.convert(meta["config"], S.StreamConfig)
            except (ValueError, KeyError, msgspec.ValidationError) as e:
                self.core.log.error("Error recovering stream %r: %s", d.name, e)
                continue
            stream = Stream(self, cfg, None, int(meta.get("created", time.time_ns())))  # type: ignore[arg-type]
            stream.store = self._open_store(cfg, stream.limits())
            batch.recover(stream)  # a batch torn by a crash is rolled back
            stream.rebuild_dedupe()
            self.streams[cfg.name] = stream
            stream.start()
            stream.recover_consumers(d / "obs")
            st = stream.store.state()
            self.core.log.notice(
                "  Restored %s messages for stream '%s > %s'",
                f"{st.msgs:,}",
                self.core.account_name,
                cfg.name,
            )
