"""``/accountz`` (the accounts, or one account's detail with ``acc``) and ``/accstatz``
(per-account connections, subscriptions and message counters; ``unused`` adds idle ones)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pynatsd.monitor.common import BadRequest, Query, rfc3339
from pynatsd.monitor.subsz import sublist_stats

if TYPE_CHECKING:
    from pynatsd.options import ExportConfig, ImportConfig
    from pynatsd.server.internal import Account, Client, Internal


def accountz(core: Internal, q: Query) -> dict[str, Any]:
    name = q.get("acc")
    doc: dict[str, Any] = {"server_id": core.server_id, "now": rfc3339(time.time())}
    if core.system_account_name:
        doc["system_account"] = core.system_account_name
    accounts = core.accounts()
    if not name:
        doc["accounts"] = list(accounts)
        return doc
    acc = accounts.get(name)
    if acc is None:
        raise BadRequest(f"Account {name} does not exist")
    doc["account_detail"] = _detail(core, acc)
    return doc


def _detail(core: Internal, acc: Account) -> dict[str, Any]:
    conns = sum(1 for c in core.connections() if c.account is acc)
    d: dict[str, Any] = {"account_name": acc.name, "update_time": rfc3339(core.config_time)}
    if acc.name == core.system_account_name:
        d["is_system"] = True
    d.update(
        {
            "expired": False,
            "complete": True,
            "jetstream_enabled": core.opts.jetstream and acc.name != core.system_account_name,
            "leafnode_connections": 0,
            "client_connections": conns,
            "subscriptions": acc.sublist.count,
        }
    )
    cfg = acc.config
    if acc.mappings is not None and cfg is not None and cfg.mappings:
        d["mappings"] = {
            src: [
                {"subject": m.subject, "weight": m.weight, **({"cluster": m.cluster} if m.cluster else {})}
                for m in dests
            ]
            for src, dests in cfg.mappings
        }
    if cfg is not None and cfg.exports:
        d["exports"] = [_export(e) for e in cfg.exports]
    if cfg is not None and cfg.imports:
        d["imports"] = [_import(i) for i in cfg.imports]
    d["name_tag"] = acc.name
    d["sublist_stats"] = sublist_stats(acc)
    return d


def _export(e: ExportConfig) -> dict[str, Any]:
    d: dict[str, Any] = {"subject": e.subject, "type": "service" if e.service else "stream"}
    if e.service:
        d["response_type"] = e.response_type.capitalize()
    if e.account_token_position:
        d["account_token_position"] = e.account_token_position
    if e.allow_trace:
        d["allow_trace"] = True
    if e.accounts:
        d["approved_accounts"] = list(e.accounts)
    return d


def _import(i: ImportConfig) -> dict[str, Any]:
    if i.service:
        local = i.to or i.subject
        d: dict[str, Any] = {
            "subject": i.subject,
            "account": i.account,
            "to": local,
            "local_subject": local,
            "type": "service",
        }
    else:
        local = i.to or (i.prefix + "." + i.subject if i.prefix else i.subject)
        d = {"subject": i.subject, "account": i.account, "local_subject": local, "type": "stream"}
    if i.allow_trace:
        d["allow_trace"] = True
    d.update({"invalid": False, "share": i.share, "tracking": False})
    return d


def accstatz(core: Internal, q: Query) -> dict[str, Any]:
    unused = q.flag("unused")
    by_acc: dict[str, list[Client]] = {}
    for c in core.connections():
        by_acc.setdefault(c.account.name, []).append(c)
    stats = []
    for name, acc in core.accounts().items():
        clients = by_acc.get(name, [])
        if clients or unused:
            stats.append(_stat(acc, clients))
    return {"server_id": core.server_id, "now": rfc3339(time.time()), "account_statz": stats}


def _stat(acc: Account, clients: list[Client]) -> dict[str, Any]:
    """Exact counters: the live connections' own plus what closed ones left to the account."""
    im, ib, om, ob = acc.closed_totals
    for c in clients:
        im += c.in_msgs
        ib += c.in_bytes
        om += c.out_msgs
        ob += c.out_bytes
    zero = {"msgs": 0, "bytes": 0}
    return {
        "acc": acc.name,
        "name": acc.name,
        "conns": len(clients),
        "leafnodes": 0,
        "total_conns": len(clients),
        "num_subscriptions": acc.sublist.count,
        "sent": {"msgs": om, "bytes": ob, "gateways": zero, "routes": zero, "leafs": zero},
        "received": {"msgs": im, "bytes": ib, "gateways": zero, "routes": zero, "leafs": zero},
        "slow_consumers": acc.slow_consumers,
    }
