"""Stream configuration rules: what the reference refuses on create and update, and why, and
what it fills in.

The texts are the reference's (``errors.Reason``); the order of the checks follows it
where a request breaks several rules at once. :func:`with_defaults` fills in what the
reference fills in on create and update, and :func:`with_dynamic_metadata` adds the
``_nats.ver``/``_nats.level`` metadata it shows in create, update and info responses (not
in STREAM.LIST).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import msgspec

from pynatsd.gocompat import format_duration, go_quote
from pynatsd.jetstream import limits, transforms
from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.errors import JSErr, Reason, api_error
from pynatsd.jetstream.sourcing_config import check_sourcing
from pynatsd.protocol.subjects import is_valid_subject, subject_matches, subset_of
from pynatsd.version import REFERENCE_VERSION

if TYPE_CHECKING:
    from pynatsd.jetstream.manager import JetStream

MS100 = 100_000_000
SECOND = 1_000_000_000
DEFAULT_DUPLICATE_WINDOW: Final = 120 * SECOND  # 2 minutes
_NAME_FORBIDDEN = frozenset(".*> \t\r\n\f")


def _nbytes(s: str) -> int:
    """A string's length as Go counts it: UTF-8 bytes."""
    return len(s.encode("utf-8", "surrogatepass"))


def _metadata_too_long(cfg: S.StreamConfig, updating: bool) -> bool:
    """The reference measures the metadata it will store (without ``_nats.ver``/``_nats.level``,
    with ``_nats.req.level``); an update's request is also measured as sent."""
    meta = dict(cfg.metadata or {})
    sent = sum(_nbytes(k) + _nbytes(v) for k, v in meta.items())
    meta.pop(S.META_SERVER_VERSION, None)
    meta.pop(S.META_SERVER_LEVEL, None)
    meta[S.META_REQUIRED_LEVEL] = str(required_api_level(cfg))
    stored = sum(_nbytes(k) + _nbytes(v) for k, v in meta.items())
    return stored > S.JS_MAX_METADATA_LEN or (updating and sent > S.JS_MAX_METADATA_LEN)


def _invalid(reason: str) -> Exception:
    return api_error(JSErr.STREAM_INVALID_CONFIG, err=reason)


def validate_name(name: str) -> None:
    if "/" in name or "\\" in name:
        raise api_error(JSErr.STREAM_NAME_CONTAINS_PATH_SEPARATORS)
    if not name or not _NAME_FORBIDDEN.isdisjoint(name):
        raise _invalid(Reason.NAME_INVALID)
    if _nbytes(name) > S.JS_MAX_NAME_LEN:
        raise _invalid(Reason.NAME_TOO_LONG % S.JS_MAX_NAME_LEN)


