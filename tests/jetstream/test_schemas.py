"""JetStream API schemas and errors, checked against the reference server.

The reference (nats-server 2.15.1) is started once for the module with JetStream in a
temporary store. Each test sends raw API requests, decodes the reference's replies with
``pynatsd.jetstream.schemas`` and re-encodes them with ``pynatsd.jetstream.codec``: the bytes
must be identical. Error objects the reference sends must equal the entries of
``pynatsd.jetstream.errors``, and ``codec.decode_request`` must reject malformed requests with
the reference's exact message.

Tests that need the reference are skipped when the nats-server binary is not found
($NATS_SERVER_BIN, next to the Python executable, or on PATH).
"""

from __future__ import annotations

import base64
import itertools
import json
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import nats
import pytest
from nats.aio.client import Client

from pynatsd.gocompat import ZERO_TIME, format_time, go_quote, marshal_json, parse_time
from pynatsd.jetstream import codec
from pynatsd.jetstream import schemas as S
from pynatsd.jetstream.config import DEFAULT_DUPLICATE_WINDOW, with_defaults, with_dynamic_metadata
from pynatsd.jetstream.errors import ApiError, JSErr, Reason, api_error, error_dict, lookup, wrap_error
from tests.support.binary import require_reference
from tests.support.launcher import ServerProcess, start_server

T = TypeVar("T")

# --------------------------------------------------------------------------------------
# The reference server
# --------------------------------------------------------------------------------------


@contextmanager
def reference_js(config: str = "") -> Iterator[ServerProcess]:
    """The reference with JetStream in a temporary store (and ``config`` as its config file)."""
    require_reference()
    with tempfile.TemporaryDirectory(prefix="pynatsd-jsref-") as tmp:
        args = ["-js", "-sd", str(Path(tmp) / "js")]
        if config:
            conf = Path(tmp) / "server.conf"
            conf.write_text(config)
            args += ["-c", str(conf)]
        ref = start_server("reference", *args)
        try:
            yield ref
        finally:
            ref.stop()


@pytest.fixture(scope="module")
def reference() -> Iterator[ServerProcess]:
    with reference_js() as ref:
        yield ref


@pytest.fixture
async def nc(reference: ServerProcess) -> AsyncIterator[Client]:
    client = await nats.connect(reference.url)
    yield client
    await client.close()


_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


async def call(
    nc: Client, subject: str, body: bytes | str | dict[str, Any] = b"", headers: dict[str, str] | None = None
) -> bytes:
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    msg = await nc.request(subject, body, timeout=5, headers=headers)
    return bytes(msg.data)


def roundtrip(raw: bytes, model: type[T]) -> T:
    """Decode the reference's bytes with ``model``; re-encoding must give the same bytes."""
    obj = msgspec.json.decode(raw, type=model)
    assert marshal_json(obj) == raw
    return obj


async def create(nc: Client, cfg: dict[str, Any]) -> S.StreamCreateResponse:
    raw = await call(nc, f"$JS.API.STREAM.CREATE.{cfg['name']}", cfg)
    resp = roundtrip(raw, S.StreamCreateResponse)
    assert resp.error is None, resp.error
    return resp


