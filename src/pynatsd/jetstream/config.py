"""Stream configuration rules: what the reference refuses on create and update, and why, and
what it fills in.

The texts are the reference's (``errors.Reason``); the order of the checks follows it
where a request breaks several rules at once. :func:`with_defaults` fills in what the
reference fills in on create and update, and :func:`with_dynamic_metadata` adds the
``_nats.ver``/``_nats.level`` metadata it shows in create, update and info responses (not
in STREAM.LIST).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

import msgspec

from pynatsd.gocompat import go_quote
from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.errors import JSErr, Reason, api_error
from pynatsd.protocol.subjects import is_valid_subject, subject_matches, subjects_collide, subset_of
from pynatsd.version import REFERENCE_VERSION

if TYPE_CHECKING:
    from pynatsd.jetstream.manager import JetStream

MS100 = 100_000_000
SECOND = 1_000_000_000
DEFAULT_DUPLICATE_WINDOW: Final = 120 * SECOND  # 2 minutes
_NAME_FORBIDDEN = frozenset(".*> \t\r\n\f")

# Stream features of the reference that pynatsd does not implement yet: refused by name.
_UNBUILT = (
    ("mirror", "stream mirrors"),
    ("sources", "stream sources"),
    ("subject_transform", "subject transforms"),
    ("allow_msg_counter", "message counters"),
    ("allow_msg_schedules", "message schedules"),
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
    cfg = with_defaults(cfg)
    if cfg.republish is not None:
        _check_republish(cfg, cfg.republish)
    return cfg


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
    if new.persist_mode != old.persist_mode:
        raise _invalid(Reason.UPDATE_PERSIST_MODE)
    if new.sealed:
        new = msgspec.structs.replace(
            new, max_age=0, discard="new", deny_delete=True, deny_purge=True, allow_rollup_hdrs=False
        )
    return new


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


# -- republish ------------------------------------------------------------------------------

_WILDCARD_FN = re.compile(r"\{\{\s*wildcard\s*\(\s*(\d+)\s*\)\s*\}\}", re.IGNORECASE)
_ANY_FN = re.compile(r"\{\{\s*([A-Za-z]+)\s*\((.*)\)\s*\}\}")
_DOLLAR = re.compile(r"\$(\d+)")
# the reference's other subject mapping functions: accepted there, not built here
_OTHER_FNS = frozenset(
    {
        "partition",
        "split",
        "splitfromleft",
        "splitfromright",
        "slicefromleft",
        "slicefromright",
        "left",
        "right",
    }
)


class SubjectTransform:
    """A republish mapping from ``src`` (a subject filter) to ``dest``, whose tokens may be
    literals, ``$N`` / ``{{wildcard(N)}}`` (the N-th ``*`` of ``src``) and a final ``>`` (what
    the ``>`` of ``src`` matched). Built by :func:`republish_transform`."""

    def __init__(self, src: str, parts: list[tuple[str, int]]) -> None:
        self.src = src
        self._src_tokens = src.split(".")
        self._stars = [i for i, t in enumerate(self._src_tokens) if t == "*"]
        self._parts = parts  # (literal, 0) | ("", N) for wildcard N | (">", -1)

    def map(self, subject: str) -> str | None:
        """The destination for ``subject``, or None when ``src`` does not match it."""
        if not subject_matches(self.src, subject):
            return None
        tokens = subject.split(".")
        out = []
        for literal, ref in self._parts:
            if ref > 0:
                out.append(tokens[self._stars[ref - 1]])
            elif ref < 0:
                out.append(".".join(tokens[len(self._src_tokens) - 1 :]))
            else:
                out.append(literal)
        return ".".join(out)


def republish_transform(src: str, dest: str) -> SubjectTransform | None:
    """The transform of a (validated) republish config; None when ``dest`` is empty."""
    if not dest:
        return None
    return _parse_transform(src, dest)


def _parse_transform(src: str, dest: str) -> SubjectTransform:
    invalid = _invalid(Reason.REPUBLISH_TRANSFORM % (src, dest))
    if not is_valid_subject(src):
        raise invalid
    src_tokens = src.split(".")
    stars = src_tokens.count("*")
    src_fwc = src_tokens[-1] == ">"
    dest_tokens = dest.split(".")
    parts: list[tuple[str, int]] = []
    for i, token in enumerate(dest_tokens):
        if not token:
            raise invalid
        if token == "*":
            raise invalid
        if token == ">":
            if i != len(dest_tokens) - 1 or not src_fwc:
                raise invalid
            parts.append((">", -1))
            continue
        m = _DOLLAR.fullmatch(token) or _WILDCARD_FN.fullmatch(token)
        if m is None and (fn := _ANY_FN.fullmatch(token)) is not None:
            if fn.group(1).lower() in _OTHER_FNS:
                raise _invalid(
                    f"subject mapping function {fn.group(1)}() in republish is not supported by pynatsd yet"
                )
            raise invalid
        if m is not None:
            n = int(m.group(1))
            if n == 0:
                raise _invalid("subject mapping to wildcard 0 in republish is not supported by pynatsd yet")
            if n > stars:
                raise invalid
            parts.append(("", n))
            continue
        parts.append((token, 0))
    if src_fwc and (not parts or parts[-1][1] != -1):
        raise invalid
    return SubjectTransform(src, parts)


def _check_republish(cfg: S.StreamConfig, rp: S.RePublish) -> None:
    for subj in cfg.subjects or []:
        if subjects_collide(rp.dest, subj):
            raise _invalid(Reason.REPUBLISH_CYCLE)
    if rp.dest:
        _parse_transform(rp.src, rp.dest)
