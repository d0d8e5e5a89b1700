"""Per-connection publish/subscribe authorization, with the reference server's exact rules.

Behaviour below was checked against nats-server 2.15.1 over raw sockets:

* Patterns are matched the way the reference's sublist matches, which also applies to a
  wildcard subject being checked: each of its tokens is taken literally, so a pattern
  ``*`` token matches a subject ``>`` token. Hence with a subscribe deny of ``bar.*``,
  ``SUB bar.>`` is refused, while with a deny of ``foo`` ``SUB >`` is accepted.
* A subscribe entry may be ``"subject queue"``; the queue part may itself be a wildcard
  pattern (``v1.*`` admits queue ``v1.a``). On the allow side a matching queue entry
  overrides a plain one: allow ``["r", "r r1"]`` refuses ``SUB r r2``. On the deny side a
  plain match always refuses.
* Wildcard subscriptions that overlap deny entries are accepted, but messages whose
  subject (and queue, for queue subscriptions) the deny list covers are silently not
  delivered: the server must ask :meth:`ClientPermissions.can_receive` per delivery.
* Queue group ``_sys_`` is refused to every client, with or without permissions.
* ``allow_responses`` turns off the blanket publish allow when no publish allow list is
  given, and lets the client answer reply subjects it was delivered, even over a publish
  deny. Each reply uses one of ``max_msgs``; delivering the same reply subject again while
  its entry is live also uses one, and only a used-up or expired entry is renewed.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from pynatsd.gocompat import go_quote
from pynatsd.options import Permissions, ResponsePermission
from pynatsd.protocol.subjects import has_wildcard, subset_of

__all__ = [
    "RESERVED_REPLY_PREFIXES",
    "RESERVED_REPLY_PREFIXES_B",
    "SYSTEM_QUEUE_GROUP",
    "ClientPermissions",
    "is_reserved_reply",
    "publish_violation",
    "reply_violation",
    "subscribe_violation",
]

SYSTEM_QUEUE_GROUP = "_sys_"
"""Queue group name reserved for the server; a client SUB with it is a permissions violation."""

RESERVED_REPLY_PREFIXES = ("_R_.", "$JS.ACK.", "$GR.", "_GR_.")
"""Reply prefixes clients may not use; see :func:`is_reserved_reply`."""

_PUB_CACHE_SIZE = 256
_SUB_CACHE_SIZE = 256
_RECV_CACHE_SIZE = 256
_REPLY_PRUNE_AT = 4096  # the reference's replyPermLimit
_REPLY_HARD_CAP = 65536  # ours (oldest evicted): with no expiry and no max the reference never forgets

_K = TypeVar("_K")
_V = TypeVar("_V")


# -- error texts ------------------------------------------------------------------------


def publish_violation(subject: str) -> str:
    """Text the reference sends (in ``-ERR '...'``) for a refused PUB/HPUB; connection stays open."""
    return f"Permissions Violation for Publish to {go_quote(subject)}"


def subscribe_violation(subject: str, queue: str | None = None) -> str:
    """Text for a refused SUB; the queue variant names the queue separately."""
    if queue:
        return f"Permissions Violation for Subscription to {go_quote(subject)} using queue {go_quote(queue)}"
    return f"Permissions Violation for Subscription to {go_quote(subject)}"


def reply_violation(reply: str) -> str:
    """Text for a PUB whose reply subject is reserved (checked after publish permissions)."""
    return f"Permissions Violation for Publish with Reply of {go_quote(reply)}"


RESERVED_REPLY_PREFIXES_B = tuple(p.encode() for p in RESERVED_REPLY_PREFIXES)
"""The same prefixes as bytes: ``reply.startswith(RESERVED_REPLY_PREFIXES_B)`` is the one
C call that clears almost every published request before :func:`is_reserved_reply`."""


def is_reserved_reply(reply: bytes) -> bool:
    """Reply subjects the server uses internally; a client PUB with one gets :func:`reply_violation`.

    The reference applies this to every client, permissions or not. ``_R_.`` alone is
    already reserved; the other prefixes need at least one character after them. Runs on
    every published request, so the common answer (no reserved prefix) is one C call.
    """
    if not reply.startswith(RESERVED_REPLY_PREFIXES_B):
        return False
    if reply.startswith(b"_R_."):
        return True
    return any(len(reply) > len(p) and reply.startswith(p) for p in RESERVED_REPLY_PREFIXES_B[1:])


# -- pattern matching -------------------------------------------------------------------


class _Node:
    __slots__ = ("fwc", "literal", "plain", "pwc", "queues")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.pwc: _Node | None = None
        self.fwc: _Node | None = None
        self.plain = False
        self.queues: list[str] = []


class _PatternSet:
    """Subject patterns (optionally with a queue) in a token trie, matched like a sublist.

    A trie keeps an uncached check to one split and a few dict lookups, which matters for
    streams of unique subjects such as reply inboxes.
    """

    __slots__ = ("_root",)

    def __init__(self) -> None:
        self._root = _Node()

    def add(self, pattern: str, queue: str | None = None) -> bool:
        """Insert; invalid patterns are dropped, as the reference's sublist refuses them."""
        tokens = pattern.split(".")
        last = len(tokens) - 1
        node = self._root
        for i, t in enumerate(tokens):
            if not t:
                return False
            if t == ">":
                if i != last:
                    return False
                if node.fwc is None:
                    node.fwc = _Node()
                node = node.fwc
            elif t == "*":
                if node.pwc is None:
                    node.pwc = _Node()
                node = node.pwc
            else:
                nxt = node.literal.get(t)
                if nxt is None:
                    nxt = node.literal[t] = _Node()
                node = nxt
        if queue is None:
            node.plain = True
        elif queue not in node.queues:
            node.queues.append(queue)
        return True

    def match(self, subject: str) -> tuple[bool, list[str]]:
        """(any plain pattern matched, queue names of matched queue patterns)."""
        tokens = subject.split(".")
        if "" in tokens:
            return False, []
        hits: list[_Node] = []
        _collect(self._root, tokens, 0, hits)
        plain = False
        queues: list[str] = []
        for n in hits:
            plain = plain or n.plain
            queues.extend(n.queues)
        return plain, queues


