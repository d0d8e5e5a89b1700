"""``pynats bench kv``: Key-Value puts and gets, one at a time, as a KV client does them.

The bucket is the stream ``KV_<bucket>`` on ``$KV.<bucket>.>``, created with the config nats-py's
``create_key_value`` uses (history 1, discard new, rollups allowed, deletes denied). Two phases
on one connection:

* **put**: ``--msgs`` sequential puts, each a publish to ``$KV.<bucket>.<key>`` with a reply
  subject, the next one sent only after its PubAck arrived (``await kv.put(...)``). Keys are
  ``k0``, ``k1``, ... , cycling over ``--keys`` of them when given. Every value starts with its
  put's number, so a get can tell the latest value from an older one.
* **get**: ``--gets`` sequential gets of keys written in the put phase, each checked against
  the value last put. ``--api direct`` (default) is ``$JS.API.DIRECT.GET.<stream>.<subject>``,
  what the Go client, the ``nats`` CLI and nats-py with ``direct=True`` use; ``--api msg-get``
  is ``$JS.API.STREAM.MSG.GET.<stream>`` with ``last_by_subj``, nats-py's default.

Rates are operations over the phase's wall time; latencies are per round trip
(``perf_counter_ns``), nearest-rank percentiles. The bucket is deleted after the run.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from pynatsd.cli.bench.jsapi import INBOX, call_api, delete_stream, with_stream
from pynatsd.cli.bench.protocol import RawConn, make_payload
from pynatsd.cli.bench.results import BenchError, BenchResult, Latency, Rate, fmt
from pynatsd.cli.client_options import Endpoint

PUT_REPLY = INBOX + ".put"
GET_REPLY = INBOX + ".get"
# A value carries its put's number in its first bytes when it has room for it.
SEQ_DIGITS = 10


@dataclass
class KvBenchResult(BenchResult):
    """``pub`` is the put phase, ``requests``/``latency`` the get phase; plus put latencies."""

    put_latency: Latency | None = None


def _value(index: int, base: bytes) -> bytes:
    if len(base) < SEQ_DIGITS:
        return base
    return b"%0*d" % (SEQ_DIGITS, index) + base[SEQ_DIGITS:]


def read_reply(conn: RawConn, deadline: float) -> tuple[bytes, bytes]:
    """The next ``MSG`` or ``HMSG``: (header block, payload); the header block of a ``MSG`` is empty."""
    buf = conn.buf
    while True:
        idx = buf.find(b"\r\n")
        if idx >= 0:
            headers = buf.startswith(b"HMSG ")
            if headers or buf.startswith(b"MSG "):
                args = buf[(5 if headers else 4) : idx].split()
                total = int(args[-1])
                hdr_len = int(args[-2]) if headers else 0
                start = idx + 2
                end = start + total + 2
                if len(buf) >= end:
                    hdr = bytes(buf[start : start + hdr_len])
                    payload = bytes(buf[start + hdr_len : start + total])
                    del buf[:end]
                    return hdr, payload
            else:
                line = bytes(buf[:idx])
                del buf[: idx + 2]
                conn.control(line)
                continue
        conn.recv_more(deadline)


def header_status(hdr: bytes) -> str:
    """The status of a header block (``404 Message Not Found``), or '' for none."""
    first = hdr.split(b"\r\n", 1)[0]
    return first[len(b"NATS/1.0") :].strip().decode(errors="replace")


def _create_bucket(
    conn: RawConn, bucket: str, storage: str, history: int, direct: bool, deadline: float
) -> str:
    """A fresh bucket with nats-py's KV stream config; one left by an interrupted run is deleted."""
    stream = f"KV_{bucket}"
    delete_stream(conn, stream, deadline)
    call_api(
        conn,
        f"$JS.API.STREAM.CREATE.{stream}",
        {
            "name": stream,
            "subjects": [f"$KV.{bucket}.>"],
            "storage": storage,
            "max_msgs_per_subject": history,
            "discard": "new",
            "allow_rollup_hdrs": True,
            "allow_msg_ttl": True,
            "deny_delete": True,
            "allow_direct": direct,
            "max_consumers": -1,
            "max_msgs": -1,
            "duplicate_window": 120_000_000_000,
        },
        deadline,
    )
    return stream


def _put_phase(
    conn: RawConn, bucket: str, msgs: int, keys: int, base: bytes, deadline: float
) -> tuple[Rate, list[int]]:
    """Sequential puts, each awaited; returns the rate and one latency sample per put."""
    prefix = f"PUB $KV.{bucket}.k".encode()
    reply = f" {PUT_REPLY} {len(base)}\r\n".encode()
    sendall = conn.sock.sendall
    clock = time.perf_counter_ns
    samples = [0] * msgs
    start = time.monotonic_ns()
    for i in range(msgs):
        frame = b"%b%d%b%b\r\n" % (prefix, i % keys, reply, _value(i, base))
        t0 = clock()
        sendall(frame)
        hdr, ack = read_reply(conn, deadline)
        samples[i] = clock() - t0
        if hdr or b'"error"' in ack:
            status = header_status(hdr) if hdr else ack.decode(errors="replace")
            raise BenchError(f"put {i} failed: {status}")
    end = time.monotonic_ns()
    return Rate.over([{"msgs": msgs, "bytes": msgs * len(base), "start_ns": start, "end_ns": end}]), samples


