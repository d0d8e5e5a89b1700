"""The reference's rules for ``mirror`` and ``sources`` in a stream configuration.

Checked on create and update, in the reference's order (``checkStreamCfg``): the mirror's
own rules, then each source's, then the external prefixes and source cycles. What the
origin stream says (its ``allow_direct``, its ``max_msg_size``) is consulted only when the
origin is a local stream: a mirror or source of a stream that does not exist (yet) is
allowed, and starts working when the origin appears.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Final

from pynatsd.gocompat import format_time, go_quote
from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.errors import JSErr, Reason, api_error
from pynatsd.mapping import TransformError, validate_mapping
from pynatsd.protocol.subjects import is_valid_subject, subjects_collide, subset_of

if TYPE_CHECKING:
    from pynatsd.jetstream.manager import JetStream

API_PREFIX: Final = "$JS.API"
FWC: Final = ">"
_NAME_FORBIDDEN: Final = frozenset(".*> \t\r\n\f")


def _valid_name(name: str) -> bool:
    return name != "" and _NAME_FORBIDDEN.isdisjoint(name)


def _is_literal(subject: str) -> bool:
    return all(t not in ("*", ">") for t in subject.split("."))


def _valid_publish_subject(subject: str) -> bool:
    return is_valid_subject(subject) and _is_literal(subject)


def _invalid(reason: str) -> Exception:
    return api_error(JSErr.STREAM_INVALID_CONFIG, err=reason)


def iname(src: S.StreamSource) -> str:
    """The reference's index name of a source: ``<name>[:<hash>] <filters> <destinations>``;
    it tells sources apart (duplicates) and is written into ``Nats-Stream-Source``."""
    name = src.name
    if src.external is not None:
        name += ":" + _hash(src.external.api)
    if src.consumer is not None:
        name += ":C=" + _hash(src.consumer.name)
    if not src.subject_transforms:
        return f"{name} {src.filter_subject or FWC} {FWC}"
    srcs = "\f".join(t.src or FWC for t in src.subject_transforms)
    dests = "\f".join(t.dest or FWC for t in src.subject_transforms)
    return f"{name} {srcs} {dests}"


_DIGITS: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _hash(value: str) -> str:
    """The reference's ``getHash``: 8 base-62 characters from sha256 (external names, stream identities)."""
    digest = hashlib.sha256(value.encode()).digest()
    return "".join(_DIGITS[b % 62] for b in digest[:8])


def stream_identity(created_ns: int) -> str:
    """A stream's identity (the reference's): the hash of its creation time, so a source
    can tell a recreated origin from the one it was reading."""
    return _hash(format_time(created_ns))


