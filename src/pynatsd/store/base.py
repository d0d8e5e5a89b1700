"""The storage interface every stream uses, with a memory and a file engine behind it.

A store holds one stream's messages, addressed by sequence number. It knows nothing of
stream configuration except the limits it is told to enforce through the calls below;
retention policy, de-duplication and headers are the stream layer's business. All calls
are synchronous and made from the event loop; an engine that needs background work
(fsync, expiry scans) does it without blocking the loop and reports through callbacks.

Durability contract (file engine): when :meth:`MsgStore.store` returns, the message is in
the process; by the end of the current loop turn it is in the operating system (a
``kill -9`` cannot lose it). With ``sync_always``, :meth:`MsgStore.when_durable` runs its
callback only once the message is on disk (group commit: one fsync for everything
stored meanwhile). PubAcks are sent from that callback. A file store schedules its own
:meth:`MsgStore.flush` with ``loop.call_soon`` when a loop is running; outside a loop
(tests, tools) the caller flushes, and ``when_durable`` syncs before returning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class StoredMsg:
    """One message as kept by a store. ``hdr`` is the raw NATS/1.0 header block or b""."""

    seq: int
    subject: str
    hdr: bytes
    data: bytes
    ts: int  # nanoseconds since the epoch, when stored


@dataclass(slots=True)
class StoreState:
    """The figures STREAM.INFO reports under ``state``."""

    msgs: int = 0
    bytes: int = 0
    first_seq: int = 0  # 0 for a new store never written to (first_seq 1), as the reference
    first_ts: int = 0  # ns; 0 when empty
    last_seq: int = 0
    last_ts: int = 0
    num_deleted: int = 0
    num_subjects: int = 0
    deleted: list[int] = field(default_factory=list)  # filled only when asked for


@dataclass(slots=True)
class StoreLimits:
    """Limits the store enforces itself as messages are stored (0 or -1 = unlimited).

    Discard-new and per-subject discard-new are decided by the stream before it calls
    :meth:`MsgStore.store`; the store only trims old messages.
    """

    max_msgs: int = -1
    max_bytes: int = -1
    max_age_ns: int = 0
    max_msgs_per_subject: int = -1


def msg_size(subject: str, hdr: bytes, data: bytes) -> int:
    """Bytes a message counts for in ``state.bytes`` of a memory store, as the reference's
    memory store counts them. File stores count more: see :func:`file_msg_size` and use
    :meth:`MsgStore.msg_size` when the engine is not known."""
    return len(subject) + len(hdr) + len(data) + 16


def file_msg_size(subject: str, hdr: bytes, data: bytes) -> int:
    """``state.bytes`` per message of a file store: the reference's file record size (a
    22-byte head, the 8-byte checksum, and a 4-byte header length when there are headers)."""
    return len(subject) + len(data) + 30 + (len(hdr) + 4 if hdr else 0)


class MsgStore(Protocol):
    """One stream's messages. Sequences start at ``first_seq`` (1 by default) and only grow."""

    # True when the store was not closed cleanly last time (a crash), so its last writes may
    # be cut short: what sits on top of it (atomic batches) checks its own tail then.
    unclean_start: bool

    def store(
        self, subject: str, hdr: bytes, data: bytes, ttl_ns: int = 0, ts_ns: int = 0
    ) -> tuple[int, int]:
        """Append a message; return ``(seq, ts_ns)``. Trims by the store's limits afterwards.

        ``ts_ns`` > 0 is the message's time instead of now (a mirror keeps its origin's
        times); never earlier than the newest stored time.

        ``ttl_ns`` > 0 is a per-message TTL (Nats-TTL); the message expires ``ttl_ns`` after
        its timestamp, independently of ``max_age``. ``ttl_ns`` < 0 is ``Nats-TTL: never``:
        the message is exempt from ``max_age``.
        """
        ...

    def msg_size(self, subject: str, hdr: bytes, data: bytes) -> int:
        """What the message would add to ``state.bytes`` in this engine (for discard-new)."""
        ...

    def skip(self, seq: int) -> None:
        """Move the next sequence to ``seq`` (first_seq, or after purge with a given seq).
        Sequences skipped over in a non-empty store count as deleted."""
        ...

    def load(self, seq: int) -> StoredMsg | None:
        """The message at ``seq``, or None when it does not exist (deleted or out of range)."""
        ...

    def load_next(self, filters: Sequence[str], start: int) -> StoredMsg | None:
        """The first message with ``seq >= start`` whose subject matches any of ``filters``
        (subjects with wildcards; an empty sequence or ``[">"]`` matches everything)."""
        ...

    def load_batch(self, filters: Sequence[str], start: int, limit: int) -> list[StoredMsg]:
        """Up to ``limit`` messages as repeated :meth:`load_next` calls would return them:
        consumers delivering a batch make one call (the file engine reads a run of records
        with one read)."""
        ...

    def load_last(self, filter_subject: str) -> StoredMsg | None:
        """The newest message whose subject matches ``filter_subject`` (wildcards allowed)."""
        ...

    def load_prev(self, filter_subject: str, start: int) -> StoredMsg | None:
        """The newest message with ``seq <= start`` matching ``filter_subject``."""
        ...

    def remove(self, seq: int, erase: bool = False) -> bool:
        """Delete one message; ``erase`` also overwrites its bytes on disk. False if absent."""
        ...

    def purge(self, subject: str = "", seq: int = 0, keep: int = 0) -> int:
        """Remove messages and return how many: all, or those matching ``subject``
        (wildcards allowed), only those with sequence < ``seq`` when ``seq`` > 0, and
        leaving the newest ``keep`` matching messages (counted over the whole filter, not
        per subject) when ``keep`` > 0. The combinations follow the reference's
        STREAM.PURGE semantics (its API rejects ``seq`` with ``keep``; here both bound).
        A full purge with no subject moves first_seq past the last sequence; with ``seq``
        it is :meth:`compact`, which past the end moves first_seq to ``seq``."""
        ...

    def compact(self, seq: int) -> int:
        """Remove every message with sequence < ``seq``; return how many. Past the end,
        the store is emptied and the next sequence becomes ``seq``."""
        ...

    def expire(self, now_ns: int, removed: Callable[[StoredMsg], None] | None = None) -> int:
        """Remove messages past max_age or their own TTL; return how many. Called by the
        stream's timer; :meth:`next_expiry` says when to call it next. With ``removed``,
        messages go one at a time (max_age first, then TTLs, each in sequence order) and
        each is handed to ``removed`` right after it is gone: subject delete markers
        are decided there."""
        ...

    def next_expiry(self) -> int:
        """Nanosecond timestamp of the next message to expire, or 0 when none will."""
        ...

    def state(self, with_deleted: bool = False) -> StoreState: ...

    def used_bytes(self) -> int:
        """The ``bytes`` of :meth:`state`, without building it: read on every publish to
        hold an account to its JetStream limits."""
        ...

    def subjects(self, filter_subject: str = ">") -> dict[str, int]:
        """Message count per subject, for subjects matching ``filter_subject``."""
        ...

    def num_pending(self, start: int, filters: Sequence[str], last_per_subject: bool = False) -> int:
        """Messages with ``seq >= start`` matching ``filters`` (only the last of each subject
        when ``last_per_subject``): the consumer's ``num_pending``."""
        ...

    def sequences(self, start: int, filters: Sequence[str]) -> Iterable[int]:
        """Sequences of existing messages ``>= start`` matching ``filters``, in order. Lazy:
        the caller may remove messages while iterating."""
        ...

    def update_limits(self, limits: StoreLimits) -> None:
        """New limits (stream update); trims at once if they are tighter."""
        ...

    def when_durable(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once everything stored so far is durable (at once for memory
        and for file storage without sync_always)."""
        ...

    def flush(self) -> None:
        """Hand buffered writes to the operating system (end of a loop turn)."""
        ...

    def close(self) -> None:
        """Flush, sync and release files. The store is unusable afterwards."""
        ...

    def delete(self) -> None:
        """Close and remove everything the store keeps on disk."""
        ...
