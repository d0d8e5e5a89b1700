"""The subject index: matching rules, queue grouping, cache invalidation, churn."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from pynatsd.protocol.subjects import subject_matches
from pynatsd.server.sublist import Sublist


class S:
    def __init__(self, subject: str, queue: str | None = None) -> None:
        self.subject = subject
        self.queue = queue

    def __repr__(self) -> str:
        return f"S({self.subject!r}, {self.queue!r})"


def names(sl: Sublist[S], subject: str) -> set[str]:
    r = sl.match(subject.encode())
    out = {s.subject for s in r.psubs}
    for members in r.qsubs:
        out |= {f"{m.subject}|{m.queue}" for m in members}
    return out


def test_wildcards() -> None:
    sl: Sublist[S] = Sublist()
    for subj in ("foo", "foo.bar", "foo.*", "foo.>", "*.bar", ">", "foo.*.baz", "*.*"):
        assert sl.insert(S(subj))
    assert names(sl, "foo") == {"foo", ">"}
    assert names(sl, "foo.bar") == {"foo.bar", "foo.*", "foo.>", "*.bar", ">", "*.*"}
    assert names(sl, "foo.x.baz") == {"foo.>", ">", "foo.*.baz"}
    assert names(sl, "bar") == {">"}


def test_invalid_subjects_refused() -> None:
    sl: Sublist[S] = Sublist()
    for bad in ("", "foo..bar", ".foo", "foo.", "foo.>.bar", "foo bar", "foo.\tx"):
        assert not sl.insert(S(bad)), bad
    assert sl.insert(S("foo*.bar>"))  # wildcard characters inside a token are literals


def test_queue_groups_merge_across_subjects() -> None:
    sl: Sublist[S] = Sublist()
    a, b, c = S("foo.*", "q"), S("foo.bar", "q"), S("foo.bar", "other")
    for s in (a, b, c):
        sl.insert(s)
    r = sl.match(b"foo.bar")
    groups = sorted(sorted(m.subject for m in g) for g in r.qsubs)
    assert groups == [["foo.*", "foo.bar"], ["foo.bar"]]


def test_cache_invalidated_on_insert_and_remove() -> None:
    sl: Sublist[S] = Sublist()
    assert not sl.match(b"a.b")
    w = S("a.*")
    sl.insert(w)
    assert names(sl, "a.b") == {"a.*"}
    lit = S("a.b")
    sl.insert(lit)
    assert names(sl, "a.b") == {"a.*", "a.b"}
    sl.remove(w)
    assert names(sl, "a.b") == {"a.b"}
    sl.remove(lit)
    assert names(sl, "a.b") == set()
    assert sl.count == 0


def test_remove_unknown_is_false_and_prunes() -> None:
    sl: Sublist[S] = Sublist()
    s = S("x.y.z")
    assert not sl.remove(s)
    sl.insert(s)
    assert sl.remove(s)
    assert not sl.remove(s)
    assert sl._root.empty()


def test_results_are_stable_snapshots() -> None:
    sl: Sublist[S] = Sublist()
    subs = [S("t") for _ in range(5)]
    for s in subs:
        sl.insert(s)
    r = sl.match(b"t")
    for s in subs:
        sl.remove(s)
    assert len(r.psubs) == 5  # a delivery loop over r is not disturbed by removals
    assert not sl.match(b"t")


_tok = st.sampled_from(["a", "b", "c", "*"])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.lists(_tok, min_size=1, max_size=3), st.booleans()), max_size=25),
    st.lists(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4), min_size=1, max_size=10),
    st.randoms(),
)
def test_matches_brute_force_under_churn(
    pats: list[tuple[list[str], bool]], subjects: list[list[str]], rnd: random.Random
) -> None:
    sl: Sublist[S] = Sublist()
    live: list[S] = []
    for toks, fwc in pats:
        s = S(".".join([*toks, ">"] if fwc else toks))
        assert sl.insert(s)
        live.append(s)
        # interleave lookups (filling the cache) with removals
        subj = ".".join(rnd.choice(subjects))
        sl.match(subj.encode())
        if live and rnd.random() < 0.3:
            victim = live.pop(rnd.randrange(len(live)))
            assert sl.remove(victim)
    for toks in subjects:
        subj = ".".join(toks)
        want = sorted(id(s) for s in live if subject_matches(s.subject, subj))
        got = sorted(id(s) for s in sl.match(subj.encode()).psubs)
        assert got == want, (subj, [s.subject for s in live])


_ALL_SUBJECTS = [
    ".".join(toks) for n in range(1, 6) for toks in itertools.product(["a", "b", "c", "z"], repeat=n)
]


@given(
    st.lists(st.tuples(st.lists(_tok, min_size=1, max_size=3), st.booleans()), max_size=12),
    st.tuples(st.lists(_tok, min_size=1, max_size=3), st.booleans()),
)
def test_overlapping_matches_brute_force(
    pats: list[tuple[list[str], bool]], probe: tuple[list[str], bool]
) -> None:
    """overlapping(p) lists exactly the subscriptions that share a matching subject with p."""
    sl: Sublist[S] = Sublist()
    subs = [S(".".join([*toks, ">"] if fwc else toks)) for toks, fwc in pats]
    for s in subs:
        assert sl.insert(s)
    pattern = ".".join([*probe[0], ">"] if probe[1] else probe[0])
    candidates = [x for x in _ALL_SUBJECTS if subject_matches(pattern, x)]
    want = sorted(id(s) for s in subs if any(subject_matches(s.subject, x) for x in candidates))
    assert sorted(id(s) for s in sl.overlapping(pattern)) == want
