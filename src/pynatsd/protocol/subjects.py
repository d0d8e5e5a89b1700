"""Subject syntax: validation and wildcard matching, shared by routing, auth and config.

Rules follow the reference: tokens are split on ``.``, none may be empty or hold white
space; a token that is exactly ``*`` matches one token, exactly ``>`` matches one or more
and must be last. ``foo*`` is a plain literal token.
"""

from __future__ import annotations

_WS = frozenset(" \t\n\r\f")


def is_valid_subject(subject: str) -> bool:
    """A subject usable in SUB (wildcards allowed)."""
    if not subject:
        return False
    tokens = subject.split(".")
    last = len(tokens) - 1
    for i, t in enumerate(tokens):
        if not t:
            return False
        if len(t) > 1:
            if not _WS.isdisjoint(t):
                return False
            continue
        if t == ">" and i != last:
            return False
        if t in _WS:
            return False
    return True


def is_valid_literal_subject(subject: str) -> bool:
    """A subject usable in PUB: valid and without wildcard tokens."""
    if not is_valid_subject(subject):
        return False
    return all(t not in ("*", ">") for t in subject.split("."))


def has_wildcard(subject: str) -> bool:
    return any(t in ("*", ">") for t in subject.split("."))


def subject_matches(pattern: str, subject: str) -> bool:
    """True when literal ``subject`` is matched by ``pattern`` (which may hold wildcards)."""
    pt = pattern.split(".")
    st = subject.split(".")
    for i, p in enumerate(pt):
        if p == ">":
            return len(st) > i
        if i >= len(st):
            return False
        if p != "*" and p != st[i]:
            return False
    return len(pt) == len(st)


def subset_of(sub: str, pattern: str) -> bool:
    """True when every subject matched by ``sub`` is also matched by ``pattern``."""
    st = sub.split(".")
    pt = pattern.split(".")
    for i, p in enumerate(pt):
        if p == ">":
            return len(st) > i
        if i >= len(st):
            return False
        s = st[i]
        if s == ">":
            return False
        if p == "*":
            continue
        if s == "*" or s != p:
            return False
    return len(pt) == len(st)


def subjects_collide(a: str, b: str) -> bool:
    """True when some subject matches both ``a`` and ``b`` (wildcards on either side)."""
    at, bt = a.split("."), b.split(".")
    for i in range(max(len(at), len(bt))):
        x = at[i] if i < len(at) else None
        y = bt[i] if i < len(bt) else None
        if x == ">" or y == ">":
            return x is not None and y is not None
        if x is None or y is None:
            return False
        if x != y and x != "*" and y != "*":
            return False
    return True
