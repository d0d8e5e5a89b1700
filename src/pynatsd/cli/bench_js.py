"""``pynats bench js-pub``: JetStream publish throughput, async (windowed) or sync.

One connection publishes into a bench stream with a reply subject on every message and
counts the PubAcks coming back on its inbox subscription, like the ``nats`` CLI's
``bench js pub``. Async mode keeps up to ``--window`` messages unacknowledged; sync mode
waits for each PubAck before the next publish. The stream is created before and deleted
after the run.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import click

from pynatsd.cli.bench import (
    BenchError,
    BenchResult,
    MarkerCounter,
    Rate,
    RawConn,
    _endpoint,
    _finish,
    _options,
    _size_option,
    bench,
    make_payload,
)

if TYPE_CHECKING:
    from pynatsd.cli.pynats import Endpoint

INBOX = "_INBOX.jsbench"
SUBJECT = "jsbench.msgs"


def _api(conn: RawConn, subject: str, body: dict[str, Any], deadline: float) -> dict[str, Any]:
    data = json.dumps(body).encode()
    conn.sock.sendall(b"PUB %b %b.api %d\r\n%b\r\n" % (subject.encode(), INBOX.encode(), len(data), data))
    _, payload = conn.read_msg(deadline)
    reply: dict[str, Any] = json.loads(payload)
    if "error" in reply:
        raise BenchError(f"{subject}: {reply['error'].get('description')}")
    return reply


def run_js_pub(
    endpoint: Endpoint,
    *,
    msgs: int,
    size: int,
    storage: str = "file",
    mode: str = "async",
    window: int = 1000,
    stream: str = "JSBENCH",
    timeout: float = 120.0,
) -> BenchResult:
    """Publish ``msgs`` messages into a fresh stream and count every PubAck."""
    result = BenchResult(
        scenario=f"js-pub-{mode}-{storage}",
        server=f"nats://{endpoint.host}:{endpoint.port}",
        params={"msgs": msgs, "size": size, "storage": storage, "mode": mode, "window": window},
    )
    deadline = time.monotonic() + timeout
    try:
        conn = RawConn.open(endpoint, "pynats-bench-js", deadline, subs=((INBOX + ".>", 1),))
    except BenchError as exc:
        result.errors.append(str(exc))
        return result
    try:
        if not conn.info.get("jetstream"):
            raise BenchError("the server does not have JetStream enabled")
        try:  # a stream left over from an interrupted run
            _api(conn, f"$JS.API.STREAM.DELETE.{stream}", {}, deadline)
        except BenchError:
            pass
        _api(
            conn,
            f"$JS.API.STREAM.CREATE.{stream}",
            {"name": stream, "subjects": [SUBJECT], "storage": storage},
            deadline,
        )
        frame = b"PUB %b %b.ack %d\r\n%b\r\n" % (SUBJECT.encode(), INBOX.encode(), size, make_payload(size))
        start = time.monotonic_ns()
        if mode == "sync":
            for _ in range(msgs):
                conn.sock.sendall(frame)
                _, ack = conn.read_msg(deadline)
                if b'"error"' in ack:
                    raise BenchError(f"publish failed: {ack.decode(errors='replace')}")
        else:
            _async_publish(conn, frame, msgs, window, deadline)
        end = time.monotonic_ns()
        info = _api(conn, f"$JS.API.STREAM.INFO.{stream}", {}, deadline)
        stored = info["state"]["messages"]
        if stored != msgs:
            result.errors.append(f"the stream holds {stored} messages, expected {msgs}")
        result.pub = Rate.over([{"msgs": msgs, "bytes": msgs * size, "start_ns": start, "end_ns": end}])
        result.received = [msgs]
        result.expected_per_sub = msgs
    except BenchError as exc:
        result.errors.append(str(exc))
    finally:
        try:
            _api(conn, f"$JS.API.STREAM.DELETE.{stream}", {}, deadline)
        except BenchError:
            pass
        conn.close()
    result.ok = not result.errors
    return result


def _async_publish(conn: RawConn, frame: bytes, msgs: int, window: int, deadline: float) -> None:
    """Keep up to ``window`` PubAcks outstanding; count acks at C speed as they arrive."""
    sock = conn.sock
    counter = MarkerCounter()
    acked = counter.feed(conn.take_buffered())
    sent = 0
    batch = max(1, window // 2)
    block = frame * batch
    while acked < msgs:
        while sent < msgs and sent - acked <= window - batch:
            n = min(batch, msgs - sent)
            sock.sendall(block if n == batch else frame * n)
            sent += n
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BenchError(f"timed out with {acked} of {msgs} PubAcks")
        sock.settimeout(remaining)
        n = counter.recv(sock)
        if not n:
            raise BenchError("the server closed the connection")
        chunk = bytes(counter.view[:n])  # a memoryview's "in" compares single bytes
        if b'"error"' in chunk:
            raise BenchError("a publish was refused: " + chunk.decode(errors="replace")[:200])
        acked += counter.count(n)


@bench.command("js-pub")
@_options(
    click.option(
        "-n", "--msgs", default=100_000, show_default=True, type=click.IntRange(1), help="Messages."
    ),
    _size_option("Payload bytes per message."),
    click.option("--storage", type=click.Choice(["file", "memory"]), default="file", show_default=True),
    click.option("--mode", type=click.Choice(["async", "sync"]), default="async", show_default=True),
    click.option(
        "--window",
        default=1000,
        show_default=True,
        type=click.IntRange(2),
        help="Async: PubAcks outstanding.",
    ),
    click.option(
        "--stream", default="JSBENCH", show_default=True, help="Stream created (and deleted) for the run."
    ),
    click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(min=0.1)),
    click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (for bench/harness.py)."),
)
@click.pass_context
def bench_js_pub(ctx: click.Context, /, as_json: bool, **params: Any) -> None:
    """JetStream publish: every message acknowledged by the stream (PubAck)."""
    _finish(run_js_pub(_endpoint(ctx), **params), as_json)
