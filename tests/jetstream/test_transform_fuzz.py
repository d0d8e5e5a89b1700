"""Stream subject transforms fuzzed against the reference: hypothesis builds (source,
destination, subject) triples, valid or not (bad indexes and arguments, unknown functions,
whitespace, wildcards in the destination, empty tokens); each becomes a stream on both servers.
The create responses (error code and text, or the stored config) must be the same, and where
the stream exists the subject a publish is stored under must be the same on both and the
engine's ``parse_transform(src, dest).map(subject)``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pynatsd.mapping import parse_transform
from tests.support import jetstream_server
from tests.support.binary import require_reference
from tests.support.mappings import Case, transform_case

T = 10.0


@st.composite
def _cases(draw: Any) -> list[Case]:
    return [draw(transform_case(i)) for i in range(draw(st.integers(40, 70)))]


async def _run(url: str, cases: list[Case]) -> list[Any]:
    nc = await nats.connect(url)
    out: list[Any] = []
    for i, (src, dest, subject) in enumerate(cases):
        body = {
            "name": f"S{i}",
            "subjects": [f"s{i}", f"s{i}.>"],
            "storage": "memory",
            "subject_transform": {"src": src, "dest": dest},
        }
        r = json.loads(
            (await nc.request(f"$JS.API.STREAM.CREATE.S{i}", json.dumps(body).encode(), timeout=T)).data
        )
        if "error" in r:
            out.append(r["error"])
            continue
        ack = json.loads((await nc.request(subject, b"x", timeout=T)).data)
        assert ack.get("seq") == 1, ack
        got = json.loads((await nc.request(f"$JS.API.STREAM.MSG.GET.S{i}", b'{"seq":1}', timeout=T)).data)
        out.append({"config": r["config"]["subject_transform"], "stored": got["message"]["subject"]})
    await nc.close()
    return out


async def _both(tmp: Path, cases: list[Case]) -> list[list[Any]]:
    results = []
    for kind in ("reference", "pynatsd"):
        async with jetstream_server(kind, tmp / kind) as url:
            results.append(await _run(url, cases))
    return results


@settings(
    max_examples=4,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each example starts two servers
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(cases=_cases())
def test_stream_transforms_as_the_reference(
    tmp_path_factory: pytest.TempPathFactory, cases: list[Case]
) -> None:
    require_reference()
    ref, ours = asyncio.run(_both(tmp_path_factory.mktemp("fuzz"), cases))
    diffs = [(c, r, o) for c, r, o in zip(cases, ref, ours, strict=True) if r != o]
    assert not diffs, "\n".join(f"{c}:\n  reference {r}\n  pynatsd   {o}" for c, r, o in diffs)
    for (src, dest, subject), r in zip(cases, ref, strict=True):
        if "stored" in r:
            assert (parse_transform(src, dest).map(subject) or subject) == r["stored"]
