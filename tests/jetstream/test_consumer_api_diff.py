"""Consumer API conversations against the reference and pynatsd: the JSON (and the pull replies)
must agree once times, durations and generated names are replaced by placeholders.

Plain steps are the ``(subject, body[, headers])`` requests of test_api_diff; ``Pull`` sends a
raw MSG.NEXT request and records every reply (messages and status messages); ``Ack`` answers
one of the messages of the previous ``Pull``."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.support import jetstream_server
from tests.support.jetstream import Step, converse, normalize

EXTRA_VOLATILE = {"last_active", "pause_remaining"}
ACK_TS = re.compile(r"^(\$JS\.ACK\.[^.]+\.[^.]+\.\d+\.\d+\.\d+\.)\d+(\.\d+)$")
FUTURE = "2099-01-01T00:00:00Z"


@dataclass
class Pull:
    """``$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>``; replies are collected until a status
    other than 100 arrives or ``wait`` seconds pass."""

    stream: str
    consumer: str
    body: Any
    wait: float = 0.3


@dataclass
class Ack:
    """Publish ``body`` to the reply subject of message ``index`` of the previous Pull, as a
    request (the reply, or "<no reply>") when ``sync``."""

    index: int
    body: bytes
    sync: bool = True


Conversation = list[Step | Pull | Ack]


def _scrub(obj: Any, names: dict[str, str]) -> Any:
    if isinstance(obj, dict):
        out = {k: ("<volatile>" if k in EXTRA_VOLATILE else _scrub(v, names)) for k, v in obj.items()}
        if isinstance(out.get("consumers"), list):
            # listings are sorted by name; generated names sort anywhere: put them last
            def generated(entry: Any) -> bool:
                name = entry.get("name") if isinstance(entry, dict) else entry
                return isinstance(name, str) and name.startswith("<generated-")

            fixed = [e for e in out["consumers"] if not generated(e)]
            out["consumers"] = fixed + sorted((e for e in out["consumers"] if generated(e)), key=str)
        return out
    if isinstance(obj, list):
        return [_scrub(v, names) for v in obj]
    if isinstance(obj, str):
        return names.get(obj, obj)
    return obj


def _learn_generated_name(step: Step, result: Any, names: dict[str, str]) -> None:
    """A consumer name the server made up (not in the subject, not in the request)."""
    if (
        not isinstance(result, dict)
        or result.get("type") != "io.nats.jetstream.api.v1.consumer_create_response"
    ):
        return
    name = result.get("name")
    if not name or name in names or name in step[0].split("."):
        return
    body = step[1]
    config = json.loads(body).get("config", {}) if isinstance(body, bytes) else (body or {}).get("config", {})
    if name not in (config.get("name"), config.get("durable_name")):
        names[name] = f"<generated-{len(names) + 1}>"


def _describe(msg: Any) -> dict[str, Any]:
    hdrs = {getattr(k, "value", k): v for k, v in (msg.headers or {}).items() if k != "Nats-Time-Stamp"}
    subject = "<inbox>" if msg.subject.startswith("_INBOX.") else msg.subject
    out: dict[str, Any] = {"subject": subject, "data": msg.data.decode(errors="replace")}
    if hdrs:
        out["headers"] = hdrs
    if msg.reply:
        out["reply"] = ACK_TS.sub(r"\1<ts>\2", msg.reply)
    return out


async def _pull(nc: Any, step: Pull) -> tuple[list[dict[str, Any]], list[Any]]:
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    body = step.body if isinstance(step.body, bytes) else json.dumps(step.body).encode()
    await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{step.stream}.{step.consumer}", body, reply=inbox)
    got: list[Any] = []
    deadline = time.monotonic() + step.wait
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await sub.next_msg(timeout=left)
        except nats.errors.TimeoutError:
            break
        got.append(msg)
        code = (msg.headers or {}).get("Status")
        if code is not None and code != "100":
            break
    await sub.unsubscribe()
    return [_describe(m) for m in got], [m for m in got if not (m.headers or {}).get("Status")]


async def _ack(nc: Any, last: list[Any], step: Ack) -> Any:
    reply = last[step.index].reply
    if not step.sync:
        await nc.publish(reply, step.body)
        await nc.flush()
        return "<sent>"
    try:
        r = await nc.request(reply, step.body, timeout=0.5)
    except nats.errors.TimeoutError:
        return "<no reply>"
    except nats.errors.NoRespondersError:
        return "<no responders>"
    return _describe(r)


async def run(url: str, steps: Conversation, expected: list[Any] | None = None) -> list[Any]:
    """Plays the conversation; with ``expected`` (the reference's results) it stops at the
    first step that differs."""
    names: dict[str, str] = {}
    out: list[Any] = []
    last: list[Any] = []
    nc = await nats.connect(url)
    try:
        for i, step in enumerate(steps):
            if isinstance(step, Pull):
                result: Any
                result, last = await _pull(nc, step)
            elif isinstance(step, Ack):
                result = await _ack(nc, last, step)
            else:
                (result,) = await converse(url, [step])
                _learn_generated_name(step, result, names)
            result = _scrub(normalize(result), names)
            if expected is not None:
                assert result == expected[i], f"step {i}: {step}"
            out.append(result)
    finally:
        await nc.close()
    return out


def create(stream: str, config: dict[str, Any], subject: str | None = None, **extra: Any) -> Step:
    if subject is None:
        name = config.get("name") or config.get("durable_name")
        subject = f"$JS.API.CONSUMER.CREATE.{stream}" + (f".{name}" if name else "")
    return (subject, {"stream_name": stream, "config": config, **extra})


def stream(name: str, *subjects: str, **cfg: Any) -> Step:
    return (f"$JS.API.STREAM.CREATE.{name}", {"name": name, "subjects": list(subjects), **cfg})


CC = "$JS.API.CONSUMER.CREATE.S"

SCENARIOS: dict[str, Conversation] = {
    "create_and_manage": [
        stream("S", "s.*"),
        ("s.new", b"one"),
        ("s.paid", b"two"),
        create("S", {}),
        create("S", {"ack_policy": "explicit", "deliver_subject": "push.nowhere"}),
        create("S", {"name": "NAMED", "ack_policy": "explicit"}, action="create"),
        create("S", {"name": "NAMED", "ack_policy": "explicit"}, action="create"),
        create("S", {"name": "NAMED", "ack_policy": "explicit", "description": "d"}, action="create"),
        create("S", {"name": "NAMED", "ack_policy": "explicit", "description": "d"}, action="update"),
        create("S", {"name": "NAMED", "ack_policy": "explicit", "description": "e"}, action=""),
        create("S", {"name": "NEW"}, action="update"),
        create("S", {"name": "NEW2"}, subject=CC, action="update"),
        create("S", {"name": "FILT", "filter_subject": "s.new"}, subject=f"{CC}.FILT.s.new"),
        create("S", {"name": "F2"}, subject=f"{CC}.F2.s.new"),
        create("S", {"name": "F3", "filter_subject": "s.paid"}, subject=f"{CC}.F3.s.new"),
        create("S", {"name": "F4", "filter_subjects": ["s.new"]}, subject=f"{CC}.F4.s.new"),
        create("S", {"name": "WILD", "filter_subject": "s.*"}, subject=f"{CC}.WILD.s.*"),
        create("S", {"name": "OTHER"}, subject=f"{CC}.SUBJ"),
        create("S", {}, subject=f"{CC}.BARE"),
        create("S", {"durable_name": "DUR", "ack_policy": "explicit"}),
        create("S", {"durable_name": "X"}, subject=f"{CC}.DUR"),
        create("S", {"durable_name": "D"}, subject=CC),
        create(
            "S",
            {"durable_name": "LEG", "ack_policy": "explicit"},
            subject="$JS.API.CONSUMER.DURABLE.CREATE.S.LEG",
        ),
        create("S", {"durable_name": "LEG2", "name": "ZZ"}, subject="$JS.API.CONSUMER.DURABLE.CREATE.S.LEG2"),
        create("S", {}, subject="$JS.API.CONSUMER.DURABLE.CREATE.S.LEG3"),
        create("S", {"name": "LEG3"}, subject="$JS.API.CONSUMER.DURABLE.CREATE.S.LEG3"),
        create("S", {"durable_name": "OTHER"}, subject="$JS.API.CONSUMER.DURABLE.CREATE.S.LEG3"),
        ("$JS.API.CONSUMER.DURABLE.CREATE.S.A.B", {"stream_name": "S", "config": {"durable_name": "A"}}),
        create("NOPE", {}),
        ("$JS.API.CONSUMER.CREATE.S", {"stream_name": "X", "config": {}}),
        ("$JS.API.CONSUMER.CREATE.S", {"config": {}}),
        ("$JS.API.CONSUMER.CREATE.S", {"stream_name": "S"}),
        ("$JS.API.CONSUMER.CREATE.S", b""),
        ("$JS.API.CONSUMER.CREATE.S", b"{bad"),
        ("$JS.API.CONSUMER.CREATE.S", {"stream_name": "S", "config": {}, "action": "bogus"}),
        ("$JS.API.CONSUMER.CREATE.S", {"stream_name": "S", "config": {"bogus": 1}}),
        ("$JS.API.CONSUMER.CREATE.S", {"stream_name": "S", "config": {"ack_wait": "1s"}}),
        ("$JS.API.CONSUMER.INFO.S.DUR", None),
        ("$JS.API.CONSUMER.INFO.S.DUR", b"{}"),
        ("$JS.API.CONSUMER.INFO.S.DUR", b" "),
        ("$JS.API.CONSUMER.INFO.S.DUR", {"x": 1}),
        ("$JS.API.CONSUMER.INFO.S.NOPE", None),
        ("$JS.API.CONSUMER.INFO.NOPE.DUR", None),
        ("$JS.API.CONSUMER.NAMES.S", None),
        ("$JS.API.CONSUMER.NAMES.S", {"offset": 100}),
        ("$JS.API.CONSUMER.NAMES.S", {"bogus": 1}),
        ("$JS.API.CONSUMER.NAMES.S", b"x"),
        ("$JS.API.CONSUMER.NAMES.NOPE", None),
        ("$JS.API.CONSUMER.LIST.NOPE", None),
        ("$JS.API.STREAM.INFO.S", None),
        ("$JS.API.CONSUMER.DELETE.S.DUR", b"x"),
        ("$JS.API.CONSUMER.DELETE.S.DUR", None),
        ("$JS.API.CONSUMER.DELETE.S.DUR", None),
        ("$JS.API.CONSUMER.DELETE.NOPE.DUR", None),
        ("$JS.API.CONSUMER.INFO.S.DUR", None),
        ("$JS.API.CONSUMER.LIST.S", None),
        ("$JS.API.INFO", None),
    ],
    "listing": [
        stream("L", "l.*"),
        ("$JS.API.CONSUMER.NAMES.L", None),
        ("$JS.API.CONSUMER.LIST.L", None),
        create("L", {"durable_name": "b", "ack_policy": "explicit"}),
        create("L", {"name": "C", "deliver_subject": "push.nowhere"}),
        create("L", {"durable_name": "a1", "filter_subject": "l.x"}),
        create("L", {"name": "B2", "description": "named"}),
        ("$JS.API.CONSUMER.NAMES.L", None),
        ("$JS.API.CONSUMER.NAMES.L", {"offset": 1}),
        ("$JS.API.CONSUMER.NAMES.L", {"offset": 4}),
        ("$JS.API.CONSUMER.NAMES.L", {"offset": 100}),
        ("$JS.API.CONSUMER.NAMES.L", {"offset": -1}),
        ("$JS.API.CONSUMER.NAMES.L", b"[]"),
        ("$JS.API.CONSUMER.NAMES.L", b"null"),
        ("$JS.API.CONSUMER.LIST.L", None),
        ("$JS.API.CONSUMER.LIST.L", {"offset": 2}),
        ("$JS.API.CONSUMER.LIST.L", {"offset": 9}),
        ("$JS.API.CONSUMER.LIST.L", {"offset": "x"}),
        ("$JS.API.CONSUMER.DELETE.L.b", None),
        ("$JS.API.CONSUMER.NAMES.L", None),
        ("$JS.API.STREAM.INFO.L", None),
        ("$JS.API.STREAM.DELETE.L", None),
        ("$JS.API.CONSUMER.NAMES.L", None),
        ("$JS.API.CONSUMER.INFO.L.a1", None),
    ],
    "invalid_configs": [
        stream("S", "s.>"),
        create("S", {"name": "a.b"}),
        create("S", {"name": "a*"}, subject=CC),
        create("S", {"name": "x", "durable_name": "y"}, subject=CC),
        create("S", {"description": "x" * 4097}),
        create("S", {"num_replicas": 3}),
        create("S", {"num_replicas": -1}),
        # push-only options on a pull consumer
        create("S", {"idle_heartbeat": 1_000_000_000}),
        create("S", {"flow_control": True}),
        create("S", {"rate_limit_bps": 100}),
        create("S", {"direct": True}),
        create("S", {"ack_policy": "flow_control"}),
        create("S", {"max_expires": 1000}),
        # pull-only options on a push consumer
        create("S", {"deliver_subject": "d", "max_waiting": 10}),
        create("S", {"deliver_subject": "d", "priority_policy": "overflow", "priority_groups": ["g"]}),
        # push consumer checks
        create("S", {"deliver_subject": "d.*"}),
        create("S", {"deliver_subject": "d..x"}),
        create("S", {"deliver_subject": "s.x"}),
        create("S", {"deliver_subject": "d", "max_ack_pending": 5}),
        create("S", {"deliver_subject": "d", "idle_heartbeat": 50_000_000}),
        create("S", {"deliver_subject": "d", "flow_control": True}),
        # deliver policy / start position combinations
        create("S", {"opt_start_seq": 3}),
        create("S", {"opt_start_time": "2024-01-01T00:00:00Z"}),
        create("S", {"deliver_policy": "last", "opt_start_seq": 3}),
        create("S", {"deliver_policy": "last", "opt_start_time": "2024-01-01T00:00:00Z"}),
        create("S", {"deliver_policy": "new", "opt_start_seq": 3}),
        create("S", {"deliver_policy": "new", "opt_start_time": "2024-01-01T00:00:00Z"}),
        create("S", {"deliver_policy": "last_per_subject"}),
        create("S", {"deliver_policy": "last_per_subject", "filter_subject": "s.a", "opt_start_seq": 1}),
        create(
            "S", {"deliver_policy": "last_per_subject", "filter_subject": "s.a", "opt_start_time": FUTURE}
        ),
        create("S", {"deliver_policy": "by_start_sequence"}),
        create("S", {"deliver_policy": "by_start_sequence", "opt_start_seq": 1, "opt_start_time": FUTURE}),
        create("S", {"deliver_policy": "by_start_time"}),
        create("S", {"deliver_policy": "by_start_time", "opt_start_seq": 1, "opt_start_time": FUTURE}),
        create("S", {"deliver_policy": "bogus"}),
        create("S", {"ack_policy": "bogus"}),
        create("S", {"replay_policy": "bogus"}),
        create("S", {"opt_start_time": "yesterday", "deliver_policy": "by_start_time"}),
        # acks and redelivery
        create("S", {"ack_policy": "explicit", "backoff": [1_000_000_000, 2_000_000_000], "max_deliver": 1}),
        create("S", {"ack_policy": "explicit", "backoff": [-1]}),
        create("S", {"ack_policy": "explicit", "ack_wait": -1}),
        # filters
        create("S", {"filter_subject": "s.a", "filter_subjects": ["s.b"]}),
        create("S", {"filter_subjects": ["s.a", ""]}),
        create("S", {"filter_subjects": ["s.*", "s.a"]}),
        create("S", {"filter_subjects": ["s.a", "s.a"]}),
        create("S", {"filter_subject": "s..a"}),
        create("S", {"filter_subjects": ["s..a"]}),
        # misc
        create("S", {"sample_freq": "abc"}),
        create("S", {"metadata": {"k": "v" * 140_000}}),
        create("S", {"priority_groups": ["g"]}),
        create("S", {"priority_policy": "pinned_client"}),
        create("S", {"priority_policy": "overflow", "priority_groups": [""]}),
        create("S", {"priority_policy": "overflow", "priority_groups": ["a.b"]}),
        create("S", {"priority_timeout": 1000}),
        create("S", {"max_deliver": -5}, pedantic=True),
        create("S", {"max_ack_pending": -5}, pedantic=True),
        create("S", {"ack_policy": "explicit", "backoff": [1_000_000_000]}, pedantic=True),
        # accepted, with corrections and defaults
        create(
            "S", {"name": "FIX", "max_deliver": -5, "max_ack_pending": -5, "max_waiting": -1, "max_batch": -1}
        ),
        create("S", {"name": "NEG", "inactive_threshold": -1, "max_expires": -1, "max_bytes": -1}),
        create(
            "S",
            {
                "name": "FULL",
                "description": "d",
                "mem_storage": True,
                "headers_only": True,
                "max_bytes": 100,
                "max_batch": 10,
                "max_expires": 2_000_000_000,
                "ack_policy": "explicit",
                "ack_wait": 1_000_000_000,
                "max_deliver": 5,
                "backoff": [1_000_000_000, 2_000_000_000],
                "replay_policy": "original",
                "sample_freq": "50%",
                "metadata": {"a": "b", "_nats.ver": "0"},
            },
        ),
        create(
            "S",
            {
                "name": "PUSH",
                "deliver_subject": "push.nowhere",
                "deliver_group": "g",
                "idle_heartbeat": 1_000_000_000,
                "flow_control": True,
                "rate_limit_bps": 1000,
                "ack_policy": "explicit",
                "max_ack_pending": 20,
                "max_batch": 5,
                "max_expires": 5_000_000_000,
            },
        ),
        create(
            "S",
            {
                "name": "TIME",
                "deliver_policy": "by_start_time",
                "opt_start_time": "2024-01-01T00:00:00.5+02:00",
            },
        ),
        create("S", {"name": "UNDEF", "deliver_policy": "undefined"}),
        create("S", {"name": "PRIO", "priority_policy": "pinned_client", "priority_groups": ["jobs"]}),
        create("S", {"name": "PAUSED", "pause_until": FUTURE}),
        create("S", {"name": "OUT", "filter_subjects": ["other.x"]}),
        ("$JS.API.CONSUMER.NAMES.S", None),
    ],
    "updates": [
        stream("S", "s.*"),
        ("s.a", b"1"),
        ("s.b", b"2"),
        create("S", {"durable_name": "D", "ack_policy": "explicit", "filter_subject": "s.a"}),
        create(
            "S",
            {"durable_name": "D", "ack_policy": "explicit", "filter_subject": "s.a", "deliver_policy": "new"},
        ),
        create(
            "S",
            {
                "durable_name": "D",
                "ack_policy": "explicit",
                "filter_subject": "s.a",
                "deliver_policy": "by_start_sequence",
                "opt_start_seq": 2,
            },
        ),
        create("S", {"durable_name": "D", "ack_policy": "all", "filter_subject": "s.a"}),
        create(
            "S",
            {
                "durable_name": "D",
                "ack_policy": "explicit",
                "filter_subject": "s.a",
                "replay_policy": "original",
            },
        ),
        create(
            "S",
            {
                "durable_name": "D",
                "ack_policy": "explicit",
                "filter_subject": "s.a",
                "deliver_subject": "x.y",
            },
        ),
        create(
            "S", {"durable_name": "D", "ack_policy": "explicit", "filter_subject": "s.a", "max_waiting": 10}
        ),
        create(
            "S", {"durable_name": "D", "ack_policy": "explicit", "filter_subject": "s.a", "mem_storage": True}
        ),
        create(
            "S",
            {
                "durable_name": "D",
                "ack_policy": "explicit",
                "filter_subject": "s.a",
                "backoff": [1, 2, 3],
                "max_deliver": 2,
            },
        ),
        create(
            "S",
            {
                "durable_name": "D",
                "ack_policy": "explicit",
                "filter_subject": "s.b",
                "max_ack_pending": 5,
                "ack_wait": 2_000_000_000,
                "max_deliver": 3,
                "backoff": [1_000_000_000],
                "description": "u",
                "headers_only": True,
                "max_batch": 3,
                "max_expires": 1_000_000_000,
                "max_bytes": 99,
                "inactive_threshold": 10_000_000_000,
                "sample_freq": "10",
                "metadata": {"k": "v"},
            },
        ),
        create("S", {"durable_name": "D", "ack_policy": "explicit", "num_replicas": 1}),
        create("S", {"durable_name": "P", "deliver_subject": "push.p", "ack_policy": "explicit"}),
        create("S", {"durable_name": "P", "deliver_subject": "push.q", "ack_policy": "explicit"}),
        create("S", {"durable_name": "P", "ack_policy": "explicit"}),
        create(
            "S",
            {
                "durable_name": "P",
                "deliver_subject": "push.q",
                "ack_policy": "explicit",
                "idle_heartbeat": 1_000_000_000,
            },
        ),
        create(
            "S",
            {
                "durable_name": "P",
                "deliver_subject": "push.q",
                "ack_policy": "explicit",
                "flow_control": True,
                "idle_heartbeat": 1_000_000_000,
            },
        ),
        create(
            "S",
            {
                "durable_name": "P",
                "deliver_subject": "push.q",
                "ack_policy": "explicit",
                "deliver_group": "g",
            },
        ),
        create("S", {"durable_name": "Q", "deliver_policy": "by_start_sequence", "opt_start_seq": 2}),
        create("S", {"durable_name": "Q", "deliver_policy": "by_start_sequence", "opt_start_seq": 3}),
        create(
            "S",
            {
                "durable_name": "T",
                "deliver_policy": "by_start_time",
                "opt_start_time": "2024-01-01T00:00:00Z",
            },
        ),
        create(
            "S",
            {
                "durable_name": "T",
                "deliver_policy": "by_start_time",
                "opt_start_time": "2024-01-02T00:00:00Z",
            },
        ),
        create(
            "S",
            {
                "durable_name": "T",
                "deliver_policy": "by_start_time",
                "opt_start_time": "2024-01-01T02:00:00+02:00",
            },
        ),
        create("S", {"name": "E", "inactive_threshold": 60_000_000_000}),
        create("S", {"durable_name": "E", "inactive_threshold": 60_000_000_000}),
        ("$JS.API.CONSUMER.INFO.S.D", None),
        ("$JS.API.CONSUMER.INFO.S.E", None),
    ],
    "workqueue_and_limits": [
        stream("WQ", "wq.>", retention="workqueue"),
        create("WQ", {"durable_name": "X"}),
        create("WQ", {"durable_name": "X", "ack_policy": "all"}),
        create("WQ", {"durable_name": "X", "ack_policy": "explicit", "deliver_policy": "new"}),
        create("WQ", {"durable_name": "X", "ack_policy": "explicit", "deliver_policy": "last"}),
        create(
            "WQ",
            {"durable_name": "P", "ack_policy": "none", "deliver_subject": "pp", "filter_subject": "wq.p"},
        ),
        create("WQ", {"durable_name": "A", "ack_policy": "explicit"}),
        create("WQ", {"durable_name": "B", "ack_policy": "explicit"}),
        create("WQ", {"durable_name": "B", "ack_policy": "explicit", "filter_subject": "wq.a"}),
        create("WQ", {"durable_name": "A", "ack_policy": "explicit", "filter_subject": "wq.a"}),
        create("WQ", {"durable_name": "B", "ack_policy": "explicit", "filter_subject": "wq.*"}),
        create("WQ", {"durable_name": "B", "ack_policy": "explicit", "filter_subject": "wq.b"}),
        create("WQ", {"durable_name": "C", "ack_policy": "explicit", "filter_subjects": ["wq.c", "wq.b"]}),
        create("WQ", {"durable_name": "A", "ack_policy": "explicit", "filter_subject": "wq.>"}),
        create(
            "WQ", {"durable_name": "R", "ack_policy": "explicit", "num_replicas": 1, "filter_subject": "wq.r"}
        ),
        create(
            "WQ",
            {"durable_name": "R2", "ack_policy": "explicit", "num_replicas": 2, "filter_subject": "wq.r2"},
        ),
        stream("IN", "in.>", retention="interest"),
        create("IN", {"durable_name": "X", "ack_policy": "none", "deliver_subject": "ppp"}),
        create("IN", {"durable_name": "Y", "num_replicas": 1}),
        stream(
            "L",
            "l.>",
            max_consumers=1,
            consumer_limits={"max_ack_pending": 50, "inactive_threshold": 10_000_000_000},
        ),
        create("L", {"durable_name": "X", "ack_policy": "explicit"}),
        create("L", {"durable_name": "Y", "ack_policy": "explicit"}),
        create("L", {"durable_name": "X", "ack_policy": "explicit", "max_ack_pending": 100}),
        create("L", {"durable_name": "X", "ack_policy": "explicit", "inactive_threshold": 20_000_000_000}),
        create("L", {"ack_policy": "explicit"}),
        ("$JS.API.STREAM.INFO.WQ", None),
    ],
    "pull_requests": [
        stream("P", "p.*"),
        ("p.a", b"one"),
        ("p.a", b"two", {"X-Tag": "t"}),
        ("p.b", b"three"),
        create("P", {"durable_name": "C", "ack_policy": "explicit"}),
        create(
            "P",
            {
                "durable_name": "LIM",
                "ack_policy": "explicit",
                "max_batch": 2,
                "max_expires": 1_000_000_000,
                "max_bytes": 500,
            },
        ),
        create("P", {"durable_name": "PUSH", "deliver_subject": "push.nowhere"}),
        Pull("P", "C", {"batch": 1, "no_wait": True}),
        Pull("P", "C", {"batch": 5, "no_wait": True}),
        Pull("P", "C", {"batch": 2, "no_wait": True}),
        Pull("P", "C", {"batch": 2, "expires": 200_000_000}),
        Pull("P", "C", {"batch": 1, "no_wait": True, "expires": 200_000_000}),
        Pull("P", "C", {"batch": 1, "expires": 200_000_000, "idle_heartbeat": 100_000_000}),
        Pull("P", "C", {"batch": 1, "idle_heartbeat": 100_000_000}),
        Pull("P", "C", b"{x"),
        Pull("P", "C", {"batch": 1, "bogus": True, "no_wait": True}),
        Pull("P", "LIM", {"batch": 3}),
        Pull("P", "LIM", {"batch": 1, "expires": 2_000_000_000}),
        Pull("P", "LIM", {"batch": 1, "max_bytes": 600, "expires": 500_000_000}),
        Pull("P", "LIM", {"batch": 2, "max_bytes": 500, "no_wait": True}),
        Pull("P", "PUSH", {"batch": 1}),
        Pull("P", "NOPE", {"batch": 1}),
        create("P", {"durable_name": "MB", "ack_policy": "explicit"}),
        Pull("P", "MB", {"batch": 3, "max_bytes": 100, "no_wait": True}),
        Pull("P", "MB", {"batch": 3, "max_bytes": 130, "no_wait": True}),
        create("P", {"durable_name": "BC", "ack_policy": "explicit"}),
        Pull("P", "BC", {"batch": 2, "max_bytes": 10_000, "no_wait": True}),
        Pull("P", "BC", {"batch": 2, "max_bytes": 10_000, "expires": 200_000_000}),
        create("P", {"durable_name": "NUM", "ack_policy": "explicit"}),
        Pull("P", "NUM", b"2"),
        Pull("P", "NUM", {"batch": 0, "no_wait": True}),
        create("P", {"durable_name": "HO", "headers_only": True, "filter_subject": "p.a"}),
        Pull("P", "HO", {"batch": 2, "no_wait": True}),
        ("$JS.API.CONSUMER.INFO.P.C", None),
        ("$JS.API.CONSUMER.INFO.P.BC", None),
        ("$JS.API.CONSUMER.INFO.P.HO", None),
    ],
    "acks": [
        stream("A", "a"),
        ("a", b"1"),
        ("a", b"2"),
        ("a", b"3"),
        ("a", b"4"),
        ("a", b"5"),
        create("A", {"durable_name": "C", "ack_policy": "explicit", "max_deliver": 3}),
        Pull("A", "C", {"batch": 4, "no_wait": True}),
        Ack(0, b"+ACK"),
        Ack(0, b"+ACK"),
        Ack(1, b""),
        ("$JS.API.CONSUMER.INFO.A.C", None),
        Ack(3, b"+ACK"),
        ("$JS.API.CONSUMER.INFO.A.C", None),
        Ack(2, b"-NAK"),
        Ack(3, b"+WPI"),
        ("$JS.API.CONSUMER.INFO.A.C", None),
        Pull("A", "C", {"batch": 3, "no_wait": True}),
        Ack(0, b"+TERM no good"),
        ("$JS.API.CONSUMER.INFO.A.C", None),
        Ack(1, b"+NXT"),
        ("$JS.API.CONSUMER.INFO.A.C", None),
        create("A", {"durable_name": "ALL", "ack_policy": "all"}),
        Pull("A", "ALL", {"batch": 5, "no_wait": True}),
        Ack(2, b"+ACK"),
        ("$JS.API.CONSUMER.INFO.A.ALL", None),
        Ack(0, b"+ACK"),
        Ack(4, b"-NAK"),
        ("$JS.API.CONSUMER.INFO.A.ALL", None),
        Ack(4, b"+ACK"),
        ("$JS.API.CONSUMER.INFO.A.ALL", None),
        create("A", {"durable_name": "NONE", "ack_policy": "none"}),
        Pull("A", "NONE", {"batch": 3, "no_wait": True}),
        Ack(0, b"+ACK"),
        ("$JS.API.CONSUMER.INFO.A.NONE", None),
        create("A", {"durable_name": "NXT", "ack_policy": "explicit"}),
        Pull("A", "NXT", {"batch": 1, "no_wait": True}),
        Ack(0, b'+NXT {"batch":2}', sync=False),
        ("$JS.API.CONSUMER.INFO.A.NXT", None),
    ],
    "pause": [
        stream("PA", "pa"),
        ("pa", b"x"),
        create("PA", {"durable_name": "C", "ack_policy": "explicit"}),
        ("$JS.API.CONSUMER.PAUSE.PA.C", {"pause_until": FUTURE}),
        ("$JS.API.CONSUMER.INFO.PA.C", None),
        Pull("PA", "C", {"batch": 1, "no_wait": True}),
        Pull("PA", "C", {"batch": 1, "expires": 200_000_000}),
        ("$JS.API.CONSUMER.PAUSE.PA.C", None),
        ("$JS.API.CONSUMER.INFO.PA.C", None),
        ("$JS.API.CONSUMER.PAUSE.PA.C", {"pause_until": "2000-01-01T00:00:00Z"}),
        ("$JS.API.CONSUMER.PAUSE.PA.C", {"pause_until": FUTURE}),
        ("$JS.API.CONSUMER.PAUSE.PA.C", {}),
        ("$JS.API.CONSUMER.PAUSE.PA.C", {"pause_until": FUTURE}),
        ("$JS.API.CONSUMER.PAUSE.PA.C", b"junk"),
        ("$JS.API.CONSUMER.PAUSE.PA.C", {"pause_until": "never"}),
        ("$JS.API.CONSUMER.PAUSE.PA.C", {"bogus": 1}),
        ("$JS.API.CONSUMER.PAUSE.PA.NOPE", {"pause_until": FUTURE}),
        ("$JS.API.CONSUMER.PAUSE.NOPE.C", {}),
        create("PA", {"durable_name": "P2", "pause_until": FUTURE}),
        ("$JS.API.CONSUMER.INFO.PA.P2", None),
        create("PA", {"durable_name": "P2"}),
        ("$JS.API.CONSUMER.INFO.PA.P2", None),
        ("$JS.API.CONSUMER.LIST.PA", None),
    ],
    "priority_groups": [
        stream("PG", "pg"),
        ("pg", b"1"),
        ("pg", b"2"),
        ("pg", b"3"),
        create("PG", {"name": "PIN", "priority_policy": "pinned_client", "priority_groups": ["g", "h"]}),
        create(
            "PG",
            {
                "name": "OVF",
                "ack_policy": "explicit",
                "priority_policy": "overflow",
                "priority_groups": ["g"],
            },
        ),
        create("PG", {"name": "PRI", "priority_policy": "prioritized", "priority_groups": ["g"]}),
        create("PG", {"name": "NONE"}),
        Pull("PG", "PIN", {"batch": 1}),  # JSON without a group
        Pull("PG", "PIN", b"1"),  # a plain request: served, nobody pinned (empty Nats-Pin-Id)
        Pull("PG", "PIN", {"group": "x"}),
        Pull("PG", "PIN", {"group": "g", "id": "nobody", "no_wait": True}),
        Pull("PG", "OVF", {"group": "g", "batch": 2, "min_pending": 2}),
        Ack(0, b"+ACK"),
        Pull("PG", "OVF", {"group": "g", "batch": 1, "min_pending": 5, "expires": 200_000_000}),
        Pull("PG", "OVF", {"group": "g", "min_ack_pending": 1}),
        Pull("PG", "PRI", {"group": "g", "priority": 9, "batch": 2}),
        Pull("PG", "PRI", {"group": "g", "priority": 10}),
        Pull("PG", "NONE", {"group": "g", "min_pending": 1}),
        ("$JS.API.CONSUMER.INFO.PG.PIN", None),
        ("$JS.API.CONSUMER.INFO.PG.OVF", None),
        ("$JS.API.CONSUMER.UNPIN.PG.PIN", b""),
        ("$JS.API.CONSUMER.UNPIN.PG.PIN", b"[]"),
        ("$JS.API.CONSUMER.UNPIN.PG.PIN", {}),
        ("$JS.API.CONSUMER.UNPIN.PG.PIN", {"group": "way-too-long-group"}),
        ("$JS.API.CONSUMER.UNPIN.PG.PIN", {"group": "zz"}),
        ("$JS.API.CONSUMER.UNPIN.PG.NONE", {"group": "g"}),
        ("$JS.API.CONSUMER.UNPIN.PG.NOPE", {"group": "g"}),
        ("$JS.API.CONSUMER.UNPIN.NOPE.PIN", {"group": "g"}),
        ("$JS.API.CONSUMER.UNPIN.PG.PIN", {"group": "h"}),
        ("$JS.API.CONSUMER.UNPIN.PG", {"group": "h"}),
        ("$JS.API.CONSUMER.LIST.PG", None),
    ],
}


# Known differences, kept visible: each turns into a failure (strict) once it is fixed.
KNOWN_DIFFERENCES: dict[str, str] = {}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_DIFFERENCES[n]))
        if n in KNOWN_DIFFERENCES
        else n
        for n in sorted(SCENARIOS)
    ],
)
async def test_consumer_api_conversation_matches_reference(name: str, tmp_path: Path) -> None:
    async with jetstream_server("reference", tmp_path / "reference") as url:
        expected = await run(url, SCENARIOS[name])
    async with jetstream_server("pynatsd", tmp_path / "pynatsd") as url:
        await run(url, SCENARIOS[name], expected=expected)
