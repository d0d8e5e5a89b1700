"""``pynats bench kv`` counts exactly: every put acknowledged, every get the latest value."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import pynatsd
from pynatsd.cli.bench.kv import header_status, read_reply, run_kv
from pynatsd.cli.bench.protocol import RawConn
from pynatsd.cli.client_options import parse_server_url
from tests.support import jetstream_server

SRC = Path(pynatsd.__file__).absolute().parents[1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"storage": "memory", "api": "msg-get"},
        {"keys": 7, "history": 3, "gets": 50},  # overwrites: gets must see the latest value
        {"size": 0, "gets": 0},
        {"size": 5, "keys": 500},  # values too short to carry the put number; more keys than puts
    ],
)
async def test_kv_bench_counts(kwargs: dict[str, Any], tmp_path: Path) -> None:
    async with pynatsd.Server(jetstream=True, store_dir=str(tmp_path)) as srv:
        endpoint = parse_server_url(srv.client_url)
        params: dict[str, Any] = {"size": 32, **kwargs}
        result = await asyncio.to_thread(run_kv, endpoint, msgs=301, timeout=30.0, **params)
        assert result.ok, result.errors
        gets = kwargs.get("gets", 301)
        assert result.received == ([301, gets] if gets else [301])
        assert result.pub is not None and result.pub.msgs == 301
        assert result.put_latency is not None and result.put_latency.count == 301
        if gets:
            assert result.requests is not None and result.requests.msgs == gets
            assert result.latency is not None and result.latency.count == gets
        else:
            assert result.requests is None and result.latency is None
        assert srv.jetstream is not None and not srv.jetstream.streams  # the bucket is deleted afterwards


async def test_kv_bench_on_the_reference(tmp_path: Path) -> None:
    async with jetstream_server("reference", tmp_path) as url:
        result = await asyncio.to_thread(
            run_kv, parse_server_url(url), msgs=200, size=64, keys=50, timeout=30.0
        )
    assert result.ok, result.errors
    assert result.received == [200, 200]


def test_kv_command_json(tmp_path: Path) -> None:
    """``pynats bench kv --json`` through the real command line, as the harness runs it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with pynatsd.Server(jetstream=True, store_dir=str(tmp_path)) as srv:
        argv = [sys.executable, "-m", "pynatsd.cli.pynats", "-s", srv.client_url, "bench", "kv"]
        argv += ["--msgs", "120", "--size", "16", "--storage", "memory", "--timeout", "30", "--json"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True and result["scenario"] == "kv-memory"
    assert result["received"] == [120, 120]
    assert result["pub"]["msgs"] == 120 and result["requests"]["msgs"] == 120
    for key in ("put_latency", "latency"):
        assert result[key]["count"] == 120 and result[key]["p99_us"] >= result[key]["p50_us"] > 0


def test_kv_bench_refuses_a_missing_server() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_kv(parse_server_url(f"127.0.0.1:{port}"), msgs=5, size=8, timeout=5.0)
    assert not result.ok and "cannot connect" in result.errors[0]


def test_read_reply_across_reads() -> None:
    """MSG and HMSG replies, with a PING in between, parse the same wherever the bytes already
    read end and the bytes still on the socket begin."""
    hdr1 = b"NATS/1.0\r\nNats-Seq: 5\r\n\r\n"
    hdr2 = b"NATS/1.0 404 Message Not Found\r\n\r\n"
    frames = (
        b"MSG _INBOX.x 1 2\r\nok\r\nPING\r\n"
        + b"HMSG _INBOX.x 1 _R %d %d\r\n%bvalue\r\n" % (len(hdr1), len(hdr1) + 5, hdr1)
        + b"HMSG _INBOX.x 1 %d %d\r\n%b\r\n" % (len(hdr2), len(hdr2), hdr2)
    )
    for split in range(len(frames)):
        left, right = socket.socketpair()
        with left, right:
            conn = RawConn(left)
            conn.buf += frames[:split]
            right.sendall(frames[split:])
            deadline = time.monotonic() + 10
            assert read_reply(conn, deadline) == (b"", b"ok")
            hdr, payload = read_reply(conn, deadline)
            assert payload == b"value" and hdr == hdr1 and header_status(hdr) == ""
            hdr, payload = read_reply(conn, deadline)
            assert payload == b"" and header_status(hdr) == "404 Message Not Found"
            assert not conn.buf
            assert right.recv(100) == b"PONG\r\n"  # the PING in between was answered
