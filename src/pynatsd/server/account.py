"""An account: a subject space of its own, with the server's internal client inside it.

Until accounts are configurable there is one, the global account ``$G``, whose index is
the server's. The layers' :class:`~pynatsd.server.internal.Internal` handles are bound to
an account from the start, so that per-account subject spaces change the core, not them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pynatsd.server.client import InternalClient, Subscription
    from pynatsd.server.sublist import Sublist

GLOBAL_ACCOUNT = "$G"


class Account:
    """One account's subject index and internal client."""

    __slots__ = ("client", "name", "sublist")

    def __init__(self, name: str, sublist: Sublist[Subscription], client: InternalClient) -> None:
        self.name = name
        self.sublist = sublist
        self.client = client
