"""Stream-side subject transforms: the stream's input ``subject_transform`` and its
``republish`` destination, built with the :mod:`pynatsd.mapping` engine and checked with the
reference's errors."""

from __future__ import annotations

import msgspec

from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.errors import JSErr, Reason, api_error
from pynatsd.mapping import SubjectTransform, TransformError, parse_transform, validate_mapping
from pynatsd.protocol.subjects import is_valid_subject, subjects_collide

_CACHE_MAX = 4096


def check_subject_transform(cfg: S.StreamConfig) -> None:
    """The stream's input transform (the reference's checkStreamCfg rules and errors)."""
    st = cfg.subject_transform
    if st is None:
        return
    if st.src and not is_valid_subject(st.src):
        raise api_error(JSErr.STREAM_TRANSFORM_INVALID_SOURCE, err=f"invalid subject {st.src}")
    try:
        validate_mapping(st.src, st.dest)
    except TransformError as e:
        raise api_error(JSErr.STREAM_TRANSFORM_INVALID_DESTINATION, err=str(e)) from None


def check_origin_transforms(transforms: list[S.SubjectTransformConfig] | None, *, mirror: bool) -> None:
    """Each ``subject_transforms`` entry of a mirror or a source: a valid (or empty) source and
    a destination the reference's ValidateMapping accepts, with its error codes (10151/10154 for
    a mirror, 10145/10146 for a source). The overlap rules between entries are the caller's."""
    bad_src = JSErr.MIRROR_INVALID_SUBJECT_FILTER if mirror else JSErr.SOURCE_INVALID_SUBJECT_FILTER
    bad_dest = (
        JSErr.MIRROR_INVALID_TRANSFORM_DESTINATION if mirror else JSErr.SOURCE_INVALID_TRANSFORM_DESTINATION
    )
    for tr in transforms or ():
        if tr.src and not is_valid_subject(tr.src):
            raise api_error(bad_src, err=f"invalid subject {tr.src}")
        try:
            validate_mapping(tr.src, tr.dest)
        except TransformError as e:
            raise api_error(bad_dest, err=str(e)) from None


def check_republish(cfg: S.StreamConfig, pedantic: bool) -> S.StreamConfig:
    """Republish rules, after the defaults (``src`` "" is already ">"). A republish of ">" to
    ">" on a stream whose only subject is its transform's source becomes an implicit republish
    of the transformed subjects, as in the reference; the returned config says so."""
    rp = cfg.republish
    if rp is None:
        return cfg
    st = cfg.subject_transform
    subjects = cfg.subjects or []
    if rp.dest == ">" and rp.src == ">" and st is not None and len(subjects) == 1 and st.src == subjects[0]:
        if pedantic:
            raise api_error(JSErr.PEDANTIC, err=Reason.PEDANTIC_IMPLICIT_REPUBLISH)
        rp = msgspec.structs.replace(rp, src=st.dest, dest=st.dest)
        cfg = msgspec.structs.replace(cfg, republish=rp)
    for subj in subjects:
        if subjects_collide(rp.dest, subj):
            raise api_error(JSErr.STREAM_INVALID_CONFIG, err=Reason.REPUBLISH_CYCLE)
    try:
        parse_transform(rp.src, rp.dest)
    except TransformError:
        raise api_error(
            JSErr.STREAM_INVALID_CONFIG, err=Reason.REPUBLISH_TRANSFORM % (rp.src, rp.dest)
        ) from None
    return cfg


class ConfigTransform:
    """The transform of one config object (a ``subject_transform`` or a ``republish``),
    rebuilt when the stream's config is replaced, with a bounded cache of mapped subjects
    (not for ``random()``, whose result changes between calls)."""

    __slots__ = ("_cache", "_cfg", "_tr")

    def __init__(self) -> None:
        self._cfg: S.SubjectTransformConfig | S.RePublish | None = None
        self._tr: SubjectTransform | None = None
        self._cache: dict[str, str | None] = {}

    def map(self, cfg: S.SubjectTransformConfig | S.RePublish, subject: str) -> str | None:
        """``subject`` mapped by ``cfg`` (validated), or None when its source does not match."""
        if cfg is not self._cfg:
            self._cfg = cfg
            self._tr = parse_transform(cfg.src, cfg.dest) if cfg.dest else None
            self._cache.clear()
        tr = self._tr
        if tr is None:
            return None
        if not tr.cacheable:
            return tr.map(subject)
        try:
            return self._cache[subject]
        except KeyError:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            out = self._cache[subject] = tr.map(subject)
            return out
