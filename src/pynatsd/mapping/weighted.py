"""Weighted and cluster-scoped subject mappings (the config file's ``mappings`` block), with the
reference's rules (its Account.AddWeightedMappings and selectMappedSubject):

* each source maps to one or more destinations with weights (percent, each and in total at most
  100 per cluster scope); when the weights fall short of 100 the rest goes to the source subject
  itself (unchanged), unless the source is listed among the destinations: then the rest is lost;
* destinations with a ``cluster`` apply only in a server of that cluster name; a server without a
  cluster name, or of another cluster, uses the destinations without one;
* the first mapping (in configuration order) whose source matches the subject applies.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pynatsd.gocompat import go_quote
from pynatsd.mapping.errors import TransformError
from pynatsd.mapping.errors import TransformErrorKind as K
from pynatsd.mapping.transform import SubjectTransform, parse_transform, validate_mapping
from pynatsd.protocol.subjects import is_valid_subject

_CACHE_MAX = 4096
LOST = ""  # selected when a share of the weight maps nowhere: the message is dropped


@dataclass(frozen=True, slots=True)
class Destination:
    """One destination as configured: a subject mapping, its weight in percent, its cluster."""

    subject: str
    weight: int = 100
    cluster: str = ""


def _tokenize(subject: str) -> str:
    """The source as a destination that keeps the subject: each ``*`` becomes ``$N``."""
    out, n = [], 0
    for t in subject.split("."):
        if t == "*":
            n += 1
            out.append(f"${n}")
        else:
            out.append(t)
    return ".".join(out)


class DestinationLike(Protocol):
    """Anything with a destination's fields (e.g. the ``Options`` record's ``MapDest``)."""

    @property
    def subject(self) -> str: ...
    @property
    def weight(self) -> int: ...
    @property
    def cluster(self) -> str: ...


class WeightedMapping:
    """One source subject and its destinations; raises :class:`TransformError` when invalid."""

    __slots__ = ("by_cluster", "dests", "literal", "src")

    def __init__(self, src: str, dests: Sequence[DestinationLike]) -> None:
        if not is_valid_subject(src):
            raise TransformError(K.BAD_SUBJECT)
        self.src = src
        self.literal = not any(t in ("*", ">") for t in src.split("."))
        seen: set[str] = set()
        totals: dict[str, int] = {}
        plain: list[tuple[SubjectTransform, int]] = []
        scoped: dict[str, list[tuple[SubjectTransform, int]]] = {}
        for d in dests:
            if d.subject in seen:
                raise TransformError(K.DUPLICATE_ENTRY, go_quote(d.subject))
            seen.add(d.subject)
            if d.weight > 100:
                raise TransformError(K.WEIGHT_TOO_BIG)
            totals[d.cluster] = totals.get(d.cluster, 0) + d.weight
            if totals[d.cluster] > 100:
                raise TransformError(K.TOTAL_WEIGHT_TOO_BIG)
            validate_mapping(src, d.subject)
            entry = (parse_transform(src, d.subject), d.weight)
            (scoped.setdefault(d.cluster, []) if d.cluster else plain).append(entry)
        listed_src = src in seen
        self.dests = self._cumulative(plain, listed_src)
        self.by_cluster = {c: self._cumulative(ds, listed_src) for c, ds in scoped.items()}

    def _cumulative(
        self, dests: list[tuple[SubjectTransform, int]], listed_src: bool
    ) -> list[tuple[SubjectTransform, int]]:
        total = sum(w for _, w in dests)
        if total != 100 and not listed_src:
            # The rest keeps the subject (all of it when no destination is left in this scope).
            keep = parse_transform(self.src, _tokenize(self.src))
            dests = [*dests, (keep, 100 - total if dests else 100)]
        out, acc = [], 0
        for tr, w in sorted(dests, key=lambda e: e[1]):
            acc += w
            out.append((tr, acc))
        return out

    def select(self, tokens: Sequence[str], cluster: str = "") -> str:
        """The destination for a subject (as tokens) this mapping's source matched; :data:`LOST`
        when the weights chose nowhere. Empty ``tokens``: matched literally, as the reference
        does (which then hashes an empty key for a ``partition`` of a literal source)."""
        dests = self.dests
        if self.by_cluster:
            dests = self.by_cluster.get(cluster) or self.dests
        if len(dests) == 1 and dests[0][1] == 100:
            return dests[0][0].transform_tokens(tokens)
        w = random.randrange(100)
        for tr, upto in dests:
            if w < upto:
                return tr.transform_tokens(tokens)
        return LOST


def _subset_match(tokens: list[str], src_tokens: list[str]) -> bool:
    """The reference's isSubsetMatchTokenized: a published subject (which, without pedantic,
    may itself hold wildcards) against a mapping's source."""
    for i, pat in enumerate(src_tokens):
        if i >= len(tokens):
            return False
        if pat == ">":
            return True
        t = tokens[i]
        if t == "" or t == ">":
            return False
        if t == "*":
            if pat != "*":
                return False
            continue
        if pat != "*" and pat != t:
            return False
    return len(tokens) == len(src_tokens)


class Mappings:
    """The mappings of one account, in configuration order, for a server of ``cluster``."""

    __slots__ = ("_cache", "_entries", "cluster")

    def __init__(self, mappings: Sequence[WeightedMapping], cluster: str = "") -> None:
        self._entries = [(m, m.src.split(".")) for m in mappings]
        self.cluster = cluster
        self._cache: dict[bytes, tuple[WeightedMapping, bool] | None] = {}

    def __bool__(self) -> bool:
        return bool(self._entries)

    def map(self, subject: str) -> str | None:
        """The subject a publish on ``subject`` goes to; None when no mapping applies;
        :data:`LOST` when the weights drop it."""
        out = self.map_bytes(subject.encode("utf-8", "surrogateescape"))
        return None if out is None else out.decode("utf-8", "surrogateescape")

    def map_bytes(self, subject: bytes) -> bytes | None:
        """:meth:`map` on the raw subject bytes of a publish (byte-exact)."""
        try:
            found = self._cache[subject]
        except KeyError:
            found = self._find(subject.decode("utf-8", "surrogateescape"))
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[subject] = found
        if found is None:
            return None
        mapping, literal = found
        tokens = [] if literal else subject.decode("utf-8", "surrogateescape").split(".")
        return mapping.select(tokens, self.cluster).encode("utf-8", "surrogateescape")

    def _find(self, subject: str) -> tuple[WeightedMapping, bool] | None:
        """The first mapping whose source matches, and whether it matched literally (the
        reference's test ``src == subject`` for a source without wildcards, which keeps the
        subject untokenized when no mapping before it needed the tokens)."""
        tokens: list[str] | None = None
        for m, stoks in self._entries:
            if m.literal and m.src == subject:
                return m, tokens is None
            if tokens is None:
                tokens = subject.split(".")
            if _subset_match(tokens, stoks):
                return m, False
        return None


def build_mappings(entries: Sequence[tuple[str, Sequence[DestinationLike]]], cluster: str = "") -> Mappings:
    """Mappings from configured ``(source, destinations)`` pairs; raises :class:`TransformError`."""
    return Mappings([WeightedMapping(src, dests) for src, dests in entries], cluster)
