"""Streams through nats-py's JetStream API; every test runs on pynatsd and on the reference."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
import pytest
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

T = 10.0


async def connect(url: str) -> tuple[Any, Any]:
    nc = await nats.connect(url)
    return nc, nc.jetstream(timeout=T)


async def api(nc: Any, subject: str, body: Any = None) -> dict[str, Any]:
    data = b"" if body is None else json.dumps(body).encode()
    r = await nc.request(subject, data, timeout=T)
    return dict(json.loads(r.data))


async def test_account_info(js_url: str) -> None:
    nc, js = await connect(js_url)
    info = await api(nc, "$JS.API.INFO")
    assert info["type"] == "io.nats.jetstream.api.v1.account_info_response"
    assert info["streams"] == 0 and info["memory"] == 0 and info["storage"] == 0
    await js.add_stream(name="A", subjects=["a.>"])
    info = await api(nc, "$JS.API.INFO")
    assert info["streams"] == 1
    assert info["limits"]["max_streams"] == -1
    await nc.close()


async def test_create_defaults_and_idempotent(js_url: str) -> None:
    nc, _ = await connect(js_url)
    r = await api(nc, "$JS.API.STREAM.CREATE.ORDERS", {"name": "ORDERS", "subjects": ["orders.*"]})
    assert r["type"] == "io.nats.jetstream.api.v1.stream_create_response"
    assert r["did_create"] is True
    cfg = r["config"]
    assert cfg["retention"] == "limits" and cfg["storage"] == "file" and cfg["discard"] == "old"
    assert cfg["max_msgs"] == -1 and cfg["max_bytes"] == -1 and cfg["max_age"] == 0
    assert cfg["duplicate_window"] == 120_000_000_000 and cfg["num_replicas"] == 1
    assert r["state"]["messages"] == 0 and r["state"]["first_ts"] == "0001-01-01T00:00:00Z"
    again = await api(nc, "$JS.API.STREAM.CREATE.ORDERS", {"name": "ORDERS", "subjects": ["orders.*"]})
    assert "error" not in again and again["config"]["name"] == "ORDERS"
    other = await api(nc, "$JS.API.STREAM.CREATE.ORDERS", {"name": "ORDERS", "subjects": ["other"]})
    assert other["error"]["err_code"] == 10058
    await nc.close()


async def test_create_errors(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="A", subjects=["a.>"])
    overlap = await api(nc, "$JS.API.STREAM.CREATE.B", {"name": "B", "subjects": ["a.b"]})
    assert overlap["error"]["err_code"] == 10065
    mismatch = await api(nc, "$JS.API.STREAM.CREATE.C", {"name": "D"})
    assert mismatch["error"]["err_code"] == 10056
    bad_json = await api(nc, "$JS.API.STREAM.CREATE.E", None)
    assert bad_json["error"]["code"] == 400
    replicas = await api(nc, "$JS.API.STREAM.CREATE.R", {"name": "R", "num_replicas": 3})
    assert replicas["error"]["code"] in (400, 500)
    await nc.close()


async def test_default_subject_is_the_name(js_url: str) -> None:
    nc, js = await connect(js_url)
    info = await js.add_stream(name="PLAIN")
    assert info.config.subjects == ["PLAIN"]
    ack = await js.publish("PLAIN", b"x")
    assert ack.stream == "PLAIN" and ack.seq == 1
    await nc.close()


async def test_publish_ack_and_dedupe(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="D", subjects=["d.*"])
    a1 = await js.publish("d.x", b"one", headers={"Nats-Msg-Id": "id-1"})
    a2 = await js.publish("d.x", b"one again", headers={"Nats-Msg-Id": "id-1"})
    a3 = await js.publish("d.y", b"two")
    assert (a1.seq, a1.duplicate) == (1, None)
    assert (a2.seq, a2.duplicate) == (1, True)
    assert a3.seq == 2
    info = await js.stream_info("D")
    assert info.state.messages == 2
    await nc.close()


async def test_expected_headers(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="E", subjects=["e.*"])
    await js.publish("e.a", b"1", headers={"Nats-Msg-Id": "m1"})
    await js.publish("e.b", b"2")
    with pytest.raises(APIError) as err:
        await js.publish("e.a", b"x", headers={"Nats-Expected-Last-Sequence": "1"})
    assert err.value.err_code == 10071 and err.value.description == "wrong last sequence: 2"
    ok = await js.publish("e.a", b"3", headers={"Nats-Expected-Last-Sequence": "2"})
    assert ok.seq == 3
    with pytest.raises(APIError) as err:
        await js.publish("e.b", b"x", headers={"Nats-Expected-Last-Subject-Sequence": "1"})
    assert err.value.err_code == 10071 and err.value.description == "wrong last sequence: 2"
    await js.publish("e.b", b"4", headers={"Nats-Expected-Last-Subject-Sequence": "2"})
    with pytest.raises(APIError) as err:
        await js.publish("e.a", b"x", headers={"Nats-Expected-Stream": "OTHER"})
    assert err.value.err_code == 10060
    with pytest.raises(APIError) as err:
        await js.publish("e.a", b"x", headers={"Nats-Expected-Last-Msg-Id": "nope"})
    # the last message (e.b) carried no id, so the last msg id is empty
    assert err.value.err_code == 10070 and err.value.description == "wrong last msg ID: "
    await js.publish("e.c", b"5", headers={"Nats-Msg-Id": "m5"})
    with pytest.raises(APIError) as err:
        await js.publish("e.a", b"x", headers={"Nats-Expected-Last-Msg-Id": "m1"})
    assert err.value.description == "wrong last msg ID: m5"
    ok = await js.publish("e.a", b"6", headers={"Nats-Expected-Last-Msg-Id": "m5"})
    assert ok.seq == 6
    await nc.close()


async def test_limits_discard_old_and_new(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="OLD", subjects=["old"], max_msgs=3)
    for i in range(5):
        await js.publish("old", str(i).encode())
    st = (await js.stream_info("OLD")).state
    assert (st.messages, st.first_seq, st.last_seq) == (3, 3, 5)
    await js.add_stream(name="NEW", subjects=["new"], max_msgs=2, discard=DiscardPolicy.NEW)
    await js.publish("new", b"1")
    await js.publish("new", b"2")
    with pytest.raises(APIError) as err:
        await js.publish("new", b"3")
    assert err.value.description == "maximum messages exceeded"
    await js.add_stream(name="SIZE", subjects=["size"], max_msg_size=10)
    with pytest.raises(APIError) as err:
        await js.publish("size", b"x" * 11)
    assert err.value.err_code == 10054
    await nc.close()


async def test_max_msgs_per_subject_and_rollup(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="KV", subjects=["kv.>"], max_msgs_per_subject=2, allow_rollup_hdrs=True)
    for i in range(4):
        await js.publish("kv.a", str(i).encode())
    await js.publish("kv.b", b"b")
    info = await js.stream_info("KV", subjects_filter=">")
    assert info.state.messages == 3
    assert info.state.subjects == {"kv.a": 2, "kv.b": 1}
    await js.publish("kv.a", b"final", headers={"Nats-Rollup": "sub"})
    info = await js.stream_info("KV", subjects_filter=">")
    assert info.state.subjects == {"kv.a": 1, "kv.b": 1}
    await js.publish("kv.c", b"all", headers={"Nats-Rollup": "all"})
    assert (await js.stream_info("KV")).state.messages == 1
    await js.add_stream(name="NOROLL", subjects=["nr"])
    with pytest.raises(APIError) as err:
        await js.publish("nr", b"x", headers={"Nats-Rollup": "sub"})
    assert err.value.description == "rollup not permitted"
    await nc.close()


async def test_purge_variants(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="P", subjects=["p.*"])
    for i in range(10):
        await js.publish(f"p.{'a' if i % 2 else 'b'}", str(i).encode())
    r = await api(nc, "$JS.API.STREAM.PURGE.P", {"filter": "p.a", "keep": 1})
    assert r == {"type": "io.nats.jetstream.api.v1.stream_purge_response", "success": True, "purged": 4}
    r = await api(nc, "$JS.API.STREAM.PURGE.P", {"seq": 5})
    assert r["purged"] == 2
    st = (await js.stream_info("P")).state
    assert st.messages == 4 and st.first_seq == 5
    r = await api(nc, "$JS.API.STREAM.PURGE.P", {"keep": 1})
    assert r["purged"] == 3
    r = await api(nc, "$JS.API.STREAM.PURGE.P")
    assert r["purged"] == 1
    st = (await js.stream_info("P")).state
    assert (st.messages, st.first_seq, st.last_seq) == (0, 11, 10)
    await nc.close()


async def test_get_and_delete_messages(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="G", subjects=["g.*"])
    await js.publish("g.a", b"first", headers={"X-Tag": "1"})
    await js.publish("g.b", b"second")
    await js.publish("g.a", b"third")
    m = await js.get_msg("G", seq=1)
    assert (m.subject, m.data, m.headers) == ("g.a", b"first", {"X-Tag": "1"})
    m = await js.get_last_msg("G", "g.a")
    assert (m.seq, m.data) == (3, b"third")
    m = await js.get_msg("G", seq=2, next=True, subject="g.a")
    assert m.seq == 3
    assert await js.delete_msg("G", 2)
    with pytest.raises(NotFoundError):
        await js.get_msg("G", seq=2)
    info = await js.stream_info("G")
    assert info.state.messages == 2 and info.state.num_deleted == 1
    r = await api(nc, "$JS.API.STREAM.INFO.G", {"deleted_details": True})
    assert r["state"]["deleted"] == [2]
    await nc.close()


async def test_deny_delete_and_purge(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="DD", subjects=["dd"], deny_delete=True, deny_purge=True)
    await js.publish("dd", b"x")
    with pytest.raises(APIError) as err:
        await js.delete_msg("DD", 1)
    assert (err.value.code, err.value.err_code, err.value.description) == (
        500,
        10057,
        "message delete not permitted",
    )
    with pytest.raises(APIError) as err:
        await js.purge_stream("DD")
    assert (err.value.code, err.value.err_code, err.value.description) == (
        500,
        10110,
        "stream purge not permitted",
    )
    await nc.close()


async def test_sealed_stream(js_url: str) -> None:
    nc, js = await connect(js_url)
    r = await api(nc, "$JS.API.STREAM.CREATE.SE", {"name": "SE", "sealed": True})
    assert r["error"]["description"] == "stream configuration for create can not be sealed"
    await js.add_stream(name="SX", subjects=["sx"])
    await js.publish("sx", b"before")
    r = await api(nc, "$JS.API.STREAM.UPDATE.SX", {"name": "SX", "subjects": ["sx"], "sealed": True})
    cfg = r["config"]
    assert cfg["sealed"] and cfg["deny_delete"] and cfg["deny_purge"] and cfg["discard"] == "new"
    with pytest.raises(APIError) as err:
        await js.publish("sx", b"after")
    assert (err.value.err_code, err.value.description) == (10109, "invalid operation on sealed stream")
    assert (await js.stream_info("SX")).state.messages == 1
    await nc.close()


async def test_direct_get(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="DG", subjects=["dg.*"], allow_direct=True)
    await js.publish("dg.a", b"A1")
    await js.publish("dg.b", b"B1")
    r = await nc.request("$JS.API.DIRECT.GET.DG", json.dumps({"seq": 1}).encode(), timeout=T)
    assert r.data == b"A1"
    assert r.headers["Nats-Stream"] == "DG" and r.headers["Nats-Sequence"] == "1"
    assert r.headers["Nats-Subject"] == "dg.a" and "Nats-Time-Stamp" in r.headers
    r = await nc.request("$JS.API.DIRECT.GET.DG.dg.b", b"", timeout=T)
    assert r.data == b"B1" and r.headers["Nats-Sequence"] == "2"
    r = await nc.request("$JS.API.DIRECT.GET.DG", json.dumps({"seq": 9}).encode(), timeout=T)
    assert r.headers is not None and r.headers.get("Status") == "404"
    await nc.close()


async def test_list_and_names_with_filter(js_url: str) -> None:
    nc, js = await connect(js_url)
    for name in ("S1", "S2", "S3"):
        await js.add_stream(name=name, subjects=[f"{name.lower()}.>"])
    names = await api(nc, "$JS.API.STREAM.NAMES", {})
    assert names["streams"] == ["S1", "S2", "S3"] and names["total"] == 3 and names["limit"] == 1024
    only = await api(nc, "$JS.API.STREAM.NAMES", {"subject": "s2.x"})
    assert only["streams"] == ["S2"]
    listed = await api(nc, "$JS.API.STREAM.LIST", {"offset": 1})
    assert [s["config"]["name"] for s in listed["streams"]] == ["S2", "S3"]
    assert listed["total"] == 3 and listed["offset"] == 1
    await nc.close()


async def test_update_and_delete(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="U", subjects=["u.1"], max_msgs=10)
    for i in range(5):
        await js.publish("u.1", str(i).encode())
    info = await js.update_stream(StreamConfig(name="U", subjects=["u.1", "u.2"], max_msgs=2))
    assert info.config.max_msgs == 2 and info.state.messages == 2
    await js.publish("u.2", b"new subject")
    with pytest.raises(APIError) as err:
        await js.update_stream(StreamConfig(name="U", subjects=["u.1"], storage=StorageType.MEMORY))
    assert err.value.err_code == 10052
    assert err.value.description == "stream configuration update can not change storage type"
    assert await js.delete_stream("U")
    with pytest.raises(NotFoundError):
        await js.stream_info("U")
    await nc.close()


async def test_interest_retention_without_consumers_keeps_nothing(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="I", subjects=["i"], retention=RetentionPolicy.INTEREST)
    ack = await js.publish("i", b"x")
    assert ack.seq == 1
    st = (await js.stream_info("I")).state
    assert (st.messages, st.first_seq, st.last_seq) == (0, 2, 1)
    await nc.close()


async def test_memory_storage_and_max_age(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="M", subjects=["m"], storage=StorageType.MEMORY, max_age=0.2)
    await js.publish("m", b"short lived")
    assert (await js.stream_info("M")).state.messages == 1
    await _wait_until_empty(js, "M")
    await nc.close()


async def test_seed_charging_config_accepted(js_url: str) -> None:
    """The stream config JSON of seed note 001, as written."""
    nc, js = await connect(js_url)
    cfg = {
        "name": "CHARGING",
        "subjects": ["CHARGING.js.chargingInfo", "CHARGING.js.order"],
        "retention": "workqueue",
        "max_consumers": -1,
        "max_msgs_per_subject": -1,
        "max_msgs": -1,
        "max_bytes": 10485760,
        "max_age": 0,
        "max_msg_size": -1,
        "storage": "file",
        "discard": "old",
        "num_replicas": 1,
        "duplicate_window": 120000000000,
        "sealed": False,
        "deny_delete": False,
        "deny_purge": False,
        "allow_rollup_hdrs": False,
    }
    r = await api(nc, "$JS.API.STREAM.CREATE.CHARGING", cfg)
    assert "error" not in r and r["config"]["retention"] == "workqueue"
    ack = await js.publish("CHARGING.js.order", b"{}")
    assert ack.stream == "CHARGING"
    await nc.close()


async def _wait_until_empty(js: Any, stream: str) -> None:
    deadline = asyncio.get_running_loop().time() + T
    while (await js.stream_info(stream)).state.messages:
        assert asyncio.get_running_loop().time() < deadline, f"{stream} never expired its messages"
        await asyncio.sleep(0.05)


async def test_per_message_ttl(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="TTL", subjects=["ttl.*"], allow_msg_ttl=True)
    await js.publish("ttl.short", b"x", headers={"Nats-TTL": "1s"})
    await js.publish("ttl.keep", b"y")
    with pytest.raises(APIError) as err:
        await js.publish("ttl.bad", b"z", headers={"Nats-TTL": "abc"})
    assert (err.value.err_code, err.value.description) == (10165, "invalid per-message TTL")
    deadline = asyncio.get_running_loop().time() + T
    while (await js.stream_info("TTL")).state.messages != 1:
        assert asyncio.get_running_loop().time() < deadline, "the TTL message never expired"
        await asyncio.sleep(0.05)
    assert (await js.get_last_msg("TTL", "ttl.keep")).data == b"y"
    await nc.close()


async def test_file_storage_max_age(js_url: str) -> None:
    nc, js = await connect(js_url)
    await js.add_stream(name="AGE", subjects=["age"], max_age=0.3)
    for i in range(5):
        await js.publish("age", str(i).encode())
    await _wait_until_empty(js, "AGE")
    ack = await js.publish("age", b"later")
    assert ack.seq == 6
    await nc.close()


async def test_async_persist_mode(js_url: str) -> None:
    """``persist_mode: async`` (file streams only): the stream works as any other, shows the
    mode in its config, and an update may not change it."""
    nc, js = await connect(js_url)
    r = await api(
        nc, "$JS.API.STREAM.CREATE.AP", {"name": "AP", "subjects": ["ap.>"], "persist_mode": "async"}
    )
    assert "error" not in r, r
    assert r["config"]["persist_mode"] == "async"
    for i in range(3):
        assert (await js.publish("ap.x", b"%d" % i)).seq == i + 1
    assert (await js.get_msg("AP", 2)).data == b"1"
    r = await api(nc, "$JS.API.STREAM.UPDATE.AP", {"name": "AP", "subjects": ["ap.>"]})
    assert r["error"] == {
        "code": 500,
        "err_code": 10052,
        "description": "stream configuration update can not change persist mode",
    }
    r = await api(
        nc, "$JS.API.STREAM.CREATE.APM", {"name": "APM", "storage": "memory", "persist_mode": "async"}
    )
    assert r["error"]["description"] == "async persist mode is only supported on file storage"
    r = await api(nc, "$JS.API.STREAM.CREATE.APD", {"name": "APD", "subjects": ["apd"]})
    assert "persist_mode" not in r["config"]  # the default is left out
    await nc.close()


async def test_required_api_level_header_on_the_json_api(js_url: str) -> None:
    """Every JSON API request may carry ``Nats-Required-Api-Level``: a level above the
    server's, or one that is not a number, gets 412/10185 before anything else is looked at
    (even a body that does not parse); a level it meets changes nothing."""
    nc = await nats.connect(js_url)
    try:
        refused = {"code": 412, "err_code": 10185, "description": "JetStream minimum api level required"}
        cases = [
            ("$JS.API.INFO", b"", "99", "account_info_response"),
            (
                "$JS.API.STREAM.CREATE.LVL",
                b'{"name":"LVL","subjects":["lvl"]}',
                "x",
                "stream_create_response",
            ),
            ("$JS.API.STREAM.NAMES", b"not json", "6", "stream_names_response"),
            ("$JS.API.CONSUMER.INFO.NOPE.C", b"", "+99", "consumer_info_response"),
        ]
        for subject, body, level, kind in cases:
            r = await nc.request(subject, body, timeout=10, headers={"Nats-Required-Api-Level": level})
            got = json.loads(r.data)
            assert got["type"] == f"io.nats.jetstream.api.v1.{kind}", got
            assert got["error"] == refused, (subject, level, got)
        ok = await nc.request(
            "$JS.API.STREAM.CREATE.LVL",
            b'{"name":"LVL","subjects":["lvl"]}',
            timeout=10,
            headers={"Nats-Required-Api-Level": "1"},
        )
        assert "error" not in json.loads(ok.data)
    finally:
        await nc.close()