def validate_create(req: S.StreamConfigRequest, js: JetStream, *, updating: bool = False) -> S.StreamConfig:
    """Check a create/update request and return the configuration the stream will have."""
    cfg = req.config()
    validate_name(cfg.name)
    if _nbytes(cfg.description) > S.JS_MAX_DESCRIPTION_LEN:
        raise _invalid(Reason.DESCRIPTION_TOO_LONG % S.JS_MAX_DESCRIPTION_LEN)
    if _metadata_too_long(cfg, updating):
        raise _invalid(Reason.METADATA_TOO_LONG % S.JS_MAX_METADATA_LEN)
    if cfg.num_replicas < 0:
        raise api_error(JSErr.REPLICAS_COUNT_CANNOT_BE_NEGATIVE)
    if cfg.num_replicas > 1:
        raise api_error(JSErr.STREAM_REPLICAS_NOT_SUPPORTED)
    if cfg.persist_mode == "async":
        if cfg.storage != "file":
            raise _invalid(Reason.ASYNC_NEEDS_FILE)
        if cfg.allow_atomic:
            raise _invalid(Reason.ASYNC_ATOMIC)
    if cfg.mirror_direct and cfg.mirror is None:
        raise _invalid(Reason.MIRROR_DIRECT_WITHOUT_MIRROR)
    if cfg.sealed and not updating:
        raise _invalid(Reason.CREATE_SEALED)
    if cfg.max_age < 0:
        raise _invalid(Reason.MAX_AGE_NEGATIVE)
    if 0 < cfg.max_age < MS100:
        raise _invalid(Reason.MAX_AGE_TOO_SMALL)
    defaulted = cfg.duplicate_window == 0 and cfg.mirror is None and not cfg.sources
    if req.pedantic and defaulted and 0 < js.core.opts.jetstream_duplicate_window < DEFAULT_DUPLICATE_WINDOW:
        raise api_error(JSErr.PEDANTIC, err=Reason.PEDANTIC_WINDOW_ABOVE_LIMIT)
    if cfg.duplicate_window < 0:
        raise _invalid(Reason.DUPLICATES_NEGATIVE)
    if cfg.duplicate_window and cfg.max_age and cfg.duplicate_window > cfg.max_age:
        if req.pedantic:
            raise api_error(JSErr.PEDANTIC, err=Reason.PEDANTIC_WINDOW_ABOVE_AGE)
        raise _invalid(Reason.DUPLICATES_ABOVE_MAX_AGE)
    window_limit = js.core.opts.jetstream_duplicate_window
    if 0 < window_limit < cfg.duplicate_window:
        raise _invalid(Reason.DUPLICATES_ABOVE_LIMIT % format_duration(window_limit))
    if 0 < cfg.duplicate_window < MS100:
        raise _invalid(Reason.DUPLICATES_TOO_SMALL)
    if cfg.allow_rollup_hdrs and cfg.deny_purge:
        raise _invalid(Reason.ROLLUP_NEEDS_PURGE)
    if cfg.allow_msg_counter:
        _check_counter(cfg)
    if cfg.discard_new_per_subject:
        if cfg.discard != "new":
            raise _invalid(Reason.DISCARD_NEW_PER_NEEDS_NEW)
        if cfg.max_msgs_per_subject <= 0:
            raise _invalid(Reason.DISCARD_NEW_PER_NEEDS_MAX)
    if cfg.subject_delete_marker_ttl < 0:
        raise _invalid(Reason.MARKER_TTL_NEGATIVE)
    if 0 < cfg.subject_delete_marker_ttl < SECOND:
        raise _invalid(Reason.MARKER_TTL_TOO_SMALL)
    if cfg.allow_msg_schedules:
        if cfg.discard == "new":
            raise _invalid(Reason.SCHEDULES_DISCARD_NEW)
        if not cfg.allow_rollup_hdrs and req.pedantic:
            raise _invalid(Reason.PEDANTIC_SCHEDULES_ROLLUP)
    # counters and schedules with a mirror or sources (refused above until those are built)
    if cfg.mirror is not None and cfg.allow_msg_counter:
        raise api_error(JSErr.MIRROR_WITH_COUNTERS)
    if cfg.mirror is not None and cfg.allow_msg_schedules:
        raise api_error(JSErr.MIRROR_WITH_MSG_SCHEDULES)
    if cfg.sources and cfg.allow_msg_schedules:
        raise api_error(JSErr.SOURCE_WITH_MSG_SCHEDULES)
    if req.pedantic:
        for field in ("max_msgs", "max_msgs_per_subject", "max_bytes", "max_msg_size", "max_consumers"):
            if getattr(cfg, field) < -1:
                raise api_error(JSErr.PEDANTIC, err=Reason.PEDANTIC_LIMIT % field)
    origin_direct = check_sourcing(
        cfg, js, req.pedantic, not updating
    )  # mirror / sources (sourcing_config.py)
    _check_subjects(cfg)
    limits.check_max_bytes(js, cfg)
    transforms.check_subject_transform(cfg)  # subject transforms: the reference's order
    if req.pedantic and cfg.republish is not None and cfg.republish.src == "":
        raise api_error(JSErr.PEDANTIC, err=Reason.PEDANTIC_REPUBLISH_SRC)
    cfg = with_defaults(
        cfg, max_duplicate_window=js.core.opts.jetstream_duplicate_window, origin_allow_direct=origin_direct
    )
    return transforms.check_republish(cfg, req.pedantic)


def _check_counter(cfg: S.StreamConfig) -> None:
    """A counter stream keeps every subject's last message as its total: nothing may drop
    increments (discard new), expire them (TTLs), add other messages (schedules), or remove
    them on ack (interest, work queue)."""
    if cfg.discard == "new":
        raise _invalid(Reason.COUNTER_DISCARD_NEW)
    if cfg.allow_msg_ttl:
        raise _invalid(Reason.COUNTER_TTL)
    if cfg.allow_msg_schedules:
        raise _invalid(Reason.COUNTER_SCHEDULES)
    if cfg.retention != "limits":
        raise _invalid(Reason.COUNTER_RETENTION)