def _collect(node: _Node, tokens: list[str], i: int, out: list[_Node]) -> None:
    n = len(tokens)
    while True:
        if i == n:
            out.append(node)
            return
        if node.fwc is not None:
            out.append(node.fwc)
        if node.pwc is not None:
            _collect(node.pwc, tokens, i + 1, out)
        nxt = node.literal.get(tokens[i])
        if nxt is None:
            return
        node = nxt
        i += 1


def _queue_matches(queue: str, names: Iterable[str]) -> bool:
    # A queue name in a permission may be a pattern, but a literal '*' or '>' name also
    # matches itself, so compare literally first.
    return any(queue == q or (has_wildcard(q) and subset_of(queue, q)) for q in names)


def _split_subject_queue(entry: str) -> tuple[str, str | None] | None:
    parts = entry.split()
    if len(parts) == 1:
        return parts[0], None
    if len(parts) == 2:
        return parts[0], parts[1]
    return None  # empty or "a b c": the reference logs and skips it


def _compile_sub(entries: list[str]) -> _PatternSet:
    ps = _PatternSet()
    for e in entries:
        sq = _split_subject_queue(e)
        if sq is not None:
            ps.add(sq[0], sq[1])
    return ps


def _bounded_put(d: dict[_K, _V], key: _K, value: _V, limit: int) -> None:
    if len(d) >= limit:
        for k in list(itertools.islice(d, max(1, limit // 4))):
            del d[k]
    d[key] = value


# -- per-connection permissions ---------------------------------------------------------


class _Reply:
    __slots__ = ("n", "t")

    def __init__(self, t: float) -> None:
        self.t = t
        self.n = 0


class ClientPermissions:
    """Permissions compiled for one connection, with small per-connection result caches.

    Build one per client even when its user has no permissions (pass ``None``): the
    ``_sys_`` queue refusal applies to everyone and the unrestricted paths are a flag test.
    ``clock`` returns seconds (monotonic) and exists so tests can drive ``allow_responses``
    expiry without sleeping.
    """

    __slots__ = (
        "_clock",
        "_pub_allow",
        "_pub_cache",
        "_pub_deny",
        "_recv_cache",
        "_replies",
        "_replies_prune_at",
        "_resp",
        "_sub_allow",
        "_sub_cache",
        "_sub_deny",
    )

    def __init__(
        self, permissions: Permissions | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        pub = permissions.publish if permissions is not None else None
        sub = permissions.subscribe if permissions is not None else None
        self._resp: ResponsePermission | None = (
            permissions.allow_responses if permissions is not None else None
        )

        self._pub_allow: _PatternSet | None = None
        self._pub_deny: _PatternSet | None = None
        # allow_responses without a publish allow list means "replies only" in the reference.
        if (pub is not None and pub.allow) or self._resp is not None:
            self._pub_allow = _PatternSet()
            for s in pub.allow if pub is not None else ():
                self._pub_allow.add(s)
        if pub is not None and pub.deny:
            self._pub_deny = _PatternSet()
            for s in pub.deny:
                self._pub_deny.add(s)

        # A non-empty list with only unusable entries still restricts (allows nothing).
        self._sub_allow = _compile_sub(sub.allow) if sub is not None and sub.allow else None
        self._sub_deny = _compile_sub(sub.deny) if sub is not None and sub.deny else None

        self._pub_cache: dict[str, bool] = {}
        self._sub_cache: dict[tuple[str, str | None], bool] = {}
        self._recv_cache: dict[tuple[str, str | None], bool] = {}
        self._replies: dict[str, _Reply] = {}
        self._replies_prune_at = _REPLY_PRUNE_AT

    # -- introspection, so the server can skip calls on its hot paths --

    @property
    def publish_restricted(self) -> bool:
        return self._pub_allow is not None or self._pub_deny is not None

    @property
    def subscribe_restricted(self) -> bool:
        return self._sub_allow is not None or self._sub_deny is not None

    @property
    def filters_delivery(self) -> bool:
        """True when :meth:`can_receive` can ever say no (a subscribe deny list exists)."""
        return self._sub_deny is not None

    @property
    def tracks_replies(self) -> bool:
        """True when :meth:`track_reply` matters (``allow_responses`` is set)."""
        return self._resp is not None

    # -- checks --

    def can_publish(self, subject: str) -> bool:
        if self._pub_allow is None and self._pub_deny is None:
            return True
        ok = self._pub_cache.get(subject)
        if ok is None:
            ok = self._static_publish(subject)
            _bounded_put(self._pub_cache, subject, ok, _PUB_CACHE_SIZE)
        if ok:
            return True
        return self._resp is not None and self._use_reply(subject)

    def can_subscribe(self, subject: str, queue: str | None = None) -> bool:
        if queue == SYSTEM_QUEUE_GROUP:
            return False
        if self._sub_allow is None and self._sub_deny is None:
            return True
        q = queue or None
        key = (subject, q)
        ok = self._sub_cache.get(key)
        if ok is None:
            ok = self._check_subscribe(subject, q)
            _bounded_put(self._sub_cache, key, ok, _SUB_CACHE_SIZE)
        return ok

    def can_receive(self, subject: str, queue: str | None = None) -> bool:
        """Delivery-time deny filter for message ``subject`` on a subscription in ``queue``.

        Needed because wildcard subscriptions overlapping a deny entry are accepted; a
        refused delivery is dropped silently and does not count towards an UNSUB max.
        """
        if self._sub_deny is None:
            return True
        q = queue or None
        key = (subject, q)
        ok = self._recv_cache.get(key)
        if ok is None:
            ok = not self._denied(self._sub_deny, subject, q)
            _bounded_put(self._recv_cache, key, ok, _RECV_CACHE_SIZE)
        return ok

    def track_reply(self, reply_subject: str) -> None:
        """Record that a message carrying ``reply_subject`` was delivered to this client."""
        resp = self._resp
        if resp is None or not reply_subject:
            return
        now = self._clock()
        e = self._replies.get(reply_subject)
        if e is not None and not self._spent(e, resp, now):
            e.n += 1
            return
        if e is not None:
            del self._replies[reply_subject]  # re-insert so dict order stays oldest-first
        self._replies[reply_subject] = _Reply(now)
        if len(self._replies) > _REPLY_HARD_CAP:
            del self._replies[next(iter(self._replies))]
        if len(self._replies) > self._replies_prune_at:
            self._prune_replies(now)

    # -- internals --

    def _static_publish(self, subject: str) -> bool:
        if self._pub_allow is not None and not self._pub_allow.match(subject)[0]:
            return False
        return not (self._pub_deny is not None and self._pub_deny.match(subject)[0])

    def _check_subscribe(self, subject: str, queue: str | None) -> bool:
        if self._sub_allow is not None:
            plain, queues = self._sub_allow.match(subject)
            allowed = _queue_matches(queue, queues) if queue is not None and queues else plain
            if not allowed:
                return False
        return self._sub_deny is None or not self._denied(self._sub_deny, subject, queue)

    @staticmethod
    def _denied(deny: _PatternSet, subject: str, queue: str | None) -> bool:
        plain, queues = deny.match(subject)
        if plain:
            return True
        return queue is not None and bool(queues) and _queue_matches(queue, queues)

    def _use_reply(self, subject: str) -> bool:
        e = self._replies.get(subject)
        if e is None:
            return False
        resp = self._resp
        assert resp is not None
        e.n += 1
        if (resp.max_msgs > 0 and e.n > resp.max_msgs) or (
            resp.expires > 0 and self._clock() - e.t > resp.expires
        ):
            del self._replies[subject]
            return False
        return True

    @staticmethod
    def _spent(e: _Reply, resp: ResponsePermission, now: float) -> bool:
        return (resp.max_msgs > 0 and e.n >= resp.max_msgs) or (resp.expires > 0 and now - e.t > resp.expires)

    def _prune_replies(self, now: float) -> None:
        """Drop spent entries; the next prune waits for the map to double (amortised O(1))."""
        resp = self._resp
        assert resp is not None
        for k in [k for k, e in self._replies.items() if self._spent(e, resp, now)]:
            del self._replies[k]
        self._replies_prune_at = max(_REPLY_PRUNE_AT, 2 * len(self._replies))