def _get_phase(
    conn: RawConn,
    bucket: str,
    stream: str,
    gets: int,
    msgs: int,
    keys: int,
    base: bytes,
    api: str,
    deadline: float,
) -> tuple[Rate, list[int]]:
    """Sequential gets of written keys, each value checked against the last put to its key."""
    written = min(keys, msgs)
    last_put = [msgs - 1 - ((msgs - 1 - k) % keys) for k in range(written)]
    frames: list[bytes] = []
    for k in range(written):
        subject = f"$KV.{bucket}.k{k}"
        if api == "direct":
            frames.append(f"PUB $JS.API.DIRECT.GET.{stream}.{subject} {GET_REPLY} 0\r\n\r\n".encode())
        else:
            body = json.dumps({"last_by_subj": subject}).encode()
            frames.append(
                b"PUB $JS.API.STREAM.MSG.GET.%b %b %d\r\n%b\r\n"
                % (stream.encode(), GET_REPLY.encode(), len(body), body)
            )
    sendall = conn.sock.sendall
    clock = time.perf_counter_ns
    samples = [0] * gets
    start = time.monotonic_ns()
    for i in range(gets):
        k = i % written
        t0 = clock()
        sendall(frames[k])
        hdr, payload = read_reply(conn, deadline)
        samples[i] = clock() - t0
        if api == "direct":
            if header_status(hdr):
                raise BenchError(f"get of k{k} failed: {header_status(hdr)}")
            value = payload
        else:
            reply: dict[str, Any] = json.loads(payload)
            if "error" in reply:
                raise BenchError(f"get of k{k} failed: {reply['error'].get('description')}")
            value = base64.b64decode(reply["message"].get("data", ""))
        if value != _value(last_put[k], base):
            raise BenchError(
                f"get of k{k} returned {value[:SEQ_DIGITS]!r}, not the value of put {last_put[k]}"
            )
    end = time.monotonic_ns()
    return Rate.over([{"msgs": gets, "bytes": gets * len(base), "start_ns": start, "end_ns": end}]), samples


def run_kv(
    endpoint: Endpoint,
    *,
    msgs: int,
    size: int,
    gets: int | None = None,
    keys: int = 0,
    storage: str = "file",
    history: int = 1,
    api: str = "direct",
    bucket: str = "KVBENCH",
    timeout: float = 120.0,
) -> KvBenchResult:
    """``msgs`` awaited puts into a fresh bucket, then ``gets`` (default ``msgs``) gets."""
    keys = keys or msgs
    gets = msgs if gets is None else gets
    stream = f"KV_{bucket}"
    result = KvBenchResult(
        scenario=f"kv-{storage}",
        server=f"nats://{endpoint.host}:{endpoint.port}",
        params={
            "msgs": msgs,
            "size": size,
            "gets": gets,
            "keys": keys,
            "storage": storage,
            "history": history,
            "api": api,
        },
    )

    def body(conn: RawConn, deadline: float) -> None:
        _create_bucket(conn, bucket, storage, history, api == "direct", deadline)
        base = make_payload(size)
        result.pub, put_samples = _put_phase(conn, bucket, msgs, keys, base, deadline)
        result.put_latency = Latency.of(put_samples)
        result.received = [msgs]
        result.expected_per_sub = msgs
        # the bucket keeps the last ``history`` values of each key
        writes = Counter(i % keys for i in range(msgs))
        want = sum(min(n, history) for n in writes.values())
        state = call_api(conn, f"$JS.API.STREAM.INFO.{stream}", {}, deadline)["state"]
        if state["messages"] != want or state["last_seq"] != msgs:
            result.errors.append(
                f"the bucket holds {state['messages']} values up to revision {state['last_seq']},"
                f" expected {want} up to {msgs}"
            )
        if gets:
            result.requests, get_samples = _get_phase(
                conn, bucket, stream, gets, msgs, keys, base, api, deadline
            )
            result.latency = Latency.of(get_samples)
            result.received.append(len(get_samples))

    with_stream(endpoint, result, stream, timeout, ((INBOX + ".>", 1),), body)
    return result


def render_kv(result: KvBenchResult, console: Console) -> None:
    p = result.params
    console.print(
        f"[bold]kv: {p['msgs']:,} puts over {p['keys']:,} keys x {p['size']} B ({p['storage']}),"
        f" {p['gets']:,} gets ({p['api']})[/bold] [dim]({result.server})[/dim]",
        highlight=False,
    )
    table = Table()
    for col in ("phase", "ops", "ops/s", "p50 µs", "p90 µs", "p99 µs", "max µs"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    for label, rate, lat in (
        ("put", result.pub, result.put_latency),
        ("get", result.requests, result.latency),
    ):
        if rate is not None and lat is not None:
            table.add_row(
                label,
                f"{rate.msgs:,}",
                fmt(rate.msgs_per_sec),
                *(fmt(v) for v in (lat.p50_us, lat.p90_us, lat.p99_us, lat.max_us)),
            )
    console.print(table)
    for err in result.errors:
        console.print(f"[red]error:[/red] {err}")
    if result.ok:
        console.print("[green]ok[/green]: every put acknowledged, every get returned the latest value")