def _check_subjects(cfg: S.StreamConfig) -> None:
    subjects = cfg.subjects or []
    for i, subj in enumerate(subjects):
        if not is_valid_subject(subj):
            raise _invalid(Reason.INVALID_SUBJECT)
        for other in subjects[:i]:
            if subject_matches(other, subj) or subset_of(subj, other) or subset_of(other, subj):
                raise _invalid(Reason.SUBJECTS_OVERLAP % (go_quote(subj), go_quote(other)))
        if subj == ">" and not cfg.no_ack:
            raise _invalid(Reason.CAPTURE_ALL_NO_ACK)
        if not cfg.no_ack:
            for api in ("$JS.>", "$JSC.>", "$NRG.>"):
                if (subset_of(subj, api) or subset_of(api, subj)) and not subset_of(subj, "$JS.EVENT.>"):
                    raise _invalid(Reason.JS_API_OVERLAP)
            if (subset_of(subj, "$SYS.>") or subset_of("$SYS.>", subj)) and not subset_of(
                subj, "$SYS.ACCOUNT.>"
            ):
                raise _invalid(Reason.SYS_API_OVERLAP)


def check_update(old: S.StreamConfig, new: S.StreamConfig) -> S.StreamConfig:
    """Refuse what an update may not change; apply what sealing implies."""
    if new.storage != old.storage:
        raise _invalid(Reason.UPDATE_STORAGE)
    if new.retention != old.retention and "workqueue" in (new.retention, old.retention):
        raise _invalid(Reason.UPDATE_RETENTION)
    if old.sealed and not new.sealed:
        raise _invalid(Reason.UPDATE_UNSEAL)
    if old.deny_delete and not new.deny_delete:
        raise _invalid(Reason.UPDATE_DENY_DELETE)
    if old.deny_purge and not new.deny_purge:
        raise _invalid(Reason.UPDATE_DENY_PURGE)
    if old.allow_msg_ttl and not new.allow_msg_ttl:
        raise _invalid(Reason.UPDATE_TTL)
    if new.allow_msg_counter != old.allow_msg_counter:
        raise _invalid(Reason.UPDATE_COUNTER)
    if old.allow_msg_schedules and not new.allow_msg_schedules:
        raise _invalid(Reason.UPDATE_SCHEDULES)
    if new.persist_mode != old.persist_mode:
        raise _invalid(Reason.UPDATE_PERSIST_MODE)
    if new.mirror is not None and new.mirror != old.mirror:  # removing it promotes the mirror
        raise api_error(JSErr.STREAM_MIRROR_NOT_UPDATABLE)
    if new.sealed:
        new = msgspec.structs.replace(
            new, max_age=0, discard="new", deny_delete=True, deny_purge=True, allow_rollup_hdrs=False
        )
    return new


def check_consumer_limits(
    old: S.StreamConfig, new: S.StreamConfig, consumers: dict[str, S.ConsumerConfig]
) -> None:
    """An update that lowers ``consumer_limits`` below what existing consumers use is
    refused with the names of those consumers (sorted; the reference lists them in map order)."""
    was, now = old.consumer_limits, new.consumer_limits
    threshold, pending = now.inactive_threshold, now.max_ack_pending
    if not (
        (threshold > 0 and threshold != was.inactive_threshold)
        or (pending > 0 and pending != was.max_ack_pending)
    ):
        return
    names = [
        name
        for name, c in sorted(consumers.items())
        if (threshold > 0 and c.inactive_threshold > threshold)
        or (pending > 0 and c.max_ack_pending > pending)
    ]
    if names:
        raise api_error(JSErr.STREAM_UPDATE, err=f"change to limits violates consumers: {', '.join(names)}")


# -- defaults -------------------------------------------------------------------------------


def _zero_stream_config(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "retention": "limits",
        "max_consumers": 0,
        "max_msgs": 0,
        "max_bytes": 0,
        "max_age": 0,
        "max_msgs_per_subject": 0,
        "discard": "old",
        "storage": "file",
        "num_replicas": 0,
        "compression": "none",
        "allow_direct": False,
        "mirror_direct": False,
        "sealed": False,
        "deny_delete": False,
        "deny_purge": False,
        "allow_rollup_hdrs": False,
        "consumer_limits": S.StreamConsumerLimits(),
        "allow_msg_ttl": False,
    }


