"""A whole pynatsd node: the core server with the layers its options ask for.

The core (:mod:`pynatsd.server`) names no layer above it. This is the one place that puts
them on top of it, each holding the core's :class:`~pynatsd.server.internal.Internal`
interface and living in the server's life as an extension, in the reference's start-up
order: monitoring, then JetStream (streams recovered), then the client listener, then
routes (the cluster listener and the routes it dials).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pynatsd.options import Options
from pynatsd.server.logging import ServerLogger
from pynatsd.server.server import NatsServer

if TYPE_CHECKING:
    from pynatsd.cluster.manager import Cluster
    from pynatsd.jetstream.engine import JetStreamEngine
    from pynatsd.monitor.http import MonitorServer

__all__ = ["Node"]


class Node:
    """One server and its layers; start and stop it through :attr:`server`."""

    def __init__(self, opts: Options, log: ServerLogger | None = None) -> None:
        clustered = opts.cluster is not None and opts.cluster.port != 0
        if clustered and opts.jetstream:
            # No silent half-mode: clustered JetStream is not built (docs/CLUSTERING.md).
            opts.unsupported.setdefault(
                "jetstream",
                "JetStream on a clustered server (clustered JetStream; "
                "run this node with JetStream off and use the JetStream of the reference nodes)",
            )
        self.server = NatsServer(opts, log)
        core = self.server.internal
        self.monitor: MonitorServer | None = None
        self.jetstream: JetStreamEngine | None = None
        self.cluster: Cluster | None = None
        # Layers are imported only when enabled: aiohttp and the JetStream stack would
        # otherwise add to every start-up (embedded servers in test suites start often).
        if opts.http_port or opts.https_port:
            from pynatsd.monitor.http import MonitorServer

            self.monitor = MonitorServer(core)
            core.add_extension(self.monitor)
        if self.server.system_account is not None:  # its monitoring requests ($SYS.REQ.*)
            from pynatsd.monitor.sysreq import SystemRequests

            sys_core = core.for_account(self.server.system_account.name)
            assert sys_core is not None
            core.add_extension(SystemRequests(core, sys_core, self._monitor_ports))
        if opts.jetstream:
            from pynatsd.jetstream.engine import JetStreamEngine

            self.jetstream = JetStreamEngine(core)
            core.add_extension(self.jetstream)
        if clustered and opts.cluster is not None:
            from pynatsd.cluster.manager import Cluster

            self.cluster = Cluster(core, opts.cluster)
            core.add_extension(self.cluster)

    def _monitor_ports(self) -> tuple[int, int, dict[str, int]]:
        """The monitoring port as /varz reports it (http, https) and its request counts."""
        m = self.monitor
        if m is None:
            return 0, 0, {}
        return (0, m.port, m.req_stats) if m.secure else (m.port, 0, m.req_stats)

    @property
    def http_port(self) -> int:
        """The bound monitoring port, 0 when there is none (or before start)."""
        return self.monitor.port if self.monitor is not None else 0
