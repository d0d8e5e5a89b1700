"""``/subsz``: the subject index's statistics and, with ``subs=1``, its subscriptions
(``test`` keeps those a publish on that subject would reach; ``acc``, ``offset``, ``limit``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pynatsd.monitor.common import BadRequest, Query, go_float, paginate, rfc3339
from pynatsd.protocol.subjects import is_valid_literal_subject, subject_matches

if TYPE_CHECKING:
    from pynatsd.server.internal import Account, Internal

DEFAULT_LIMIT = 1024


class _Stats:
    """The reference's SublistStats, summed over accounts as its ``add`` does."""

    def __init__(self) -> None:
        self.subs = self.cache = self.inserts = self.removes = self.matches = self.hits = 0
        self.max_fanout = self.tot_fanout = self.cache_cnt = 0

    def add(self, acc: Account) -> None:
        sl = acc.sublist
        self.subs += sl.count
        self.inserts += sl.inserts
        self.removes += sl.removes
        # Routing reads the cache directly (a hit there is not counted), so a match here
        # is a lookup that walked the trie or hit through Sublist.match.
        self.matches += sl.matches + sl.cache_hits
        self.hits += sl.cache_hits
        cache = sl.cache_dict()
        self.cache += len(cache)
        for r in list(cache.values()):
            n = len(r.psubs) + len(r.qsubs)
            self.tot_fanout += n
            self.max_fanout = max(self.max_fanout, n)
        self.cache_cnt += len(cache)

    def doc(self) -> dict[str, Any]:
        return {
            "num_subscriptions": self.subs,
            "num_cache": self.cache,
            "num_inserts": self.inserts,
            "num_removes": self.removes,
            "num_matches": self.matches,
            "cache_hit_rate": go_float(self.hits / self.matches if self.matches else 0.0),
            "max_fanout": self.max_fanout,
            "avg_fanout": go_float(self.tot_fanout / self.cache_cnt if self.tot_fanout else 0.0),
        }


def sublist_stats(acc: Account) -> dict[str, Any]:
    st = _Stats()
    st.add(acc)
    return st.doc()


def subsz(core: Internal, q: Query) -> dict[str, Any]:
    """The /subsz document; raises BadRequest with the reference's texts."""
    detail = q.flag("subs")
    offset = max(q.integer("offset"), 0)
    limit = q.integer("limit")
    if limit <= 0:
        limit = DEFAULT_LIMIT
    test = q.get("test")
    if test and not is_valid_literal_subject(test):
        raise BadRequest(f"invalid test subject, must be valid publish subject: {test}")
    acc_filter = q.get("acc")
    st = _Stats()
    details: list[dict[str, Any]] = []
    for name, acc in core.accounts().items():
        if acc_filter and name != acc_filter:
            continue
        st.add(acc)
        if not detail:
            continue
        for sub in acc.sublist.overlapping(">"):
            if test and not subject_matches(sub.subject, test):
                continue
            d: dict[str, Any] = {"account": name, "account_tag": name, "subject": sub.subject}
            if sub.queue:
                d["qgroup"] = sub.queue
            d["sid"] = sub.sid
            d["msgs"] = sub.delivered
            if sub.max_msgs:
                d["max"] = sub.max_msgs
            d["cid"] = sub.client.cid
            details.append(d)
    doc: dict[str, Any] = {"server_id": core.server_id, "now": rfc3339(time.time()), **st.doc()}
    doc["total"] = len(details)
    doc["offset"] = offset
    doc["limit"] = limit
    page = paginate(details, offset, limit)
    if page:
        doc["subscriptions_list"] = page
    return doc