def new_stream_config(name: str, **fields: Any) -> S.StreamConfig:
    """A StreamConfig from only the fields given, the rest at their Go zero values (not defaulted)."""
    return S.StreamConfig(**(_zero_stream_config(name) | fields))


def required_api_level(cfg: S.StreamConfig) -> int:
    """The ``_nats.req.level`` the reference stores for a stream using these features."""
    level = 0
    if cfg.allow_msg_ttl or cfg.subject_delete_marker_ttl > 0:
        level = 1
    if cfg.allow_msg_counter or cfg.allow_atomic or cfg.allow_msg_schedules or cfg.persist_mode == "async":
        level = 2
    if cfg.allow_batched:
        level = 4
    return level


def with_defaults(
    cfg: S.StreamConfig,
    *,
    max_duplicate_window: int = 0,
    origin_allow_direct: bool | None = None,
) -> S.StreamConfig:
    """The configuration the reference stores for a create or update request.

    What it fills in (the reference's ``checkStreamCfg``, silent corrections only — the
    validation errors are the caller's): storage stays as given ("file" when absent);
    ``num_replicas`` 0 -> 1; ``max_msgs``, ``max_bytes``, ``max_msgs_per_subject``,
    ``max_msg_size``, ``max_consumers`` 0 or below -1 -> -1; ``duplicate_window`` 0 ->
    2m (or ``max_duplicate_window`` if set lower, or ``max_age`` if lower), but left 0 for
    a mirror or a stream with sources; ``subject_delete_marker_ttl`` > 0 turns on
    ``allow_msg_ttl`` and ``allow_rollup_hdrs`` (and off ``deny_purge``);
    ``allow_msg_schedules`` turns on ``allow_rollup_hdrs`` (and off ``deny_purge``);
    a mirror takes ``mirror_direct`` from its origin's ``allow_direct`` when the origin is
    known (``origin_allow_direct``); no subjects and neither mirror nor sources -> the
    stream name; an empty ``placement`` -> none; ``republish.src`` "" -> ">"; metadata:
    ``_nats.ver``/``_nats.level`` removed, ``_nats.req.level`` set (:func:`required_api_level`).
    """
    f = msgspec.structs.asdict(cfg)
    for key in ("max_msgs", "max_bytes", "max_msgs_per_subject", "max_msg_size", "max_consumers"):
        if f[key] == 0 or f[key] < -1:
            f[key] = -1
    if f["num_replicas"] == 0:
        f["num_replicas"] = 1
    if f["duplicate_window"] == 0 and cfg.mirror is None and not cfg.sources:
        window = DEFAULT_DUPLICATE_WINDOW
        if 0 < max_duplicate_window < window:
            window = max_duplicate_window
        f["duplicate_window"] = cfg.max_age if cfg.max_age != 0 and cfg.max_age < window else window
    if cfg.subject_delete_marker_ttl > 0:
        f["allow_msg_ttl"] = True
        if not cfg.allow_rollup_hdrs:
            f["allow_rollup_hdrs"], f["deny_purge"] = True, False
    if cfg.allow_msg_schedules and not f["allow_rollup_hdrs"]:
        f["allow_rollup_hdrs"], f["deny_purge"] = True, False
    if cfg.mirror is not None and origin_allow_direct is not None:
        f["mirror_direct"] = origin_allow_direct
    if not cfg.subjects:
        f["subjects"] = [cfg.name] if cfg.mirror is None and not cfg.sources else None
    if cfg.placement is not None and cfg.placement == S.Placement():
        f["placement"] = None
    if cfg.republish is not None and cfg.republish.src == "":
        f["republish"] = msgspec.structs.replace(cfg.republish, src=">")
    out = S.StreamConfig(**f)
    meta = dict(cfg.metadata or {})
    meta.pop(S.META_SERVER_VERSION, None)
    meta.pop(S.META_SERVER_LEVEL, None)
    meta[S.META_REQUIRED_LEVEL] = str(required_api_level(out))
    out.metadata = meta
    return out


def with_dynamic_metadata(
    cfg: S.StreamConfig, version: str = REFERENCE_VERSION, level: int = S.API_LEVEL
) -> S.StreamConfig:
    """A copy with ``_nats.ver`` and ``_nats.level`` added, as create/update/info responses show it."""
    meta = dict(cfg.metadata or {})
    meta[S.META_SERVER_VERSION] = version
    meta[S.META_SERVER_LEVEL] = str(level)
    return msgspec.structs.replace(cfg, metadata=dict(sorted(meta.items())))