def check_sourcing(cfg: S.StreamConfig, js: JetStream, pedantic: bool, creating: bool = True) -> bool | None:
    """Refuse a bad ``mirror``/``sources`` config with the reference's error; return the
    origin's ``allow_direct`` when a mirror's origin is a local stream (None otherwise).
    ``creating``: also the filter checks the reference makes only when it creates the stream."""
    origin_direct: bool | None = None
    stream_subs: list[str] = []
    deliver_prefixes: list[str] = []
    api_prefixes: list[str] = []
    mirror = cfg.mirror
    if mirror is not None:
        if cfg.first_seq > 0:
            raise api_error(JSErr.MIRROR_WITH_FIRST_SEQ)
        if cfg.subjects:
            raise api_error(JSErr.MIRROR_WITH_SUBJECTS)
        if cfg.sources:
            raise api_error(JSErr.MIRROR_WITH_SOURCES)
        if cfg.allow_msg_counter:
            raise api_error(JSErr.MIRROR_WITH_COUNTERS)
        if cfg.allow_atomic:
            raise api_error(JSErr.MIRROR_WITH_ATOMIC_PUBLISH)
        if cfg.allow_batched:
            raise api_error(JSErr.MIRROR_WITH_BATCH_PUBLISH)
        if cfg.allow_msg_schedules:
            raise api_error(JSErr.MIRROR_WITH_MSG_SCHEDULES)
        if mirror.consumer is not None:
            _check_durable(mirror, JSErr.MIRROR_DURABLE_CONSUMER_CFG_INVALID)
        if mirror.filter_subject and mirror.subject_transforms:
            raise api_error(JSErr.MIRROR_MULTIPLE_FILTERS_NOT_ALLOWED)
        if cfg.subject_delete_marker_ttl > 0:
            raise _invalid(Reason.MARKER_ON_MIRROR)
        transforms = mirror.subject_transforms or []
        for i, tr in enumerate(transforms):
            if tr.src and not is_valid_subject(tr.src):
                raise api_error(JSErr.MIRROR_INVALID_SUBJECT_FILTER, err=f"invalid subject {tr.src}")
            _check_mapping(tr, JSErr.MIRROR_INVALID_TRANSFORM_DESTINATION)
            if any(j != i and subjects_collide(tr.src, o.src) for j, o in enumerate(transforms)):
                raise api_error(JSErr.MIRROR_OVERLAPPING_SUBJECT_FILTERS)
        if mirror.external is None:
            if not _valid_name(mirror.name):
                raise api_error(JSErr.MIRROR_INVALID_STREAM_NAME)
            origin = js.streams.get(mirror.name)
            if origin is not None:
                stream_subs += origin.config.subjects or []
                o_size = origin.config.max_msg_size
                if cfg.max_msg_size > 0 and o_size > 0 and cfg.max_msg_size < o_size:
                    raise api_error(JSErr.MIRROR_MAX_MESSAGE_SIZE_TOO_BIG)
                if pedantic and cfg.mirror_direct != origin.config.allow_direct:
                    raise api_error(JSErr.PEDANTIC, err=Reason.PEDANTIC_MIRROR_DIRECT)
                origin_direct = origin.config.allow_direct
        else:
            if mirror.external.deliver:
                deliver_prefixes.append(mirror.external.deliver)
            if mirror.external.api:
                api_prefixes.append(mirror.external.api)
    if cfg.sources and cfg.allow_msg_schedules:
        raise api_error(JSErr.SOURCE_WITH_MSG_SCHEDULES)
    inames: set[str] = set()
    cnames: set[str] = set()
    for src in cfg.sources or []:
        if not _valid_name(src.name):
            raise api_error(JSErr.SOURCE_INVALID_STREAM_NAME)
        key = iname(src)
        if key in inames:
            raise api_error(JSErr.SOURCE_DUPLICATE_DETECTED)
        inames.add(key)
        if src.filter_subject and src.subject_transforms:
            raise api_error(JSErr.SOURCE_MULTIPLE_FILTERS_NOT_ALLOWED)
        transforms = src.subject_transforms or []
        for tr in transforms:
            if tr.src and not is_valid_subject(tr.src):
                raise api_error(JSErr.SOURCE_INVALID_SUBJECT_FILTER, err=f"invalid subject {tr.src}")
            _check_mapping(tr, JSErr.SOURCE_INVALID_TRANSFORM_DESTINATION)
        for i, tr in enumerate(transforms):
            if any(j != i and subset_of(tr.src, o.src) for j, o in enumerate(transforms)):
                raise api_error(JSErr.SOURCE_OVERLAPPING_SUBJECT_FILTERS)
        if src.consumer is not None:
            _check_durable(src, JSErr.SOURCE_DURABLE_CONSUMER_CFG_INVALID)
            cname = f"{src.name} {src.consumer.name}"
            if cname in cnames:
                raise api_error(JSErr.SOURCE_DURABLE_CONSUMER_DUPLICATE_DETECTED)
            cnames.add(cname)
        if src.external is None:
            origin = js.streams.get(src.name)
            if origin is not None:
                stream_subs += origin.config.subjects or []
                o_size = origin.config.max_msg_size
                if cfg.max_msg_size > 0 and o_size > 0 and cfg.max_msg_size < o_size:
                    raise api_error(JSErr.SOURCE_MAX_MESSAGE_SIZE_TOO_BIG)
        else:
            if src.external.deliver:
                deliver_prefixes.append(src.external.deliver)
            if src.external.api:
                api_prefixes.append(src.external.api)
    for pfx in deliver_prefixes:
        if not _valid_publish_subject(pfx):
            raise api_error(JSErr.STREAM_INVALID_EXTERNAL_DELIVERY_SUBJ, prefix=pfx)
        for sub in stream_subs:
            if subjects_collide(sub, f"{pfx}.{sub}"):
                raise api_error(JSErr.STREAM_EXTERNAL_DEL_PREFIX_OVERLAPS, prefix=pfx, subject=sub)
    for pfx in api_prefixes:
        if not _valid_publish_subject(pfx):
            raise _invalid(Reason.EXTERNAL_API_PREFIX % go_quote(pfx))
        if subjects_collide(pfx, API_PREFIX):
            raise api_error(JSErr.STREAM_EXTERNAL_API_OVERLAP, prefix=pfx, subject=API_PREFIX)
    _check_cycles(cfg, js)
    if creating:
        _check_filters(cfg)
    return origin_direct


def _check_filters(cfg: S.StreamConfig) -> None:
    """The reference checks a plain ``filter_subject`` only when it creates the stream (500/10049)."""
    m = cfg.mirror
    if (
        m is not None
        and not m.subject_transforms
        and m.filter_subject
        and not is_valid_subject(m.filter_subject)
    ):
        raise api_error(
            JSErr.STREAM_CREATE, err=f"subject filter '{m.filter_subject}' for the mirror invalid subject"
        )
    for src in cfg.sources or []:
        if not src.subject_transforms and src.filter_subject and not is_valid_subject(src.filter_subject):
            raise api_error(
                JSErr.STREAM_CREATE,
                err=f"subject filter '{src.filter_subject}' for the source: invalid subject",
            )


def _check_durable(src: S.StreamSource, err: JSErr) -> None:
    c = src.consumer
    assert c is not None
    if not _valid_name(c.name) or not _valid_publish_subject(c.deliver_subject):
        raise api_error(err)
    if src.opt_start_seq or src.opt_start_time is not None or src.filter_subject:
        raise api_error(err)


def _check_mapping(tr: S.SubjectTransformConfig, err: JSErr) -> None:
    """A transform's destination must be a valid mapping of its source."""
    try:
        validate_mapping(tr.src, tr.dest)
    except TransformError as e:
        raise api_error(err, err=str(e)) from None


def _check_cycles(cfg: S.StreamConfig, js: JetStream) -> None:
    """A stream may not (through sources and mirrors of local streams) end up sourcing
    the subjects it captures itself."""
    to_visit = [cfg]
    visited: set[str] = set()
    while to_visit:
        c = to_visit.pop(0)
        visited.add(c.name)
        for src in c.sources or []:
            if src.external is not None:
                continue
            if src.name in visited:
                if not src.filter_subject or any(
                    subjects_collide(s, src.filter_subject) for s in c.subjects or []
                ):
                    raise _invalid(Reason.DETECTED_CYCLE)
            elif (other := js.streams.get(src.name)) is not None:
                to_visit.append(other.config)
        m = c.mirror
        if m is not None and m.external is None:
            if m.name in visited:
                raise _invalid(Reason.DETECTED_CYCLE)
            if (other := js.streams.get(m.name)) is not None:
                to_visit.append(other.config)
