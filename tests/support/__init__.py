"""Helpers shared by the test suites (and by ``bench/harness.py``), one module per concern.

* :mod:`.binary`   -- the reference nats-server binary (the one finder) and the pynatsd command;
                      :func:`require_reference` skips a test without the binary, or fails it under CI=true.
* :mod:`.launcher` -- :class:`ServerProcess`, the one launcher of server processes: free port,
                      readiness by the ``Server is ready`` log line, log capture, process-group stop.
* :mod:`.servers`  -- ready-made servers: :class:`ReferenceServer`, :func:`jetstream_server`.
* :mod:`.wire`     -- the raw protocol client (:class:`WireClient` blocking, :class:`AsyncWireClient`
                      on asyncio), frame parsing, INFO normalisation.
* :mod:`.jetstream` -- JetStream API conversations compared across servers, KV listings (needs nats-py).
* :mod:`.config`   -- config files and the reference's verdict on them (needs pytest).
* :mod:`.gotools`  -- Go programs as test tools (``go install`` into a cache: the ``nats`` CLI);
                      skips without Go, fails under CI=true.

The names below are re-exported so ``from tests.support import X`` works; :mod:`.jetstream`
and :mod:`.config` are imported from their modules, which keeps this package importable
with the standard library alone (the benchmark harness needs nothing more).
"""

from .binary import find_nats_server, in_ci, nats_server_binary, pynatsd_command, require_reference
from .launcher import ServerProcess, ServerStartError, free_port, start_server
from .servers import ReferenceServer, jetstream_server
from .wire import QUIET, AsyncWireClient, WireClient

__all__ = [
    "QUIET",
    "AsyncWireClient",
    "ReferenceServer",
    "ServerProcess",
    "ServerStartError",
    "WireClient",
    "find_nats_server",
    "free_port",
    "in_ci",
    "jetstream_server",
    "nats_server_binary",
    "pynatsd_command",
    "require_reference",
    "start_server",
]
