"""The core NATS scenarios: ``pub``, ``pubsub``, ``fanout`` (``run_pubsub``) and ``request``
(``run_request``).

* publishers pre-build a block of ``PUB`` frames once and send it with big ``sendall`` calls,
  with a ``PING`` every few MB (at most two outstanding) so the server never holds more than a
  bounded amount of unprocessed input, and a final ``PING`` whose ``PONG`` proves the server has
  processed every message;
* subscribers count frames without parsing them (``protocol.frame_counter``);
* publishers and subscribers are separate processes (``processes.Coordinator``).

Rates are measured from the first to the last message seen by each subscriber, and from the
first write to the final ``PONG`` at each publisher. Every wait has a deadline.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

from pynatsd.cli.bench.processes import POLL_SECONDS, Coordinator, Signals, split_evenly, wait_go
from pynatsd.cli.bench.protocol import RawConn, frame_counter, make_payload
from pynatsd.cli.bench.results import BenchError, BenchResult, Latency, Rate
from pynatsd.cli.client_options import Endpoint

PUB_BLOCK_BYTES = 512 * 1024
PING_EVERY_BYTES = 4 * 1024 * 1024
MAX_OUTSTANDING_PINGS = 2
MAX_SUBJECTS = 100_000


def bench_subjects(base: str, spread: int) -> tuple[list[str], str]:
    """Publish subjects and the one subscription that matches them all."""
    if spread <= 1:
        return [base], base
    return [f"{base}.{i}" for i in range(spread)], f"{base}.*"


def _publisher(
    sig: Signals,
    ready: Callable[[], None],
    endpoint: Endpoint,
    subjects: list[str],
    size: int,
    count: int,
    name: str,
) -> dict[str, Any]:
    """Send ``count`` messages round-robin over ``subjects``; time until the final PONG."""
    payload = make_payload(size)
    frames = [f"PUB {s} {size}\r\n".encode() + payload + b"\r\n" for s in subjects]
    avg = sum(map(len, frames)) / len(frames)
    per_block = max(1, int(PUB_BLOCK_BYTES // avg))
    per_block = math.ceil(per_block / len(frames)) * len(frames)  # each block covers all subjects evenly
    full, rest = divmod(count, per_block)
    block = b"".join(frames[i % len(frames)] for i in range(per_block)) if full else b""
    tail = b"".join(frames[i % len(frames)] for i in range(rest))
    deadline = sig.deadline

    conn = RawConn.open(endpoint, name, deadline)
    sock = conn.sock
    try:
        max_payload = int(conn.info.get("max_payload", size))
        if size > max_payload:
            raise BenchError(f"--size {size} exceeds the server's max_payload of {max_payload}")
        ready()
        wait_go(sig)
        outstanding = 0
        since_ping = 0
        start = time.monotonic_ns()
        for _ in range(full):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or sig.stop.is_set():
                raise BenchError("timed out while publishing" if remaining <= 0 else "stopped")
            sock.settimeout(remaining)
            sock.sendall(block)
            since_ping += len(block)
            if since_ping >= PING_EVERY_BYTES:
                sock.sendall(b"PING\r\n")
                since_ping = 0
                outstanding += 1
                while outstanding > MAX_OUTSTANDING_PINGS:
                    conn.wait_pong(deadline)
                    outstanding -= 1
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        sock.sendall(tail + b"PING\r\n")
        for _ in range(outstanding + 1):
            conn.wait_pong(deadline)
        end = time.monotonic_ns()
    finally:
        conn.close()
    return {"msgs": count, "bytes": count * size, "start_ns": start, "end_ns": end}


def _subscriber(
    sig: Signals,
    ready: Callable[[], None],
    endpoint: Endpoint,
    subject: str,
    expected: int,
    size: int,
    name: str,
    patient: bool = False,
) -> dict[str, Any]:
    """Count frames until ``expected``, then flush with PING/PONG to catch any extras.

    ``patient``: the publishers are on another server (across a route), so their final PONG
    does not mean everything reached this one: wait for ``expected`` (or the deadline)."""
    deadline = sig.deadline
    conn = RawConn.open(endpoint, name, deadline, subs=((subject, 1),))
    sock = conn.sock
    counter = frame_counter(size)
    try:
        count = counter.feed(conn.take_buffered())
        first = last = last_seen = time.monotonic_ns() if count else 0
        ready()
        sock.settimeout(POLL_SECONDS)
        while True:
            if count >= expected:
                if not last:
                    last = last_seen
                if sig.pubs_done.is_set():
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"timed out with {count} of {expected} messages")
            try:
                n = counter.recv(sock)
            except TimeoutError:
                if (sig.pubs_done.is_set() and not patient) or sig.stop.is_set():
                    break
                continue
            if not n:
                raise BenchError(f"the server closed the connection after {count} of {expected} messages")
            found = counter.count(n)
            if found:
                last_seen = time.monotonic_ns()
                if not first:
                    first = last_seen
                count += found
        # Every publisher has had its final PONG, so everything it sent is queued for us ahead
        # of the PONG to this PING: after it, the count is final.
        sock.sendall(b"PING\r\n")
        while True:
            if time.monotonic() > deadline:
                raise BenchError(f"timed out draining with {count} of {expected} messages")
            try:
                n = counter.recv(sock)
            except TimeoutError:
                continue
            if not n:
                raise BenchError(f"the server closed the connection after {count} of {expected} messages")
            found, pong = counter.count_until_pong(n)
            if found:
                last_seen = time.monotonic_ns()
                first = first or last_seen
                count += found
            if pong:
                break
    finally:
        conn.close()
    last = last if last and count >= expected else last_seen
    return {"msgs": count, "bytes": count * size, "start_ns": first, "end_ns": last}


def _responder(sig: Signals, ready: Callable[[], None], endpoint: Endpoint, subject: str) -> dict[str, Any]:
    """Echo each request to its reply subject, batching replies to whatever arrived together."""
    conn = RawConn.open(endpoint, "pynats-bench-responder", sig.deadline, subs=((subject, 1),))
    served = 0
    try:
        ready()
        while not sig.stop.is_set():
            if not conn.recv_more(sig.deadline, poll=POLL_SECONDS):
                continue
            out = []
            while (msg := conn.parse_msg()) is not None:
                reply, payload = msg
                if reply:
                    out.append(b"PUB %s %d\r\n%s\r\n" % (reply, len(payload), payload))
            if out:
                conn.sock.sendall(b"".join(out))
                served += len(out)
    finally:
        conn.close()
    return {"served": served}


def _requester(
    sig: Signals, ready: Callable[[], None], endpoint: Endpoint, subject: str, count: int, size: int
) -> dict[str, Any]:
    """Sequential requests; one latency sample per round trip."""
    inbox = f"_INBOX.bench.{os.getpid()}"
    conn = RawConn.open(endpoint, "pynats-bench-requester", sig.deadline, subs=((inbox, 1),))
    frame = f"PUB {subject} {inbox} {size}\r\n".encode() + make_payload(size) + b"\r\n"
    samples = [0] * count
    sendall = conn.sock.sendall
    clock = time.perf_counter_ns
    try:
        ready()
        wait_go(sig)
        start = time.monotonic_ns()
        for i in range(count):
            t0 = clock()
            sendall(frame)
            _reply, payload = conn.read_msg(sig.deadline)
            samples[i] = clock() - t0
            if len(payload) != size:
                raise BenchError(f"reply {i} has {len(payload)} bytes, expected {size}")
        end = time.monotonic_ns()
    finally:
        conn.close()
    return {"msgs": count, "start_ns": start, "end_ns": end, "samples": samples}


def run_pubsub(
    endpoint: Endpoint,
    *,
    scenario: str = "pubsub",
    msgs: int,
    size: int,
    pubs: int = 1,
    subs: int = 1,
    subject: str = "bench",
    subjects: int = 1,
    timeout: float = 60.0,
    sub_endpoint: Endpoint | None = None,
    before_publish: Callable[[], None] | None = None,
) -> BenchResult:
    """``msgs`` messages split over ``pubs`` publishers; each of ``subs`` subscribers expects all.

    ``sub_endpoint`` puts the subscribers on another server (across a route); then
    ``before_publish`` runs once they are ready (to wait until their interest got there)."""
    if msgs < 1 or pubs < 1 or subs < 0 or size < 0 or not 1 <= subjects <= MAX_SUBJECTS:
        raise BenchError("invalid parameters")
    pub_subjects, sub_subject = bench_subjects(subject, subjects)
    result = BenchResult(
        scenario=scenario,
        server=f"nats://{endpoint.host}:{endpoint.port}",
        params={
            "msgs": msgs,
            "size": size,
            "pubs": pubs,
            "subs": subs,
            "subject": subject,
            "subjects": subjects,
        },
        expected_per_sub=msgs if subs else 0,
    )
    try:
        with Coordinator(timeout) as co:
            sub_keys = [("sub", i) for i in range(subs)]
            pub_keys = [("pub", i) for i in range(pubs)]
            for _, i in sub_keys:
                co.start(
                    "sub",
                    i,
                    _subscriber,
                    sub_endpoint or endpoint,
                    sub_subject,
                    msgs,
                    size,
                    f"pynats-bench-sub-{i}",
                    sub_endpoint is not None,
                )
            co.wait("ready", sub_keys)
            if before_publish is not None:
                before_publish()
            for (_, i), count in zip(pub_keys, split_evenly(msgs, pubs), strict=True):
                co.start("pub", i, _publisher, endpoint, pub_subjects, size, count, f"pynats-bench-pub-{i}")
            co.wait("ready", pub_keys)
            co.sig.go.set()
            pub_results = co.wait("result", pub_keys)
            co.sig.pubs_done.set()
            sub_results = co.wait("result", sub_keys)
    except BenchError as exc:
        result.errors.append(str(exc))
        return result
    pub_parts = [pub_results[k] for k in pub_keys]
    sub_parts = [sub_results[k] for k in sub_keys]
    result.pub = Rate.over(pub_parts)
    result.pub_clients = [Rate.over([p]) for p in pub_parts]
    if subs:
        result.sub = Rate.over(sub_parts)
        result.sub_clients = [Rate.over([p]) for p in sub_parts]
        result.received = [p["msgs"] for p in sub_parts]
    for i, got in enumerate(result.received):
        if got != msgs:
            result.errors.append(f"subscriber {i} received {got} messages, expected {msgs}")
    result.ok = not result.errors
    return result


def run_request(
    endpoint: Endpoint,
    *,
    msgs: int,
    size: int,
    subject: str = "bench.req",
    timeout: float = 60.0,
    responder: Endpoint | None = None,
    responder_subject: str | None = None,
) -> BenchResult:
    """One responder, one requester, ``msgs`` sequential round trips. ``responder`` and
    ``responder_subject`` put the responder elsewhere (another account's service import)."""
    if msgs < 1 or size < 0:
        raise BenchError("invalid parameters")
    result = BenchResult(
        scenario="request",
        server=f"nats://{endpoint.host}:{endpoint.port}",
        params={"msgs": msgs, "size": size, "subject": subject},
    )
    try:
        with Coordinator(timeout) as co:
            co.start("responder", 0, _responder, responder or endpoint, responder_subject or subject)
            co.wait("ready", [("responder", 0)])
            co.start("requester", 0, _requester, endpoint, subject, msgs, size)
            co.wait("ready", [("requester", 0)])
            co.sig.go.set()
            req = co.wait("result", [("requester", 0)])[("requester", 0)]
            co.sig.stop.set()
            co.wait("result", [("responder", 0)])
    except BenchError as exc:
        result.errors.append(str(exc))
        return result
    samples: list[int] = req.pop("samples")
    result.requests = Rate.over([{**req, "bytes": 2 * size * req["msgs"]}])
    result.latency = Latency.of(samples)
    result.received = [len(samples)]
    result.expected_per_sub = msgs
    if len(samples) != msgs:
        result.errors.append(f"{len(samples)} replies, expected {msgs}")
    result.ok = not result.errors
    return result
