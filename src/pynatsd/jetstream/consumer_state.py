"""A consumer's durable state: what survives a restart, and its file.

``meta.json`` in the consumer's directory holds its name, creation time, config and state
(delivered and ack floor sequences, the pending set, redelivery counts). It is written
msgspec-encoded to a temporary file and renamed over the old one, so a crash leaves the
old or the new state, never a torn one; with ``sync_interval: always`` it is fsynced
first, before any AckSync it records is answered.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from pynatsd.jetstream import schemas as S


@dataclass(slots=True)
class Pending:
    """A delivered, not yet acknowledged message."""

    cseq: int
    ts: int  # ns when last delivered (ack_wait counts from here)
    deliveries: int
    first_cseq: int = 0  # consumer sequence of the first delivery (ack floor arithmetic)


@dataclass
class ConsumerState:
    """What survives a restart: delivered and ack floor sequences and the pending set."""

    delivered_cseq: int = 0
    delivered_sseq: int = 0
    ack_floor_cseq: int = 0
    ack_floor_sseq: int = 0
    pending: dict[int, Pending] = field(default_factory=dict)
    redelivered: dict[int, int] = field(default_factory=dict)


def write_consumer_meta(
    directory: Path,
    name: str,
    created: int,
    config: S.ConsumerConfig,
    state: ConsumerState,
    sync: bool,
) -> None:
    """Replace ``directory/meta.json`` (the directory exists); fsync first when ``sync``."""
    tmp = directory / "meta.json.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, encode_consumer_meta(name, created, config, state))
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, directory / "meta.json")


def encode_consumer_meta(name: str, created: int, config: S.ConsumerConfig, state: ConsumerState) -> bytes:
    """The ``meta.json`` bytes (also what a stream snapshot carries for the consumer)."""
    meta = {
        "name": name,
        "created": created,
        "config": config,
        "state": {
            "delivered": [state.delivered_cseq, state.delivered_sseq],
            "ack_floor": [state.ack_floor_cseq, state.ack_floor_sseq],
            "pending": [[s, p.cseq, p.ts, p.deliveries] for s, p in state.pending.items()],
            "redelivered": [[s, n] for s, n in state.redelivered.items()],
        },
    }
    return msgspec.json.encode(meta)


def load_consumer_meta(path: Path) -> tuple[str, int, S.ConsumerConfig, ConsumerState]:
    meta: dict[str, Any] = json.loads(path.read_bytes())
    cfg = msgspec.convert(meta["config"], S.ConsumerConfig)
    st = meta.get("state", {})
    state = ConsumerState(
        delivered_cseq=st.get("delivered", [0, 0])[0],
        delivered_sseq=st.get("delivered", [0, 0])[1],
        ack_floor_cseq=st.get("ack_floor", [0, 0])[0],
        ack_floor_sseq=st.get("ack_floor", [0, 0])[1],
        pending={s: Pending(c, ts, d, c) for s, c, ts, d in st.get("pending", [])},
        redelivered={s: n for s, n in st.get("redelivered", [])},
    )
    return meta["name"], int(meta["created"]), cfg, state
