"""The JetStream benchmarks count exactly: every PubAck, every consumed message."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import pynatsd
from pynatsd.cli.bench.jetstream import run_js_consume, run_js_pub
from pynatsd.cli.bench.mirror import run_js_mirror
from pynatsd.cli.client_options import parse_server_url


@pytest.mark.parametrize(
    ("runner", "kwargs"),
    [
        (run_js_pub, {"storage": "file"}),
        (run_js_pub, {"storage": "memory", "window": 7}),
        (run_js_pub, {"mode": "sync"}),
        (run_js_consume, {"mode": "fetch", "batch": 13}),
        (run_js_consume, {"mode": "fetch", "ack": True}),
        (run_js_consume, {"mode": "push"}),
        (run_js_mirror, {}),
        (run_js_mirror, {"storage": "memory"}),
    ],
)
async def test_js_bench_counts(runner, kwargs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with pynatsd.Server(jetstream=True, store_dir=str(tmp_path)) as srv:
        endpoint = parse_server_url(srv.client_url)
        result = await asyncio.to_thread(runner, endpoint, msgs=301, size=32, timeout=30.0, **kwargs)
        assert result.ok, result.errors
        assert result.received == [301]
        # the bench stream is deleted afterwards
        assert srv.jetstream is not None and not srv.jetstream.streams


@pytest.mark.parametrize("mode", ["async", "sync"])
async def test_js_pub_json_payloads_compression_and_keep(mode: str, tmp_path: Path) -> None:
    """``--payload json --compression s2 --keep``: distinct JSON documents of the given
    size are stored, the stream is created compressed and left in place."""
    async with pynatsd.Server(jetstream=True, store_dir=str(tmp_path)) as srv:
        endpoint = parse_server_url(srv.client_url)
        result = await asyncio.to_thread(
            run_js_pub,
            endpoint,
            msgs=1203,
            size=512,
            timeout=30.0,
            mode=mode,
            window=100,
            payload="json",
            compression="s2",
            keep=True,
        )
        assert result.ok, result.errors
        assert result.received == [1203]
        assert srv.jetstream is not None
        stream = srv.jetstream.streams["JSBENCH"]
        assert stream.config.compression == "s2"
        datas = [m.data for m in stream.store.load_batch([], 1, 1203)]
        assert len(datas) == 1203 and all(len(d) == 512 for d in datas)
        assert len(set(datas)) == 1203  # all different
        assert all(d.startswith(b'{"event":"order.') and d.endswith(b'"}') for d in datas)
