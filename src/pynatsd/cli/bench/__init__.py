"""``pynats bench``: a raw-protocol, multi-process load generator for NATS servers.

Modules, each importing only those above it:

* ``results``: ``BenchError``, ``Rate``, ``Latency``, ``BenchResult`` (the ``--json`` document)
  and the tables printed without ``--json``;
* ``protocol``: ``RawConn`` (a minimal blocking client), payloads and the frame counters;
* ``processes``: worker processes and the ``Coordinator`` that starts and collects them;
* ``core``: ``pub``, ``pubsub``, ``fanout`` and ``request``;
* ``jsapi``: JetStream API calls and the bench-stream lifecycle;
* ``jetstream``: ``js-pub`` and ``js-consume``;
* ``kv``: ``kv`` (Key-Value puts and gets);
* ``commands``: the click group ``bench`` (what ``pynats bench`` runs) and its commands.

Importing this package imports none of them.
"""
