"""The same JetStream API conversation against the reference and pynatsd: the JSON must agree
once times and server ids are replaced by placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import jetstream_server
from tests.support.jetstream import Step, converse

T = 10.0

SCENARIOS: dict[str, list[Step]] = {
    "lifecycle": [
        ("$JS.API.INFO", None),
        (
            "$JS.API.STREAM.CREATE.ORDERS",
            {"name": "ORDERS", "subjects": ["orders.>"], "max_msgs_per_subject": 5},
        ),
        (
            "$JS.API.STREAM.CREATE.ORDERS",
            {"name": "ORDERS", "subjects": ["orders.>"], "max_msgs_per_subject": 5},
        ),
        ("orders.new", b"one"),
        ("orders.new", b"two", {"Nats-Msg-Id": "x"}),
        ("orders.new", b"two", {"Nats-Msg-Id": "x"}),
        ("orders.paid", b"three"),
        ("$JS.API.STREAM.INFO.ORDERS", None),
        ("$JS.API.STREAM.INFO.ORDERS", {"subjects_filter": ">"}),
        ("$JS.API.STREAM.MSG.GET.ORDERS", {"seq": 2}),
        ("$JS.API.STREAM.MSG.GET.ORDERS", {"last_by_subj": "orders.new"}),
        ("$JS.API.STREAM.MSG.GET.ORDERS", {"seq": 1, "next_by_subj": "orders.paid"}),
        ("$JS.API.STREAM.MSG.DELETE.ORDERS", {"seq": 1}),
        ("$JS.API.STREAM.MSG.DELETE.ORDERS", {"seq": 1}),
        ("$JS.API.STREAM.MSG.DELETE.ORDERS", {"seq": 99}),
        ("$JS.API.STREAM.INFO.ORDERS", {"deleted_details": True}),
        ("$JS.API.STREAM.NAMES", {}),
        ("$JS.API.STREAM.LIST", {}),
        ("$JS.API.STREAM.UPDATE.ORDERS", {"name": "ORDERS", "subjects": ["orders.>"], "max_msgs": 1}),
        ("$JS.API.STREAM.PURGE.ORDERS", {}),
        ("$JS.API.STREAM.INFO.ORDERS", None),
        ("$JS.API.INFO", None),
        ("$JS.API.STREAM.DELETE.ORDERS", None),
        ("$JS.API.STREAM.INFO.ORDERS", None),
    ],
    "errors": [
        ("$JS.API.STREAM.CREATE.A", {"name": "B"}),
        ("$JS.API.STREAM.CREATE.A", b"{bad json"),
        ("$JS.API.STREAM.CREATE.A", {"name": "A", "bogus": 1}),
        ("$JS.API.STREAM.CREATE.A", {"name": "A", "max_age": -1}),
        ("$JS.API.STREAM.CREATE.A", {"name": "A", "subjects": ["a", "a"]}),
        ("$JS.API.STREAM.CREATE.A", {"name": "A", "subjects": [">"]}),
        ("$JS.API.STREAM.CREATE.A", {"name": "A", "num_replicas": 3}),
        ("$JS.API.STREAM.CREATE.A", {"name": "A", "retention": "nope"}),
        ("$JS.API.STREAM.CREATE.A", {"name": "A", "max_msgs": 0, "pedantic": True}),
        ("$JS.API.STREAM.CREATE.A", {"name": "A", "duplicate_window": 5000000000, "max_age": 1000000000}),
        ("$JS.API.STREAM.CREATE.A", {"name": "A", "sealed": True}),
        ("$JS.API.STREAM.CREATE.A", {"name": "A", "subjects": ["a.*"]}),
        ("$JS.API.STREAM.CREATE.B", {"name": "B", "subjects": ["a.b"]}),
        ("$JS.API.STREAM.UPDATE.A", {"name": "A", "subjects": ["a.*"], "storage": "memory"}),
        ("$JS.API.STREAM.UPDATE.NOPE", {"name": "NOPE"}),
        ("$JS.API.STREAM.DELETE.A", b"junk"),
        ("$JS.API.STREAM.PURGE.A", {"seq": 2, "keep": 1}),
        ("$JS.API.STREAM.MSG.GET.A", {}),
        ("$JS.API.STREAM.MSG.GET.A", {"seq": 1}),
        ("$JS.API.STREAM.BOGUS.A", {}),
        ("a.x", b"m", {"Nats-Expected-Last-Sequence": "7"}),
        ("a.x", b"m", {"Nats-Rollup": "all"}),
        ("a.x", b"m", {"Nats-TTL": "1s"}),
    ],
    "direct": [
        (
            "$JS.API.STREAM.CREATE.KV",
            {"name": "KV", "subjects": ["kv.>"], "allow_direct": True, "max_msgs_per_subject": 1},
        ),
        ("kv.a", b"1", {"X-Hdr": "h"}),
        ("kv.a", b"2"),
        ("kv.b", b"3"),
        ("$JS.API.DIRECT.GET.KV", {"seq": 2}),
        ("$JS.API.DIRECT.GET.KV.kv.b", None),
        ("$JS.API.DIRECT.GET.KV", {"last_by_subj": "kv.a"}),
        ("$JS.API.DIRECT.GET.KV", {"seq": 1}),
        ("$JS.API.DIRECT.GET.KV", {}),
        ("$JS.API.DIRECT.GET.NOPE", {"seq": 1}),
        ("$JS.API.STREAM.INFO.KV", {"subjects_filter": "kv.*"}),
    ],
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_api_conversation_matches_reference(name: str, tmp_path: Path) -> None:
    results = {}
    for kind in ("reference", "pynatsd"):
        async with jetstream_server(kind, tmp_path / kind) as url:
            results[kind] = await converse(url, SCENARIOS[name])
    for i, (ref, ours) in enumerate(zip(results["reference"], results["pynatsd"], strict=True)):
        assert ours == ref, f"step {i}: {SCENARIOS[name][i][:2]}"
