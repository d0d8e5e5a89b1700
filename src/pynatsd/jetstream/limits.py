"""An account's JetStream limits applied to streams and consumers, as the reference checks them.

Three moments: a stream create (or restore) is first checked on the request as sent (the
number of streams, ``max_consumers``, the bytes its ``max_bytes`` would reserve in the account
and on the server), then its config is checked against ``max_bytes_required`` and the
per-stream byte caps, and the same byte check runs again once defaults are filled in
(an unset ``max_bytes`` reserves one byte, so an account already at its limit takes no
new stream). An update reserves only what its ``max_bytes`` grows by. (A consumer create
counts the stream's consumers against the account's ``max_consumers`` in
consumer_config.py, per stream as the reference.)

Reservations are the ``max_bytes`` of streams that have one: the account's own for its
limits, every account's for the server's ``max_memory`` / ``max_store``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pynatsd.jetstream.errors import JSErr, api_error

if TYPE_CHECKING:
    from pynatsd.jetstream import schemas as S
    from pynatsd.jetstream.manager import JetStream

__all__ = [
    "check_create",
    "check_max_bytes",
    "check_reservation",
    "check_update",
]


def check_create(js: JetStream, cfg: S.StreamConfig) -> None:
    """The reference's limits check on a create or restore request, before its config is
    validated: the stream count (a stream of the same name does not count), then bytes."""
    limits = js.limits
    if limits.tiers and not limits.tier:  # tiered, without the tier a single server's streams are in
        raise api_error(JSErr.NO_LIMITS)
    if limits.max_streams > 0:
        others = sum(1 for name in js.streams if name != cfg.name)
        if others >= limits.max_streams:
            raise api_error(JSErr.MAXIMUM_STREAMS_LIMIT)
    check_reservation(js, cfg, cfg.max_bytes)


def check_max_bytes(js: JetStream, cfg: S.StreamConfig) -> None:
    """``max_bytes_required`` (10113) and the account's per-stream byte cap (10122)."""
    limits = js.limits
    cap = limits.memory_max_stream_bytes if cfg.storage == "memory" else limits.store_max_stream_bytes
    if limits.max_bytes_required and cfg.max_bytes <= 0:
        raise api_error(JSErr.STREAM_MAX_BYTES_REQUIRED)
    if cap > 0 and cfg.max_bytes > cap:
        raise api_error(JSErr.STREAM_MAX_STREAM_BYTES_EXCEEDED)


def check_reservation(js: JetStream, cfg: S.StreamConfig, adding: int, reserved_extra: int = 0) -> None:
    """Whether ``adding`` more reserved bytes fit the account's and the server's limits.

    ``adding`` is the stream's ``max_bytes`` (an unset one, < 0, counts as one byte; 0, as a
    request may leave it, as nothing); the account's reservation counts its other streams of
    the same storage, plus ``reserved_extra`` (an update's unchanged part)."""
    limits = js.limits
    if cfg.max_consumers > 0 and 0 < limits.max_consumers < cfg.max_consumers:
        raise api_error(JSErr.MAXIMUM_CONSUMERS_LIMIT)
    if adding < 0:
        adding = 1
    memory = cfg.storage == "memory"
    account_max = limits.max_memory if memory else limits.max_store
    err = JSErr.MEMORY_RESOURCES_EXCEEDED if memory else JSErr.STORAGE_RESOURCES_EXCEEDED
    if account_max >= 0:
        current = reserved_extra + sum(
            s.config.max_bytes
            for s in js.streams.values()
            if s.name != cfg.name and s.config.max_bytes > 0 and s.config.storage == cfg.storage
        )
        if current > account_max or adding > account_max - current:
            raise api_error(err)
    engine = js.engine
    server_max = engine.max_memory if memory else engine.max_store
    server_reserved = engine.reserved()[0 if memory else 1]
    if server_reserved > server_max or adding > server_max - server_reserved:
        raise api_error(err)


def check_update(js: JetStream, old: S.StreamConfig, new: S.StreamConfig) -> None:
    """An update reserves what its ``max_bytes`` grows by (nothing when it shrinks)."""
    grow = new.max_bytes - old.max_bytes if new.max_bytes > 0 else 0
    if old.max_bytes > 0 and new.max_bytes > 0 and grow < 0:
        grow = 0
    elif old.max_bytes <= 0 and new.max_bytes > 0:
        grow = new.max_bytes
    base = max(new.max_bytes, 0) - grow
    check_reservation(js, new, grow, base if base > 0 else 0)
