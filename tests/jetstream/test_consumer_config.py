"""Consumer create/update validation against the reference, request by request.

Each scenario creates its streams on one reference server, then sends CONSUMER.CREATE
requests in turn. Every request also goes through ``validate_consumer`` with a model of the
stream's consumers kept from the previous answers; the two must agree: the same error
(code, err_code, description), or a configuration that encodes exactly as the reference's
``config`` (random ephemeral names aside). Needs no pynatsd server wiring.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
import nats
import pytest

from pynatsd.gocompat import marshal_json
from pynatsd.jetstream import codec
from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.config import new_stream_config, with_defaults
from pynatsd.jetstream.consumer_config import (
    ConsumerLimits,
    CreateSubject,
    new_ephemeral_name,
    parse_create_subject,
    response_config,
    subjects_collide,
    validate_consumer,
)
from pynatsd.jetstream.errors import ApiError
from tests.support import ReferenceServer

T = 5.0
SEC = 1_000_000_000

# A step: ("CONSUMER.CREATE.S.N", body) with body a dict (sent as JSON) or bytes (sent as is),
# or ("SUB", subject): subscribe to a deliver subject (it then has interest).
Step = tuple[str, Any]


def cc(tail: str, config: dict[str, Any] | None = None, stream: str | None = None, **extra: Any) -> Step:
    """A create request on ``$JS.API.CONSUMER.<tail>`` for the stream named in the subject."""
    tokens = tail.split(".")
    name = tokens[1] if tokens[0] == "CREATE" else tokens[2]
    body = {"stream_name": name if stream is None else stream, "config": config or {}, **extra}
    return ("CONSUMER." + tail, body)


EXPLICIT = {"ack_policy": "explicit"}
TIME = "2024-01-01T00:00:00Z"

BASE = {"S": {"subjects": ["s.>"]}}

SCENARIOS: dict[str, tuple[dict[str, dict[str, Any]], list[Step]]] = {
    "defaults": (
        BASE,
        [
            cc("CREATE.S"),
            cc("CREATE.S", {"name": "E"}),
            cc("CREATE.S.D", {"durable_name": "D"}),
            cc("DURABLE.CREATE.S.LD", {"durable_name": "LD"}),
            cc("CREATE.S.P", {"deliver_subject": "dp"}),
            cc("CREATE.S.PD", {"durable_name": "PD", "deliver_subject": "dpd", "ack_policy": "explicit"}),
            cc("CREATE.S.AA", {"ack_policy": "all"}),
            cc("CREATE.S.AE", {"ack_policy": "explicit", "ack_wait": 2 * SEC}),
            cc("CREATE.S.R1", {"num_replicas": 1}),
            cc("CREATE.S.RO", {"replay_policy": "original", "headers_only": True, "description": "d"}),
            cc("CREATE.S.F.s.a", {"filter_subject": "s.a"}),
            cc("CREATE.S.FW.s.>", {"filter_subject": "s.>"}),
            cc("CREATE.S.FX", {"filter_subject": "elsewhere.*"}),
            cc("CREATE.S.FS", {"filter_subjects": ["s.a", "s.b"]}),
            cc("CREATE.S.FE", {"filter_subjects": []}),
            cc("CREATE.S.BO", {"ack_policy": "explicit", "backoff": [SEC, 2 * SEC]}),
            cc("CREATE.S.BN", {"backoff": [SEC]}),
            cc("CREATE.S.BM", {"ack_policy": "explicit", "backoff": [SEC, 2 * SEC], "max_deliver": 2}),
            cc("CREATE.S.MAP", {"max_ack_pending": -1, "ack_policy": "explicit"}),
            cc("CREATE.S.MAN", {"max_ack_pending": 5}),
            cc("CREATE.S.DG", {"deliver_group": "g", "sample_freq": "50%"}),
            cc(
                "CREATE.S.PX",
                {"deliver_subject": "dpx", "max_batch": 5, "max_expires": 5_000_000, "max_bytes": 9},
            ),
            cc("CREATE.S.HB", {"deliver_subject": "dhb", "idle_heartbeat": 100_000_000}),
            cc("CREATE.S.FC", {"deliver_subject": "dfc", "idle_heartbeat": SEC, "flow_control": True}),
            cc("CREATE.S.RL", {"deliver_subject": "drl", "rate_limit_bps": 1000}),
            cc("CREATE.S.MS", {"mem_storage": True}),
            cc("CREATE.S.SRC", {"sourcing": True}),
            cc("CREATE.S", {"direct": True, "deliver_subject": "ddir"}),
            cc("CREATE.S.MD", {"metadata": {"b": "2", "a": "1", "_nats.ver": "x", "_nats.level": "y"}}),
            cc("CREATE.S.ME", {"metadata": {}}),
            cc("CREATE.S.NEG", {"max_deliver": -5, "max_waiting": -1, "max_batch": -1, "max_expires": -1}),
            cc("CREATE.S.NEG2", {"max_bytes": -1, "idle_heartbeat": -1, "inactive_threshold": -1}),
            cc("CREATE.S.NEG3", {"priority_timeout": -1, "max_ack_pending": -7}),
            cc("CREATE.S.UD", {"deliver_policy": "undefined"}),
            cc("CREATE.S.IT", {"durable_name": "IT", "inactive_threshold": 3 * SEC}),
        ],
    ),
    "levels_and_times": (
        BASE,
        [
            cc("CREATE.S.PU", {"pause_until": "2030-01-01T00:00:00Z"}),
            cc("CREATE.S.PU0", {"pause_until": "0001-01-01T00:00:00Z"}),
            cc("CREATE.S.PUP", {"pause_until": "2020-01-01T00:00:00Z"}),
            cc("CREATE.S.PUO", {"pause_until": "2030-01-01T02:00:00.500+02:00"}),
            cc("CREATE.S.PUZ", {"pause_until": "2030-01-01T00:00:00.000+00:00"}),
            cc(
                "CREATE.S.T1",
                {"deliver_policy": "by_start_time", "opt_start_time": "2024-01-01T02:00:00.5+02:00"},
            ),
            cc(
                "CREATE.S.T2",
                {"deliver_policy": "by_start_time", "opt_start_time": "2024-01-01T00:00:00-00:00"},
            ),
            cc(
                "CREATE.S.T3",
                {"deliver_policy": "by_start_time", "opt_start_time": "2024-06-30T23:59:59.123456789-07:30"},
            ),
            cc("CREATE.S.AF", {"ack_policy": "flow_control", "deliver_subject": "daf"}),
            cc(
                "CREATE.S.AF2",
                {"ack_policy": "flow_control", "deliver_subject": "daf2", "idle_heartbeat": 2 * SEC},
            ),
            cc("CREATE.S.PT", {"priority_timeout": -5}),
        ],
    ),
    "subject_rules": (
        BASE,
        [
            cc("CREATE.S.X", {}, stream="T"),
            cc("CREATE.S.X", {}, stream=""),
            ("CONSUMER.CREATE.S.X", b""),
            ("CONSUMER.CREATE.S.X", b"{"),
            ("CONSUMER.CREATE.S.X", b'{"stream_name":"S","config":{},"action":"bogus"}'),
            cc("CREATE.S.a/b", {"durable_name": "X"}),
            cc("CREATE.S.a\\b.s.a", {}),
            cc("CREATE.S.a/b", {}, stream="T"),
            cc("CREATE.S", {"name": "a/b"}),
            cc("CREATE.S", {"name": "a/b", "durable_name": "X"}),
            cc("CREATE.S", {"name": "a\\b", "num_replicas": 3}),
            cc("CREATE.NOPE", {"name": "a/b"}),
            cc("CREATE.NOPE.X", {"num_replicas": 3}),
            cc("CREATE.NOPE.X", {"max_deliver": -3}, pedantic=True),
            cc("CREATE.NOPE.X", {}),
            cc("CREATE.S", {"durable_name": "X"}),
            cc("CREATE.S.N", {"durable_name": "X"}),
            cc("CREATE.S.N", {"durable_name": "N", "name": "Z"}),
            cc("CREATE.S.M", {"name": "Z"}),
            cc("DURABLE.CREATE.S.a/b", {"durable_name": "a/b"}),
            cc("DURABLE.CREATE.S.X", {}),
            cc("DURABLE.CREATE.S.X", {"num_replicas": 3}),
            cc("DURABLE.CREATE.S.X", {"durable_name": "Y"}),
            cc("DURABLE.CREATE.S.Q", {"durable_name": "Q", "name": "Z"}),
            cc("CREATE.S.F.s.a", {}),
            cc("CREATE.S.F.s.a", {"filter_subject": "s.b"}),
            cc("CREATE.S.F.s.a", {"filter_subjects": ["s.a"]}),
            cc("CREATE.S.F.s.a", {"filter_subjects": ["s.a"], "durable_name": "Y"}),
            cc("CREATE.S.F.s.a", {"filter_subject": "s.a", "filter_subjects": []}),
            cc("CREATE.S.F.s.a", {"num_replicas": 3}),
            cc("CREATE.S.R", {"num_replicas": 3, "max_deliver": -5}, pedantic=True),
            cc("CREATE.S.R", {"num_replicas": -1}),
            cc("CREATE.S.R", {"num_replicas": -1, "max_deliver": -5}, pedantic=True),
        ],
    ),
    "names": (
        {"S": {"subjects": ["s.>"]}, "M": {"subjects": ["m.>"], "storage": "memory"}},
        [
            cc("CREATE.S.*", {}),
            cc("CREATE.S", {"name": "a.b"}),
            cc("CREATE.S", {"name": "a b"}),
            cc("CREATE.S", {"name": "a\tb"}),
            cc("CREATE.S", {"name": "a\nb"}),
            cc("CREATE.S", {"name": "a\rb"}),
            cc("CREATE.S", {"name": "a\fb"}),
            cc("CREATE.S", {"name": "a\vb"}),
            cc("CREATE.S", {"name": "a\u00a0b"}),
            cc("CREATE.S", {"name": "a\u00e9b>"}),
            cc("CREATE.S", {"name": "a\x00b"}),
            cc("CREATE.M", {"name": "a\x00b"}),
            cc("CREATE.S", {"name": "x" * 255}),
            cc("CREATE.S", {"name": "y" * 256}),
            cc("CREATE.S", {"name": "\u00e9" * 128}),
            cc("CREATE.S", {"name": "z" * 256, "mem_storage": True}),
            cc("CREATE.M", {"name": "w" * 300}),
            cc("CREATE.S." + "d" * 256, {"durable_name": "d" * 256}),
            cc("CREATE.M." + "d" * 256, {"durable_name": "d" * 256}),
            cc("CREATE.S.DESC", {"durable_name": "DESC", "description": "x" * 4096}),
            cc("CREATE.S.DESC2", {"durable_name": "DESC2", "description": "x" * 4097}),
            cc("CREATE.S.DESC3", {"durable_name": "DESC3", "description": "\u00e9" * 2049}),
            cc("CREATE.S.META", {"durable_name": "META", "metadata": {"k": "v" * (128 * 1024 - 17)}}),
            cc("CREATE.S.META2", {"durable_name": "META2", "metadata": {"k": "v" * (128 * 1024 - 16)}}),
        ],
    ),
    "pedantic": (
        BASE,
        [
            cc("CREATE.S.P1", {"max_deliver": -5}, pedantic=True),
            cc("CREATE.S.P2", {"max_waiting": -5}, pedantic=True),
            cc("CREATE.S.P3", {"max_ack_pending": -5}, pedantic=True),
            cc("CREATE.S.P4", {"max_batch": -5}, pedantic=True),
            cc("CREATE.S.P5", {"max_expires": -5}, pedantic=True),
            cc("CREATE.S.P6", {"max_bytes": -5}, pedantic=True),
            cc("CREATE.S.P7", {"idle_heartbeat": -5}, pedantic=True),
            cc("CREATE.S.P8", {"inactive_threshold": -5}, pedantic=True),
            cc("CREATE.S.P9", {"priority_timeout": -5}, pedantic=True),
            cc("CREATE.S.P10", {"ack_policy": "explicit", "backoff": [SEC]}, pedantic=True),
            cc(
                "CREATE.S.P11",
                {"ack_policy": "explicit", "ack_wait": SEC, "backoff": [SEC, 2 * SEC]},
                pedantic=True,
            ),
            cc("CREATE.S.P12", {"max_deliver": -5, "rate_limit_bps": 5}, pedantic=True),
            cc("CREATE.S.P13", {"ack_policy": "flow_control", "deliver_subject": "d1"}, pedantic=True),
            cc(
                "CREATE.S.P14",
                {"ack_policy": "flow_control", "deliver_subject": "d2", "flow_control": True},
                pedantic=True,
            ),
            cc(
                "CREATE.S.P15",
                {
                    "ack_policy": "flow_control",
                    "deliver_subject": "d3",
                    "flow_control": True,
                    "idle_heartbeat": SEC,
                },
                pedantic=True,
            ),
            cc("CREATE.S.P16", {"max_deliver": -1, "max_ack_pending": -1}, pedantic=True),
        ],
    ),
    "push_pull": (
        {"S": {"subjects": ["s.>"]}, "W": {"subjects": ["w.>"], "retention": "workqueue"}},
        [
            cc("CREATE.S.A", {"idle_heartbeat": 5}),
            cc("CREATE.S.B", {"flow_control": True}),
            cc("CREATE.S.C", {"flow_control": True, "idle_heartbeat": SEC}),
            cc("CREATE.S.D", {"rate_limit_bps": 5}),
            cc("CREATE.S.E", {"max_expires": 5}),
            cc("CREATE.S.E2", {"max_expires": 1_000_000}),
            cc("CREATE.S.F", {"direct": True}),
            cc("CREATE.S.G", {"deliver_subject": "g1", "idle_heartbeat": 99_999_999}),
            cc("CREATE.S.H", {"deliver_subject": "g2", "flow_control": True}),
            cc("CREATE.S.I", {"deliver_subject": "g3", "max_waiting": 5}),
            cc("CREATE.S.J", {"deliver_subject": "g4", "max_ack_pending": 5}),
            cc("CREATE.S.K", {"deliver_subject": "g.*"}),
            cc("CREATE.S.L", {"deliver_subject": "g..x"}),
            cc("CREATE.S.L2", {"deliver_subject": "g.>.x"}),
            cc("CREATE.S.M", {"deliver_subject": "s.x"}),
            cc("CREATE.S.M2", {"deliver_subject": "s"}),
            cc("CREATE.S.M3", {"deliver_subject": "$JS.API.X"}),
            cc("CREATE.S.N", {"deliver_subject": "g5", "direct": True, "durable_name": "N"}),
            cc("CREATE.S.O", {"ack_wait": -1}),
            cc("CREATE.S.O2", {"ack_policy": "explicit", "backoff": [SEC, -1]}),
            cc("CREATE.S.O3", {"ack_policy": "explicit", "backoff": [1, 2, 3], "max_deliver": 2}),
            cc("CREATE.W.P", {}),
            cc("CREATE.W.Q", {"ack_policy": "none", "deliver_subject": "g6"}),
            cc("CREATE.S.Q", {"sample_freq": "x", "rate_limit_bps": 1}),
        ],
    ),
    "ack_flow_control": (
        BASE,
        [
            cc("CREATE.S.A", {"ack_policy": "flow_control"}),
            cc("CREATE.S.B", {"ack_policy": "flow_control", "deliver_subject": "a1", "ack_wait": 5}),
            cc("CREATE.S.C", {"ack_policy": "flow_control", "deliver_subject": "a2", "max_deliver": 5}),
            cc("CREATE.S.D", {"ack_policy": "flow_control", "deliver_subject": "a3", "max_ack_pending": -1}),
            cc("CREATE.S.E", {"ack_policy": "flow_control", "deliver_subject": "a4", "backoff": [SEC]}),
            cc("CREATE.S.F", {"ack_policy": "flow_control", "deliver_subject": "a5", "max_ack_pending": 10}),
        ],
    ),
    "deliver_policies": (
        BASE,
        [
            cc("CREATE.S.D1", {"deliver_policy": "all", "opt_start_seq": 5}),
            cc("CREATE.S.D2", {"deliver_policy": "all", "opt_start_time": TIME}),
            cc("CREATE.S.D3", {"deliver_policy": "last", "opt_start_seq": 5}),
            cc("CREATE.S.D4", {"deliver_policy": "last", "opt_start_time": TIME}),
            cc("CREATE.S.D5", {"deliver_policy": "last_per_subject", "opt_start_seq": 5}),
            cc("CREATE.S.D6", {"deliver_policy": "last_per_subject", "opt_start_time": TIME}),
            cc("CREATE.S.D7", {"deliver_policy": "last_per_subject"}),
            cc("CREATE.S.D8", {"deliver_policy": "last_per_subject", "filter_subjects": ["s.a", "s.b"]}),
            cc("CREATE.S.D9", {"deliver_policy": "new", "opt_start_seq": 5}),
            cc("CREATE.S.D10", {"deliver_policy": "new", "opt_start_time": TIME}),
            cc("CREATE.S.D11", {"deliver_policy": "by_start_sequence"}),
            cc(
                "CREATE.S.D12",
                {"deliver_policy": "by_start_sequence", "opt_start_seq": 5, "opt_start_time": TIME},
            ),
            cc("CREATE.S.D13", {"deliver_policy": "by_start_sequence", "opt_start_seq": 5}),
            cc("CREATE.S.D14", {"deliver_policy": "by_start_time"}),
            cc(
                "CREATE.S.D15",
                {"deliver_policy": "by_start_time", "opt_start_seq": 5, "opt_start_time": TIME},
            ),
            cc("CREATE.S.D16", {"deliver_policy": "by_start_time", "opt_start_time": TIME}),
            cc("CREATE.S.D17", {"deliver_policy": "last"}),
            cc("CREATE.S.D18", {"deliver_policy": "new"}),
        ],
    ),
    "filters": (
        BASE,
        [
            cc("CREATE.S.F1", {"filter_subject": "s.a", "filter_subjects": ["s.b"]}),
            cc("CREATE.S.F2", {"filter_subject": "s..a"}),
            cc("CREATE.S.F3", {"filter_subjects": [""]}),
            cc("CREATE.S.F4", {"filter_subjects": ["s.a", "s.*"]}),
            cc("CREATE.S.F5", {"filter_subjects": ["s.a", "s.a"]}),
            cc("CREATE.S.F6", {"filter_subjects": ["s.a", "s..b"]}),
            cc("CREATE.S.F7", {"filter_subjects": ["s.*.c", "s.x.>"]}),
            cc("CREATE.S.F8", {"filter_subjects": ["s.*", "s.>"]}),
            cc("CREATE.S.F9", {"filter_subject": ">"}),
            cc("CREATE.S.F10", {"filter_subjects": ["s.a", ""]}),
            cc("CREATE.S.F11", {"filter_subjects": ["s.a b"]}),
        ],
    ),
    "sample_freq": (
        BASE,
        [
            cc("CREATE.S.A", {"sample_freq": "50%"}),
            cc("CREATE.S.B", {"sample_freq": "abc"}),
            cc("CREATE.S.C", {"sample_freq": "-5"}),
            cc("CREATE.S.D", {"sample_freq": "100"}),
            cc("CREATE.S.E", {"sample_freq": "5%%"}),
            cc("CREATE.S.F", {"sample_freq": "99999999999999999999"}),
            cc("CREATE.S.G", {"sample_freq": " 5"}),
            cc("CREATE.S.H", {"sample_freq": "+5"}),
            cc("CREATE.S.I", {"sample_freq": "%"}),
            cc("CREATE.S.J", {"sample_freq": "-"}),
            cc("CREATE.S.K", {"sample_freq": "1_0"}),
            cc("CREATE.S.L", {"sample_freq": "9223372036854775807"}),
            cc("CREATE.S.M", {"sample_freq": "9223372036854775808"}),
            cc("CREATE.S.N", {"sample_freq": "-9223372036854775808"}),
            cc("CREATE.S.O", {"sample_freq": '\u00e9"'}),
        ],
    ),
    "priority": (
        BASE,
        [
            cc("CREATE.S.A", {"priority_policy": "overflow"}),
            cc("CREATE.S.B", {"priority_policy": "overflow", "priority_groups": [""]}),
            cc("CREATE.S.C", {"priority_policy": "overflow", "priority_groups": ["bad group"]}),
            cc(
                "CREATE.S.D",
                {"priority_policy": "overflow", "priority_groups": ["g"], "deliver_subject": "p"},
            ),
            cc("CREATE.S.E", {"priority_groups": ["g"]}),
            cc("CREATE.S.F", {"priority_policy": "overflow", "priority_groups": ["g"]}),
            cc("CREATE.S.G", {"priority_policy": "prioritized", "priority_groups": ["g", "h"]}),
            cc("CREATE.S.H", {"priority_policy": "pinned_client", "priority_groups": ["g"]}),
            cc(
                "CREATE.S.I",
                {"priority_policy": "pinned_client", "priority_groups": ["g"], "priority_timeout": 5},
            ),
            cc("CREATE.S.J", {"priority_policy": "overflow", "priority_groups": ["abcdefghijklmnopq"]}),
            cc("CREATE.S.K", {"priority_policy": "overflow", "priority_groups": ["a/b=c-d_e"]}),
            cc("CREATE.S.L", {"priority_policy": "none"}),
            cc("CREATE.S.M", {"priority_timeout": 5}),
        ],
    ),
    "stream_consumer_limits": (
        {
            "L": {
                "subjects": ["l.>"],
                "consumer_limits": {"inactive_threshold": 10 * SEC, "max_ack_pending": 50},
            }
        },
        [
            cc("CREATE.L.A", {}),
            cc("CREATE.L.B", {"durable_name": "B"}),
            cc("CREATE.L.C", {"max_ack_pending": 51}),
            cc("CREATE.L.D", {"inactive_threshold": 10 * SEC + 1}),
            cc("CREATE.L.E", {"ack_policy": "explicit"}, pedantic=True),
            cc("CREATE.L.F", {"ack_policy": "explicit", "max_ack_pending": 5}, pedantic=True),
            cc(
                "CREATE.L.G",
                {"durable_name": "G", "max_ack_pending": 5, "inactive_threshold": SEC},
                pedantic=True,
            ),
            cc("CREATE.L.H", {"deliver_subject": "lh"}),
            cc("CREATE.L.I", {"deliver_subject": "li", "ack_policy": "explicit", "max_ack_pending": 50}),
        ],
    ),
    "workqueue": (
        {"W": {"subjects": ["w.>"], "retention": "workqueue"}},
        [
            cc("CREATE.W.A", {}),
            cc("CREATE.W.A", {"ack_policy": "all"}),
            cc("CREATE.W.A", {"ack_policy": "explicit", "deliver_policy": "new"}),
            cc("CREATE.W.A", {"ack_policy": "none", "deliver_subject": "wa"}),
            cc("CREATE.W.A", {"ack_policy": "explicit", "num_replicas": 1, "durable_name": "A"}),
            cc("CREATE.W.B", EXPLICIT),
            cc("CREATE.W.C", {**EXPLICIT, "filter_subject": "w.c"}),
            cc("CREATE.W.D", {**EXPLICIT, "filter_subject": "w.d", "deliver_subject": "wd", "direct": True}),
            cc("CREATE.W.E", {"sourcing": True}),
            cc("CREATE.W.F", {"sourcing": True, "deliver_subject": "wf"}),
            cc("CREATE.W.A", {**EXPLICIT, "durable_name": "A", "filter_subject": "w.a"}),
            cc("CREATE.W.B", {**EXPLICIT, "filter_subject": "w.b"}),
            cc("CREATE.W.C", {**EXPLICIT, "filter_subject": "w.a.x"}),
            cc("CREATE.W.C", {**EXPLICIT, "filter_subjects": ["w.c", "w.a"]}),
            cc("CREATE.W.C", {**EXPLICIT, "filter_subjects": ["w.c", "w.e"]}),
            cc("CREATE.W.A", {**EXPLICIT, "durable_name": "A", "filter_subject": "w.c"}),
            cc("CREATE.W.A", {**EXPLICIT, "durable_name": "A"}),
            cc("CREATE.W.A", {**EXPLICIT, "durable_name": "A", "deliver_policy": "new"}),
        ],
    ),
    "workqueue_partitions": (
        {
            "W1": {"subjects": ["a.>"], "retention": "workqueue"},
            "W2": {"subjects": ["b.>"], "retention": "workqueue"},
            "W3": {"subjects": ["c.>"], "retention": "workqueue"},
        },
        [
            cc("CREATE.W1.A", {**EXPLICIT, "filter_subject": "a.*.c"}),
            cc("CREATE.W1.B", {**EXPLICIT, "filter_subject": "a.x.>"}),
            cc("CREATE.W1.C", {**EXPLICIT, "filter_subject": "a.x.d"}),
            cc("CREATE.W1.D", {**EXPLICIT, "filter_subject": "a.>"}),
            cc("CREATE.W2.SRC", {**EXPLICIT, "sourcing": True, "filter_subject": "b.x"}),
            cc("CREATE.W2.A", {**EXPLICIT, "filter_subject": "b.x"}),
            cc(
                "CREATE.W2.DIR",
                {**EXPLICIT, "deliver_subject": "bd", "direct": True, "filter_subject": "b.x"},
            ),
            cc("CREATE.W2.B", {**EXPLICIT, "filter_subject": "b.*"}),
            cc("CREATE.W2.C", {**EXPLICIT, "filter_subject": "b.y"}),
            cc("CREATE.W2.D", EXPLICIT),
            cc("CREATE.W3.DIR", {**EXPLICIT, "deliver_subject": "cd", "direct": True}),
            cc("CREATE.W3.SRC", {**EXPLICIT, "sourcing": True}),
            cc("CREATE.W3.A", EXPLICIT),
            cc("CREATE.W3.B", {**EXPLICIT, "filter_subject": "c.q"}),
            cc(
                "CREATE.W3.FC",
                {"ack_policy": "flow_control", "deliver_subject": "cfc", "filter_subject": "c.z"},
            ),
        ],
    ),
    "interest": (
        {"I": {"subjects": ["i.>"], "retention": "interest"}},
        [
            cc("CREATE.I.A", {}),
            cc("CREATE.I.B", {"num_replicas": 1}),
            cc("CREATE.I.C", {"num_replicas": -1}),
            cc("CREATE.I.D", {"deliver_subject": "id"}),
        ],
    ),
    "max_consumers": (
        {"M": {"subjects": ["m.>"], "max_consumers": 2}},
        [
            cc("CREATE.M.D1", {"deliver_subject": "x1", "direct": True}),
            cc("CREATE.M.S1", {"sourcing": True}),
            cc("CREATE.M.A", {"durable_name": "A"}),
            cc("CREATE.M.B", {"durable_name": "B"}),
            cc("CREATE.M.C", {"durable_name": "C"}),
            cc("CREATE.M.C", {"durable_name": "C"}, action="update"),
            cc("CREATE.M.A", {"durable_name": "A", "description": "still updatable"}),
            cc("CREATE.M.S2", {"sourcing": True}),
            cc("CREATE.M.D2", {"deliver_subject": "x2", "direct": True}),
        ],
    ),
    "actions": (
        BASE,
        [
            cc("CREATE.S.Z", {}, action="update"),
            cc("CREATE.S.Z", {}, action="create"),
            cc("CREATE.S.Z", {}, action="create"),
            cc("CREATE.S.Z", {"inactive_threshold": 5 * SEC}, action="create"),
            cc("CREATE.S.Z", {"description": "x"}, action="create"),
            cc("CREATE.S.Z", {"description": "x"}, action="update"),
            cc("CREATE.S.Z", {"description": "x", "inactive_threshold": 5 * SEC}, action="create"),
            cc("CREATE.S", {"name": "Z"}, action="create"),
            cc("DURABLE.CREATE.S.Z", {"durable_name": "Z"}, action="create"),
            cc("CREATE.S.U", {"durable_name": "U"}),
            cc("CREATE.S.U", {"durable_name": "U"}, action="create"),
            cc("CREATE.S.U", {"durable_name": "U", "metadata": {}}, action="create"),
            cc("CREATE.S.U", {"durable_name": "U", "metadata": {"_nats.level": "7"}}, action="create"),
            cc("CREATE.S.U", {"durable_name": "U", "metadata": {"_nats.req.level": "3"}}, action="create"),
            cc("CREATE.S.U", {"durable_name": "U", "metadata": {"q": "3"}}, action="create"),
            cc("CREATE.S.U", {"durable_name": "U", "backoff": [SEC]}, action="create"),
            cc("CREATE.S.U", {"durable_name": "U", "max_deliver": -7}, action="create"),
            cc("CREATE.S.U", {"durable_name": "U", "max_ack_pending": 0}, action="create"),
            cc("CREATE.S.U", {"durable_name": "U", "pause_until": "2030-01-01T00:00:00Z"}, action="create"),
            cc("CREATE.S.V", {"durable_name": "V", "pause_until": "2030-01-01T02:00:00+02:00"}),
            cc("CREATE.S.V", {"durable_name": "V"}, action="create"),
            cc("CREATE.S.V", {"durable_name": "V", "description": "q"}),
            cc("CREATE.S.V", {"durable_name": "V", "description": "q"}, action="create"),
            cc(
                "CREATE.S.W", {"durable_name": "W", "deliver_policy": "by_start_time", "opt_start_time": TIME}
            ),
            cc(
                "CREATE.S.W",
                {
                    "durable_name": "W",
                    "deliver_policy": "by_start_time",
                    "opt_start_time": "2024-01-01T02:00:00+02:00",
                },
                action="create",
            ),
        ],
    ),
    "updates": (
        BASE,
        [
            cc("CREATE.S.D", {"durable_name": "D", "ack_policy": "explicit"}),
            cc("CREATE.S.P", {"durable_name": "P", "ack_policy": "explicit", "deliver_subject": "pd"}),
            cc("CREATE.S.EP", {"ack_policy": "explicit", "deliver_subject": "pe"}),
            cc("CREATE.S.D", {"durable_name": "D", "ack_policy": "explicit", "deliver_policy": "new"}),
            cc("CREATE.S.D", {"durable_name": "D", "ack_policy": "explicit", "mem_storage": True}),
            cc("CREATE.S.D", {"durable_name": "D", "ack_policy": "explicit", "direct": True}),
            cc("CREATE.S.D", {"durable_name": "D", "ack_policy": "explicit", "sourcing": True}),
            cc(
                "CREATE.S.D",
                {
                    "durable_name": "D",
                    "ack_policy": "explicit",
                    "deliver_policy": "by_start_sequence",
                    "opt_start_seq": 3,
                },
            ),
            cc("CREATE.S.D", {"durable_name": "D", "ack_policy": "all"}),
            cc("CREATE.S.D", {"durable_name": "D", "ack_policy": "explicit", "replay_policy": "original"}),
            cc("CREATE.S.D", {"durable_name": "D", "ack_policy": "explicit", "deliver_subject": "x"}),
            cc("CREATE.S.D", {"durable_name": "D", "ack_policy": "explicit", "max_waiting": 10}),
            cc("CREATE.S.D", {"durable_name": "D", "ack_policy": "explicit", "max_waiting": 512}),
            cc(
                "CREATE.S.D",
                {"durable_name": "D", "ack_policy": "explicit", "backoff": [1, 2, 3], "max_deliver": 2},
            ),
            cc(
                "CREATE.S.D",
                {
                    "durable_name": "D",
                    "ack_policy": "explicit",
                    "backoff": [SEC, 2 * SEC],
                    "max_deliver": 3,
                    "max_ack_pending": 7,
                    "description": "u",
                    "filter_subject": "s.a",
                    "sample_freq": "5",
                    "headers_only": True,
                    "max_batch": 3,
                    "max_expires": 5_000_000,
                    "max_bytes": 9,
                    "inactive_threshold": 7 * SEC,
                    "metadata": {"a": "b"},
                    "num_replicas": 1,
                },
            ),
            cc(
                "CREATE.S.D",
                {"durable_name": "D", "ack_policy": "explicit", "filter_subjects": ["s.a", "s.b"]},
            ),
            cc(
                "CREATE.S.D",
                {"durable_name": "D", "ack_policy": "explicit", "pause_until": "2031-01-01T00:00:00Z"},
            ),
            cc(
                "CREATE.S.P",
                {
                    "durable_name": "P",
                    "ack_policy": "explicit",
                    "deliver_subject": "pd",
                    "idle_heartbeat": SEC,
                },
            ),
            cc(
                "CREATE.S.P",
                {
                    "durable_name": "P",
                    "ack_policy": "explicit",
                    "deliver_subject": "pd",
                    "idle_heartbeat": SEC,
                    "flow_control": True,
                },
            ),
            cc("CREATE.S.P", {"durable_name": "P", "ack_policy": "explicit"}),
            cc("CREATE.S.P", {"durable_name": "P", "ack_policy": "explicit", "deliver_subject": "pd2"}),
            cc(
                "CREATE.S.P",
                {
                    "durable_name": "P",
                    "ack_policy": "explicit",
                    "deliver_subject": "pd",
                    "deliver_group": "g",
                },
            ),
            cc(
                "CREATE.S.P",
                {"durable_name": "P", "ack_policy": "explicit", "deliver_subject": "pd", "rate_limit_bps": 8},
            ),
            cc(
                "CREATE.S.P",
                {"durable_name": "P", "ack_policy": "explicit", "deliver_subject": "pd", "direct": True},
            ),
            ("SUB", "pd"),
            cc("CREATE.S.P", {"durable_name": "P", "ack_policy": "explicit", "deliver_subject": "pd3"}),
            cc(
                "CREATE.S.P",
                {"durable_name": "P", "ack_policy": "explicit", "deliver_subject": "pd", "description": "ok"},
            ),
            cc("CREATE.S.EP", {"ack_policy": "explicit", "deliver_subject": "pe", "direct": True}),
            cc("CREATE.S.EP", {"ack_policy": "explicit", "deliver_subject": "pe", "inactive_threshold": SEC}),
            cc("CREATE.S.EP", {"ack_policy": "explicit", "deliver_subject": "pe"}),
            cc("CREATE.S.D", {"name": "D", "ack_policy": "explicit"}),
            cc("CREATE.S.D", {"name": "D", "ack_policy": "explicit", "inactive_threshold": 2 * SEC}),
            cc("CREATE.S.D", {"name": "D", "ack_policy": "explicit"}),
            cc("CREATE.S.PZ", {"durable_name": "PZ", "pause_until": "2030-01-01T02:00:00+02:00"}),
            cc(
                "CREATE.S.PZ",
                {"durable_name": "PZ", "pause_until": "2032-01-01T00:00:00Z", "description": "q"},
            ),
            cc("CREATE.S", {"name": "PY", "pause_until": "2030-01-01T00:00:00Z"}),
            cc(
                "CREATE.S",
                {"name": "PY", "pause_until": "2031-01-01T00:00:00Z", "inactive_threshold": 5 * SEC},
            ),
            cc(
                "CREATE.S.T", {"durable_name": "T", "deliver_policy": "by_start_time", "opt_start_time": TIME}
            ),
            cc(
                "CREATE.S.T",
                {
                    "durable_name": "T",
                    "deliver_policy": "by_start_time",
                    "opt_start_time": "2024-01-01T02:00:00+02:00",
                },
            ),
            cc(
                "CREATE.S.T",
                {
                    "durable_name": "T",
                    "deliver_policy": "by_start_time",
                    "opt_start_time": "2024-01-01T00:00:01Z",
                },
            ),
            cc("DURABLE.CREATE.S.X", {"durable_name": "X"}),
            cc("CREATE.S", {"name": "Y"}),
            cc("DURABLE.CREATE.S.Y", {"durable_name": "Y"}),
        ],
    ),
}


# --------------------------------------------------------------------------------------
# Plumbing
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceServer]:
    ref = ReferenceServer("-js", "-sd", str(tmp_path_factory.mktemp("consumer-config")))
    try:
        yield ref
    finally:
        ref.stop()


@pytest.fixture
async def nc(reference: ReferenceServer) -> AsyncIterator[Any]:
    conn = await nats.connect(reference.url)
    try:
        yield conn
    finally:
        await conn.close()


async def request(nc: Any, subject: str, body: dict[str, Any] | bytes) -> tuple[dict[str, Any], bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    msg = await nc.request(subject, data, timeout=T)
    return json.loads(msg.data), msg.data


def stream_config(reply: dict[str, Any]) -> S.StreamConfig:
    cfg = dict(reply["config"])
    meta = {k: v for k, v in (cfg.get("metadata") or {}).items() if k not in ("_nats.ver", "_nats.level")}
    cfg["metadata"] = meta or None
    return msgspec.json.decode(json.dumps(cfg), type=S.StreamConfig)


def mine(
    tail: str,
    body: dict[str, Any] | bytes,
    streams: dict[str, S.StreamConfig],
    consumers: dict[str, dict[str, S.ConsumerConfig]],
    interest: set[str],
    limits: ConsumerLimits,
) -> tuple[str, Any]:
    """("error", error dict) or ("ok", (name, config JSON)) from validate_consumer."""
    subject = parse_create_subject(tail.split("."))
    assert subject is not None, tail
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        req = codec.decode_request(data, S.ConsumerCreateRequest)
        result = validate_consumer(
            req,
            streams.get(subject.stream),
            subject,
            consumers=consumers.get(subject.stream, {}),
            limits=limits,
            deliver_interest=interest.__contains__,
        )
    except ApiError as err:
        return "error", err.to_dict()
    return "ok", (result.name, json.loads(marshal_json(response_config(result.config))))


async def run_scenario(
    nc: Any,
    scenario: str,
    stream_defs: dict[str, dict[str, Any]],
    steps: list[Step],
    limits: ConsumerLimits,
) -> None:
    streams: dict[str, S.StreamConfig] = {}
    consumers: dict[str, dict[str, S.ConsumerConfig]] = {}
    interest: set[str] = set()
    subs = []
    try:
        for name, fields in stream_defs.items():
            reply, _ = await request(nc, f"$JS.API.STREAM.CREATE.{name}", {"name": name, **fields})
            assert "error" not in reply, reply
            streams[name] = stream_config(reply)
            consumers[name] = {}
        for i, (tail, body) in enumerate(steps):
            if tail == "SUB":
                subs.append(await nc.subscribe(body))
                await nc.flush()
                interest.add(body)
                continue
            shown = repr(body) if isinstance(body, bytes) else json.dumps(body)[:300]
            where = f"{scenario} step {i}: {tail} {shown}"
            expected, raw = await request(nc, "$JS.API." + tail, body)
            kind, got = mine(tail, body, streams, consumers, interest, limits)
            if "error" in expected:
                assert kind == "error", f"{where}\nreference: {expected['error']}\nmine: {got}"
                assert got == expected["error"], where
                continue
            assert kind == "ok", f"{where}\nreference accepted: {raw[:600]!r}\nmine: {got}"
            name, config = got
            tokens = tail.split(".")
            if len(tokens) == 3 and not (isinstance(body, dict) and body["config"].get("name")):
                # A legacy ephemeral: random names on both sides.
                assert re.fullmatch("[0-9A-Za-z]{8}", expected["name"]), expected["name"]
                assert re.fullmatch("[0-9A-Za-z]{8}", name), name
                name = expected["name"]
            assert name == expected["name"], where
            # Same keys in the same order, same values.
            assert json.dumps(config) == json.dumps(expected["config"]), (
                f"{where}\nreference: {json.dumps(expected['config'])}\nmine:      {json.dumps(config)}"
            )
            stream = tokens[3 if tokens[1] == "DURABLE" else 2]
            assert expected["stream_name"] == stream
            stored = dict(config)
            stored["metadata"] = {
                k: v for k, v in config["metadata"].items() if k not in ("_nats.ver", "_nats.level")
            }
            consumers[stream][name] = msgspec.json.decode(json.dumps(stored), type=S.ConsumerConfig)
    finally:
        for sub in subs:
            await sub.unsubscribe()
        for name in stream_defs:
            await nc.request(f"$JS.API.STREAM.DELETE.{name}", b"", timeout=T)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_consumer_create_matches_reference(nc: Any, scenario: str) -> None:
    stream_defs, steps = SCENARIOS[scenario]
    await run_scenario(nc, scenario, stream_defs, steps, ConsumerLimits())


# Server limits (jetstream.limits) and account limits of the only account.
LIMITS_CONF = """
jetstream { limits { max_request_batch: 10, max_ack_pending: 100 } }
accounts { A { jetstream { max_ack_pending: 40, max_consumers: 3 }, users [ {user: a, password: a} ] } }
no_auth_user: a
"""
LIMITS = ConsumerLimits(
    max_ack_pending=100, max_request_batch=10, account_max_ack_pending=40, account_max_consumers=3
)
LIMITED: dict[str, tuple[dict[str, dict[str, Any]], list[Step]]] = {
    "server_and_account_limits": (
        {"S": {"subjects": ["s.>"]}, "L": {"subjects": ["l.>"], "consumer_limits": {"max_ack_pending": 30}}},
        [
            cc("CREATE.S.A", EXPLICIT),
            cc("CREATE.S.B", {"max_batch": 11}),
            cc("CREATE.S.C", {**EXPLICIT, "max_ack_pending": 101}),
            cc("CREATE.S.D", {**EXPLICIT, "max_ack_pending": 41}),
            cc("CREATE.S.E", {**EXPLICIT, "deliver_subject": "se"}),
            cc("CREATE.S.F", {"max_batch": 5}, pedantic=True),
            cc("CREATE.S.G", {}, pedantic=True),
            cc("CREATE.S.H", {"deliver_subject": "sh", "max_batch": 50}),
            cc("CREATE.S.I", {"sourcing": True}),
            cc("CREATE.S.J", {}),
            cc("CREATE.S.A", {**EXPLICIT, "description": "update"}),
            cc("CREATE.L.A", EXPLICIT),
            cc("CREATE.L.B", {**EXPLICIT, "max_ack_pending": 31}),
        ],
    ),
}


@pytest.fixture(scope="module")
def limited_reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceServer]:
    base = tmp_path_factory.mktemp("consumer-limits")
    conf = base / "limits.conf"
    conf.write_text(LIMITS_CONF)
    ref = ReferenceServer("-js", "-sd", str(base / "store"), "-c", str(conf))
    try:
        yield ref
    finally:
        ref.stop()


@pytest.mark.parametrize("scenario", list(LIMITED))
async def test_consumer_limits_match_reference(limited_reference: ReferenceServer, scenario: str) -> None:
    conn = await nats.connect(limited_reference.url)
    try:
        stream_defs, steps = LIMITED[scenario]
        await run_scenario(conn, scenario, stream_defs, steps, LIMITS)
    finally:
        await conn.close()


# --------------------------------------------------------------------------------------
# Units that need no server
# --------------------------------------------------------------------------------------


def test_parse_create_subject() -> None:
    assert parse_create_subject(["CONSUMER", "CREATE", "S"]) == CreateSubject("S", None, None, False)
    assert parse_create_subject(["CONSUMER", "CREATE", "S", "N"]) == CreateSubject("S", "N", None, False)
    assert parse_create_subject(["CONSUMER", "CREATE", "S", "N", "a", "*", ">"]) == CreateSubject(
        "S", "N", "a.*.>", False
    )
    assert parse_create_subject(["CONSUMER", "DURABLE", "CREATE", "S", "D"]) == CreateSubject(
        "S", "D", None, True
    )
    for no_reply in (
        "CONSUMER.CREATE",
        "CONSUMER.DURABLE.CREATE.S",
        "CONSUMER.DURABLE.CREATE.S.D.x",
        "STREAM.CREATE.S",
    ):
        assert parse_create_subject(no_reply.split(".")) is None


def test_subjects_collide() -> None:
    assert subjects_collide("a.*.c", "a.x.>")
    assert subjects_collide("a.>", "a.b")
    assert subjects_collide("a.b", "a.b")
    assert not subjects_collide("a.b", "a.c")
    assert not subjects_collide("a.*", "a.b.c")
    assert not subjects_collide("a.>", "a")
    assert subjects_collide(">", "x")


def test_ephemeral_names() -> None:
    names = {new_ephemeral_name() for _ in range(200)}
    assert len(names) == 200
    assert all(re.fullmatch("[0-9A-Za-z]{8}", n) for n in names)


def _stream(**fields: Any) -> S.StreamConfig:
    return with_defaults(new_stream_config("S", subjects=["s.>"], **fields))


def _request(config: dict[str, Any], **extra: Any) -> S.ConsumerCreateRequest:
    body = {"stream_name": "S", "config": config, **extra}
    return codec.decode_request(json.dumps(body).encode(), S.ConsumerCreateRequest)


def test_generated_names_skip_taken_ones() -> None:
    taken = {
        "AAAAAAAA": S.ConsumerConfig(
            deliver_policy="all", ack_policy="none", replay_policy="instant", num_replicas=0
        )
    }
    names = iter(["AAAAAAAA", "BBBBBBBB"])
    result = validate_consumer(
        _request({}),
        _stream(),
        CreateSubject("S", None, None, False),
        consumers=taken,
        name_factory=lambda: next(names),
    )
    assert result.created and result.name == "BBBBBBBB" and result.config.name == ""


def test_update_result_carries_previous_config() -> None:
    subject = CreateSubject("S", "D", None, False)
    first = validate_consumer(_request({"durable_name": "D"}), _stream(), subject, consumers={})
    again = validate_consumer(
        _request({"durable_name": "D", "description": "x"}), _stream(), subject, consumers={"D": first.config}
    )
    assert not again.created and again.previous == first.config and again.config.description == "x"
