"""Routing with other servers in the picture: interest of remote servers and the messages
they hand over (routes today; the cluster layer drives it through ``Internal``).

A remote server's interest lives in the account's own sublist as a
:class:`RemoteSubscription` (one per subject, or per queue group with the number of
members as its weight, as the reference's routed subscriptions), so one match tells about
local and remote receivers alike. A server with links uses :func:`route_message` instead of
the single-server ``NatsServer.deliver`` (it replaces the method on the instance, so a
server without links pays nothing for them), which:

* sends at most one message per link however many of its subscriptions match, carrying the
  names of the queue groups whose member was picked over there;
* picks each queue group's member among local members and remote weights together, as the
  reference does (uniformly over the whole cluster);
* delivers a message that came over a link to local receivers only (never back out over a
  link: no echo, no loops), and to a queue group only if the sender named it.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Protocol

from pynatsd.protocol.frames import msg_tails
from pynatsd.server import imports
from pynatsd.server.client import InternalClient, Subscription, pick_member

if TYPE_CHECKING:
    from pynatsd.server.account import Account
    from pynatsd.server.client import Client
    from pynatsd.server.server import NatsServer
    from pynatsd.server.sublist import MatchResult

__all__ = ["Link", "LinkClient", "RemoteSubscription", "route_message"]


class Link(Protocol):
    """A connection to another server that takes messages for its interest."""

    def send_msg(
        self, account: str, subject: bytes, reply: bytes | None, hdr: int, msg: bytes, queues: list[bytes]
    ) -> None: ...


class LinkClient(InternalClient):
    """A link's presence in one account: publisher of the messages it brings in, owner of
    the remote interest it announced. Never written to."""

    def __init__(self, server: NatsServer, account: Account, link: Link, name: str) -> None:
        super().__init__(server, name, account)
        self.link = link


class RemoteSubscription(Subscription):
    """Interest of a remote server in a subject (``weight``: its members of a queue group)."""

    __slots__ = ("link", "weight")

    def __init__(self, owner: LinkClient, subject: str, queue: str | None, weight: int) -> None:
        super().__init__(owner, subject, queue, b"")
        self.link = owner.link
        self.weight = weight


def route_message(
    srv: NatsServer,
    pub: Client,
    subject: bytes,
    reply: bytes | None,
    hdr: int,
    size: bytes,
    msg: bytes,
    frame_subject: bytes | None = None,
    queues: list[bytes] | None = None,
) -> bool:
    """``NatsServer.deliver`` for a server with links; False when nobody received it.

    ``pub`` is a :class:`LinkClient` for a message that came over a link (then ``queues``
    names the queue groups it may go to here)."""
    from_link = pub.__class__ is LinkClient
    account = pub.account
    r = pub.cache.get(subject)
    if r is None:
        if srv._claim_roots:
            claim = srv._claimed(subject, account)
            if claim is not None and claim.cb is not None:
                claim.delivered += 1
                claim.cb(claim, pub, subject, reply, hdr, msg)
                srv.schedule_flush()
                return True
        r = account.sublist.match(subject)
    if not r.any:
        return False
    split = _splits.get(r)
    if split is None:
        if len(_splits) >= _SPLITS_MAX:
            _splits.clear()
        split = _splits[r] = _split(r.psubs)
    local, plinks = split
    if not r.qsubs:
        # Plain subscribers only (the common case): no per-message partition or dict.
        delivered = (
            _deliver_local(srv, pub, r, local, subject, reply, hdr, size, msg, frame_subject) if local else 0
        )
        if plinks and not from_link:
            name = account.name
            for link in plinks:
                link.send_msg(name, subject, reply, hdr, msg, _NO_QUEUES)  # type: ignore[attr-defined]
            delivered += len(plinks)
        return delivered > 0
    targets: list[Subscription] = list(local)
    links: dict[Link, list[bytes]] = {} if from_link else {link: [] for link in plinks}  # type: ignore[misc]
    for members in r.qsubs:
        _pick(members, pub, subject, from_link, queues, targets, links)
    delivered = _deliver_local(srv, pub, r, targets, subject, reply, hdr, size, msg, frame_subject)
    if links:
        name = account.name
        for link, names in links.items():
            link.send_msg(name, subject, reply, hdr, msg, names)
            delivered += 1
    return delivered > 0


_NO_QUEUES: list[bytes] = []
# Per match result (cached per subject, replaced when its subject's interest changes): the
# local plain subscribers and the links with plain interest. Kept here, not on the result,
# so that a server without links carries nothing for it; bounded by clearing.
_splits: dict[MatchResult[Subscription], tuple[tuple[Subscription, ...], tuple[object, ...]]] = {}
_SPLITS_MAX = 8192


def _split(psubs: tuple[Subscription, ...]) -> tuple[tuple[Subscription, ...], tuple[object, ...]]:
    """Local plain subscribers, and each link with plain interest once."""
    local = tuple(s for s in psubs if s.__class__ is not RemoteSubscription)
    links = tuple(dict.fromkeys(s.link for s in psubs if s.__class__ is RemoteSubscription))  # type: ignore[attr-defined]
    return local, links


def _pick(
    members: tuple[Subscription, ...],
    pub: Client,
    subject: bytes,
    from_link: bool,
    queues: list[bytes] | None,
    targets: list[Subscription],
    links: dict[Link, list[bytes]],
) -> None:
    """One member of a queue group: local or remote, weighted over the whole cluster."""
    qname = members[0].queue or ""
    local = tuple(m for m in members if m.__class__ is not RemoteSubscription)
    if from_link:
        if queues and qname.encode() in queues and local:
            picked = pick_member(local, pub, subject)
            if picked is not None:
                targets.append(picked)
        return
    remote = [m for m in members if m.__class__ is RemoteSubscription and not m.closed]
    if not remote:
        picked = pick_member(members, pub, subject)
        if picked is not None:
            targets.append(picked)
        return
    weights = sum(max(m.weight, 1) for m in remote)  # type: ignore[attr-defined]
    x = random.randrange(len(local) + weights)
    if x < len(local):
        picked = pick_member(local, pub, subject)
        if picked is not None:
            targets.append(picked)
            return
        x = random.randrange(weights)  # no local member can take it: a remote one does
    else:
        x -= len(local)
    for m in remote:
        x -= max(m.weight, 1)  # type: ignore[attr-defined]
        if x < 0:
            links.setdefault(m.link, []).append(qname.encode())  # type: ignore[attr-defined]
            return


def _deliver_local(
    srv: NatsServer,
    pub: Client,
    r: MatchResult[Subscription],
    targets: list[Subscription] | tuple[Subscription, ...],
    subject: bytes,
    reply: bytes | None,
    hdr: int,
    size: bytes,
    msg: bytes,
    frame_subject: bytes | None,
) -> int:
    """The local half of ``NatsServer.deliver``, to receivers already picked."""
    if not targets:
        return 0
    n = len(msg)
    tail = tail_plain = b""
    routed = subject
    heads: dict[Subscription, bytes] | None
    if frame_subject is not None:
        heads = _heads(r, frame_subject)
        subject = frame_subject
    else:
        heads = r.heads
        if heads is None:
            heads = r.heads = _heads(r, subject)
    delivered = 0
    dirty = srv._dirty
    for sub in targets:
        c = sub.client
        if sub.closed or (c is pub and not pub.echo):
            continue
        if c.perms is not None and not c.perms.can_receive(subject.decode("utf-8", "replace"), sub.queue):
            continue
        cb = sub.cb
        if cb is not None:
            sub.delivered += 1
            if frame_subject is not None and sub in pub.account.carriers:
                if imports.carry_framed(srv, pub.account, sub, routed, subject, reply, hdr, msg):
                    delivered += 1
            elif cb(sub, pub, subject, reply, hdr, msg) is not False:
                delivered += 1
            continue
        if not tail:
            tail, tail_plain = msg_tails(reply, hdr, size, msg)
        if hdr >= 0 and c.headers:
            c.out += b"H" + heads[sub] + tail
        else:
            c.out += heads[sub] + tail_plain
        if not c.flagged:
            c.flagged = True
            dirty.append(c)
        if c.stalled and c is not pub:
            pub.stall(c)
        delivered += 1
        c.out_msgs += 1
        c.out_bytes += n
        sub.delivered += 1
        if sub.max_msgs or c.perms is not None:
            srv._after_delivery(sub, reply)
    if delivered and not srv._flush_scheduled:
        srv._flush_scheduled = True
        srv.loop.call_soon(srv._flush_all)
    return delivered


def _heads(r: MatchResult[Subscription], subject: bytes) -> dict[Subscription, bytes]:
    """``MSG subject sid`` of every local subscriber of a result (as server._frame_heads)."""
    start = b"MSG " + subject + b" "
    heads = {sub: start + sub.sid_b for sub in r.psubs}
    for members in r.qsubs:
        for sub in members:
            heads[sub] = start + sub.sid_b
    return heads
