"""ClientPermissions and the permission error texts.

Expected outcomes are those nats-server 2.15.1 produced for the same configuration over
raw sockets (the transcripts are summarised in each test's table).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pynatsd.auth import (
    SYSTEM_QUEUE_GROUP,
    ClientPermissions,
    is_reserved_reply,
    publish_violation,
    reply_violation,
    subscribe_violation,
)
from pynatsd.auth.permissions import _PatternSet
from pynatsd.options import Permission, Permissions, ResponsePermission
from pynatsd.protocol.frames import err_line
from pynatsd.protocol.subjects import subject_matches


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def perms(
    pub_allow: list[str] | None = None,
    pub_deny: list[str] | None = None,
    sub_allow: list[str] | None = None,
    sub_deny: list[str] | None = None,
    responses: ResponsePermission | None = None,
) -> Permissions:
    pub = Permission(pub_allow or [], pub_deny or []) if pub_allow or pub_deny else None
    sub = Permission(sub_allow or [], sub_deny or []) if sub_allow or sub_deny else None
    return Permissions(publish=pub, subscribe=sub, allow_responses=responses)


# -- unrestricted --------------------------------------------------------------------------


def test_no_permissions_allows_everything_but_the_system_queue() -> None:
    cp = ClientPermissions(None)
    assert cp.can_publish("anything.at.all")
    assert cp.can_subscribe(">")
    assert cp.can_subscribe("foo", "workers")
    assert cp.can_receive("foo", "workers")
    assert not cp.can_subscribe("foo", SYSTEM_QUEUE_GROUP)
    assert not (cp.publish_restricted or cp.subscribe_restricted or cp.filters_delivery or cp.tracks_replies)


def test_empty_permissions_object_is_unrestricted() -> None:
    cp = ClientPermissions(Permissions(publish=Permission(), subscribe=Permission()))
    assert cp.can_publish("x") and cp.can_subscribe("x") and cp.can_receive("x")
    assert not cp.publish_restricted and not cp.subscribe_restricted


# -- publish -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "allowed"),
    [("foo", True), ("baz", False), ("bar.x", True), ("bar.baz", False), ("foo.bar", False), ("bar", False)],
)
def test_publish_allow_and_deny(subject: str, allowed: bool) -> None:
    # reference user: publish { allow: [foo, "bar.*"], deny: ["bar.baz"] }
    cp = ClientPermissions(perms(pub_allow=["foo", "bar.*"], pub_deny=["bar.baz"]))
    assert cp.can_publish(subject) is allowed
    assert cp.can_publish(subject) is allowed  # cached answer agrees


def test_publish_deny_only() -> None:
    cp = ClientPermissions(perms(pub_deny=["secret", "private.>"]))
    assert cp.can_publish("public")
    assert not cp.can_publish("secret")
    assert not cp.can_publish("private.a.b")
    assert cp.can_publish("private")


def test_publish_wildcard_subject_is_matched_token_by_token() -> None:
    cp = ClientPermissions(perms(pub_allow=["foo.*"]))
    assert cp.can_publish("foo.*")
    assert not ClientPermissions(perms(pub_allow=["foo.bar"])).can_publish("foo.*")


def test_publish_cache_is_bounded() -> None:
    cp = ClientPermissions(perms(pub_allow=["ok.>"]))
    for i in range(2000):
        assert cp.can_publish(f"ok.{i}")
        assert not cp.can_publish(f"no.{i}")
    assert len(cp._pub_cache) <= 256


def test_invalid_publish_patterns_are_ignored() -> None:
    cp = ClientPermissions(perms(pub_allow=["foo..bar", "a.>.b", "", "good"]))
    assert cp.can_publish("good")
    assert not cp.can_publish("a.x.b")
    assert not cp.can_publish("foo.x.bar")


# -- subscribe -----------------------------------------------------------------------------

ALLOW_USER = perms(
    sub_allow=["foo.>", "q.* grp", "r r1", "r", "wq v1.*"],
    sub_deny=["foo.secret", "foo.*.x"],
)


@pytest.mark.parametrize(
    ("subject", "queue", "allowed"),
    [
        ("foo.secret", None, False),
        ("foo.>", None, True),
        ("foo.*", None, True),
        (">", None, False),
        ("foo.a.x", None, False),
        ("foo.*.>", None, True),
        ("foo.a.*", None, True),
        ("foo.x.y", None, True),
        ("foo.y.x", None, False),
        ("q.a", "grp", True),
        ("q.a", "other", False),
        ("q.a", None, False),
        ("q.*", "grp", True),
        ("r", "r2", False),  # a matching queue entry overrides the plain "r"
        ("r", None, True),
        ("r", "r1", True),
        ("wq", "v1.a", True),
        ("wq", "v1.*", True),
        ("wq", "v1.>", False),
        ("wq", "v2", False),
        ("wq", None, False),
        ("foo.x", "_sys_", False),
    ],
)
def test_subscribe_allow_list(subject: str, queue: str | None, allowed: bool) -> None:
    assert ClientPermissions(ALLOW_USER).can_subscribe(subject, queue) is allowed


DENY_USER = perms(sub_deny=["foo", "bar.*", "dq qq", "w.*.x"])


@pytest.mark.parametrize(
    ("subject", "queue", "allowed"),
    [
        ("foo", None, False),
        ("bar.*", None, False),
        ("bar.>", None, False),  # the deny's '*' token matches the literal '>' token
        ("bar.x", None, False),
        ("dq", "qq", False),
        ("dq", None, True),
        ("dq", "other", True),
        ("w.>", None, True),
        ("w.a.x", None, False),
        ("foo.>", None, True),
        ("bar", "q", True),
        ("bar.x", "q", False),
        (">", None, True),
        ("*", None, True),
    ],
)
def test_subscribe_deny_list(subject: str, queue: str | None, allowed: bool) -> None:
    assert ClientPermissions(DENY_USER).can_subscribe(subject, queue) is allowed


def test_plain_deny_refuses_every_queue_even_with_a_queue_entry() -> None:
    cp = ClientPermissions(perms(sub_deny=["foo", "foo q1"]))
    assert not cp.can_subscribe("foo", "q2")
    assert not cp.can_subscribe("foo", "q1")
    assert not cp.can_subscribe("foo")


@pytest.mark.parametrize(
    ("subject", "queue", "allowed"),
    [
        (">", "q1", True),
        ("foo.>", "q1", False),
        ("foo.x", "q1", False),
        ("foo.x", None, True),
        ("foo.x", "q2", True),
    ],
)
def test_queue_deny_entry(subject: str, queue: str | None, allowed: bool) -> None:
    cp = ClientPermissions(perms(sub_deny=["foo.* q1"]))
    assert cp.can_subscribe(subject, queue) is allowed


def test_allow_list_wildcard_quirk() -> None:
    # allow foo.* admits SUB foo.> (token-wise match) but not *.x
    cp = ClientPermissions(perms(sub_allow=["foo.*", "g.* q1"]))
    assert cp.can_subscribe("foo.>")
    assert cp.can_subscribe("foo.*")
    assert not cp.can_subscribe("*.x")
    assert cp.can_subscribe("g.>", "q1")


def test_unusable_subscribe_entries() -> None:
    only_bad = ClientPermissions(perms(sub_allow=["a b c"]))
    assert not only_bad.can_subscribe("a")  # a non-empty allow list still restricts
    mixed = ClientPermissions(perms(sub_allow=["a b c", "  ok   grp  ", "plain"]))
    assert mixed.can_subscribe("ok", "grp")
    assert not mixed.can_subscribe("ok")
    assert mixed.can_subscribe("plain")


def test_empty_queue_string_means_no_queue() -> None:
    cp = ClientPermissions(perms(sub_allow=["q.* grp"]))
    assert cp.can_subscribe("q.a", "") is cp.can_subscribe("q.a") is False


def test_subscribe_cache_is_bounded() -> None:
    cp = ClientPermissions(perms(sub_deny=["x"]))
    for i in range(1000):
        assert cp.can_subscribe(f"s.{i}", "g")
    assert len(cp._sub_cache) <= 256


# -- delivery filter -----------------------------------------------------------------------


def test_wildcard_sub_over_deny_is_filtered_at_delivery() -> None:
    cp = ClientPermissions(DENY_USER)
    assert cp.filters_delivery
    assert cp.can_subscribe(">")
    assert not cp.can_receive("foo")
    assert not cp.can_receive("bar.x")
    assert not cp.can_receive("w.a.x")
    assert cp.can_receive("other")
    assert cp.can_receive("dq")  # queue-only deny entries do not filter plain subscriptions


def test_overlap_without_subset_is_still_filtered() -> None:
    # deny "*.bar" is not a subset of SUB foo.*, yet 2.15.1 does not deliver foo.bar to it
    cp = ClientPermissions(perms(sub_deny=["*.bar", "zz"]))
    assert cp.can_subscribe("foo.*")
    assert not cp.can_receive("foo.bar")
    assert cp.can_receive("foo.x")


@pytest.mark.parametrize(
    ("subject", "queue", "delivered"),
    [
        ("foo.x", "q1", False),
        ("foo.x", "q2", True),
        ("foo.x", "v1.a", True),
        ("foo.x", None, True),
        ("bar", "v1.a", False),
        ("bar", "v1.*", False),
        ("bar", "v1", True),
        ("bar", "*", True),
        ("baz.z", "*", False),
        ("baz.z", "x", False),
        ("baz.z", "v1.a", True),
        ("baz.z", "v1.*", True),
    ],
)
def test_queue_delivery_filter(subject: str, queue: str | None, delivered: bool) -> None:
    cp = ClientPermissions(perms(sub_deny=["foo.* q1", "bar v1.*", "baz.> *"]))
    assert cp.can_receive(subject, queue) is delivered


def test_allow_list_does_not_filter_delivery() -> None:
    cp = ClientPermissions(perms(sub_allow=["foo.*"]))
    assert not cp.filters_delivery
    assert cp.can_receive("foo.a.b")


# -- allow_responses -----------------------------------------------------------------------


def svc(max_msgs: int = 3, expires: float = 1.0, **kw: list[str]) -> tuple[ClientPermissions, FakeClock]:
    clock = FakeClock()
    p = perms(sub_allow=["req.>"], responses=ResponsePermission(max_msgs, expires), **kw)
    return ClientPermissions(p, clock=clock), clock


def replies(cp: ClientPermissions, subject: str, n: int) -> list[bool]:
    return [cp.can_publish(subject) for _ in range(n)]


def test_responses_turn_off_blanket_publish() -> None:
    cp, _ = svc()
    assert cp.tracks_replies and cp.publish_restricted
    assert not cp.can_publish("random")
    assert not cp.can_publish("inbox.1")  # not delivered yet


def test_responses_up_to_max() -> None:
    cp, _ = svc(max_msgs=2)
    cp.track_reply("inbox.1")
    assert replies(cp, "inbox.1", 4) == [True, True, False, False]


def test_responses_override_publish_deny() -> None:
    cp, _ = svc(max_msgs=1, pub_allow=[">"], pub_deny=["inbox.>"])
    assert cp.can_publish("random")
    cp.track_reply("inbox.1")
    assert replies(cp, "inbox.1", 2) == [True, False]


def test_redelivery_of_live_entry_uses_a_reply() -> None:
    cp, _ = svc()
    cp.track_reply("inbox.A")
    assert cp.can_publish("inbox.A")
    cp.track_reply("inbox.A")
    assert replies(cp, "inbox.A", 4) == [True, False, False, False]

    cp.track_reply("inbox.B")
    cp.track_reply("inbox.B")
    assert replies(cp, "inbox.B", 4) == [True, True, False, False]

    for _ in range(3):
        cp.track_reply("inbox.C")
    assert replies(cp, "inbox.C", 4) == [True, False, False, False]


def test_used_up_entry_is_renewed_by_redelivery() -> None:
    cp, _ = svc()
    cp.track_reply("inbox.I")
    assert replies(cp, "inbox.I", 3) == [True, True, True]
    cp.track_reply("inbox.I")
    assert replies(cp, "inbox.I", 4) == [True, True, True, False]

    cp.track_reply("inbox.J")
    assert replies(cp, "inbox.J", 2) == [True, True]
    cp.track_reply("inbox.J")  # n reaches max
    cp.track_reply("inbox.J")  # spent: renewed
    assert replies(cp, "inbox.J", 4) == [True, True, True, False]

    for _ in range(5):
        cp.track_reply("inbox.K")
    assert replies(cp, "inbox.K", 4) == [True, True, True, False]


def test_responses_expire() -> None:
    cp, clock = svc()
    cp.track_reply("inbox.D")
    clock.advance(0.5)
    assert cp.can_publish("inbox.D")
    clock.advance(0.6)
    assert not cp.can_publish("inbox.D")
    cp.track_reply("inbox.D")  # fresh entry after expiry
    assert replies(cp, "inbox.D", 4) == [True, True, True, False]


def test_redelivery_does_not_extend_expiry() -> None:
    cp, clock = svc()
    cp.track_reply("inbox.F")
    clock.advance(0.7)
    cp.track_reply("inbox.F")
    clock.advance(0.5)
    assert not cp.can_publish("inbox.F")


def test_expired_entry_is_renewed_by_redelivery() -> None:
    cp, clock = svc()
    cp.track_reply("inbox.E")
    clock.advance(1.2)
    cp.track_reply("inbox.E")
    assert replies(cp, "inbox.E", 4) == [True, True, True, False]


def test_unlimited_responses() -> None:
    cp, clock = svc(max_msgs=0, expires=0)
    cp.track_reply("inbox.N")
    clock.advance(10**6)
    assert all(replies(cp, "inbox.N", 50))


def test_track_reply_is_a_noop_without_allow_responses() -> None:
    cp = ClientPermissions(perms(pub_allow=["x"]))
    cp.track_reply("inbox.1")
    assert not cp.can_publish("inbox.1")
    assert not cp._replies


def test_reply_map_is_pruned_and_capped() -> None:
    cp, clock = svc(max_msgs=1, expires=1.0)
    for i in range(5000):
        cp.track_reply(f"inbox.{i}")
    assert len(cp._replies) == 5000  # none spent yet: pruning keeps live entries
    clock.advance(2)
    for i in range(4000):
        cp.track_reply(f"new.{i}")
    assert len(cp._replies) == 4000  # the expired ones went at the next prune
    assert all(k.startswith("new.") for k in cp._replies)

    forever, _ = svc(max_msgs=0, expires=0)
    for i in range(70000):
        forever.track_reply(f"i.{i}")
    assert len(forever._replies) <= 65536
    assert forever.can_publish("i.69999")
    assert not forever.can_publish("i.0")


# -- matching engine -----------------------------------------------------------------------

_token = st.sampled_from(["a", "b", "c", "foo", "*", ">"])


@st.composite
def _subjects(draw: st.DrawFn) -> str:
    toks = draw(st.lists(_token, min_size=1, max_size=5))
    if ">" in toks:
        toks = toks[: toks.index(">") + 1]
    return ".".join(toks)


@given(st.lists(_subjects(), min_size=1, max_size=6), _subjects())
def test_pattern_set_agrees_with_subject_matches(patterns: list[str], subject: str) -> None:
    ps = _PatternSet()
    for p in patterns:
        ps.add(p)
    assert ps.match(subject)[0] == any(subject_matches(p, subject) for p in patterns)


def test_pattern_set_rejects_empty_tokens_in_subject() -> None:
    ps = _PatternSet()
    ps.add(">")
    assert ps.match("a..b") == (False, [])


# -- error texts ---------------------------------------------------------------------------


def test_error_texts_match_the_reference_bytes() -> None:
    assert err_line(publish_violation("baz")) == b"-ERR 'Permissions Violation for Publish to \"baz\"'\r\n"
    assert err_line(subscribe_violation(">")) == b"-ERR 'Permissions Violation for Subscription to \">\"'\r\n"
    assert (
        err_line(subscribe_violation("q.a", "other"))
        == b'-ERR \'Permissions Violation for Subscription to "q.a" using queue "other"\'\r\n'
    )
    assert (
        err_line(reply_violation("_R_.abc"))
        == b"-ERR 'Permissions Violation for Publish with Reply of \"_R_.abc\"'\r\n"
    )
    # observed: PUB a"b and PUB héllo
    assert err_line(publish_violation('a"b')) == b'-ERR \'Permissions Violation for Publish to "a\\"b"\'\r\n'
    assert (
        err_line(publish_violation("h\u00e9llo"))
        == "-ERR 'Permissions Violation for Publish to \"h\u00e9llo\"'\r\n".encode()
    )
    # observed: PUB a<0xff> and PUB a<é><ED A0 80><0x01>; bytes that are not UTF-8 reach these
    # functions surrogate-escaped and come out as Go prints invalid bytes
    assert (
        err_line(publish_violation(b"a\xff".decode("utf-8", "surrogateescape")))
        == b"-ERR 'Permissions Violation for Publish to \"a\\xff\"'\r\n"
    )
    assert (
        err_line(publish_violation(b"a\xc3\xa9\xed\xa0\x80\x01".decode("utf-8", "surrogateescape")))
        == b"-ERR 'Permissions Violation for Publish to \"a\xc3\xa9\\xed\\xa0\\x80\\x01\"'\r\n"
    )


@pytest.mark.parametrize(
    ("reply", "reserved"),
    [
        ("_R_.abc", True),
        ("_R_.", True),
        ("_R_", False),
        ("_R_x", False),
        ("_r_.x", False),
        ("$JS.ACK.x", True),
        ("$JS.ACK.", False),
        ("$JS.ACK", False),
        ("$JS.API.x", False),
        ("_GR_.x.y", True),
        ("_GR_.", False),
        ("$GR.x", True),
        ("$GR.", False),
        ("_INBOX.x", False),
        ("x._R_.y", False),
    ],
)
def test_reserved_replies(reply: str, reserved: bool) -> None:
    assert is_reserved_reply(reply.encode()) is reserved
