"""``pynats bench`` against the reference server: counts must be exact, timing is not checked."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from pynatsd.cli.bench.protocol import (
    MSG_MARKER,
    FrameWalker,
    MarkerCounter,
    StreamCounter,
    frame_counter,
    make_payload,
)
from pynatsd.cli.client_options import Endpoint, parse_server_url
from tests.support.binary import require_reference
from tests.support.launcher import child_env, free_port, start_server


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """The reference server: the load generator is tested against the server it measures."""
    require_reference()
    server = start_server("reference")
    try:
        yield server.url
    finally:
        server.stop()


def run_bench(url: str, *args: str, expect_ok: bool = True) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "pynatsd.cli.pynats", "-s", url, "bench", *args, "--timeout", "30", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
        check=False,
    )
    assert (proc.returncode == 0) == expect_ok, proc.stdout + proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    assert result["ok"] is expect_ok, result["errors"]
    return result


# --------------------------------------------------------------------------- end to end


def test_pub_only_counts_every_publisher(server_url: str) -> None:
    result = run_bench(server_url, "pub", "--msgs", "1001", "--pubs", "2", "--size", "64")
    assert [c["msgs"] for c in result["pub_clients"]] == [501, 500]
    assert result["pub"]["msgs"] == 1001
    assert result["pub"]["bytes"] == 1001 * 64
    assert result["sub"] is None


def test_pubsub_receives_exactly(server_url: str) -> None:
    result = run_bench(server_url, "pubsub", "--msgs", "20000", "--size", "100")
    assert result["received"] == [20000]
    assert result["sub"]["msgs"] == 20000


def test_fanout_over_spread_subjects(server_url: str) -> None:
    """Several publishers over 7 subjects, 3 wildcard subscribers: each gets every message once."""
    result = run_bench(
        server_url,
        "fanout",
        "--msgs",
        "3001",
        "--subs",
        "3",
        "--pubs",
        "2",
        "--subjects",
        "7",
        "--subject",
        "t.MSG",
    )
    assert result["received"] == [3001, 3001, 3001]
    assert result["params"]["subjects"] == 7


@pytest.mark.parametrize(("size", "msgs"), [(0, 777), (70_000, 40)])
def test_pubsub_edge_sizes(server_url: str, size: int, msgs: int) -> None:
    """Empty payloads, and payloads larger than a socket read, both count exactly."""
    result = run_bench(server_url, "pubsub", "--msgs", str(msgs), "--size", str(size))
    assert result["received"] == [msgs]


def test_blocks_and_pings_cover_remainders(server_url: str) -> None:
    """More than one pre-built block plus a partial one, with flow-control PINGs in between."""
    result = run_bench(server_url, "pubsub", "--msgs", "100003", "--size", "512", "--subjects", "3")
    assert result["received"] == [100003]


def test_request_reply_round_trips(server_url: str) -> None:
    result = run_bench(server_url, "request", "--msgs", "300", "--size", "32")
    assert result["received"] == [300]
    lat = result["latency"]
    assert lat["count"] == 300
    assert 0 < lat["min_us"] <= lat["p50_us"] <= lat["p90_us"] <= lat["p99_us"] <= lat["max_us"]


def test_unreachable_server_fails_cleanly() -> None:
    result = run_bench(f"nats://127.0.0.1:{free_port()}", "pubsub", "--msgs", "10", expect_ok=False)
    assert any("cannot connect" in e for e in result["errors"])


# --------------------------------------------------------------------------- frame counting


def _msg_frames() -> tuple[bytes, int]:
    """A realistic subscriber stream, with subjects and control lines that resemble markers."""
    parts: list[bytes] = []
    frames = 0
    subjects = [b"foo", b"MSG", b"a.MSG", b"xMSG.y", b"PONG"]
    for i, size in enumerate([0, 1, 5, 6, 7, 13, 0, 40, 2, 3]):
        subject = subjects[i % len(subjects)]
        reply = b" _INBOX.r" if i % 3 == 0 else b""
        parts.append(b"MSG %s %d%s %d\r\n%s\r\n" % (subject, i + 1, reply, size, make_payload(size)))
        frames += 1
        if i % 4 == 1:
            parts.append(b"PING\r\n")
    return b"".join(parts), frames


def test_payload_cannot_contain_marker() -> None:
    assert b"\n" not in make_payload(10_000)
    assert len(make_payload(0)) == 0
    assert len(make_payload(1234)) == 1234


COUNTERS = [MarkerCounter, FrameWalker]


def test_counter_choice() -> None:
    assert isinstance(frame_counter(128), MarkerCounter)
    assert isinstance(frame_counter(16384), FrameWalker)


@pytest.mark.parametrize("counter_cls", COUNTERS)
def test_counter_whole_stream(counter_cls: type[StreamCounter]) -> None:
    stream, frames = _msg_frames()
    assert counter_cls().feed(stream) == frames
    assert stream.count(MSG_MARKER) == frames - 1  # the first frame follows the handshake's PONG


@pytest.mark.parametrize("counter_cls", COUNTERS)
def test_counter_every_two_way_split(counter_cls: type[StreamCounter]) -> None:
    stream, frames = _msg_frames()
    for i in range(len(stream) + 1):
        counter = counter_cls(bufsize=512)
        assert counter.feed(stream[:i]) + counter.feed(stream[i:]) == frames, i


@pytest.mark.parametrize("counter_cls", COUNTERS)
def test_counter_every_three_way_split(counter_cls: type[StreamCounter]) -> None:
    stream, _ = _msg_frames()
    stream = stream[: stream.index(b"\nMSG ", 100) + 1]  # whole frames only, ~100 bytes
    frames = stream.count(b"\nMSG ") + 1
    for i in range(len(stream) + 1):
        for j in range(i, len(stream) + 1):
            counter = counter_cls(bufsize=64)
            got = counter.feed(stream[:i]) + counter.feed(stream[i:j]) + counter.feed(stream[j:])
            assert got == frames, (i, j)


@pytest.mark.parametrize("counter_cls", COUNTERS)
@pytest.mark.parametrize("bufsize", [1, 2, 3, 5, 8, 64])
def test_counter_small_buffers(counter_cls: type[StreamCounter], bufsize: int) -> None:
    """Receive buffers smaller than the marker itself: every byte is its own piece."""
    stream, frames = _msg_frames()
    assert counter_cls(bufsize=bufsize).feed(stream) == frames


@pytest.mark.parametrize("counter_cls", COUNTERS)
def test_counter_stops_at_pong_for_every_split(counter_cls: type[StreamCounter]) -> None:
    stream, frames = _msg_frames()
    extra = b"MSG foo 1 2\r\nab\r\n"
    full = stream + b"PONG\r\n" + extra
    for i in range(len(full) + 1):
        counter = counter_cls(bufsize=512)
        before, pong = counter.feed_until_pong(full[:i])
        if not pong:
            after, pong = counter.feed_until_pong(full[i:])
            before += after
        assert pong, i
        assert before == frames, i


@pytest.mark.parametrize("counter_cls", COUNTERS)
def test_counter_no_pong_in_frames(counter_cls: type[StreamCounter]) -> None:
    stream, frames = _msg_frames()
    assert counter_cls().feed_until_pong(stream) == (frames, False)


def test_walker_needs_no_special_payload() -> None:
    """Payloads full of marker look-alikes only fool the marker counter, not the walker."""
    payload = b"\nMSG \r\nPONG\r\n" * 3
    stream = b"MSG a 1 %d\r\n%s\r\n" % (len(payload), payload) * 5 + b"PONG\r\n"
    for i in range(len(stream) + 1):
        walker = FrameWalker(bufsize=32)
        assert walker.feed_until_pong(stream[:i])[0] + walker.feed_until_pong(stream[i:])[0] == 5, i


@pytest.mark.parametrize("counter_cls", COUNTERS)
def test_counter_over_a_socket(counter_cls: type[StreamCounter]) -> None:
    """The hot path: recv_into into the buffer, with the sender's writes split at odd sizes."""
    stream, frames = _msg_frames()
    data = stream * 50
    a, b = socket.socketpair()
    with a, b:

        def send() -> None:
            for start in range(0, len(data), 7):
                a.sendall(data[start : start + 7])
            a.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        b.settimeout(10)
        counter = counter_cls(bufsize=11)
        total = 0
        while n := counter.recv(b):
            total += counter.count(n)
        sender.join(10)
    assert total == frames * 50


# --------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "user", "password", "expected"),
    [
        ("nats://127.0.0.1:4333", None, None, Endpoint("127.0.0.1", 4333)),
        ("localhost", None, None, Endpoint("localhost", 4222)),
        ("127.0.0.1:5000", None, None, Endpoint("127.0.0.1", 5000)),
        ("nats://u:p%40ss@h:1", None, None, Endpoint("h", 1, user="u", password="p@ss")),
        ("nats://s3cret@h:1", None, None, Endpoint("h", 1, token="s3cret")),
        ("nats://u:p@h:1", "v", "q", Endpoint("h", 1, user="v", password="q")),
        ("nats://h:1", "tok", None, Endpoint("h", 1, token="tok")),
    ],
)
def test_parse_server_url(url: str, user: str | None, password: str | None, expected: Endpoint) -> None:
    assert parse_server_url(url, user, password) == expected
