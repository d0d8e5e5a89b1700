"""JetStream limits from account JWTs, on both servers from the same operator config: which
accounts have JetStream, flat and tiered limits in ``$JS.API.INFO``, and the limits applied."""

from __future__ import annotations

import json
from typing import Any

import nats
import pytest
from nats.js.errors import APIError

from tests.operator.conftest import serve
from tests.support.launcher import Kind
from tests.support.operator import World, jetstream_limits


async def info(nc: nats.NATS) -> dict[str, Any]:
    reply: dict[str, Any] = json.loads((await nc.request("$JS.API.INFO", b"", timeout=10)).data)
    reply.pop("api", None)
    return reply


async def create(nc: nats.NATS, name: str, **cfg: Any) -> int | str:
    body = json.dumps({"name": name, "subjects": [name.lower()], **cfg}).encode()
    reply = json.loads((await nc.request(f"$JS.API.STREAM.CREATE.{name}", body, timeout=10)).data)
    return reply["error"]["err_code"] if "error" in reply else "ok"


async def test_jetstream_limits_from_account_jwts(kind: Kind, world: World) -> None:
    flat = world.account("FLAT", jetstream_limits(mem=100_000, disk=200_000, streams=2, consumer=3))
    tiered = world.account(
        "TIERED", jetstream_limits(tiers={"R1": {"disk": 50_000, "streams": 1}, "R3": {"disk": 1}})
    )
    only_r3 = world.account("R3ONLY", jetstream_limits(tiers={"R3": {"disk": 1000}}))
    none = world.account("NONE")
    config = world.config(extra=f'jetstream {{ store_dir: "{world.dir / ("store-" + kind)}" }}\n')
    with serve(kind, config) as server:
        conns = {
            name: await nats.connect(server.url, user_credentials=str(world.creds(acct, name.lower())))
            for name, acct in (("FLAT", flat), ("TIERED", tiered), ("R3ONLY", only_r3), ("NONE", none))
        }
        try:
            for nc in conns.values():  # the reference's imports settle after the connect
                await nc.flush()
            flat_info = await info(conns["FLAT"])
            assert flat_info["limits"] == {
                "max_memory": 100_000,
                "max_storage": 200_000,
                "max_streams": 2,
                "max_consumers": 3,
                "max_ack_pending": -1,
                "memory_max_stream_bytes": -1,
                "storage_max_stream_bytes": -1,
                "max_bytes_required": False,
            }
            assert [await create(conns["FLAT"], n) for n in ("A", "B", "C")] == ["ok", "ok", 10027]
            assert await create(conns["TIERED"], "T1", max_bytes=60_000) == 10047
            assert await create(conns["TIERED"], "T1", max_bytes=40_000) == "ok"
            assert await create(conns["TIERED"], "T2", max_bytes=1000) == 10027
            tiered_info = await info(conns["TIERED"])
            assert tiered_info["limits"]["max_storage"] == 0 and set(tiered_info["tiers"]) == {"R1", "R3"}
            r1 = tiered_info["tiers"]["R1"]
            assert (r1["streams"], r1["reserved_storage"], r1["limits"]["max_storage"]) == (1, 40_000, 50_000)
            assert tiered_info["tiers"]["R3"]["streams"] == 0
            assert await create(conns["R3ONLY"], "X") == 10120
            none_info = json.loads((await conns["NONE"].request("$JS.API.INFO", b"", timeout=10)).data)
            assert none_info["error"]["err_code"] == 10039
            js = conns["FLAT"].jetstream(timeout=10)
            with pytest.raises(APIError) as refused:  # the flat 200,000 bytes on disk
                for _ in range(300):
                    await js.publish("a", b"x" * 1000)
            assert refused.value.err_code == 10002
        finally:
            for nc in conns.values():
                await nc.close()
