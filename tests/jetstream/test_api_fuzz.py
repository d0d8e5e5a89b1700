"""Garbage in JetStream API requests: every request is answered (an error or a status), the
server logs no internal error and keeps serving. Seeded, so a failure replays exactly."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import nats
import pytest

from pynatsd.embed import Server

VALUES: list[object] = [
    None,
    0,
    -1,
    1,
    2**63,
    -(2**63),
    10**30,
    1.5,
    "x",
    "",
    [],
    {},
    True,
    "2000-01-01T00:00:00Z",
    "a.>",
    "*",
]
KEYS = [
    "batch",
    "seq",
    "last_by_subj",
    "next_by_subj",
    "multi_last",
    "up_to_seq",
    "up_to_time",
    "start_time",
    "max_bytes",
    "no_hdr",
    "expires",
    "no_wait",
    "idle_heartbeat",
    "pause_until",
    "filter",
    "keep",
    "offset",
    "subject",
]
SUBJECTS = [
    "$JS.API.DIRECT.GET.F",
    "$JS.API.DIRECT.GET.F.f.1",
    "$JS.API.STREAM.MSG.GET.F",
    "$JS.API.STREAM.MSG.DELETE.F",
    "$JS.API.CONSUMER.PAUSE.F.C",
    "$JS.API.STREAM.INFO.F",
    "$JS.API.CONSUMER.INFO.F.C",
    "$JS.API.STREAM.NAMES",
    "$JS.API.CONSUMER.LIST.F",
]


@pytest.mark.parametrize("seed", [1, 2])
async def test_random_api_requests_are_all_answered(
    seed: int, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    rnd = random.Random(seed)
    async with Server(jetstream=True, store_dir=str(tmp_path)) as srv:
        nc = await nats.connect(srv.client_url)
        js = nc.jetstream(timeout=5)
        await js.add_stream(name="F", subjects=["f.>"], allow_direct=True)
        for i in range(40):
            await js.publish(f"f.{i % 5}", b"x%d" % i)
        created = await nc.request(
            "$JS.API.CONSUMER.CREATE.F.C",
            json.dumps(
                {"stream_name": "F", "config": {"durable_name": "C", "ack_policy": "explicit"}}
            ).encode(),
            timeout=5,
        )
        assert "error" not in json.loads(created.data)
        for _ in range(600):
            body = {k: rnd.choice(VALUES) for k in rnd.sample(KEYS, rnd.randint(0, 5))}
            if rnd.random() < 0.85:
                data = json.dumps(body).encode()
            else:
                data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 24)))
            subject = rnd.choice(SUBJECTS)
            reply = await nc.request(subject, data, timeout=5)  # a reply always comes
            assert reply.data or reply.headers, (subject, data)
            if rnd.random() < 0.2:  # pull requests answer only with messages or statuses
                await nc.publish("$JS.API.CONSUMER.MSG.NEXT.F.C", data, reply=nc.new_inbox())
        info = json.loads((await nc.request("$JS.API.STREAM.INFO.F", b"", timeout=5)).data)
        assert info["config"]["name"] == "F"
        await nc.close()
    # nothing raised inside the loop (asyncio logs that) and the server logged no error
    assert "Exception in callback" not in caplog.text and "Traceback" not in caplog.text
    err = capsys.readouterr().err
    assert "[ERR]" not in err and "Traceback" not in err
    # an embedded server logs through Python's logging (the "pynatsd" logger)
    assert not [r for r in caplog.records if r.name == "pynatsd" and r.levelno >= logging.ERROR]
