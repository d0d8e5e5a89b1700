"""Hypothesis strategies for subject mappings, shared by the transform and config suites."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

Case = tuple[str, str, str]  # source, destination, subject

_TOKEN = st.text("abcxyz0123-_", min_size=1, max_size=8)
_ARG = st.one_of(
    st.integers(-1, 4).map(str),
    st.sampled_from(["", " 1", "x", "1 ", "+1", "99999999999", "2147483648", "-", "a b"]),
)
_NAMES = [
    "wildcard",
    "Wildcard",
    "partition",
    "split",
    "splitFromLeft",
    "SplitFromRight",
    "sliceFromLeft",
    "slicefromright",
    "left",
    "Right",
    "unknown",
    "splitLeft",
]


@st.composite
def _dest_token(draw: Any) -> str:
    kind = draw(st.sampled_from(["lit", "$", "fn", "fn", "fn", "odd"]))
    if kind == "lit":
        return str(draw(_TOKEN))
    if kind == "$":
        return "$" + draw(st.sampled_from(["0", "1", "2", "3", "x", "-1", "+1"]))
    if kind == "odd":
        return str(
            draw(st.sampled_from(["*", "{{}}", "{{ wildcard(1) }}", "a b", "{{wildcard(1)", "{{(1)}}"]))
        )
    name = draw(st.sampled_from(_NAMES))
    args = draw(st.lists(_ARG, min_size=0, max_size=3))
    return f"{{{{{name}({','.join(args)})}}}}"


@st.composite
def transform_case(draw: Any, i: int) -> Case:
    """A (source, destination, subject) triple on the prefixes ``s<i>`` / ``d<i>``: the
    destination valid or not (bad indexes and arguments, unknown functions, wildcards, blanks,
    empty tokens); the subject matches the source."""
    shape = draw(st.lists(st.sampled_from(["*", "lit", "lit", "*"]), max_size=3))
    fwc = draw(st.booleans())
    src = [f"s{i}"] + [("*" if s == "*" else draw(_TOKEN)) for s in shape] + ([">"] if fwc else [])
    dest = [f"d{i}", *draw(st.lists(_dest_token(), max_size=3))]
    if draw(st.integers(0, 9)) == 0:
        dest.append("")  # an empty token
    if fwc != (draw(st.integers(0, 9)) == 0):  # mostly a '>' exactly when the source has one
        dest.append(">")
    subject = [f"s{i}"]
    for t in src[1:]:
        subject += (
            [draw(_TOKEN)]
            if t == "*"
            else draw(st.lists(_TOKEN, min_size=1, max_size=2))
            if t == ">"
            else [t]
        )
    return ".".join(src), ".".join(dest), ".".join(subject)
