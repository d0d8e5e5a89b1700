"""JetStream API calls over a ``RawConn``, shared by the JetStream and Key-Value scenarios.

Requests go out with a reply subject under ``INBOX``, so the connection must subscribe to
``INBOX + ".>"``; ``with_stream`` opens such a connection and always deletes the bench stream.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from pynatsd.cli.bench.protocol import RawConn
from pynatsd.cli.bench.results import BenchError, BenchResult
from pynatsd.cli.client_options import Endpoint

INBOX = "_INBOX.jsbench"


def call_api(conn: RawConn, subject: str, body: dict[str, Any], deadline: float) -> dict[str, Any]:
    data = json.dumps(body).encode()
    conn.sock.sendall(b"PUB %b %b.api %d\r\n%b\r\n" % (subject.encode(), INBOX.encode(), len(data), data))
    payload = b""
    while not payload:  # status messages (a pull request ended by a stream delete) carry none
        _, payload = conn.read_msg(deadline)
    reply: dict[str, Any] = json.loads(payload)
    if "error" in reply:
        raise BenchError(f"{subject}: {reply['error'].get('description')}")
    return reply


def with_stream(
    endpoint: Endpoint,
    result: BenchResult,
    stream: str,
    timeout: float,
    subs: tuple[tuple[str, int], ...],
    body: Callable[[RawConn, float], None],
    *,
    keep: bool = False,
) -> BenchResult:
    """Connect, run ``body`` against a JetStream server, always delete the bench stream
    (unless ``keep``: the caller measures it, then deletes it)."""
    deadline = time.monotonic() + timeout
    try:
        conn = RawConn.open(endpoint, "pynats-bench-js", deadline, subs=subs)
    except BenchError as exc:
        result.errors.append(str(exc))
        return result
    try:
        if not conn.info.get("jetstream"):
            raise BenchError("the server does not have JetStream enabled")
        body(conn, deadline)
    except BenchError as exc:
        result.errors.append(str(exc))
    finally:
        if not keep:
            delete_stream(conn, stream, deadline)
        conn.close()
    result.ok = not result.errors
    return result


def delete_stream(conn: RawConn, stream: str, deadline: float) -> None:
    try:
        call_api(conn, f"$JS.API.STREAM.DELETE.{stream}", {}, deadline)
    except BenchError:
        pass  # not there (first run) or already gone
