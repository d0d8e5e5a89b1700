"""Stream subject transforms and republish with every mapping function; each test runs on
pynatsd and on the reference (the ``js_url`` fixture) and checks the same observable results:
stored subjects, republished subjects and headers, the stored config and the errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
import pytest

from pynatsd.mapping import parse_transform

T = 10.0


async def api(nc: Any, subject: str, body: Any = None) -> dict[str, Any]:
    data = b"" if body is None else json.dumps(body).encode()
    r = await nc.request(subject, data, timeout=T)
    return dict(json.loads(r.data))


async def create(nc: Any, name: str, **cfg: Any) -> dict[str, Any]:
    return await api(nc, f"$JS.API.STREAM.CREATE.{name}", {"name": name, "storage": "memory", **cfg})


async def stored_subjects(nc: Any, stream: str, count: int) -> list[str]:
    out = []
    for seq in range(1, count + 1):
        r = await api(nc, f"$JS.API.STREAM.MSG.GET.{stream}", {"seq": seq})
        out.append(r["message"]["subject"])
    return out


INPUT = {"src": "in.*.*", "dest": "out.$2.{{partition(3,1)}}.{{splitfromleft(1,2)}}.{{SliceFromRight(2,2)}}"}
PUBLISHED = ["in.abcde.xyz", "in.k.12345", "in.a", "in.a.b.c", "in.hello.w"]
STORED = ["out.xyz.0.ab.cde.x.yz", "out.12345.0.k.1.23.45", "in.a", "in.a.b.c", "out.w.0.he.llo.w"]


async def test_subject_transform_stores_the_mapped_subject(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    r = await create(nc, "T", subjects=["in.>"], subject_transform=INPUT)
    assert "error" not in r, r
    assert r["config"]["subject_transform"] == INPUT
    for subject in PUBLISHED:
        ack = await js.publish(subject, b"x")
        assert ack.stream == "T"
    assert await stored_subjects(nc, "T", len(PUBLISHED)) == STORED
    engine = parse_transform(INPUT["src"], INPUT["dest"])
    assert [engine.map(s) or s for s in PUBLISHED] == STORED
    # Consumers filter on the stored (transformed) subjects.
    sub = await js.pull_subscribe("out.*.0.>", durable="D", stream="T")
    msgs = await sub.fetch(3, timeout=T)
    assert [m.subject for m in msgs] == [s for s in STORED if s.startswith("out.")]
    await nc.close()


async def test_update_replaces_and_removes_the_transform(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    assert "error" not in await create(
        nc, "U", subjects=["u.*"], subject_transform={"src": "u.*", "dest": "a.$1"}
    )
    await js.publish("u.1", b"")
    cfg = {
        "name": "U",
        "storage": "memory",
        "subjects": ["u.*"],
        "subject_transform": {"src": "", "dest": "b.>"},
    }
    r = await api(nc, "$JS.API.STREAM.UPDATE.U", cfg)
    assert "error" not in r, r
    await js.publish("u.2", b"")
    del cfg["subject_transform"]
    r = await api(nc, "$JS.API.STREAM.UPDATE.U", cfg)
    assert "error" not in r and "subject_transform" not in r["config"], r
    await js.publish("u.3", b"")
    assert await stored_subjects(nc, "U", 3) == ["a.1", "b.u.2", "u.3"]
    await nc.close()


REPUBLISH = "rp.{{wildcard(1)}}.{{split(2,-)}}.{{left(3,2)}}.{{right(3,2)}}.{{SliceFromLeft(3,3)}}.{{partition(5,1,2)}}"
REPUBLISHED = {
    "src.a.x-y.abcdefg": "rp.a.x.y.ab.fg.abc.def.g.3",
    "src.b.-q--r-.12": "rp.b.q.r.12.12.12.0",
}


async def test_republish_with_every_function(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    r = await create(nc, "R", subjects=["src.>"], republish={"src": "src.*.*.*", "dest": REPUBLISH})
    assert "error" not in r, r
    got: asyncio.Queue[Any] = asyncio.Queue()
    sub = await nc.subscribe("rp.>", cb=got.put)
    await nc.flush()
    engine = parse_transform("src.*.*.*", REPUBLISH)
    for subject, expected in REPUBLISHED.items():
        assert engine.map(subject) == expected
        await js.publish(subject, b"payload")
        msg = await asyncio.wait_for(got.get(), T)
        assert msg.subject == expected
        assert msg.headers["Nats-Subject"] == subject and msg.headers["Nats-Stream"] == "R"
        assert msg.data == b"payload"
    await js.publish("src.not.matched", b"")  # three tokens after src: stored, not republished
    await js.publish("src.a.b.c", b"last")
    msg = await asyncio.wait_for(got.get(), T)
    assert msg.data == b"last" and msg.headers["Nats-Sequence"] == "4"
    await sub.unsubscribe()
    await nc.close()


async def test_input_transform_then_implicit_republish(js_url: str) -> None:
    nc = await nats.connect(js_url)
    js = nc.jetstream(timeout=T)
    # The reference turns a '>' to '>' republish on a stream whose only subject is its
    # transform's source into a republish of the transformed subjects...
    r = await create(
        nc,
        "I",
        subjects=["in.>"],
        subject_transform={"src": "in.>", "dest": "out.>"},
        republish={"src": ">", "dest": ">"},
    )
    assert "error" not in r, r
    assert r["config"]["republish"] == {"src": "out.>", "dest": "out.>"}
    got: asyncio.Queue[Any] = asyncio.Queue()
    sub = await nc.subscribe("out.>", cb=got.put)
    await nc.flush()
    await js.publish("in.abc.d", b"1")
    msg = await asyncio.wait_for(got.get(), T)
    assert msg.subject == "out.abc.d" and msg.headers["Nats-Subject"] == "out.abc.d"
    await sub.unsubscribe()
    # ...which is refused when the transformed subjects hold placeholders.
    dest = "o.{{partition(2,1)}}.$1"
    r = await create(
        nc,
        "J",
        subjects=["j.*"],
        subject_transform={"src": "j.*", "dest": dest},
        republish={"src": ">", "dest": ">"},
    )
    assert r["error"] == {
        "code": 500,
        "err_code": 10052,
        "description": f"stream configuration for republish with transform from '{dest}' to '{dest}' not valid",
    }
    await nc.close()


# (subject_transform, err_code, description); each on a stream of its own.
BAD_TRANSFORMS = [
    ({"src": "foo.*", "dest": "bar.*"}, 10156, "stream transform: invalid subject"),
    ({"src": "foo.>", "dest": "bar"}, 10156, "stream transform: invalid subject"),
    (
        {"src": "foo.*", "dest": "bar.{{wildcard(2)}}"},
        10156,
        "stream transform: invalid mapping destination: wildcard index out of range in {{wildcard(2)}}: [2]",
    ),
    (
        {"src": "foo", "dest": "bar.$1"},
        10156,
        "stream transform: invalid mapping destination: wildcard index out of range in $1",
    ),
    (
        {"src": "foo.*", "dest": "{{wildcard(5)}}.{{unknown(1)}}"},
        10156,
        "stream transform: invalid mapping destination: unknown function in {{unknown(1)}}",
    ),
    (
        {"src": "foo.*", "dest": "bar.{{partition()}}"},
        10156,
        "stream transform: invalid mapping destination: function argument is invalid or in the wrong format"
        " in {{partition()}}",
    ),
    (
        {"src": "foo.*", "dest": "bar.{{split(1)}}"},
        10156,
        "stream transform: invalid mapping destination: not enough arguments passed to the function in {{split(1)}}",
    ),
    (
        {"src": "foo.*", "dest": "bar.{{wildcard(1,2)}}"},
        10156,
        "stream transform: invalid mapping destination: too many arguments passed to the function"
        " in {{wildcard(1,2)}}",
    ),
    (
        {"src": "foo.*", "dest": "bar.{{left(1,x)}}"},
        10156,
        "stream transform: invalid mapping destination: function argument is invalid or in the wrong format"
        " in {{left(1,x)}}",
    ),
    (
        {"src": "foo.*", "dest": "bar. a"},
        10156,
        "stream transform: invalid mapping destination: invalid transform",
    ),
    (
        {"src": "foo.*", "dest": "bar..x"},
        10156,
        "stream transform: invalid mapping destination: invalid transform",
    ),
    ({"src": "foo..", "dest": "bar"}, 10155, "stream transform source: invalid subject foo.."),
    ({"src": "foo. x", "dest": "bar"}, 10155, "stream transform source: invalid subject foo. x"),
]

BAD_REPUBLISH = [
    ({"src": "foo.*", "dest": "rp.{{unknown(1)}}"}, 10052, "'foo.*' to 'rp.{{unknown(1)}}'"),
    ({"src": "foo.*", "dest": "rp.*"}, 10052, "'foo.*' to 'rp.*'"),
    ({"src": "foo.*", "dest": "rp.$2"}, 10052, "'foo.*' to 'rp.$2'"),
]


@pytest.mark.parametrize("kind", ["transform", "republish"])
async def test_bad_mappings_get_the_reference_errors(js_url: str, kind: str) -> None:
    nc = await nats.connect(js_url)
    cases = BAD_TRANSFORMS if kind == "transform" else BAD_REPUBLISH
    for i, (mapping, code, text) in enumerate(cases):
        field = "subject_transform" if kind == "transform" else "republish"
        r = await create(nc, f"S{i}", subjects=[f"s{i}.>"], **{field: mapping})
        if kind == "republish":
            text = f"stream configuration for republish with transform from {text} not valid"
        assert r.get("error") == {
            "code": 400 if code != 10052 else 500,
            "err_code": code,
            "description": text,
        }
    names = await api(nc, "$JS.API.STREAM.NAMES")
    assert not names.get("streams")
    await nc.close()


async def test_pedantic_republish_rules(js_url: str) -> None:
    nc = await nats.connect(js_url)
    implicit = await api(
        nc,
        "$JS.API.STREAM.CREATE.P",
        {
            "name": "P",
            "subjects": ["pin.*"],
            "subject_transform": {"src": "pin.*", "dest": "pout.$1"},
            "republish": {"src": ">", "dest": ">"},
            "pedantic": True,
        },
    )
    assert implicit["error"]["err_code"] == 10157
    assert implicit["error"]["description"] == "pedantic mode: implicit republish based on subject transform"
    empty = await api(
        nc,
        "$JS.API.STREAM.CREATE.P",
        {"name": "P", "subjects": ["p.*"], "republish": {"src": "", "dest": "x.>"}, "pedantic": True},
    )
    assert empty["error"]["description"] == "pedantic mode: republish source can not be empty"
    # The same republish without pedantic: the source becomes '>'.
    ok = await api(
        nc, "$JS.API.STREAM.CREATE.P", {"name": "P", "subjects": ["p.*"], "republish": {"dest": "x.>"}}
    )
    assert ok["config"]["republish"] == {"src": ">", "dest": "x.>"}
    await nc.close()
