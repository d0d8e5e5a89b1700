"""``/jsz`` on pynatsd and on the reference, from the same config and the same streams:
the same document (volatile values normalised), option by option, and the same 400s."""

from __future__ import annotations

import difflib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.support.binary import require_reference
from tests.support.jetstream import until_messages
from tests.support.launcher import KINDS, Kind, ServerProcess, start_server

CONFIG = """
jetstream {
  store_dir: "%(store)s", max_mem: 10MB, max_file: 20MB
  limits { max_ack_pending: 50, duplicate_window: "1m" }
}
accounts {
  A { users = [{user: a, password: a}], jetstream { max_mem: 1MB, max_file: 2MB } }
  B { users = [{user: b, password: b}], jetstream: enabled }
  C { users = [{user: c, password: c}] }
}
"""

VOLATILE = {
    "server_id",
    "now",
    "created",
    "ts",
    "first_ts",
    "last_ts",
    "leader",
    "store_dir",
    "last_active",
    "active",
}


def normalize(doc: Any, api_totals: bool = False) -> Any:
    """Volatile values replaced; API totals too, as waiting for the mirror asks the API a
    varying number of times (account B's, asked a fixed number of times, are compared)."""
    if isinstance(doc, dict):
        keep = api_totals or doc.get("id") == "B"
        return {
            k: (
                "*"
                if k in VOLATILE or (k == "total" and "errors" in doc and not keep)
                else normalize(v, keep)
            )
            for k, v in doc.items()
        }
    if isinstance(doc, list):  # streams and consumers come in the reference's map order: sorted
        items = [normalize(v, api_totals) for v in doc]
        return (
            sorted(items, key=lambda v: v.get("name", ""))
            if all(isinstance(v, dict) for v in items)
            else items
        )
    return doc


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[Kind, ServerProcess]]:
    """Both servers, from the same config."""
    require_reference()
    started: dict[Kind, ServerProcess] = {}
    try:
        for kind in KINDS:
            path = tmp_path / f"{kind}.conf"
            path.write_text(CONFIG % {"store": tmp_path / f"store-{kind}"})
            started[kind] = start_server(kind, "-c", str(path), monitor=True)
        yield started
    finally:
        for srv in started.values():
            srv.stop()


def fetch(srv: ServerProcess, query: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{srv.monitor_port}/jsz{query}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def diff(query: str, docs: dict[Kind, Any]) -> str:
    lines = {k: json.dumps(d, indent=1, sort_keys=True).splitlines() for k, d in docs.items()}
    return query + "\n" + "\n".join(difflib.unified_diff(lines["reference"], lines["pynatsd"], lineterm=""))


async def populate(srv: ServerProcess) -> None:
    a = await nats.connect(srv.url, user="a", password="a")
    await a.flush()  # the reference's imports settle after the connect
    js = a.jetstream(timeout=10)
    await js.add_stream(name="S", subjects=["s.>"], max_bytes=10_000)
    await js.add_stream(name="M", mirror={"name": "S"}, max_bytes=10_000)
    for i in range(3):
        await js.publish(f"s.{i}", b"x" * i)
    await js.add_consumer("S", durable_name="D", ack_policy="explicit")
    await until_messages(a, "M", 3)
    b = await nats.connect(srv.url, user="b", password="b")
    await b.flush()
    await b.jetstream(timeout=10).add_stream(name="BS", subjects=["bs"], storage="memory")
    await a.close()
    await b.close()


QUERIES = [
    "",
    "?accounts=true",
    "?acc=A",
    "?acc=A&streams=true&config=true",
    "?consumers=true",
    "?consumers=true&config=true",
    "?accounts=1&offset=1&limit=1",
    "?accounts=true&limit=-1",
    "?acc=C",
    "?acc=NOPE&accounts=true",
]


async def test_jsz_documents(servers: dict[Kind, ServerProcess]) -> None:
    for srv in servers.values():
        await populate(srv)
    for query in QUERIES:
        docs = {}
        for kind, srv in servers.items():
            status, body = fetch(srv, query)
            assert status == 200, (kind, query, body)
            docs[kind] = normalize(json.loads(body))
        assert docs["pynatsd"] == docs["reference"], diff(query, docs)


async def test_jsz_bad_queries(servers: dict[Kind, ServerProcess]) -> None:
    for query, text in [
        (
            "?accounts=bogus",
            "Error decoding boolean for 'accounts': strconv.ParseBool: parsing \"bogus\": invalid syntax",
        ),
        ("?limit=x", "Error decoding int for 'limit': strconv.Atoi: parsing \"x\": invalid syntax"),
        ("?offset=1.5", "Error decoding int for 'offset': strconv.Atoi: parsing \"1.5\": invalid syntax"),
    ]:
        for srv in servers.values():
            assert fetch(srv, query) == (400, text)


async def test_jsz_without_jetstream(tmp_path: Path) -> None:
    require_reference()
    docs = {}
    for kind in KINDS:
        srv = start_server(kind, monitor=True)
        try:
            status, body = fetch(srv, "?accounts=true")
            assert status == 200
            docs[kind] = normalize(json.loads(body))
        finally:
            srv.stop()
    assert docs["pynatsd"] == docs["reference"]
    assert docs["pynatsd"]["disabled"] is True


async def test_varz_jetstream_block(servers: dict[Kind, ServerProcess]) -> None:
    for srv in servers.values():
        await populate(srv)
    blocks = {}
    for kind, srv in servers.items():
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.monitor_port}/varz", timeout=10) as r:
            blocks[kind] = normalize(json.loads(r.read())["jetstream"])
    assert blocks["pynatsd"] == blocks["reference"], diff("/varz jetstream", blocks)
    assert set(blocks["pynatsd"]) == {"config", "stats", "limits"}
