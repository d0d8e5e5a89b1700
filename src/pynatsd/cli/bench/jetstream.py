"""The JetStream scenarios: ``js-pub`` (``run_js_pub``) and ``js-consume`` (``run_js_consume``).

``js-pub``: one connection publishes into a bench stream with a reply subject on every message
and counts the PubAcks coming back on its inbox subscription, like the ``nats`` CLI's
``bench js pub``. Async mode keeps up to ``--window`` messages unacknowledged; sync mode
waits for each PubAck before the next publish.

``js-consume``: fills a bench stream the same way, then consumes all of it through a pull
consumer fetching in batches or a push consumer, with or without explicit acks.

The stream is created before and deleted after each run.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pynatsd.cli.bench.jsapi import INBOX, call_api, delete_stream, with_stream
from pynatsd.cli.bench.payloads import json_payloads
from pynatsd.cli.bench.protocol import MarkerCounter, RawConn, make_payload
from pynatsd.cli.bench.results import BenchError, BenchResult, Rate
from pynatsd.cli.client_options import Endpoint

SUBJECT = "jsbench.msgs"
PUSH_SUBJECT = "jsbench_push"


def _fresh_stream(
    conn: RawConn, stream: str, storage: str, deadline: float, compression: str = "none"
) -> None:
    """The bench stream, empty: one left over from an interrupted run is deleted first."""
    delete_stream(conn, stream, deadline)
    config = {"name": stream, "subjects": [SUBJECT], "storage": storage}
    if compression != "none":
        config["compression"] = compression
    call_api(conn, f"$JS.API.STREAM.CREATE.{stream}", config, deadline)


def _frame(size: int, payload: bytes | None = None) -> bytes:
    data = make_payload(size) if payload is None else payload
    return b"PUB %b %b.ack %d\r\n%b\r\n" % (SUBJECT.encode(), INBOX.encode(), len(data), data)


_JSON_POOL = 4096  # distinct documents, cycled: 2 MB apart at 512 B, beyond any compressor's window


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
    payload: str = "fixed",
    compression: str = "none",
    keep: bool = False,
) -> BenchResult:
    """Publish ``msgs`` messages into a fresh stream and count every PubAck. ``payload``
    "json": distinct JSON documents (see ``payloads``); ``keep``: leave the stream (and its
    files) in place for the caller to measure."""
    result = BenchResult(
        scenario=f"js-pub-{mode}-{storage}",
        server=f"nats://{endpoint.host}:{endpoint.port}",
        params={
            "msgs": msgs,
            "size": size,
            "storage": storage,
            "mode": mode,
            "window": window,
            "payload": payload,
            "compression": compression,
        },
    )
    frames = [_frame(size, p) for p in json_payloads(size, _JSON_POOL)] if payload == "json" else []

    def body(conn: RawConn, deadline: float) -> None:
        _fresh_stream(conn, stream, storage, deadline, compression)
        frame = _frame(size)
        start = time.monotonic_ns()
        if mode == "sync":
            for i in range(msgs):
                conn.sock.sendall(frames[i % len(frames)] if frames else frame)
                _, ack = conn.read_msg(deadline)
                if b'"error"' in ack:
                    raise BenchError(f"publish failed: {ack.decode(errors='replace')}")
        else:
            _async_publish(conn, frame, msgs, window, deadline, frames)
        end = time.monotonic_ns()
        info = call_api(conn, f"$JS.API.STREAM.INFO.{stream}", {}, deadline)
        stored = info["state"]["messages"]
        if stored != msgs:
            result.errors.append(f"the stream holds {stored} messages, expected {msgs}")
        result.pub = Rate.over([{"msgs": msgs, "bytes": msgs * size, "start_ns": start, "end_ns": end}])
        result.received = [msgs]
        result.expected_per_sub = msgs

    return with_stream(endpoint, result, stream, timeout, ((INBOX + ".>", 1),), body, keep=keep)


def _async_publish(
    conn: RawConn, frame: bytes, msgs: int, window: int, deadline: float, frames: list[bytes] | None = None
) -> None:
    """Keep up to ``window`` PubAcks outstanding; count acks at C speed as they arrive.
    With ``frames``, they are sent in turn instead of ``frame`` (blocks joined beforehand)."""
    sock = conn.sock
    counter = MarkerCounter()
    acked = counter.feed(conn.take_buffered())
    sent = 0
    batch = max(1, window // 2)
    if frames:
        blocks = [
            b"".join(frames[(k + j) % len(frames)] for j in range(batch))
            for k in range(0, len(frames), batch)
        ]
    else:
        blocks = [frame * batch]
    while acked < msgs:
        while sent < msgs and sent - acked <= window - batch:
            n = min(batch, msgs - sent)
            if n == batch:
                sock.sendall(blocks[(sent // batch) % len(blocks)])
            else:
                sock.sendall(
                    b"".join(frames[(sent + j) % len(frames)] for j in range(n)) if frames else frame * n
                )
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
        call_api(
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
    return with_stream(endpoint, result, stream, timeout, subs, body)


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
