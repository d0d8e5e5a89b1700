"""The subject index: a token trie with a match-result cache, after the reference's sublist.

Routing asks one question per published message, "who is interested in this subject?",
so answers are cached per literal subject (as the raw ``bytes`` seen on the wire, which
saves decoding on the hot path). A subscribe or unsubscribe drops only the cached
answers its subject could change. Results are immutable tuples: a caller iterating over
one is unaffected by changes made while it delivers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from pynatsd.protocol.subjects import is_valid_subject, subject_matches


class SubLike(Protocol):
    subject: str
    queue: str | None


S = TypeVar("S", bound=SubLike)

CACHE_MAX = 4096


class _Node(Generic[S]):
    __slots__ = ("children", "fwc", "psubs", "pwc", "qsubs")

    def __init__(self) -> None:
        self.children: dict[str, _Node[S]] = {}
        self.pwc: _Node[S] | None = None
        self.fwc: _Node[S] | None = None
        self.psubs: list[S] = []
        self.qsubs: dict[str, list[S]] = {}

    def empty(self) -> bool:
        return not (self.children or self.pwc or self.fwc or self.psubs or self.qsubs)


class MatchResult(Generic[S]):
    """Plain subscribers, and one tuple of members per matching queue group."""

    __slots__ = ("any", "heads", "psubs", "qsubs")

    def __init__(self, psubs: tuple[S, ...], qsubs: tuple[tuple[S, ...], ...]) -> None:
        self.psubs = psubs
        self.qsubs = qsubs
        self.any = bool(psubs or qsubs)  # a plain attribute: no __bool__ call per message
        # Per-subscriber frame heads, built by the router on first use; a cached result
        # is for one literal subject, so they stay valid as long as the result does.
        self.heads: dict[S, bytes] | None = None

    def __bool__(self) -> bool:
        return self.any


class Sublist(Generic[S]):
    """Subscriptions indexed by subject tokens."""

    def __init__(self, cache: bool = True) -> None:
        self._root: _Node[S] = _Node()
        self._cache: dict[bytes, MatchResult[S]] | None = {} if cache else None
        self.count = 0
        self.inserts = 0
        self.removes = 0
        self.matches = 0
        self.cache_hits = 0
        # Told of every insert (True) and remove (False): routes propagate interest (RS+/RS-).
        self.listener: Callable[[S, bool], None] | None = None

    # -- mutation -----------------------------------------------------------------
    def insert(self, sub: S) -> bool:
        """Add ``sub``; False when its subject is invalid."""
        subject = sub.subject
        if not is_valid_subject(subject):
            return False
        node = self._root
        for tok in subject.split("."):
            if tok == "*":
                if node.pwc is None:
                    node.pwc = _Node()
                node = node.pwc
            elif tok == ">":
                if node.fwc is None:
                    node.fwc = _Node()
                node = node.fwc
            else:
                nxt = node.children.get(tok)
                if nxt is None:
                    nxt = node.children[tok] = _Node()
                node = nxt
        if sub.queue is None:
            node.psubs.append(sub)
        else:
            node.qsubs.setdefault(sub.queue, []).append(sub)
        self.count += 1
        self.inserts += 1
        self._invalidate(subject)
        if self.listener is not None:
            self.listener(sub, True)
        return True

    def remove(self, sub: S) -> bool:
        """Remove ``sub``; False when it was not present."""
        subject = sub.subject
        path: list[tuple[_Node[S], str]] = []
        node: _Node[S] | None = self._root
        for tok in subject.split("."):
            assert node is not None
            path.append((node, tok))
            if tok == "*":
                node = node.pwc
            elif tok == ">":
                node = node.fwc
            else:
                node = node.children.get(tok)
            if node is None:
                return False
        assert node is not None
        if sub.queue is None:
            try:
                node.psubs.remove(sub)
            except ValueError:
                return False
        else:
            members = node.qsubs.get(sub.queue)
            if not members:
                return False
            try:
                members.remove(sub)
            except ValueError:
                return False
            if not members:
                del node.qsubs[sub.queue]
        # Prune empty nodes bottom-up so the trie does not grow without bound.
        child = node
        for parent, tok in reversed(path):
            if not child.empty():
                break
            if tok == "*":
                parent.pwc = None
            elif tok == ">":
                parent.fwc = None
            else:
                parent.children.pop(tok, None)
            child = parent
        self.count -= 1
        self.removes += 1
        self._invalidate(subject)
        if self.listener is not None:
            self.listener(sub, False)
        return True

    def _invalidate(self, subject: str) -> None:
        cache = self._cache
        if not cache:
            return
        if "*" not in subject and ">" not in subject:
            cache.pop(subject.encode(), None)
            return
        tokens = subject.split(".")
        if "*" not in tokens and ">" not in tokens:
            cache.pop(subject.encode(), None)
            return
        stale = [k for k in cache if subject_matches(subject, k.decode("utf-8", "replace"))]
        for k in stale:
            del cache[k]

    # -- lookup -------------------------------------------------------------------
    def match(self, subject: bytes) -> MatchResult[S]:
        """Everyone interested in literal ``subject``."""
        cache = self._cache
        if cache is not None:
            r = cache.get(subject)
            if r is not None:
                self.cache_hits += 1
                return r
        self.matches += 1
        psubs: list[S] = []
        qmap: dict[str, list[S]] = {}
        tokens = subject.decode("utf-8", "replace").split(".")
        # A subject with an empty token ("a..b", "a.", ".a", "") matches nothing, as in the
        # reference, even where a wildcard would take any token.
        if "" not in tokens:
            self._collect(self._root, tokens, 0, psubs, qmap)
        r = MatchResult(tuple(psubs), tuple(tuple(m) for m in qmap.values()))
        if cache is not None:
            if len(cache) >= CACHE_MAX:
                # Drop an arbitrary half: cheap, and hot subjects come straight back.
                for k in list(cache)[: CACHE_MAX // 2]:
                    del cache[k]
            cache[subject] = r
        return r

    def _collect(
        self, node: _Node[S], tokens: list[str], i: int, psubs: list[S], qmap: dict[str, list[S]]
    ) -> None:
        """Walk the trie in the reference's order: ``>``, then ``*`` branches, then literals,
        except at the last token where the literal comes before ``*``."""
        last = len(tokens) - 1
        while True:
            if node.fwc is not None:
                _add(node.fwc, psubs, qmap)
            pwc = node.pwc
            if i == last:
                lit = node.children.get(tokens[i])
                if lit is not None:
                    _add(lit, psubs, qmap)
                if pwc is not None:
                    _add(pwc, psubs, qmap)
                return
            if pwc is not None:
                self._collect(pwc, tokens, i + 1, psubs, qmap)
            nxt = node.children.get(tokens[i])
            if nxt is None:
                return
            node = nxt
            i += 1

    def overlapping(self, pattern: str) -> list[S]:
        """Every subscription whose subject can match some subject ``pattern`` matches."""
        out: list[S] = []
        self._overlap(self._root, pattern.split("."), 0, out)
        return out

    def _overlap(self, node: _Node[S], tokens: list[str], i: int, out: list[S]) -> None:
        if i == len(tokens):
            _gather(node, out, False)
            return
        tok = tokens[i]
        if tok == ">":  # anything one or more tokens deeper
            for child in (*node.children.values(), node.pwc, node.fwc):
                if child is not None:
                    _gather(child, out, True)
            return
        if node.fwc is not None:
            _gather(node.fwc, out, False)
        branches = list(node.children.values()) if tok == "*" else [node.children.get(tok)]
        for child in (*branches, node.pwc):
            if child is not None:
                self._overlap(child, tokens, i + 1, out)

    def cache_dict(self) -> dict[bytes, MatchResult[S]]:
        """The live cache, for callers that look up before calling :meth:`match`.

        Only ever mutated in place, so a reference taken once stays valid.
        """
        if self._cache is None:
            return {}
        return self._cache

    def cache_size(self) -> int:
        return len(self._cache) if self._cache is not None else 0


def _add(node: _Node[S], psubs: list[S], qmap: dict[str, list[S]]) -> None:
    if node.psubs:
        psubs.extend(node.psubs)
    for q, members in node.qsubs.items():
        qmap.setdefault(q, []).extend(members)


def _gather(node: _Node[S], out: list[S], deep: bool) -> None:
    """The subscriptions at ``node`` (and, when ``deep``, everywhere below it)."""
    out.extend(node.psubs)
    for members in node.qsubs.values():
        out.extend(members)
    if deep:
        for child in (*node.children.values(), node.pwc, node.fwc):
            if child is not None:
                _gather(child, out, True)