def expected_config(body: dict[str, Any] | bytes, origin_allow_direct: bool | None = None) -> bytes:
    """What ``with_defaults`` makes of a create request, as a create/info response shows it."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    cfg = codec.decode_request(data, S.StreamConfigRequest).config()
    return marshal_json(with_dynamic_metadata(with_defaults(cfg, origin_allow_direct=origin_allow_direct)))


# --------------------------------------------------------------------------------------
# Account info
# --------------------------------------------------------------------------------------


async def test_account_info(nc: Client) -> None:
    info = roundtrip(await call(nc, "$JS.API.INFO"), S.AccountInfoResponse)
    assert info.limits is not None and info.limits.max_streams == -1
    assert info.api is not None and info.api.level == S.API_LEVEL
    name = unique("ACC")
    await create(nc, {"name": name, "max_bytes": 4096})
    after = roundtrip(await call(nc, "$JS.API.INFO", "{}"), S.AccountInfoResponse)
    assert after.streams is not None and info.streams is not None and after.streams == info.streams + 1
    assert after.reserved_storage is not None and after.reserved_storage >= 4096
    assert after.api is not None and after.api.total > info.api.total


# --------------------------------------------------------------------------------------
# STREAM.CREATE and the defaults
# --------------------------------------------------------------------------------------


async def test_create_minimal(nc: Client) -> None:
    name = unique("MIN")
    body = {"name": name}
    resp = await create(nc, body)
    assert resp.did_create is True
    assert resp.cluster is None  # STREAM.CREATE has no cluster block on a standalone server
    assert resp.config is not None and resp.state is not None
    assert marshal_json(resp.config) == expected_config(body)
    assert resp.config.subjects == [name]
    assert resp.config.duplicate_window == DEFAULT_DUPLICATE_WINDOW
    assert resp.state.first_ts == ZERO_TIME and resp.state.last_ts == ZERO_TIME
    assert resp.created is not None and format_time(parse_time(resp.created)) == resp.created
    # The same create again answers with the stream (did_create is still true).
    again = await create(nc, body)
    assert again.did_create is True and again.created == resp.created


async def test_create_maximal(nc: Client) -> None:
    name = unique("MAX")
    body = {
        "name": name,
        "description": "all <fields> & more",
        "subjects": [f"{name}.>", f"other.{name}"],
        "retention": "limits",
        "max_consumers": 10,
        "max_msgs": 100,
        "max_bytes": 100000,
        "max_age": 3600000000000,
        "max_msgs_per_subject": 5,
        "max_msg_size": 1024,
        "discard": "old",
        "storage": "file",
        "num_replicas": 1,
        "duplicate_window": 60000000000,
        "compression": "s2",
        "first_seq": 10,
        "placement": {"cluster": "", "tags": ["a"]},
        "sealed": False,
        "deny_delete": True,
        "deny_purge": False,
        "allow_rollup_hdrs": True,
        "allow_direct": True,
        "mirror_direct": False,
        "republish": {"src": f"{name}.>", "dest": f"rp.{name}.>", "headers_only": True},
        "subject_transform": {"src": f"{name}.>", "dest": f"mx.{name}.>"},
        "consumer_limits": {"inactive_threshold": 5000000000, "max_ack_pending": 100},
        "metadata": {"k": "v", "a": "b"},
        "allow_msg_ttl": True,
        "subject_delete_marker_ttl": 2000000000,
        "allow_msg_counter": False,
        "allow_atomic": False,
        "allow_msg_schedules": True,
        "persist_mode": "async",
        "allow_batched": True,
        "pedantic": False,
    }
    resp = await create(nc, body)
    assert resp.config is not None
    assert marshal_json(resp.config) == expected_config(body)
    assert resp.config.placement == S.Placement(tags=["a"])
    assert resp.state is not None and resp.state.first_seq == 10 and resp.state.last_seq == 9
    info = roundtrip(await call(nc, f"$JS.API.STREAM.INFO.{name}"), S.StreamInfoResponse)
    assert info.config == resp.config
    assert info.cluster is not None and info.cluster.leader


async def test_create_other_flags(nc: Client) -> None:
    name = unique("FLAGS")
    body = {
        "name": name,
        "subjects": [f"{name}.>"],
        "discard": "new",
        "discard_new_per_subject": True,
        "max_msgs_per_subject": 3,
        "no_ack": True,
        "allow_atomic": True,
        "storage": "memory",
    }
    resp = await create(nc, body)
    assert resp.config is not None
    assert marshal_json(resp.config) == expected_config(body)
    assert resp.config.metadata is not None and resp.config.metadata["_nats.req.level"] == "2"


DEFAULTING_CASES: list[dict[str, Any]] = [
    {},
    {"max_age": 10_000_000_000},  # window becomes max_age
    {"max_age": 1_000_000_000_000},  # window stays 2m
    {"max_msgs": -5, "max_bytes": -7, "max_msgs_per_subject": -9, "max_consumers": -3, "max_msg_size": -2},
    {"max_msgs": 0, "num_replicas": 0},
    {"subject_delete_marker_ttl": 1_000_000_000},  # turns on TTLs and roll-ups
    {"allow_msg_schedules": True},  # turns on roll-ups
    {"placement": {}},  # dropped
    {"republish": {"dest": "rp.{name}.>"}},  # src becomes ">"
    {"persist_mode": ""},
    {"discard": "NEW"},  # case-insensitive
    {"metadata": {"_nats.ver": "x", "_nats.level": "9", "_nats.req.level": "7", "zz": "1", "aa": "2"}},
    {"allow_msg_counter": True},
    {"allow_batched": True, "allow_atomic": True},
    {"duplicate_window": 5_000_000_000, "consumer_limits": {"max_ack_pending": 5}},
    {"storage": "memory", "compression": "s2", "first_seq": 100, "description": "h\u00e9<\u2028"},
    {"deny_delete": True, "deny_purge": True, "no_ack": True, "allow_direct": True},
    {"Max_Msgs": 7, "SUBJECTS": ["up.{name}"]},  # keys match case-insensitively
]


@pytest.mark.parametrize("extra", DEFAULTING_CASES)
async def test_with_defaults_matches_reference(nc: Client, extra: dict[str, Any]) -> None:
    name = unique("DEF")
    fields = json.loads(json.dumps(extra).replace("{name}", name))
    body: dict[str, Any] = {"name": name}
    if not any(k.lower() == "subjects" for k in fields):
        body["subjects"] = [f"{name}.>"]
    body.update(fields)
    resp = await create(nc, body)
    assert resp.config is not None
    assert marshal_json(resp.config) == expected_config(body)


async def test_mirror_and_sources(nc: Client) -> None:
    origin = unique("ORIG")
    await create(nc, {"name": origin, "subjects": [f"{origin}.>"], "allow_direct": True})
    mirror = unique("MIR")
    body = {"name": mirror, "mirror": {"name": origin, "opt_start_time": "2024-01-01T00:00:00.5+02:00"}}
    resp = await create(nc, body)
    assert resp.config is not None and resp.mirror is not None
    assert resp.config.mirror_direct is True  # inherited from the origin's allow_direct
    assert marshal_json(resp.config) == expected_config(body, origin_allow_direct=True)
    assert resp.config.duplicate_window == 0 and resp.config.subjects is None
    assert resp.mirror.active == -1 and resp.mirror.lag == 0

    sourced = unique("SRC")
    body = {
        "name": sourced,
        "sources": [
            {"name": origin, "filter_subject": f"{origin}.a"},
            {"name": "ELSEWHERE", "external": {"api": "$JS.hub.API"}},
            {"name": origin, "subject_transforms": [{"src": f"{origin}.b", "dest": "x.b"}]},
        ],
    }
    resp = await create(nc, body)
    assert resp.config is not None and resp.sources is not None and len(resp.sources) == 3
    assert marshal_json(resp.config) == expected_config(body)
    roundtrip(await call(nc, f"$JS.API.STREAM.INFO.{sourced}"), S.StreamInfoResponse)


# --------------------------------------------------------------------------------------
# STREAM.INFO, UPDATE, NAMES, LIST, MSG.GET, MSG.DELETE, PURGE, DELETE
# --------------------------------------------------------------------------------------


async def test_info_state_variants(nc: Client) -> None:
    name = unique("INF")
    await create(nc, {"name": name, "subjects": [f"{name}.>"]})
    for i in range(5):
        await call(nc, f"{name}.{'a' if i % 2 else 'b'}", f"m{i}")
    await call(nc, f"{name}.c", "hdr", headers={"X-A": "1"})
    await call(nc, f"$JS.API.STREAM.MSG.DELETE.{name}", {"seq": 2})

    plain = roundtrip(await call(nc, f"$JS.API.STREAM.INFO.{name}"), S.StreamInfoResponse)
    assert (plain.total, plain.offset, plain.limit) == (0, 0, 0)
    assert plain.state is not None
    assert plain.state.num_subjects == 3 and plain.state.num_deleted == 1
    assert plain.state.subjects is None and plain.state.deleted is None

    full = roundtrip(
        await call(nc, f"$JS.API.STREAM.INFO.{name}", {"subjects_filter": ">", "deleted_details": True}),
        S.StreamInfoResponse,
    )
    assert (full.total, full.offset, full.limit) == (3, 0, S.SUBJECTS_PAGE_SIZE)
    assert full.state is not None and full.state.deleted == [2]
    assert full.state.subjects == {f"{name}.a": 1, f"{name}.b": 3, f"{name}.c": 1}

    paged = roundtrip(
        await call(nc, f"$JS.API.STREAM.INFO.{name}", {"subjects_filter": f"{name}.*", "offset": 1}),
        S.StreamInfoResponse,
    )
    assert (paged.total, paged.offset) == (3, 1)
    assert paged.state is not None and paged.state.subjects is not None and len(paged.state.subjects) == 2

    missing = roundtrip(await call(nc, "$JS.API.STREAM.INFO.NO_SUCH_STREAM"), S.StreamInfoResponse)
    assert missing.error == S.ApiErrorBody.of(api_error(JSErr.STREAM_NOT_FOUND))
    assert (missing.total, missing.offset, missing.limit) == (0, 0, 0)


async def test_update(nc: Client) -> None:
    name = unique("UPD")
    await create(nc, {"name": name, "subjects": [f"{name}.>"], "max_msgs": 10})
    body = {"name": name, "subjects": [f"{name}.>"], "max_msgs": 20, "description": "new"}
    resp = roundtrip(await call(nc, f"$JS.API.STREAM.UPDATE.{name}", body), S.StreamUpdateResponse)
    assert resp.config is not None and marshal_json(resp.config) == expected_config(body)
    bad = {"name": name, "subjects": [f"{name}.>"], "storage": "memory"}
    err = roundtrip(await call(nc, f"$JS.API.STREAM.UPDATE.{name}", bad), S.StreamUpdateResponse)
    assert err.error == S.ApiErrorBody.of(api_error(JSErr.STREAM_INVALID_CONFIG, err=Reason.UPDATE_STORAGE))


async def test_names_and_list(nc: Client) -> None:
    name = unique("NL")
    await create(nc, {"name": name, "subjects": [f"{name}.x"]})
    names = roundtrip(await call(nc, "$JS.API.STREAM.NAMES"), S.StreamNamesResponse)
    assert names.limit == S.NAMES_PAGE_SIZE and names.streams is not None and name in names.streams
    assert names.streams == sorted(names.streams)
    one = roundtrip(await call(nc, "$JS.API.STREAM.NAMES", {"subject": f"{name}.x"}), S.StreamNamesResponse)
    assert one.streams == [name] and one.total == 1
    none = roundtrip(
        await call(nc, "$JS.API.STREAM.NAMES", {"subject": "no.such.subject"}), S.StreamNamesResponse
    )
    assert none.streams is None and none.total == 0
    beyond = roundtrip(await call(nc, "$JS.API.STREAM.NAMES", {"offset": 100000}), S.StreamNamesResponse)
    assert beyond.offset == beyond.total and beyond.streams is None  # offset clamped to total
    bad = roundtrip(await call(nc, "$JS.API.STREAM.NAMES", {"limit": 1}), S.StreamNamesResponse)
    assert bad.error is not None and bad.error.err_code == 10025 and bad.streams is None

    lst = roundtrip(await call(nc, "$JS.API.STREAM.LIST", {"subject": f"{name}.x"}), S.StreamListResponse)
    assert lst.limit == S.LIST_PAGE_SIZE and len(lst.streams) == 1
    entry = lst.streams[0]
    assert entry.cluster is None
    assert entry.config.metadata == {"_nats.req.level": "0"}  # no dynamic metadata in lists
    empty = roundtrip(
        await call(nc, "$JS.API.STREAM.LIST", {"subject": "no.such.subject"}), S.StreamListResponse
    )
    assert empty.streams == [] and empty.total == 0
    roundtrip(await call(nc, "$JS.API.STREAM.LIST"), S.StreamListResponse)
    err = roundtrip(await call(nc, "$JS.API.STREAM.LIST", {"foo": 1}), S.StreamListResponse)
    assert err.error is not None and err.streams == []


async def test_msg_get_and_delete(nc: Client) -> None:
    name = unique("GET")
    await create(nc, {"name": name, "subjects": [f"{name}.>"]})
    await call(nc, f"{name}.a", "one")
    await call(nc, f"{name}.b", "two", headers={"X-A": "1"})
    await call(nc, f"{name}.a", "")
    got = roundtrip(await call(nc, f"$JS.API.STREAM.MSG.GET.{name}", {"seq": 2}), S.StreamMsgGetResponse)
    assert got.message is not None and got.message.data == b"two"
    assert got.message.hdrs == b"NATS/1.0\r\nX-A: 1\r\n\r\n"
    empty = roundtrip(await call(nc, f"$JS.API.STREAM.MSG.GET.{name}", {"seq": 3}), S.StreamMsgGetResponse)
    assert empty.message is not None and empty.message.data == b""  # "data" omitted
    last = roundtrip(
        await call(nc, f"$JS.API.STREAM.MSG.GET.{name}", {"last_by_subj": f"{name}.a"}),
        S.StreamMsgGetResponse,
    )
    assert last.message is not None and last.message.seq == 3
    nxt = roundtrip(
        await call(nc, f"$JS.API.STREAM.MSG.GET.{name}", {"seq": 1, "next_by_subj": f"{name}.b"}),
        S.StreamMsgGetResponse,
    )
    assert nxt.message is not None and nxt.message.seq == 2
    assert (
        base64.b64encode(b"two").decode()
        in (await call(nc, f"$JS.API.STREAM.MSG.GET.{name}", {"seq": 2})).decode()
    )

    for body, err in [
        ({"seq": 99}, api_error(JSErr.NO_MESSAGE_FOUND)),
        ({}, api_error(JSErr.BAD_REQUEST)),
        ({"seq": 1, "last_by_subj": f"{name}.a"}, api_error(JSErr.BAD_REQUEST)),
        ({"batch": 2}, api_error(JSErr.BAD_REQUEST)),
    ]:
        resp = roundtrip(await call(nc, f"$JS.API.STREAM.MSG.GET.{name}", body), S.StreamMsgGetResponse)
        assert resp.error == S.ApiErrorBody.of(err)

    ok = roundtrip(await call(nc, f"$JS.API.STREAM.MSG.DELETE.{name}", {"seq": 2}), S.StreamMsgDeleteResponse)
    assert ok.success is True
    gap = roundtrip(
        await call(nc, f"$JS.API.STREAM.MSG.DELETE.{name}", {"seq": 2}), S.StreamMsgDeleteResponse
    )
    assert gap.error == S.ApiErrorBody.of(api_error(JSErr.SEQUENCE_NOT_FOUND, seq=2))  # an interior gap
    erased = roundtrip(
        await call(nc, f"$JS.API.STREAM.MSG.DELETE.{name}", {"seq": 1, "no_erase": True}),
        S.StreamMsgDeleteResponse,
    )
    assert erased.success is True
    for body, err in [
        ({"seq": 1}, api_error(JSErr.STREAM_MSG_DELETE_FAILED, err=Reason.MSG_NOT_FOUND)),  # below the first
        ({"seq": 100}, api_error(JSErr.STREAM_MSG_DELETE_FAILED, err=Reason.STORE_EOF)),
        ({"seq": 0}, api_error(JSErr.STREAM_MSG_DELETE_FAILED, err=Reason.MSG_NOT_FOUND)),
        (b"", api_error(JSErr.BAD_REQUEST)),
    ]:
        resp = roundtrip(await call(nc, f"$JS.API.STREAM.MSG.DELETE.{name}", body), S.StreamMsgDeleteResponse)
        assert resp.error == S.ApiErrorBody.of(err) and resp.success is False


async def test_purge_and_delete(nc: Client) -> None:
    name = unique("PUR")
    await create(nc, {"name": name, "subjects": [f"{name}.>"]})
    for i in range(6):
        await call(nc, f"{name}.{i % 2}", "x")
    keep = roundtrip(
        await call(nc, f"$JS.API.STREAM.PURGE.{name}", {"filter": f"{name}.0", "keep": 1}),
        S.StreamPurgeResponse,
    )
    assert keep.success is True and keep.purged == 2
    below = roundtrip(await call(nc, f"$JS.API.STREAM.PURGE.{name}", {"seq": 5}), S.StreamPurgeResponse)
    assert below.purged == 2
    everything = roundtrip(await call(nc, f"$JS.API.STREAM.PURGE.{name}"), S.StreamPurgeResponse)
    assert everything.purged == 2
    info = roundtrip(await call(nc, f"$JS.API.STREAM.INFO.{name}"), S.StreamInfoResponse)
    assert info.state is not None and info.state.first_seq == 7 and info.state.last_seq == 6
    bad = roundtrip(
        await call(nc, f"$JS.API.STREAM.PURGE.{name}", {"seq": 5, "keep": 1}), S.StreamPurgeResponse
    )
    assert bad.error == S.ApiErrorBody.of(api_error(JSErr.BAD_REQUEST)) and bad.purged == 0
    missing = roundtrip(await call(nc, "$JS.API.STREAM.PURGE.NO_SUCH_STREAM"), S.StreamPurgeResponse)
    assert missing.error == S.ApiErrorBody.of(api_error(JSErr.STREAM_NOT_FOUND))

    not_empty = roundtrip(await call(nc, f"$JS.API.STREAM.DELETE.{name}", "x"), S.StreamDeleteResponse)
    assert not_empty.error == S.ApiErrorBody.of(api_error(JSErr.NOT_EMPTY_REQUEST))
    deleted = roundtrip(await call(nc, f"$JS.API.STREAM.DELETE.{name}", "{}"), S.StreamDeleteResponse)
    assert deleted.success is True and deleted.error is None
    gone = roundtrip(await call(nc, f"$JS.API.STREAM.DELETE.{name}"), S.StreamDeleteResponse)
    assert gone.error == S.ApiErrorBody.of(api_error(JSErr.STREAM_NOT_FOUND))


def test_is_empty_request() -> None:
    for body in (b"", b"{}", b" {} ", b"{ }"):
        assert codec.is_empty_request(body)
    for body in (b" ", b"null", b"[]", b'""', b'{"a":1}', b"{"):
        assert not codec.is_empty_request(body)
    assert codec.looks_like_object_or_array(b'  {"offset":1}') and codec.looks_like_object_or_array(b"[]")
    assert not codec.looks_like_object_or_array(b"1") and not codec.looks_like_object_or_array(b"")


# --------------------------------------------------------------------------------------
# PubAck
# --------------------------------------------------------------------------------------


async def test_pub_ack_bytes(nc: Client) -> None:
    name = unique("A<B&")  # names are Go-quoted in a PubAck, JSON-escaped elsewhere
    subject = unique("ack.")
    await create(nc, {"name": name, "subjects": [subject], "max_msg_size": 200, "allow_msg_ttl": True})
    first = await call(nc, subject, "x", headers={"Nats-Msg-Id": "id1"})
    assert first == codec.encode_pub_ack(name, 1)
    assert codec.decode_pub_ack(first) == S.PubAck(stream=name, seq=1)
    dup = await call(nc, subject, "x", headers={"Nats-Msg-Id": "id1"})
    assert dup == codec.encode_pub_ack(name, 1, duplicate=True)
    assert b'"duplicate": true' in dup
    assert codec.decode_pub_ack(dup) == S.PubAck(stream=name, seq=1, duplicate=True)

    cases: list[tuple[bytes | str, dict[str, str], ApiError]] = [
        ("x", {"Nats-Expected-Stream": "OTHER"}, api_error(JSErr.STREAM_NOT_MATCH)),
        ("x", {"Nats-Expected-Last-Sequence": "5"}, api_error(JSErr.STREAM_WRONG_LAST_SEQUENCE, seq=1)),
        ("x", {"Nats-Expected-Last-Msg-Id": "nope"}, api_error(JSErr.STREAM_WRONG_LAST_MSG_ID, id="id1")),
        (
            "x",
            {"Nats-Expected-Last-Subject-Sequence": "9"},
            api_error(JSErr.STREAM_WRONG_LAST_SEQUENCE, seq=1),
        ),
        ("x" * 201, {}, api_error(JSErr.STREAM_MESSAGE_EXCEEDS_MAXIMUM)),
        ("x", {"Nats-Rollup": "sub"}, wrap_error(JSErr.STREAM_ROLLUP_FAILED, Reason.ROLLUP_NOT_PERMITTED)),
        ("x", {"Nats-TTL": "abc"}, api_error(JSErr.MESSAGE_TTL_INVALID)),
        ("x", {"Nats-TTL": "0"}, api_error(JSErr.MESSAGE_TTL_INVALID)),
        ("x", {"Nats-Incr": "1"}, api_error(JSErr.MESSAGE_INCR_DISABLED)),
        ("x", {"Nats-Schedule": "@every 1s"}, api_error(JSErr.MESSAGE_SCHEDULES_DISABLED)),
        ("x", {"Nats-Batch-Id": "b", "Nats-Batch-Sequence": "1"}, api_error(JSErr.ATOMIC_PUBLISH_DISABLED)),
        (
            "x",
            {"Nats-Expected-Last-Subject-Sequence-Subject": f"{subject}.zz"},
            api_error(JSErr.STREAM_EXPECTED_LAST_SEQ_PER_SUBJECT_INVALID),
        ),
    ]
    for payload, headers, err in cases:
        raw = await call(nc, subject, payload, headers=headers)
        assert raw == codec.encode_pub_ack_error(name, err), headers
        decoded = codec.decode_pub_ack(raw)
        assert isinstance(decoded, S.PubAckError) and decoded.error == S.ApiErrorBody.of(err)

    plain = unique("NOTTL")
    await create(nc, {"name": plain, "subjects": [f"{plain}.>"]})
    raw = await call(nc, f"{plain}.a", "x", headers={"Nats-TTL": "1s"})
    assert raw == codec.encode_pub_ack_error(plain, api_error(JSErr.MESSAGE_TTL_DISABLED))


@pytest.mark.parametrize(
    ("cfg", "pubs", "reason"),
    [
        ({"max_msgs": 1}, ["a", "b"], Reason.MAX_MSGS),
        ({"max_bytes": 50}, ["a", "a"], Reason.MAX_BYTES),
        (
            {"max_msgs_per_subject": 1, "discard_new_per_subject": True},
            ["a", "a"],
            Reason.MAX_MSGS_PER_SUBJECT,
        ),
    ],
)
async def test_pub_ack_discard_new_limits(
    nc: Client, cfg: dict[str, Any], pubs: list[str], reason: str
) -> None:
    name = unique("LIM")
    await create(nc, {"name": name, "subjects": [f"{name}.>"], "discard": "new", **cfg})
    assert await call(nc, f"{name}.{pubs[0]}", "1") == codec.encode_pub_ack(name, 1)
    raw = await call(nc, f"{name}.{pubs[1]}", "1")
    assert raw == codec.encode_pub_ack_error(name, wrap_error(JSErr.STREAM_STORE_FAILED, reason))


async def test_sealed_stream(nc: Client) -> None:
    name = unique("SEAL")
    await create(nc, {"name": name, "subjects": [f"{name}.>"], "max_age": 10_000_000_000})
    await call(nc, f"{name}.a", "1")
    body = {"name": name, "subjects": [f"{name}.>"], "max_age": 10_000_000_000, "sealed": True}
    resp = roundtrip(await call(nc, f"$JS.API.STREAM.UPDATE.{name}", body), S.StreamUpdateResponse)
    assert resp.config is not None
    # Sealing forces these (not part of with_defaults: the update path does it).
    assert (resp.config.max_age, resp.config.discard, resp.config.deny_delete, resp.config.deny_purge) == (
        0,
        "new",
        True,
        True,
    )
    sealed = api_error(JSErr.STREAM_SEALED)
    assert await call(nc, f"{name}.a", "1") == codec.encode_pub_ack_error(name, sealed)
    purge = roundtrip(await call(nc, f"$JS.API.STREAM.PURGE.{name}"), S.StreamPurgeResponse)
    assert purge.error == S.ApiErrorBody.of(sealed)


async def test_domain_in_pub_ack_and_account_info() -> None:
    with reference_js("jetstream { domain: hub }\n") as ref:
        client = await nats.connect(ref.url)
        try:
            await create(client, {"name": "DOM", "subjects": ["dom.>"]})
            assert await call(client, "dom.a", "1") == codec.encode_pub_ack("DOM", 1, domain="hub")
            dup = await call(client, "dom.a", "1", headers={"Nats-Msg-Id": "x"})
            assert dup == codec.encode_pub_ack("DOM", 2, domain="hub")
            dup = await call(client, "dom.a", "1", headers={"Nats-Msg-Id": "x"})
            assert dup == codec.encode_pub_ack("DOM", 2, domain="hub", duplicate=True)
            err = await call(client, "dom.a", "1", headers={"Nats-Expected-Stream": "X"})
            assert err == codec.encode_pub_ack_error("DOM", api_error(JSErr.STREAM_NOT_MATCH))  # no domain
            info = roundtrip(await call(client, "$JS.API.INFO"), S.AccountInfoResponse)
            assert info.domain == "hub"
            sinfo = roundtrip(await call(client, "$JS.API.STREAM.INFO.DOM"), S.StreamInfoResponse)
            assert sinfo.domain == "hub"
        finally:
            await client.close()


# --------------------------------------------------------------------------------------
# Consumers
# --------------------------------------------------------------------------------------


async def test_consumer_responses(nc: Client) -> None:
    stream = unique("CON")
    await create(nc, {"name": stream, "subjects": [f"{stream}.>"]})
    for _ in range(3):
        await call(nc, f"{stream}.a", "x")
    api = "$JS.API.CONSUMER"

    pull = roundtrip(
        await call(
            nc,
            f"{api}.CREATE.{stream}.P1",
            {"stream_name": stream, "config": {"durable_name": "P1", "ack_policy": "explicit"}},
        ),
        S.ConsumerCreateResponse,
    )
    assert (
        pull.config is not None and pull.config.max_waiting == 512 and pull.config.ack_wait == 30_000_000_000
    )
    full = {
        "durable_name": "F1",
        "name": "F1",
        "description": "d",
        "deliver_policy": "by_start_sequence",
        "opt_start_seq": 2,
        "ack_policy": "explicit",
        "ack_wait": 10000000000,
        "max_deliver": 5,
        "backoff": [1000000000, 2000000000],
        "filter_subjects": [f"{stream}.a", f"{stream}.b"],
        "replay_policy": "original",
        "sample_freq": "50%",
        "max_waiting": 10,
        "max_ack_pending": 20,
        "headers_only": True,
        "max_batch": 5,
        "max_expires": 60000000000,
        "max_bytes": 1024,
        "inactive_threshold": 30000000000,
        "num_replicas": 1,
        "mem_storage": True,
        "metadata": {"a": "b"},
        "pause_until": "2099-01-01T00:00:00Z",
        "priority_groups": ["g1"],
        "priority_policy": "pinned_client",
    }
    body = {"stream_name": stream, "config": full, "action": "create"}
    resp = roundtrip(await call(nc, f"{api}.CREATE.{stream}.F1", body), S.ConsumerCreateResponse)
    assert resp.paused is True and resp.priority_groups is not None
    request = codec.decode_request(json.dumps(body).encode(), S.ConsumerCreateRequest)
    assert request.config.backoff == [1000000000, 2000000000] and request.action == "create"
    push = {
        "durable_name": "F2",
        "deliver_policy": "by_start_time",
        "opt_start_time": "2020-01-01T00:00:00.123+01:00",
        "ack_policy": "all",
        "filter_subject": f"{stream}.a",
        "rate_limit_bps": 1000,
        "flow_control": True,
        "idle_heartbeat": 5000000000,
        "deliver_subject": f"dl.{stream}",
        "deliver_group": "q",
    }
    resp = roundtrip(
        await call(nc, f"{api}.DURABLE.CREATE.{stream}.F2", {"stream_name": stream, "config": push}),
        S.ConsumerCreateResponse,
    )
    assert resp.config is not None and resp.config.opt_start_time == "2020-01-01T00:00:00.123+01:00"
    eph = roundtrip(
        await call(
            nc, f"{api}.CREATE.{stream}", {"stream_name": stream, "config": {"deliver_policy": "last"}}
        ),
        S.ConsumerCreateResponse,
    )
    assert eph.config is not None and eph.config.inactive_threshold == 5_000_000_000

    roundtrip(await call(nc, f"{api}.INFO.{stream}.P1"), S.ConsumerInfoResponse)
    names = roundtrip(await call(nc, f"{api}.NAMES.{stream}"), S.ConsumerNamesResponse)
    assert names.limit == S.NAMES_PAGE_SIZE and "P1" in names.consumers
    lst = roundtrip(await call(nc, f"{api}.LIST.{stream}"), S.ConsumerListResponse)
    assert lst.limit == S.LIST_PAGE_SIZE and all(c.config is not None for c in lst.consumers)
    for c in lst.consumers:
        assert c.config is not None and c.config.metadata is not None and "_nats.ver" not in c.config.metadata
    roundtrip(
        await call(nc, f"{api}.PAUSE.{stream}.P1", {"pause_until": "2099-01-01T00:00:00Z"}),
        S.ConsumerPauseResponse,
    )
    roundtrip(await call(nc, f"{api}.PAUSE.{stream}.P1", "{}"), S.ConsumerPauseResponse)
    assert roundtrip(await call(nc, f"{api}.DELETE.{stream}.P1"), S.ConsumerDeleteResponse).success is True

    errors: list[tuple[str, Any, ApiError]] = [
        (f"{api}.INFO.{stream}.NOPE", b"", api_error(JSErr.CONSUMER_NOT_FOUND)),
        (f"{api}.DELETE.{stream}.NOPE", b"", api_error(JSErr.CONSUMER_NOT_FOUND)),
        (
            f"{api}.CREATE.{stream}",
            {"stream_name": stream, "config": {"durable_name": "D"}},
            api_error(JSErr.CONSUMER_EPHEMERAL_WITH_DURABLE_NAME),
        ),
        (
            f"{api}.CREATE.{stream}.U1",
            {"stream_name": stream, "config": {"name": "U1"}, "action": "update"},
            api_error(JSErr.CONSUMER_DOES_NOT_EXIST),
        ),
        (
            f"{api}.CREATE.{stream}.U2.{stream}.a",
            {"stream_name": stream, "config": {"name": "U2", "filter_subject": f"{stream}.b"}},
            api_error(JSErr.CONSUMER_CREATE_FILTER_SUBJECT_MISMATCH),
        ),
        (
            f"{api}.CREATE.{stream}.U3",
            {"stream_name": "OTHER", "config": {"name": "U3"}},
            api_error(JSErr.STREAM_MISMATCH),
        ),
        (
            f"{api}.CREATE.NO_SUCH.U4",
            {"stream_name": "NO_SUCH", "config": {"name": "U4"}},
            api_error(JSErr.STREAM_NOT_FOUND),
        ),
    ]
    for subject, req, err in errors:
        raw = await call(nc, subject, req)
        model: type[msgspec.Struct] = (
            S.ConsumerInfoResponse if ".INFO." in subject else S.ConsumerCreateResponse
        )
        if ".DELETE." in subject:
            model = S.ConsumerDeleteResponse
        resp = roundtrip(raw, model)
        assert getattr(resp, "error", None) == S.ApiErrorBody.of(err), subject
    for subject in (f"{api}.NAMES.NO_SUCH", f"{api}.LIST.NO_SUCH"):
        model2: type[msgspec.Struct] = (
            S.ConsumerNamesResponse if "NAMES" in subject else S.ConsumerListResponse
        )
        resp2 = roundtrip(await call(nc, subject), model2)
        assert getattr(resp2, "consumers", None) == []


# --------------------------------------------------------------------------------------
# The error table against the reference
# --------------------------------------------------------------------------------------


async def test_stream_api_errors_match_table(nc: Client) -> None:
    taken = unique("TAKEN")
    await create(nc, {"name": taken, "subjects": [f"{taken}.>"]})
    cases: list[tuple[str, dict[str, Any] | str, ApiError]] = [
        ("NOPE", "", api_error(JSErr.STREAM_NOT_FOUND)),  # STREAM.INFO
        (taken, {"name": taken, "max_msgs": 5}, api_error(JSErr.STREAM_NAME_EXIST)),
        ("OVL", {"name": "OVL", "subjects": [f"{taken}.x"]}, api_error(JSErr.STREAM_SUBJECT_OVERLAP)),
        ("MIS", {"name": "OTHER"}, api_error(JSErr.STREAM_MISMATCH)),
        ("MIS2", {}, api_error(JSErr.STREAM_MISMATCH)),
        ("A*", {"name": "A*"}, api_error(JSErr.STREAM_INVALID_CONFIG, err=Reason.NAME_INVALID)),
        ("A/B", {"name": "A/B"}, api_error(JSErr.STREAM_NAME_CONTAINS_PATH_SEPARATORS)),
        ("NEG", {"name": "NEG", "num_replicas": -1}, api_error(JSErr.REPLICAS_COUNT_CANNOT_BE_NEGATIVE)),
        ("R3", {"name": "R3", "num_replicas": 3}, api_error(JSErr.STREAM_REPLICAS_NOT_SUPPORTED)),
        (
            "MA",
            {"name": "MA", "max_age": -1},
            api_error(JSErr.STREAM_INVALID_CONFIG, err=Reason.MAX_AGE_NEGATIVE),
        ),
        (
            "MA2",
            {"name": "MA2", "max_age": 1},
            api_error(JSErr.STREAM_INVALID_CONFIG, err=Reason.MAX_AGE_TOO_SMALL),
        ),
        (
            "DW",
            {"name": "DW", "max_age": 1_000_000_000, "duplicate_window": 2_000_000_000},
            api_error(JSErr.STREAM_INVALID_CONFIG, err=Reason.DUPLICATES_ABOVE_MAX_AGE),
        ),
        (
            "RP",
            {"name": "RP", "deny_purge": True, "allow_rollup_hdrs": True},
            api_error(JSErr.STREAM_INVALID_CONFIG, err=Reason.ROLLUP_NEEDS_PURGE),
        ),
        (
            "SEAL",
            {"name": "SEAL", "sealed": True},
            api_error(JSErr.STREAM_INVALID_CONFIG, err=Reason.CREATE_SEALED),
        ),
        (
            "DUP",
            {"name": "DUP", "subjects": ["a", "a"]},
            api_error(
                JSErr.STREAM_INVALID_CONFIG, err=Reason.SUBJECTS_OVERLAP % (go_quote("a"), go_quote("a"))
            ),
        ),
        (
            "ALL",
            {"name": "ALL", "subjects": [">"]},
            api_error(JSErr.STREAM_INVALID_CONFIG, err=Reason.CAPTURE_ALL_NO_ACK),
        ),
        (
            "JSAPI",
            {"name": "JSAPI", "subjects": ["$JS.API.>"]},
            api_error(JSErr.STREAM_INVALID_CONFIG, err=Reason.JS_API_OVERLAP),
        ),
        (
            "DESC",
            {"name": "DESC", "description": "d" * 5000},
            api_error(
                JSErr.STREAM_INVALID_CONFIG, err=Reason.DESCRIPTION_TOO_LONG % S.JS_MAX_DESCRIPTION_LEN
            ),
        ),
        (
            "Y" * 256,
            {"name": "Y" * 256},
            api_error(JSErr.STREAM_INVALID_CONFIG, err=Reason.NAME_TOO_LONG % S.JS_MAX_NAME_LEN),
        ),
        (
            "MS",
            {"name": "MS", "subjects": ["x"], "mirror": {"name": taken}},
            api_error(JSErr.MIRROR_WITH_SUBJECTS),
        ),
        (
            "MF",
            {"name": "MF", "first_seq": 5, "mirror": {"name": taken}},
            api_error(JSErr.MIRROR_WITH_FIRST_SEQ),
        ),
        (
            "MT",
            {
                "name": "MT",
                "mirror": {
                    "name": taken,
                    "filter_subject": "a",
                    "subject_transforms": [{"src": "a", "dest": "b"}],
                },
            },
            api_error(JSErr.MIRROR_MULTIPLE_FILTERS_NOT_ALLOWED),
        ),
        (
            "MC",
            {"name": "MC", "mirror": {"name": taken, "consumer": {}}},
            api_error(JSErr.MIRROR_DURABLE_CONSUMER_CFG_INVALID),
        ),
        (
            "CN",
            {"name": "CN", "discard": "new", "allow_msg_counter": True},
            api_error(JSErr.STREAM_INVALID_CONFIG, err=Reason.COUNTER_DISCARD_NEW),
        ),
        (
            "AS",
            {"name": "AS", "persist_mode": "async", "storage": "memory"},
            api_error(JSErr.STREAM_INVALID_CONFIG, err=Reason.ASYNC_NEEDS_FILE),
        ),
        ("BADJ", "{", api_error(JSErr.INVALID_JSON, err="unexpected EOF")),
    ]
    for name, body, err in cases:
        subject = f"$JS.API.STREAM.INFO.{name}" if body == "" else f"$JS.API.STREAM.CREATE.{name}"
        model: type[msgspec.Struct] = S.StreamInfoResponse if body == "" else S.StreamCreateResponse
        resp = roundtrip(await call(nc, subject, body), model)
        got = getattr(resp, "error", None)
        assert got is not None, name
        assert msgspec.structs.asdict(got) == error_dict(err), name


# --------------------------------------------------------------------------------------
# Malformed requests: decode_request against the reference
# --------------------------------------------------------------------------------------

MALFORMED_STREAM_CONFIGS: list[bytes] = [
    b"{",
    b"[]",
    b"true",
    b"1",
    b'"x"',
    b"abc",
    b'{"name"',
    b'{"name":}',
    b'{"a" 1}',
    b'{"name":"X" "b":1}',
    b'"abc',
    b"tru",
    b'{"a":1,}',
    b'{"a"}',
    b"{1:2}",
    b"[1,2",
    b"[1 2]",
    b'{"name":"X"}]',
    b'{"name":"X"} x',
    b'{"name":"X"} }',
    b'{"name":"X"} "x"',
    b'{"name":"X"} 1x',
    b'\xef\xbb\xbf{"name":"X"}',
    b'{"name":"X\\q"}',
    b'{"name":"X\n"}',
    b'{"name":"X","description":"a\tb"}',
    b'{"name":"X\\u12"}',
    b'{"name":"X\\uZZZZ"}',
    b'{"name":"X\\u00"',
    b'{"name":"X\\',
    b'{"name":"X","sealed":tru}',
    b'{"name":"X","sealed":trux}',
    b'{"name":"X","sealed":nul}',
    b'{"name":"X","max_msgs":-}',
    b'{"name":"X","max_msgs":1.}',
    b'{"name":"X","max_msgs":.5}',
    b'{"name":"X","max_msgs":1e}',
    b'{"name":"X","max_msgs":01}',
    b'{"name":"X","max_msgs":"a"}',
    b'{"name":"X","max_msgs":1.5}',
    b'{"name":"X","max_msgs":1e3}',
    b'{"name":"X","max_msgs":-1.0e-2}',
    b'{"name":"X","max_msgs":9223372036854775808}',
    b'{"name":"X","max_msg_size":99999999999}',
    b'{"name":"X","first_seq":-1}',
    b'{"name":"X","first_seq":18446744073709551616}',
    b'{"name":"X","max_consumers":1.0}',
    b'{"name":"X","max_age":"1s"}',
    b'{"name":"X","max_age":1.5}',
    b'{"name":"X","sealed":1}',
    b'{"name":"X","sealed":"true"}',
    b'{"name":"X","pedantic":1}',
    b'{"name":"X","subjects":"a"}',
    b'{"name":"X","subjects":[1]}',
    b'{"name":"X","metadata":{"a":1}}',
    b'{"name":"X","metadata":[]}',
    b'{"name":"X","placement":[]}',
    b'{"name":"X","placement":{"tags":"a"}}',
    b'{"name":"X","subject_transform":1}',
    b'{"name":"X","consumer_limits":{"foo":1}}',
    b'{"name":"X","republish":{"dest":"a","x":1}}',
    b'{"name":"X","template_owner":"x"}',
    b'{"name":"X","mirror":{"name":1}}',
    b'{"name":"X","sources":{}}',
    b'{"name":"X","sources":[1]}',
    b'{"name":"X","sources":[{"name":1}]}',
    b'{"name":"X","sources":[{"name":"A","subject_transforms":[{"src":1}]}]}',
    b'{"name":"X","retention":"foo"}',
    b'{"name":"X","retention":"Limits"}',
    b'{"name":"X","retention":""}',
    b'{"name":"X","retention":null}',
    b'{"name":"X","retention":1}',
    b'{"name":"X","retention":{"a":1}}',
    b'{"name":"X","retention":"\\u00e9x"}',
    b'{"name":"X","retention":"\xff"}',  # Go's %q of the raw bytes: "\"\xff\""
    b'{"name":"X","storage":"a\xed\xa0\x80"}',
    b'{"name":"X","storage":"Memory"}',
    b'{"name":"X","storage":null}',
    b'{"name":"X","discard":"foo"}',
    b'{"name":"X","discard":1}',
    b'{"name":"X","discard":null}',
    b'{"name":"X","compression":"foo"}',
    b'{"name":"X","compression":""}',
    b'{"name":"X","compression":"S2"}',
    b'{"name":"X","compression":null}',
    b'{"name":"X","compression":1}',
    b'{"name":"X","persist_mode":"foo"}',
    b'{"name":"X","persist_mode":"ASYNC"}',
    b'{"name":"X","persist_mode":1}',
    b'{"name":"X","Max_Msgs":"z"}',
    b'{"name":"X","unknown_b":1,"max_msgs":"z"}',
    b'{"name":"X","max_msgs":"z","unknown_b":1}',
    b'{"name":"X","max_msgs":"z","retention":"foo"}',
    b'{"name":"X","retention":"foo","max_msgs":"z"}',
    b'{"name":"X","foo":1,"retention":"foo"}',
    b'{"name":"X","retention":"foo","foo":1}',
    b'{"name":"X","mirror":{"name":"S","opt_start_time":1}}',
    b'{"name":"X","mirror":{"name":"S","opt_start_time":"2020-01-01"}}',
    b'{"name":"X","mirror":{"name":"S","opt_start_time":"2020-01-01T00:00:00"}}',
    b'{"name":"X","mirror":{"name":"S","opt_start_time":"2020-13-01T00:00:00Z"}}',
    b'{"name":"X","mirror":{"name":"S","opt_start_time":"2021-02-29T00:00:00Z"}}',
    b'{"name":"X","mirror":{"name":"S","opt_start_time":"2021-02-01T25:00:00Z"}}',
    b'{"name":"X","mirror":{"name":"S","opt_start_time":"2021-02-01T20:00:00Zx"}}',
    b'{"name":"X","mirror":{"name":"S","opt_start_time":"2021-02-01T20:00:00+0100"}}',
    b'{"name":"X","mirror":{"name":"S","opt_start_time":"\xc3\xa9"}}',
    b'{"name":"X","sources":[{"name":"A","opt_start_time":"bad"}]}',
]


@pytest.mark.parametrize("body", MALFORMED_STREAM_CONFIGS, ids=lambda b: b.decode("utf-8", "replace")[:40])
async def test_malformed_stream_config(nc: Client, body: bytes) -> None:
    raw = await call(nc, "$JS.API.STREAM.CREATE.MALFORMED_X", body)
    resp = msgspec.json.decode(raw, type=S.StreamCreateResponse)
    assert resp.error is not None and resp.error.err_code == JSErr.INVALID_JSON.err_code, raw
    with pytest.raises(ApiError) as exc:
        codec.decode_request(body, S.StreamConfigRequest)
    assert exc.value.error is JSErr.INVALID_JSON
    assert exc.value.to_dict() == msgspec.structs.asdict(resp.error)


ACCEPTED_ODDITIES: list[bytes] = [
    b"",  # empty: the zero request (then a name mismatch)
    b"  ",
    b"null",
    b'{"Name":"X"}',
    b'{"name":"X","NAME":"X"}',
    b'{"name":"X"}{}',
    b'{"name":"X"}  ',
    b'{"name":"X","max_msgs":null}',
    b'{"name":"X","max_msgs":-0}',
    b'{"name":"X","subjects":null}',
    b'{"name":"X","placement":null}',
    b'{"name":"X","consumer_limits":null}',
    b'{"name":"X","persist_mode":""}',
    b'{"name":"X","persist_mode":"default"}',
    b'{"name":"X","discard":"OLD"}',
    b'{"name":"X","description":"\\ud800"}',
    b'{"name":"X","mirror":{"name":"S","opt_start_time":null}}',
]


@pytest.mark.parametrize("body", ACCEPTED_ODDITIES, ids=lambda b: b.decode()[:40])
async def test_accepted_oddities(nc: Client, body: bytes) -> None:
    raw = await call(nc, "$JS.API.STREAM.CREATE.ODD_X", body)
    resp = msgspec.json.decode(raw, type=S.StreamCreateResponse)
    assert resp.error is None or resp.error.err_code != JSErr.INVALID_JSON.err_code, raw
    codec.decode_request(body, S.StreamConfigRequest)  # no ApiError


OTHER_REQUESTS: list[tuple[str, type[msgspec.Struct], bytes]] = [
    ("$JS.API.STREAM.INFO.{s}", S.StreamInfoRequest, b'{"offset":"a"}'),
    ("$JS.API.STREAM.INFO.{s}", S.StreamInfoRequest, b'{"deleted_details":1}'),
    ("$JS.API.STREAM.INFO.{s}", S.StreamInfoRequest, b'{"limit":1}'),
    ("$JS.API.STREAM.INFO.{s}", S.StreamInfoRequest, b"[]"),
    ("$JS.API.STREAM.INFO.{s}", S.StreamInfoRequest, b'{"offset":1} {"foo":1}'),
    ("$JS.API.STREAM.NAMES", S.StreamNamesRequest, b'{"offset":"a"}'),
    ("$JS.API.STREAM.NAMES", S.StreamNamesRequest, b"[1]"),
    ("$JS.API.STREAM.LIST", S.StreamListRequest, b'{"subject":[]}'),
    ("$JS.API.STREAM.PURGE.{s}", S.StreamPurgeRequest, b'{"keep":"a"}'),
    ("$JS.API.STREAM.PURGE.{s}", S.StreamPurgeRequest, b'{"seq":-1}'),
    ("$JS.API.STREAM.PURGE.{s}", S.StreamPurgeRequest, b'{"offset":1}'),
    ("$JS.API.STREAM.MSG.GET.{s}", S.MsgGetRequest, b'{"seq":"a"}'),
    ("$JS.API.STREAM.MSG.GET.{s}", S.MsgGetRequest, b"1"),
    ("$JS.API.STREAM.MSG.GET.{s}", S.MsgGetRequest, b'"x"'),
    ("$JS.API.STREAM.MSG.GET.{s}", S.MsgGetRequest, b"x"),
    ("$JS.API.STREAM.MSG.GET.{s}", S.MsgGetRequest, b'{"seq":-1}'),
    ("$JS.API.STREAM.MSG.GET.{s}", S.MsgGetRequest, b'{"up_to_time":"x"}'),
    ("$JS.API.STREAM.MSG.GET.{s}", S.MsgGetRequest, b'{"multi_last":[1]}'),
    ("$JS.API.STREAM.MSG.GET.{s}", S.MsgGetRequest, b'{"asof":1}'),
    ("$JS.API.STREAM.MSG.DELETE.{s}", S.MsgDeleteRequest, b'{"seq":"a"}'),
    ("$JS.API.STREAM.MSG.DELETE.{s}", S.MsgDeleteRequest, b'{"no_erase":"t"}'),
    ("$JS.API.CONSUMER.CREATE.{s}.QQ", S.ConsumerCreateRequest, b"1"),
    ("$JS.API.CONSUMER.CREATE.{s}.QQ", S.ConsumerCreateRequest, b'{"config":1}'),
    ("$JS.API.CONSUMER.CREATE.{s}.QQ", S.ConsumerCreateRequest, b'{"config":{"name":"QQ","foo":1}}'),
    ("$JS.API.CONSUMER.CREATE.{s}.QQ", S.ConsumerCreateRequest, b'{"config":{"name":"QQ"},"action":"bogus"}'),
    ("$JS.API.CONSUMER.CREATE.{s}.QQ", S.ConsumerCreateRequest, b'{"action":null}'),
    ("$JS.API.CONSUMER.CREATE.{s}.QQ", S.ConsumerCreateRequest, b'{"config":{"deliver_policy":"ALL"}}'),
    ("$JS.API.CONSUMER.CREATE.{s}.QQ", S.ConsumerCreateRequest, b'{"config":{"ack_policy":null}}'),
    ("$JS.API.CONSUMER.CREATE.{s}.QQ", S.ConsumerCreateRequest, b'{"config":{"replay_policy":"ORIGINAL"}}'),
    ("$JS.API.CONSUMER.CREATE.{s}.QQ", S.ConsumerCreateRequest, b'{"config":{"priority_policy":""}}'),
    ("$JS.API.CONSUMER.CREATE.{s}.QQ", S.ConsumerCreateRequest, b'{"config":{"ack_wait":"1s"}}'),
    ("$JS.API.CONSUMER.CREATE.{s}.QQ", S.ConsumerCreateRequest, b'{"config":{"backoff":[1,"a"]}}'),
    ("$JS.API.CONSUMER.CREATE.{s}.QQ", S.ConsumerCreateRequest, b'{"config":{"opt_start_time":"2020"}}'),
    ("$JS.API.CONSUMER.CREATE.{s}.QQ", S.ConsumerCreateRequest, b'{"config":{"pause_until":5}}'),
    ("$JS.API.CONSUMER.CREATE.{s}.QQ", S.ConsumerCreateRequest, b'{"config":{"filter_subjects":"a"}}'),
    ("$JS.API.CONSUMER.CREATE.{s}.QQ", S.ConsumerCreateRequest, b'{"config":{"rate_limit_bps":-1}}'),
    ("$JS.API.CONSUMER.LIST.{s}", S.ConsumersRequest, b'{"offset":"a"}'),
    ("$JS.API.CONSUMER.NAMES.{s}", S.ConsumersRequest, b'{"subject":"x"}'),
]


async def test_other_request_errors_match_reference(nc: Client) -> None:
    stream = unique("REQ")
    await create(nc, {"name": stream, "subjects": [f"{stream}.>"]})
    await call(nc, f"{stream}.a", "x")
    for template, model, body in OTHER_REQUESTS:
        raw = await call(nc, template.format(s=stream), body)
        ref = json.loads(raw).get("error")
        assert ref is not None and ref["err_code"] == JSErr.INVALID_JSON.err_code, (template, body, raw)
        with pytest.raises(ApiError) as exc:
            codec.decode_request(body, model)
        assert exc.value.to_dict() == ref, (template, body)


async def test_bodies_ignored_unless_object_or_array(nc: Client) -> None:
    """INFO/NAMES/LIST/PURGE ignore a body that does not start with { or [."""
    stream = unique("IGN")
    await create(nc, {"name": stream, "subjects": [f"{stream}.>"]})
    for body in (b"1", b'"x"', b"true", b"null", b"x", b"1 {", b" "):
        assert not codec.looks_like_object_or_array(body)
        for subject in (
            f"$JS.API.STREAM.INFO.{stream}",
            "$JS.API.STREAM.NAMES",
            f"$JS.API.STREAM.PURGE.{stream}",
        ):
            assert b'"error"' not in await call(nc, subject, body), (subject, body)


# --------------------------------------------------------------------------------------
# Offline: formats and the table
# --------------------------------------------------------------------------------------


def test_pub_ack_bytes_offline() -> None:
    assert codec.encode_pub_ack("A<B", 7) == b'{"stream":"A<B","seq":7}'
    assert (
        codec.encode_pub_ack("S", 7, domain="d", duplicate=True)
        == b'{"stream":"S","domain":"d","seq":7,"duplicate": true}'
    )


def test_error_table() -> None:
    assert len(JSErr) == 226  # with MESSAGE_SOURCE_HDR_NOT_ALLOWED (10227)
    assert len({e.err_code for e in JSErr}) == len(JSErr)
    assert JSErr.STREAM_NOT_FOUND.value == (404, 10059, "stream not found")
    assert lookup(10059) is JSErr.STREAM_NOT_FOUND and lookup("STREAM_NOT_FOUND") is JSErr.STREAM_NOT_FOUND
    err = api_error("STREAM_WRONG_LAST_SEQUENCE", seq=5)
    assert err.to_dict() == {"code": 400, "err_code": 10071, "description": "wrong last sequence: 5"}
    assert error_dict(JSErr.STREAM_NOT_FOUND) == {
        "code": 404,
        "err_code": 10059,
        "description": "stream not found",
    }
    assert api_error(JSErr.STREAM_EXTERNAL_DEL_PREFIX_OVERLAPS, prefix="p", subject="s").description == (
        "stream external delivery prefix p overlaps with stream subject s"
    )
    assert api_error(JSErr.INVALID_JSON, err=ValueError("boom")).description == "invalid JSON: boom"
    assert api_error(JSErr.STREAM_GENERAL, err=True).description == "true"
    assert api_error(JSErr.STREAM_GENERAL).description == "{err}"  # nothing to fill in
    assert wrap_error(JSErr.STREAM_STORE_FAILED, err) is err
    assert wrap_error(JSErr.STREAM_STORE_FAILED, Reason.MAX_MSGS).to_dict() == {
        "code": 503,
        "err_code": 10077,
        "description": "maximum messages exceeded",
    }
    assert (
        JSErr.STREAM_REPLICAS_NOT_SUPPORTED.description == "replicas > 1 not supported in non-clustered mode"
    )


async def test_error_response_shapes(nc: Client) -> None:
    """error_response fills the always-written fields the way the reference does."""
    missing = api_error(JSErr.STREAM_NOT_FOUND)
    cases: list[tuple[str, bytes, type[msgspec.Struct], ApiError]] = [
        ("$JS.API.STREAM.INFO.NO_SUCH", b"", S.StreamInfoResponse, missing),
        ("$JS.API.STREAM.PURGE.NO_SUCH", b"", S.StreamPurgeResponse, missing),
        ("$JS.API.STREAM.DELETE.NO_SUCH", b"", S.StreamDeleteResponse, missing),
        ("$JS.API.STREAM.MSG.GET.NO_SUCH", b'{"seq":1}', S.StreamMsgGetResponse, missing),
        ("$JS.API.STREAM.UPDATE.NO_SUCH", b'{"name":"NO_SUCH"}', S.StreamUpdateResponse, missing),
        ("$JS.API.CONSUMER.NAMES.NO_SUCH", b"", S.ConsumerNamesResponse, missing),
        ("$JS.API.CONSUMER.LIST.NO_SUCH", b"", S.ConsumerListResponse, missing),
        ("$JS.API.CONSUMER.INFO.NO_SUCH.C", b"", S.ConsumerInfoResponse, missing),
        (
            "$JS.API.STREAM.NAMES",
            b'{"x":1}',
            S.StreamNamesResponse,
            api_error(JSErr.INVALID_JSON, err='json: unknown field "x"'),
        ),
        (
            "$JS.API.STREAM.LIST",
            b'{"x":1}',
            S.StreamListResponse,
            api_error(JSErr.INVALID_JSON, err='json: unknown field "x"'),
        ),
    ]
    for subject, body, cls, err in cases:
        assert await call(nc, subject, body) == marshal_json(codec.error_response(cls, err)), subject
