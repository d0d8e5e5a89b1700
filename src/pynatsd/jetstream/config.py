"""Stream configuration checks: what the reference refuses on create and update, and why.

The texts are the reference's (``errors.Reason``); the order of the checks follows it
where a request breaks several rules at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.errors import JSErr, Reason, api_error
from pynatsd.protocol.subjects import is_valid_subject, subject_matches, subset_of

if TYPE_CHECKING:
    from pynatsd.jetstream.manager import JetStream

MS100 = 100_000_000
SECOND = 1_000_000_000
_NAME_FORBIDDEN = frozenset(".*> \t\r\n\f")

# Stream features of the reference that pynatsd does not implement yet: refused by name.
_UNBUILT = (
    ("mirror", "stream mirrors"),
    ("sources", "stream sources"),
    ("republish", "republish"),
    ("subject_transform", "subject transforms"),
    ("allow_msg_counter", "message counters"),
    ("allow_atomic", "atomic batch publish"),
    ("allow_msg_schedules", "message schedules"),
    ("allow_batched", "batched publish"),
)


def _invalid(reason: str) -> Exception:
    return api_error(JSErr.STREAM_INVALID_CONFIG, err=reason)


def validate_name(name: str) -> None:
    if "/" in name or "\\" in name:
        raise api_error(JSErr.STREAM_NAME_CONTAINS_PATH_SEPARATORS)
    if not name or not _NAME_FORBIDDEN.isdisjoint(name):
        raise _invalid(Reason.NAME_INVALID)
    if len(name) > S.JS_MAX_NAME_LEN:
        raise _invalid(Reason.NAME_TOO_LONG % S.JS_MAX_NAME_LEN)


def validate_create(req: S.StreamConfigRequest, js: JetStream, *, updating: bool = False) -> S.StreamConfig:
    """Check a create/update request and return the configuration the stream will have."""
    cfg = req.config()
    validate_name(cfg.name)
    if len(cfg.description) > S.JS_MAX_DESCRIPTION_LEN:
        raise _invalid(Reason.DESCRIPTION_TOO_LONG % S.JS_MAX_DESCRIPTION_LEN)
    if cfg.metadata and sum(len(k) + len(v) for k, v in cfg.metadata.items()) > S.JS_MAX_METADATA_LEN:
        raise _invalid(Reason.METADATA_TOO_LONG % S.JS_MAX_METADATA_LEN)
    if cfg.num_replicas < 0:
        raise api_error(JSErr.REPLICAS_COUNT_CANNOT_BE_NEGATIVE)
    if cfg.num_replicas > 1:
        raise api_error(JSErr.STREAM_REPLICAS_NOT_SUPPORTED)
    for field, feature in _UNBUILT:
        value = getattr(cfg, field)
        if value:
            raise _invalid(f"{feature} are not supported by pynatsd yet")
    if cfg.compression != "none":
        raise _invalid("stream compression is not supported by pynatsd yet")
    if cfg.persist_mode == "async":
        raise _invalid("async persist mode is not supported by pynatsd yet")
    if cfg.mirror_direct and cfg.mirror is None:
        raise _invalid(Reason.MIRROR_DIRECT_WITHOUT_MIRROR)
    if cfg.sealed and not updating:
        raise _invalid(Reason.CREATE_SEALED)
    if cfg.max_age < 0:
        raise _invalid(Reason.MAX_AGE_NEGATIVE)
    if 0 < cfg.max_age < MS100:
        raise _invalid(Reason.MAX_AGE_TOO_SMALL)
    if cfg.duplicate_window < 0:
        raise _invalid(Reason.DUPLICATES_NEGATIVE)
    if cfg.duplicate_window and cfg.max_age and cfg.duplicate_window > cfg.max_age:
        if req.pedantic:
            raise api_error(JSErr.PEDANTIC, err=Reason.PEDANTIC_WINDOW_ABOVE_AGE)
        raise _invalid(Reason.DUPLICATES_ABOVE_MAX_AGE)
    if 0 < cfg.duplicate_window < MS100:
        raise _invalid(Reason.DUPLICATES_TOO_SMALL)
    if cfg.allow_rollup_hdrs and cfg.deny_purge:
        raise _invalid(Reason.ROLLUP_NEEDS_PURGE)
    if cfg.discard_new_per_subject:
        if cfg.discard != "new":
            raise _invalid(Reason.DISCARD_NEW_PER_NEEDS_NEW)
        if cfg.max_msgs_per_subject <= 0:
            raise _invalid(Reason.DISCARD_NEW_PER_NEEDS_MAX)
    if cfg.subject_delete_marker_ttl < 0:
        raise _invalid(Reason.MARKER_TTL_NEGATIVE)
    if 0 < cfg.subject_delete_marker_ttl < SECOND:
        raise _invalid(Reason.MARKER_TTL_TOO_SMALL)
    if req.pedantic:
        for field in ("max_msgs", "max_msgs_per_subject", "max_bytes", "max_msg_size", "max_consumers"):
            if getattr(cfg, field) < -1:
                raise api_error(JSErr.PEDANTIC, err=Reason.PEDANTIC_LIMIT % field)
    _check_subjects(cfg)
    return S.with_defaults(cfg)


def _check_subjects(cfg: S.StreamConfig) -> None:
    subjects = cfg.subjects or []
    for i, subj in enumerate(subjects):
        if not is_valid_subject(subj):
            raise _invalid(Reason.INVALID_SUBJECT)
        for other in subjects[:i]:
            if subject_matches(other, subj) or subset_of(subj, other) or subset_of(other, subj):
                raise _invalid(Reason.SUBJECTS_OVERLAP % (S.go_quote(subj), S.go_quote(other)))
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
    if new.sealed:
        new = msgspec.structs.replace(
            new, max_age=0, discard="new", deny_delete=True, deny_purge=True, allow_rollup_hdrs=False
        )
    return new
