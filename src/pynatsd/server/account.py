"""An account: a subject space of its own, with the server's internal client inside it.

The global account ``$G`` holds every client outside the config's ``accounts`` block, and
its index is the server's own (``NatsServer.sublist``); each configured account, and the
system account, gets an index and an internal client of its own. The layers'
:class:`~pynatsd.server.internal.Internal` handles are bound to one account, so a layer
written for ``$G`` works in any account unchanged. Imports and exports between accounts
are wired by :mod:`pynatsd.server.imports`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pynatsd.mapping import Mappings, build_mappings

if TYPE_CHECKING:
    from collections.abc import Callable

    from pynatsd.jwt import AccountClaims
    from pynatsd.options import AccountConfig
    from pynatsd.server.client import Client, InternalClient, Subscription
    from pynatsd.server.imports import Responses
    from pynatsd.server.sublist import MatchResult, Sublist

GLOBAL_ACCOUNT = "$G"
SYSTEM_ACCOUNT = "$SYS"


class Account:
    """One account's subject index, internal client, limits and live connections."""

    __slots__ = (
        "cache",
        "carriers",
        "client",
        "clients",
        "closed_totals",
        "config",
        "import_subs",
        "jwt_claims",
        "mappings",
        "max_connections",
        "max_payload",
        "max_subscriptions",
        "name",
        "responses",
        "slow_consumers",
        "sublist",
        "trace_dest",
        "trace_sampling",
    )

    def __init__(
        self, name: str, sublist: Sublist[Subscription], client: InternalClient | None = None
    ) -> None:
        self.name = name
        self.sublist = sublist
        # The match cache, read directly on the publish path (one dict lookup per message).
        self.cache: dict[bytes, MatchResult[Subscription]] = sublist.cache_dict()
        self.client: InternalClient = client  # type: ignore[assignment]  # set right after
        self.config: AccountConfig | None = None
        self.clients: set[Client] = set()
        # in_msgs, in_bytes, out_msgs, out_bytes of its closed connections; slow consumers
        # (the live connections' counters are added when asked: /accstatz)
        self.closed_totals = (0, 0, 0, 0)
        self.slow_consumers = 0
        # The in-process subscriptions that carry this account's imports (undone on reload).
        self.import_subs: list[Subscription] = []
        # This account's subscriptions that carry stream imports to other accounts: the
        # importer and the subject a message gets there (imports.exact_interest).
        self.carriers: dict[Subscription, tuple[Account, Callable[[bytes], bytes | None]]] = {}
        # Requests this account's services owe answers to, per importing account.
        self.responses: Responses | None = None
        self.max_connections = -1
        self.max_payload = -1
        self.max_subscriptions = -1
        # Subject mappings applied to this account's client publishes (None: none, no cost).
        self.mappings: Mappings | None = None
        # msg_trace: the destination and sampling for W3C traceparent publishes (server/msgtrace.py)
        self.trace_dest = ""
        self.trace_sampling = 0
        # Operator mode: the account's JWT claims (pynatsd.jwt.AccountClaims), for the layers
        # that read its limits (JetStream: ``jwt_claims.nats.limits.jetstream()`` and
        # ``.tiered_limits``); None for accounts of the config file.
        self.jwt_claims: AccountClaims | None = None

    def apply_config(self, cfg: AccountConfig | None) -> None:
        """Limits of the ``accounts`` block (-1: none of its own)."""
        self.config = cfg
        self.max_connections = cfg.max_connections if cfg is not None else -1
        self.max_payload = cfg.max_payload if cfg is not None else -1
        self.max_subscriptions = cfg.max_subscriptions if cfg is not None else -1
        if cfg is not None:
            self.mappings = build_mappings(cfg.mappings) if cfg.mappings else None
        self.trace_dest = cfg.trace_dest if cfg is not None else ""
        self.trace_sampling = cfg.trace_sampling if cfg is not None else 0

    def __repr__(self) -> str:
        return f"Account({self.name!r})"
