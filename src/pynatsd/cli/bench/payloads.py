"""Realistic payloads for storage benchmarks: distinct JSON documents of an exact size.

A fixed repeated payload compresses to almost nothing and would flatter ``compression:
s2``; these are order events with random ids, amounts, timestamps and a free-text note
(words from a small vocabulary), each different, so a compressor sees what a real
stream of JSON events gives it.
"""

from __future__ import annotations

import json
import random

_WORDS = [
    "customer",
    "asked",
    "for",
    "delivery",
    "before",
    "noon",
    "please",
    "call",
    "on",
    "arrival",
    "gift",
    "wrap",
    "leave",
    "at",
    "the",
    "front",
    "desk",
    "fragile",
    "handle",
    "with",
    "care",
    "invoice",
    "to",
    "head",
    "office",
    "reference",
    "attached",
    "second",
    "attempt",
    "address",
    "updated",
    "backorder",
    "partial",
    "shipment",
    "express",
    "priority",
    "standard",
]
_REGIONS = ("eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-northeast")
_STATUS = ("created", "paid", "packed", "shipped", "delivered", "returned")


def json_payloads(size: int, count: int, seed: int = 1) -> list[bytes]:
    """``count`` distinct JSON documents of exactly ``size`` bytes each (``size`` >= 200)."""
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        doc: dict[str, object] = {
            "event": "order." + rnd.choice(_STATUS),
            "order_id": f"{rnd.getrandbits(64):016x}",
            "seq": i,
            "customer": {"id": rnd.randrange(1_000_000), "region": rnd.choice(_REGIONS)},
            "amount": round(rnd.uniform(1, 5000), 2),
            "currency": rnd.choice(("EUR", "USD", "GBP", "JPY")),
            "ts": f"2026-12-07T{rnd.randrange(24):02d}:{rnd.randrange(60):02d}:{rnd.randrange(60):02d}."
            f"{rnd.randrange(10**6):06d}Z",
            "items": [],
        }
        items: list[dict[str, object]] = []
        while True:
            item = {"sku": f"SKU-{rnd.randrange(100_000):05d}", "qty": rnd.randrange(1, 12)}
            doc["items"] = [*items, item]
            if len(json.dumps(doc, separators=(",", ":"))) > size * 2 // 3:
                break
            items.append(item)
        doc["items"] = items
        raw = json.dumps(doc, separators=(",", ":"))
        room = size - len(raw) - len(',"note":""')
        words: list[str] = []
        while len(words) + sum(map(len, words)) <= room:  # joined, one longer than room
            words.append(rnd.choice(_WORDS))
        note = " ".join(words)[: max(room, 0)]
        data = (raw[:-1] + f',"note":"{note}"}}').encode()
        out.append(data[:size] if len(data) > size else data)
    return out
