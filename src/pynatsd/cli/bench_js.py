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
from collections.abc import Callable
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
PUSH_SUBJECT = "jsbench_push"


def _api(conn: RawConn, subject: str, body: dict[str, Any], deadline: float) -> dict[str, Any]:
    data = json.dumps(body).encode()
    conn.sock.sendall(b"PUB %b %b.api %d\r\n%b\r\n" % (subject.encode(), INBOX.encode(), len(data), data))
    _, payload = conn.read_msg(deadline)
    reply: dict[str, Any] = json.loads(payload)
    if "error" in reply:
        raise BenchError(f"{subject}: {reply['error'].get('description')}")
    return reply


def _with_stream(
    endpoint: Endpoint,
    result: BenchResult,
    stream: str,
    timeout: float,
    subs: tuple[tuple[str, int], ...],
    body: Callable[[RawConn, float], None],
) -> BenchResult:
    """Connect, run ``body`` against a JetStream server, always delete the bench stream."""
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
        _delete_stream(conn, stream, deadline)
        conn.close()
    result.ok = not result.errors
    return result


def _delete_stream(conn: RawConn, stream: str, deadline: float) -> None:
    try:
        _api(conn, f"$JS.API.STREAM.DELETE.{stream}", {}, deadline)
    except BenchError:
        pass  # not there (first run) or already gone


def _fresh_stream(conn: RawConn, stream: str, storage: str, deadline: float) -> None:
    """The bench stream, empty: one left over from an interrupted run is deleted first."""
    _delete_stream(conn, stream, deadline)
    _api(
        conn,
        f"$JS.API.STREAM.CREATE.{stream}",
        {"name": stream, "subjects": [SUBJECT], "storage": storage},
        deadline,
    )


def _frame(size: int) -> bytes:
    return b"PUB %b %b.ack %d\r\n%b\r\n" % (SUBJECT.encode(), INBOX.encode(), size, make_payload(size))


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

    def body(conn: RawConn, deadline: float) -> None:
        _fresh_stream(conn, stream, storage, deadline)
        frame = _frame(size)
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

    return _with_stream(endpoint, result, stream, timeout, ((INBOX + ".>", 1),), body)


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


def run_js_consume(
    endpoint: Endpoint,
    *,
    msgs: int,
    size: int,
    mode: str = "fetch",
    batch: int = 500,
    ack: bool = False,
    stream: str = "JSBENCH",
    timeout: float = 120.0,
) -> BenchResult:
    """Fill a stream, then consume it all through a pull (fetch) or push consumer."""
    result = BenchResult(
        scenario=f"js-{mode}" + ("-ack" if ack else ""),
        server=f"nats://{endpoint.host}:{endpoint.port}",
        params={"msgs": msgs, "size": size, "mode": mode, "batch": batch, "ack": ack},
    )

    def body(conn: RawConn, deadline: float) -> None:
        _fresh_stream(conn, stream, "file", deadline)
        _async_publish(conn, _frame(size), msgs, 1000, deadline)
        config: dict[str, Any] = {"durable_name": "BENCH", "ack_policy": "explicit" if ack else "none"}
        if mode == "push":
            config["deliver_subject"] = PUSH_SUBJECT
        if ack:
            config["max_ack_pending"] = -1
        start = time.monotonic_ns()
        _api(
            conn,
            f"$JS.API.CONSUMER.CREATE.{stream}.BENCH",
            {"stream_name": stream, "config": config},
            deadline,
        )
        if mode == "push" and not ack:
            got = _count_push(conn, msgs, deadline)
        else:
            got = _consume(conn, stream, msgs, mode, batch, ack, deadline)
        end = time.monotonic_ns()
        result.sub = Rate.over([{"msgs": got, "bytes": got * size, "start_ns": start, "end_ns": end}])
        result.received = [got]
        result.expected_per_sub = msgs
        if got != msgs:
            result.errors.append(f"consumed {got} messages, expected {msgs}")

    # push deliveries need a subscription on exactly the deliver subject
    subs = ((INBOX + ".>", 1), (PUSH_SUBJECT, 2))
    return _with_stream(endpoint, result, stream, timeout, subs, body)


def _count_push(conn: RawConn, msgs: int, deadline: float) -> int:
    """Push, no acks: count delivered frames at C speed."""
    counter = MarkerCounter()
    got = counter.feed(conn.take_buffered())
    while got < msgs:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BenchError(f"timed out after {got} of {msgs} messages")
        conn.sock.settimeout(remaining)
        n = counter.recv(conn.sock)
        if not n:
            raise BenchError("the server closed the connection")
        got += counter.count(n)
    return got


def _consume(conn: RawConn, stream: str, msgs: int, mode: str, batch: int, ack: bool, deadline: float) -> int:
    """Pull in batches (or take pushed messages), acknowledging each batch in one write."""
    request = json.dumps({"batch": batch, "expires": 5_000_000_000}).encode()
    next_frame = b"PUB $JS.API.CONSUMER.MSG.NEXT.%b.BENCH %b.fetch %d\r\n%b\r\n" % (
        stream.encode(),
        INBOX.encode(),
        len(request),
        request,
    )
    got = 0
    while got < msgs:
        if mode == "fetch":
            conn.sock.sendall(next_frame)
        want = min(batch, msgs - got)
        acks: list[bytes] = []
        for _ in range(want):
            reply, _payload = conn.read_msg(deadline)
            if ack and reply:
                acks.append(b"PUB %b 0\r\n\r\n" % reply)
        got += want
        if acks:
            conn.sock.sendall(b"".join(acks))
    return got


@bench.command("js-consume")
@_options(
    click.option(
        "-n", "--msgs", default=100_000, show_default=True, type=click.IntRange(1), help="Messages."
    ),
    _size_option("Payload bytes per message."),
    click.option("--mode", type=click.Choice(["fetch", "push"]), default="fetch", show_default=True),
    click.option("--batch", default=500, show_default=True, type=click.IntRange(1), help="Fetch batch size."),
    click.option("--ack", is_flag=True, help="Explicit acks (one +ACK per message)."),
    click.option(
        "--stream", default="JSBENCH", show_default=True, help="Stream created (and deleted) for the run."
    ),
    click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(min=0.1)),
    click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (for bench/harness.py)."),
)
@click.pass_context
def bench_js_consume(ctx: click.Context, /, as_json: bool, **params: Any) -> None:
    """JetStream consumption: a pull consumer fetching in batches, or a push consumer."""
    _finish(run_js_consume(_endpoint(ctx), **params), as_json)
