"""The ``js-mirror`` scenario: how fast a new mirror catches up with its origin.

Fills a bench stream (as ``js-pub`` does), then creates a mirror of it and polls the
mirror's STREAM.INFO until it holds every message; the rate is messages over the time from
the create request to the poll that saw them all. Both streams are deleted after the run.
"""

from __future__ import annotations

import time

from pynatsd.cli.bench.jetstream import _async_publish, _frame, _fresh_stream
from pynatsd.cli.bench.jsapi import INBOX, call_api, delete_stream, with_stream
from pynatsd.cli.bench.results import BenchError, BenchResult, Rate
from pynatsd.cli.client_options import Endpoint

POLL_S = 0.005


def run_js_mirror(
    endpoint: Endpoint,
    *,
    msgs: int,
    size: int,
    storage: str = "file",
    stream: str = "JSBENCH",
    timeout: float = 300.0,
) -> BenchResult:
    """Fill ``stream`` with ``msgs`` messages, then time a mirror of it catching up."""
    mirror = stream + "_MIRROR"
    result = BenchResult(
        scenario=f"js-mirror-{storage}",
        server=f"nats://{endpoint.host}:{endpoint.port}",
        params={"msgs": msgs, "size": size, "storage": storage},
    )

    def body(conn: object, deadline: float) -> None:
        from pynatsd.cli.bench.protocol import RawConn

        assert isinstance(conn, RawConn)
        _fresh_stream(conn, stream, storage, deadline)
        delete_stream(conn, mirror, deadline)
        _async_publish(conn, _frame(size), msgs, 1000, deadline)
        try:
            start = time.monotonic_ns()
            call_api(
                conn,
                f"$JS.API.STREAM.CREATE.{mirror}",
                {"name": mirror, "storage": storage, "mirror": {"name": stream}},
                deadline,
            )
            got = 0
            while got < msgs:
                if time.monotonic() > deadline:
                    raise BenchError(f"timed out with {got} of {msgs} messages mirrored")
                got = call_api(conn, f"$JS.API.STREAM.INFO.{mirror}", {}, deadline)["state"]["messages"]
                if got < msgs:
                    time.sleep(POLL_S)
            end = time.monotonic_ns()
        finally:
            delete_stream(conn, mirror, deadline)
        result.sub = Rate.over([{"msgs": got, "bytes": got * size, "start_ns": start, "end_ns": end}])
        result.received = [got]
        result.expected_per_sub = msgs

    return with_stream(endpoint, result, stream, timeout, ((INBOX + ".>", 1),), body)  # type: ignore[arg-type]
