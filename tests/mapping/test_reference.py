"""The mapping engine against the reference: hypothesis generates (source, destination,
subject) triples, one config file holds them all as ``mappings`` on distinct prefixes, and the
same publishes go through the reference and pynatsd; the delivered subjects must be the same
on both and equal to ``parse_transform(src, dest).map(subject)``. Plus weighted and
cluster-scoped mappings, and permissions checked on the mapped subject."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nats
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from pynatsd.mapping import parse_transform
from tests.support.binary import require_reference
from tests.support.launcher import ServerProcess, start_server

T = 10.0

Case = tuple[str, str, str]  # source, destination, subject

_TOKEN = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=9)
_LITERAL = st.text("abcxyz", min_size=1, max_size=4)


def _spell(name: str, draw: Any) -> str:
    """A function name as the reference accepts it: the first letter and the capitals of its
    camel case in either case (e.g. SplitFromLeft, splitfromleft)."""
    return "".join(
        (c.upper() if draw(st.booleans()) else c.lower()) if i == 0 or c.isupper() else c
        for i, c in enumerate(name)
    )


_FUNCTIONS = [
    "lit",
    "$",
    "wildcard",
    "partition",
    "partition_all",
    "split",
    "splitFromLeft",
    "splitFromRight",
    "sliceFromLeft",
    "sliceFromRight",
    "left",
    "right",
]


@st.composite
def _case(draw: Any, i: int) -> Case:
    shape = draw(st.lists(st.sampled_from(["*", "lit"]), min_size=0, max_size=4))
    fwc = draw(st.booleans())
    src_tokens = [f"m{i}"] + [("*" if s == "*" else draw(_LITERAL)) for s in shape] + ([">"] if fwc else [])
    stars = shape.count("*")
    dest = [f"d{i}"]
    for _ in range(draw(st.integers(0, 4))):
        if stars == 0:
            dest.append(draw(_LITERAL))
            continue
        n = draw(st.integers(1, stars))
        k = draw(st.integers(-1, 12))
        sp = draw(st.sampled_from(["", " "]))
        fn = draw(st.sampled_from(_FUNCTIONS))
        if fn == "lit":
            dest.append(draw(_LITERAL))
        elif fn == "$":
            dest.append(f"${n}")
        elif fn == "wildcard":
            dest.append(f"{{{{{sp}{_spell('wildcard', draw)}({n}){sp}}}}}")
        elif fn == "partition":
            idx = draw(st.lists(st.integers(1, stars), min_size=1, max_size=3))
            dest.append(f"{{{{{_spell('partition', draw)}({max(k, 1)},{sp}{','.join(map(str, idx))})}}}}")
        elif fn == "partition_all":
            dest.append(f"{{{{partition({max(k, 0)})}}}}")
        elif fn == "split":
            delim = draw(st.sampled_from(["-", "_", "a", "1", "ab"]))
            dest.append(f"{{{{{_spell('split', draw)}({n},{sp}{delim})}}}}")
        else:
            dest.append(f"{{{{{_spell(fn, draw)}({n},{sp}{k})}}}}")
    if fwc:
        dest.append(">")
    subject = [f"m{i}"]
    for t in src_tokens[1:]:
        if t == "*":
            subject.append(draw(_TOKEN))
        elif t == ">":
            subject += draw(st.lists(_TOKEN, min_size=1, max_size=3))
        else:
            subject.append(t)
    return ".".join(src_tokens), ".".join(dest), ".".join(subject)


@st.composite
def _cases(draw: Any) -> list[Case]:
    return [draw(_case(i)) for i in range(draw(st.integers(40, 80)))]


@contextmanager
def _servers(tmp_path: Path, config: str) -> Iterator[list[ServerProcess]]:
    require_reference()
    path = tmp_path / "mappings.conf"
    path.write_text(config)
    started: list[ServerProcess] = []
    try:
        for kind in ("reference", "pynatsd"):
            started.append(start_server(kind, "-c", str(path)))  # type: ignore[arg-type]
        yield started
    finally:
        for s in started:
            s.stop()


async def _deliveries(url: str, publishes: list[str]) -> list[str | None]:
    """The subject each publish is delivered on to a subscriber on '>' (None: not delivered),
    in publish order; a last publish on "zz.end" marks the end."""
    nc = await nats.connect(url)
    got: asyncio.Queue[Any] = asyncio.Queue()
    await nc.subscribe(">", cb=got.put)
    await nc.flush()
    for n, subject in enumerate(publishes):
        await nc.publish(subject, str(n).encode())
    await nc.publish("zz.end", b"end")
    out: list[str | None] = [None] * len(publishes)
    while (msg := await asyncio.wait_for(got.get(), T)).data != b"end":
        out[int(msg.data)] = msg.subject
    await nc.close()
    return out


def _config(cases: list[Case]) -> str:
    return "mappings: {\n" + "".join(f"  {json.dumps(s)}: {json.dumps(d)}\n" for s, d, _ in cases) + "}\n"


@settings(
    max_examples=3,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each example starts two servers
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(cases=_cases())
@example(
    cases=[
        ("m0.*", "d0.{{split(1,-)}}", "m0.-"),  # "d0." has an empty token: delivered to nobody
        ("m1.*.>", "d1.{{split(1,-)}}.$1.>", "m1.a-b.c"),
        ("m2.*", "d2.{{partition(5)}}.{{SliceFromRight(1,2)}}", "m2.abcde"),
    ]
)
def test_every_function_maps_as_the_reference(
    tmp_path_factory: pytest.TempPathFactory, cases: list[Case]
) -> None:
    expected: list[str | None] = []
    for src, dest, subject in cases:
        mapped = parse_transform(src, dest, validate=True).map(subject)
        assert mapped is not None, (src, dest, subject)
        # A mapped subject with an empty token (e.g. split of "-" on "-") reaches nobody.
        expected.append(None if "" in mapped.split(".") else mapped)
    publishes = [subject for _, _, subject in cases]
    with _servers(tmp_path_factory.mktemp("m"), _config(cases)) as (ref, ours):
        got_ref = asyncio.run(_deliveries(ref.url, publishes))
        got_ours = asyncio.run(_deliveries(ours.url, publishes))
    diffs = [
        (c, r, o, e) for c, r, o, e in zip(cases, got_ref, got_ours, expected, strict=True) if not r == o == e
    ]
    assert not diffs, "\n".join(f"{c}: reference {r!r}, pynatsd {o!r}, engine {e!r}" for c, r, o, e in diffs)


WEIGHTED = """
mappings: {
  # the rest of the weight keeps the subject when the source is not listed
  "keep.*": [ {dest: "gone.$1", weight: 0} ]
  # ...and is lost when it is listed (literally: "lose.$1" is not the source "lose.*")
  "lose": [ {dest: "lose", weight: 0}, {dest: "other", weight: 0} ]
  "kept.*": [ {dest: "kept.$1", weight: 0}, {dest: "other.$1", weight: 0} ]
  # cluster-scoped entries apply only in that cluster: not in a server without one
  "cl.*": [ {dest: "c1.$1", weight: 100, cluster: "c1"}, {dest: "all.$1", weight: 100} ]
  "clonly.*": [ {dest: "c1.$1", weight: 100, cluster: "c1"} ]
  "half.*": [ {dest: "h1.$1", weight: 50}, {dest: "h2.$1", weight: 50} ]
  "one": {dest: "uno", weight: 100}
  "fwd.>": "to.>"
}
"""
AUTH = """
authorization {
  users: [ {user: limited, password: limited, permissions: {publish: "to.>", subscribe: ">"}} ]
}
"""


async def _ignore(_e: Exception) -> None:
    return None


async def _weighted_deliveries(url: str) -> dict[str, Any]:
    nc = await nats.connect(url)
    got: asyncio.Queue[Any] = asyncio.Queue()
    await nc.subscribe(">", cb=got.put)
    await nc.flush()
    publishes = (
        ["keep.a", "lose", "kept.b", "cl.c", "clonly.d", "one", "fwd.x.y"] + ["half.h"] * 100 + ["end"]
    )
    for subject in publishes:
        await nc.publish(subject, b"")
    seen: list[str] = []
    while not seen or seen[-1] != "end":
        seen.append((await asyncio.wait_for(got.get(), T)).subject)
    await nc.close()
    halves = {s for s in seen if s.startswith("h")}
    return {"fixed": [s for s in seen if not s.startswith("h")], "halves": sorted(halves)}


async def _lost_request(url: str) -> str:
    nc = await nats.connect(url)
    try:
        await nc.request("lose", b"", timeout=T)
        return "answered"
    except nats.errors.NoRespondersError:
        return "no responders"
    finally:
        await nc.close()


def test_weighted_and_cluster_scoped_mappings(tmp_path: Path) -> None:
    with _servers(tmp_path, WEIGHTED) as (ref, ours):
        results = [asyncio.run(_weighted_deliveries(s.url)) for s in (ref, ours)]
        # A request whose mapping chose no destination: nobody can answer.
        assert [asyncio.run(_lost_request(s.url)) for s in (ref, ours)] == ["no responders"] * 2
    # "lose" is dropped; 100 publishes split 50/50 reach both halves (all but surely).
    expected = {
        "fixed": ["keep.a", "kept.b", "all.c", "clonly.d", "uno", "to.x.y", "end"],
        "halves": ["h1.h", "h2.h"],
    }
    assert results == [expected, expected]


async def _permissions(url: str) -> list[str]:
    errors: asyncio.Queue[Exception] = asyncio.Queue()

    async def on_error(e: Exception) -> None:
        await errors.put(e)

    nc = await nats.connect(url, user="limited", password="limited", error_cb=on_error)
    got: asyncio.Queue[Any] = asyncio.Queue()
    await nc.subscribe(">", cb=got.put)
    await nc.flush()
    await nc.publish("fwd.ok", b"")  # mapped to to.ok: allowed
    await nc.publish("to.direct", b"")  # allowed as it is
    await nc.publish("one", b"")  # mapped to uno: a publish violation
    err = await asyncio.wait_for(errors.get(), T)
    await nc.publish("fwd.end", b"")
    out = [str(err)]
    while not out or out[-1] != "to.end":
        out.append((await asyncio.wait_for(got.get(), T)).subject)
    await nc.close()
    return out


def test_permissions_apply_to_the_mapped_subject(tmp_path: Path) -> None:
    with _servers(tmp_path, WEIGHTED + AUTH) as (ref, ours):
        results = [asyncio.run(_permissions(s.url)) for s in (ref, ours)]
    expected = ['nats: permissions violation for publish to "uno"', "to.ok", "to.direct", "to.end"]
    assert results == [expected, expected]


def test_random_stays_in_range(tmp_path: Path) -> None:
    with _servers(tmp_path, 'mappings: { "r.*": "r2.{{random(3)}}.$1" }\n') as servers:
        for s in servers:
            got = asyncio.run(_deliveries(s.url, ["r.x"] * 60))
            assert set(got) <= {"r2.0.x", "r2.1.x", "r2.2.x"} and len(set(got)) > 1


def test_reload_replaces_the_mappings(tmp_path: Path) -> None:
    path = tmp_path / "mappings.conf"
    with _servers(tmp_path, 'mappings: { "a.*": "one.$1" }\n') as servers:
        before = [asyncio.run(_deliveries(s.url, ["a.x", "b.x"])) for s in servers]
        path.write_text('mappings: { "b.*": "two.$1" }\n')
        for s in servers:
            os.kill(s.pid, signal.SIGHUP)
            s.wait_for_log("Reloaded server configuration")
        after = [asyncio.run(_deliveries(s.url, ["a.x", "b.x"])) for s in servers]
        # The reference updates the global account only when the new config has a mappings
        # block: without one the mappings stay; an empty block removes them.
        kept, emptied = [], []
        for text, results in (("debug: false\n", kept), ("mappings: {}\n", emptied)):
            path.write_text(text)
            for s in servers:
                os.kill(s.pid, signal.SIGHUP)
                s.wait_for_log("Reloaded server configuration")
            results += [asyncio.run(_deliveries(s.url, ["a.x", "b.x"])) for s in servers]
    assert before == [["one.x", "b.x"]] * 2
    assert after == [["a.x", "two.x"]] * 2
    assert kept == [["a.x", "two.x"]] * 2
    assert emptied == [["a.x", "b.x"]] * 2


def test_partition_of_a_literal_source_hashes_an_empty_key(tmp_path: Path) -> None:
    # The reference matches a literal source by string equality and then hashes the tokens it
    # did not split: an empty key (FNV-1a of "" mod 10 = 1), where a stream transform of the
    # same mapping hashes "foo.bar" (6). One mapping only: with several, the reference's order
    # (a Go map) decides whether the subject was split first.
    assert parse_transform("foo.bar", "baz.{{partition(10)}}").map("foo.bar") == "baz.6"
    with _servers(tmp_path, 'mappings: { "foo.bar": "baz.{{partition(10)}}" }\n') as servers:
        got = [asyncio.run(_deliveries(s.url, ["foo.bar"])) for s in servers]
    assert got == [["baz.1"], ["baz.1"]]
