"""Stream and consumer configuration rules around ``consumer_limits``, ``first_seq`` and
metadata/description sizes (counted in UTF-8 bytes, as Go does): the same conversations
against the reference and pynatsd must give the same JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import jetstream_server
from tests.support.jetstream import Step, converse

SEC = 1_000_000_000
LIMITED: dict[str, Any] = {
    "name": "L",
    "subjects": ["l.>"],
    "consumer_limits": {"inactive_threshold": 10 * SEC, "max_ack_pending": 50},
}
META_MAX = 128 * 1024


def consumer(name: str, **cfg: Any) -> Step:
    return (
        f"$JS.API.CONSUMER.CREATE.L.{name}",
        {"stream_name": "L", "config": {"durable_name": name, **cfg}},
    )


SCENARIOS: dict[str, list[Step]] = {
    "consumer limits": [
        ("$JS.API.STREAM.CREATE.L", LIMITED),
        consumer("D"),
        consumer("HIGH", max_ack_pending=100),
        consumer("LONG", inactive_threshold=20 * SEC),
        consumer("LOW", max_ack_pending=20, inactive_threshold=5 * SEC),
        ("$JS.API.STREAM.UPDATE.L", {**LIMITED, "consumer_limits": {"max_ack_pending": 30}}),
        ("$JS.API.STREAM.UPDATE.L", {**LIMITED, "consumer_limits": {"max_ack_pending": 10}}),
        ("$JS.API.STREAM.UPDATE.L", {**LIMITED, "consumer_limits": {"inactive_threshold": 1 * SEC}}),
        ("$JS.API.STREAM.UPDATE.L", {**LIMITED, "consumer_limits": {"max_ack_pending": 50}}),
        ("$JS.API.STREAM.UPDATE.L", {**LIMITED, "consumer_limits": {}}),
        ("$JS.API.STREAM.UPDATE.L", {**LIMITED, "consumer_limits": {"max_ack_pending": 70}}),
        consumer("HIGH", max_ack_pending=100),
        ("$JS.API.STREAM.INFO.L", None),
    ],
    "consumer limits added later": [
        ("$JS.API.STREAM.CREATE.L", {"name": "L", "subjects": ["l.>"]}),
        consumer("D"),
        consumer("X", inactive_threshold=60 * SEC, max_ack_pending=10),
        (
            "$JS.API.STREAM.UPDATE.L",
            {"name": "L", "subjects": ["l.>"], "consumer_limits": {"max_ack_pending": 100}},
        ),
        (
            "$JS.API.STREAM.UPDATE.L",
            {"name": "L", "subjects": ["l.>"], "consumer_limits": {"inactive_threshold": 5 * SEC}},
        ),
        (
            "$JS.API.STREAM.UPDATE.L",
            {"name": "L", "subjects": ["l.>"], "consumer_limits": {"inactive_threshold": 90 * SEC}},
        ),
        (
            "$JS.API.STREAM.UPDATE.L",
            {
                "name": "L",
                "subjects": ["l.>"],
                "consumer_limits": {"inactive_threshold": 90 * SEC, "max_ack_pending": 5},
            },
        ),
        ("$JS.API.STREAM.INFO.L", None),
    ],
    "first seq": [
        ("$JS.API.STREAM.CREATE.F", {"name": "F", "first_seq": 100}),
        ("F", b"one"),
        ("$JS.API.STREAM.INFO.F", None),
        ("$JS.API.STREAM.UPDATE.F", {"name": "F", "first_seq": 5}),
        ("$JS.API.STREAM.UPDATE.F", {"name": "F", "first_seq": 100}),
        ("$JS.API.STREAM.PURGE.F", {}),
        ("F", b"two"),
        ("$JS.API.STREAM.INFO.F", None),
        ("$JS.API.STREAM.CREATE.G", {"name": "G", "first_seq": 18446744073709551615}),
        ("$JS.API.STREAM.CREATE.H", {"name": "H", "first_seq": -1}),
    ],
    "sizes": [
        ("$JS.API.STREAM.CREATE.M", {"name": "M", "metadata": {"k": "v" * (META_MAX - 17)}}),
        ("$JS.API.STREAM.DELETE.M", None),
        ("$JS.API.STREAM.CREATE.M", {"name": "M", "metadata": {"k": "v" * (META_MAX - 16)}}),
        ("$JS.API.STREAM.CREATE.M", {"name": "M", "metadata": {"k": "\u00e9" * (META_MAX // 2)}}),
        ("$JS.API.STREAM.CREATE.M", {"name": "M", "description": "\u00e9" * 2049}),
        ("$JS.API.STREAM.CREATE.M", {"name": "M", "description": "\u00e9" * 2048}),
        ("$JS.API.STREAM.UPDATE.M", {"name": "M", "metadata": {"k": "\u00e9" * (META_MAX // 2)}}),
        ("$JS.API.STREAM.UPDATE.M", {"name": "M", "metadata": {"_nats.req.level": "9", "a": "b"}}),
        (
            "$JS.API.CONSUMER.CREATE.M.C",
            {
                "stream_name": "M",
                "config": {"durable_name": "C", "metadata": {"k": "\u00e9" * (META_MAX // 2)}},
            },
        ),
        (
            "$JS.API.CONSUMER.CREATE.M.C",
            {"stream_name": "M", "config": {"durable_name": "C", "metadata": {"x": "y"}}},
        ),
        ("$JS.API.STREAM.CREATE." + "\u00e9" * 128, {"name": "\u00e9" * 128}),
        ("$JS.API.STREAM.CREATE." + "\u00e9" * 129, {"name": "\u00e9" * 129}),
    ],
}


_VIOLATES = "change to limits violates consumers: "


def _sorted_names(reply: Any) -> Any:
    """The reference lists violating consumers in Go map order (random): compare them sorted."""
    desc = reply.get("error", {}).get("description", "") if isinstance(reply, dict) else ""
    if desc.startswith(_VIOLATES):
        reply["error"]["description"] = _VIOLATES + ", ".join(sorted(desc[len(_VIOLATES) :].split(", ")))
    return reply


def _consumer_meta(n: int) -> Step:
    cfg = {"durable_name": f"C{n}", "metadata": {"k": "v" * (n - 1)}}
    return (f"$JS.API.CONSUMER.CREATE.M.C{n}", {"stream_name": "M", "config": cfg})


# metadata limits at the byte: counted as stored (with "_nats.req.level": "0", 16 bytes), an
# update's request also as sent (so a big "_nats.ver" fails an update, not a create)
SCENARIOS["metadata bounds"] = [
    ("$JS.API.STREAM.CREATE.M", {"name": "M"}),
    *(_consumer_meta(n) for n in (META_MAX - 17, META_MAX - 16, META_MAX - 15, META_MAX)),
    *(
        ("$JS.API.STREAM.UPDATE.M", {"name": "M", "metadata": {"k": "v" * (n - 1)}})
        for n in (META_MAX - 17, META_MAX - 16, META_MAX - 15)
    ),
    ("$JS.API.STREAM.UPDATE.M", {"name": "M", "metadata": {"_nats.ver": "v" * (META_MAX - 8)}}),
    ("$JS.API.STREAM.CREATE.N", {"name": "N", "metadata": {"_nats.ver": "v" * (META_MAX - 8)}}),
]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_config_rules_match_reference(name: str, tmp_path: Path) -> None:
    results = {}
    for kind in ("reference", "pynatsd"):
        async with jetstream_server(kind, tmp_path / kind) as url:
            results[kind] = [_sorted_names(r) for r in await converse(url, SCENARIOS[name])]
    for i, (ref, ours) in enumerate(zip(results["reference"], results["pynatsd"], strict=True)):
        assert ours == ref, f"step {i}: {str(SCENARIOS[name][i])[:200]}"
